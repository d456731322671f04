import { describe, expect, it } from "vitest";
import {
  attach,
  CaseMismatchError,
  captureMemory,
  inspect,
  isolate,
  type ResponderDeps,
  type ResponderEvent,
  release,
  snapshot,
  sshRoute,
  terminate,
} from "../../src/services/responders/index.js";
import { FakeResponderAws } from "./responders-fake.js";

const REGION = "eu-west-1";
const CASE = "IR-2026-042";
const TOPIC = "arn:aws:sns:us-east-1:123456789012:ops-rig";
const PROFILE = "arn:aws:iam::123456789012:instance-profile/web";
const LIME = { limeUrl: "https://tools.example/lime-6.8.0-1015-aws.ko", limeSha256: "cd".repeat(32) };

function world() {
  const aws = new FakeResponderAws();
  const web = aws.addGroup("vpc-1", "web");
  const db = aws.addGroup("vpc-1", "db-clients");
  const quarantine = aws.addGroup("vpc-1", "ops-rig-quarantine", {
    "ops-rig:purpose": "quarantine",
    "ops-rig:managed-by": "ops-rig",
  });
  const route = aws.addGroup("vpc-1", "ops-rig-ssh-route", {
    "ops-rig:purpose": "ssh-route",
    "ops-rig:managed-by": "ops-rig",
  });
  const target = aws.addInstance({ vpcId: "vpc-1", groups: [web, db], volumes: 2, profile: PROFILE });
  const rig = aws.addInstance({
    vpcId: "vpc-1",
    groups: [],
    volumes: 1,
    tags: { "ops-rig:role": "forensic", "ops-rig:case": CASE },
    az: "eu-west-1b",
  });
  const events: ResponderEvent[] = [];
  const deps: ResponderDeps = {
    port: aws.port,
    now: () => new Date("2026-11-29T12:00:00.000Z"),
    // Waiting is injected: while the service "sleeps", AWS finishes its snapshots and commands.
    sleep: async () => aws.settle(),
    events: (e) => events.push(e),
    auditTopicArn: TOPIC,
  };
  return { aws, deps, events, target, rig, groups: { web, db, quarantine, route } };
}

type World = ReturnType<typeof world>;
const req = { caseId: CASE, region: REGION };

/** The whole incident, each command as a responder would type it. */
const incident = (w: World): (() => Promise<unknown>)[] => [
  () => inspect(w.deps, { ...req, instanceId: w.target }),
  () => isolate(w.deps, { ...req, instanceId: w.target }),
  () => snapshot(w.deps, { ...req, instanceId: w.target }),
  () => attach(w.deps, { ...req, source: w.target, rigId: w.rig }),
  () => captureMemory(w.deps, { ...req, instanceId: w.target, ...LIME }),
  () => sshRoute(w.deps, { ...req, instanceId: w.target, rigId: w.rig }),
  () => sshRoute(w.deps, { ...req, instanceId: w.target, rigId: w.rig, remove: true }),
  () => release(w.deps, { ...req, instanceId: w.target }),
  () => isolate(w.deps, { ...req, instanceId: w.target }),
  () => terminate(w.deps, { ...req, instanceId: w.target, confirmed: true }),
];

/** Everything AWS holds at the end, except the audit messages (a crashed command audits its failure). */
function endState(aws: FakeResponderAws) {
  return JSON.parse(
    JSON.stringify({
      instances: [...aws.instances.values()],
      volumes: [...aws.volumeMap.values()],
      snapshots: [...aws.snapshots.values()],
      commands: aws.commands.map(({ commandId, status, comment }) => ({ commandId, status, comment })),
      // A crash between CreateMultipartUpload and tagging its id abandons that upload: the bucket's
      // lifecycle rule aborts incomplete uploads after 7 days. Only completed uploads are evidence.
      uploads: [...aws.uploads.values()].filter((u) => u.completed),
      objects: [...aws.objects.keys()].sort(),
    }),
  );
}

describe("responder services: the whole incident in memory", () => {
  it("runs the incident: quarantined, snapshotted, attached, captured, released, terminated", async () => {
    const w = world();
    for (const step of incident(w)) await step();
    const target = w.aws.instances.get(w.target);
    expect(target?.state).toBe("shutting-down");
    expect(w.aws.snapshots.size).toBe(2);
    for (const s of w.aws.snapshots.values()) {
      expect(s.tags).toMatchObject({ "ops-rig:case": CASE, app: "web", "ops-rig:source-instance": w.target });
      expect(s.state).toBe("completed");
    }
    const copies = [...w.aws.volumeMap.values()].filter((v) => v.tags["ops-rig:evidence-copy"] === "true");
    expect(copies.map((v) => [v.availabilityZone, v.attachments[0]?.instanceId])).toEqual([
      ["eu-west-1b", w.rig],
      ["eu-west-1b", w.rig],
    ]);
    expect(w.aws.commands.map((c) => c.status)).toEqual(["Success"]);
    const bucket = `ops-rig-evidence-123456789012-${REGION}`;
    const keys = [...w.aws.objects.keys()].filter((k) => k.startsWith(`${bucket}/cases/${CASE}/custody/`));
    expect(keys.map((k) => k.replace(/.*custody\//, "").replace(/-[0-9a-f-]+\.json$/, ""))).toEqual(
      expect.arrayContaining(["inspect-i", "snapshot-snap", "memory-i", "terminated-i"]),
    );
    const memory = JSON.parse(
      w.aws.objects.get(`${bucket}/cases/${CASE}/custody/memory-${w.target}.json`) ?? "{}",
    );
    expect(memory).toMatchObject({
      kind: "memory-capture",
      sha256: "ab".repeat(32),
      recordedBy: w.aws.arn,
      caseId: CASE,
    });
    // One audit event per command, on SNS and in the log.
    expect(w.aws.published).toHaveLength(incident(w).length);
    expect(w.events.filter((e) => e.type === "audit")).toHaveLength(incident(w).length);
  });

  it("isolate records what it replaces and release restores exactly that", async () => {
    const w = world();
    const result = await isolate(w.deps, { ...req, instanceId: w.target });
    const eni = w.aws.instances.get(w.target)?.interfaces[0];
    expect(eni?.groups.map((g) => g.groupId)).toEqual([w.groups.quarantine]);
    expect(eni?.tags["ops-rig:previous-groups"]).toBe(`${w.groups.web} ${w.groups.db}`);
    expect(w.aws.instances.get(w.target)?.instanceProfile).toBeUndefined();
    expect(w.aws.instances.get(w.target)?.tags["ops-rig:previous-profile"]).toBe(PROFILE);
    expect(result.note.join(" ")).toMatch(/tracked/);
    expect(result.flowLogs.map((f) => f.flowLogId)).toEqual(["fl-1"]);
    await release(w.deps, { ...req, instanceId: w.target });
    const after = w.aws.instances.get(w.target);
    expect(after?.interfaces[0]?.groups.map((g) => g.groupId)).toEqual([w.groups.web, w.groups.db]);
    expect(after?.instanceProfile?.arn).toBe(PROFILE);
    expect(Object.keys(after?.tags ?? {}).sort()).toEqual(["ops-rig:case"]);
  });

  it("a dry run changes nothing and says what it would do", async () => {
    const w = world();
    const before = endState(w.aws);
    const result = await isolate(w.deps, { ...req, instanceId: w.target, dryRun: true });
    expect(result.changes.join("\n")).toMatch(/swap groups/);
    const snap = await snapshot(w.deps, { ...req, instanceId: w.target, dryRun: true });
    expect(snap.snapshots.map((s) => s.state)).toEqual(["would-create", "would-create"]);
    expect(w.aws.mutatingCalls()).toEqual([]);
    expect(endState(w.aws)).toEqual(before);
  });

  it("refuses another case's instance, and terminate without evidence or confirmation", async () => {
    const w = world();
    await isolate(w.deps, { ...req, instanceId: w.target });
    await expect(
      isolate(w.deps, { ...req, caseId: "IR-other", instanceId: w.target }),
    ).rejects.toBeInstanceOf(CaseMismatchError);
    await expect(terminate(w.deps, { ...req, instanceId: w.target, confirmed: true })).rejects.toThrow(
      /no snapshot of vol-.*--without-evidence/,
    );
    await snapshot(w.deps, { ...req, instanceId: w.target });
    await expect(terminate(w.deps, { ...req, instanceId: w.target })).rejects.toThrow(/--yes/);
    expect(w.aws.instances.get(w.target)?.state).toBe("running");
    await expect(captureMemory(w.deps, { ...req, instanceId: w.target })).rejects.toThrow(/--lime-url/);
    await expect(inspect(w.deps, { ...req, caseId: "none", instanceId: w.target })).rejects.toThrow(/--case/);
  });

  it("without SSM, capture-memory gives the SSH steps and changes nothing on the target", async () => {
    const w = world();
    w.aws.instances.get(w.target)?.tags &&
      Object.assign((w.aws.instances.get(w.target) as { tags: Record<string, string> }).tags, { ssm: "no" });
    const result = await captureMemory(w.deps, { ...req, instanceId: w.target });
    expect(result.path).toBe("ssh");
    expect(result.steps.join("\n")).toMatch(/insmod .*path=tcp:4444/);
    expect(w.aws.commands).toEqual([]);
  });

  it("every command run twice: the second run changes nothing (it only re-writes identical custody entries and audits)", async () => {
    const baseline = world();
    for (const step of incident(baseline)) await step();
    const w = world();
    for (const step of incident(w)) {
      await step();
      const before = endState(w.aws);
      const mark = w.aws.calls.length;
      await step();
      const again = w.aws.calls.slice(mark).filter((c) => c.name !== "publish" && c.name !== "putObject");
      expect(
        again.filter((c) =>
          [
            "tag",
            "untag",
            "setInterfaceGroups",
            "createSnapshot",
            "createVolume",
            "attachVolume",
            "sendCommand",
            "terminate",
            "presignUpload",
            "completeUpload",
            "associateProfile",
            "disassociateProfile",
          ].includes(c.name),
        ),
      ).toEqual([]);
      expect(endState(w.aws)).toEqual(before);
    }
    expect(endState(w.aws)).toEqual(endState(baseline.aws));
  });

  it("a crash after any mutating call: re-running the command converges to the same end state", async () => {
    const baseline = world();
    for (const step of incident(baseline)) await step();
    const expected = endState(baseline.aws);
    const total = baseline.aws.mutatingCalls().length;
    expect(total).toBeGreaterThan(20);
    for (let k = 1; k <= total; k++) {
      const w = world();
      w.aws.crashAfter(k);
      let crashed = 0;
      for (const step of incident(w)) {
        try {
          await step();
        } catch (error) {
          expect(String(error)).toMatch(/injected crash/);
          crashed++;
          await step();
        }
      }
      // A crash while publishing the audit event is reported as audit-failed, the command's work stands.
      const auditFailures = w.events.filter((e) => e.type === "audit-failed").length;
      expect(crashed + auditFailures, `crash ${k}`).toBe(1);
      expect(endState(w.aws), `crash after mutating call ${k}`).toEqual(expected);
    }
  });
});
