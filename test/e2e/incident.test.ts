import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateSecurityGroupCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  DescribeVpcsCommand,
  EC2Client,
  RunInstancesCommand,
} from "@aws-sdk/client-ec2";
import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  IAMClient,
} from "@aws-sdk/client-iam";
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { CreateTopicCommand, SNSClient } from "@aws-sdk/client-sns";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { limePort } from "../../src/services/responders/index.js";
import { lendMoto, type MotoServer } from "../emulators/moto.js";
import { type ResponderFront, startResponderFront } from "../emulators/responder-front.js";
import { runCli } from "../helpers/project.js";

/**
 * The whole incident through the `ops-rig` command against moto (with the responder front for
 * CloudTrail and Run Command): launch a target with two volumes and a rig, inspect, isolate, snapshot,
 * attach, capture memory (Run Command runs the capture script for real against a fixture image; the
 * object in S3 must hash to what was recorded), SSH route, release, isolate, terminate. Then the same
 * incident again in a fresh account with a crash after every mutating call in turn, each crashed
 * command re-run: the end state must be the same.
 */

const REGION = "eu-west-1";
const CASE = "IR-2026-042";
const credentials = { accessKeyId: "testing", secretAccessKey: "testing" };
let moto: MotoServer;
let front: ResponderFront;
let work: string;
let memorySha = "";
const started = Date.now();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "ops-rig-incident-"));
  const memory = join(work, "memory.lime");
  const dump = Buffer.concat([Buffer.from("EMiL"), randomBytes(3 * 1024 * 1024)]);
  await writeFile(memory, dump);
  memorySha = createHash("sha256").update(dump).digest("hex");
  const lime = join(work, "lime.ko");
  await writeFile(lime, "not really a kernel module\n");
  moto = await lendMoto({ logFile: join(work, "moto.log") });
  front = await startResponderFront({ motoUrl: moto.url, memoryImage: memory, limeModule: lime });
}, 60_000);

afterAll(async () => {
  await front?.stop();
  await moto?.stop();
  if (work) await rm(work, { recursive: true, force: true });
  console.log(`[e2e incident] ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

const config = (region = REGION) => ({ region, endpoint: front.url, credentials, maxAttempts: 1 });

interface Account {
  target: string;
  rig: string;
  env: NodeJS.ProcessEnv;
}

/** A fresh account: groups (ops-rig's two, tagged like the regional stack makes them), a target, a rig. */
async function account(): Promise<Account> {
  await fetch(`${moto.url}/moto-api/reset`, { method: "POST" });
  const ec2 = new EC2Client(config());
  const vpcId = (await ec2.send(new DescribeVpcsCommand({}))).Vpcs?.[0]?.VpcId ?? "";
  const group = async (name: string, tags: Record<string, string> = {}) =>
    (
      await ec2.send(
        new CreateSecurityGroupCommand({
          GroupName: name,
          Description: name,
          VpcId: vpcId,
          TagSpecifications: [
            {
              ResourceType: "security-group",
              Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
            },
          ],
        }),
      )
    ).GroupId ?? "";
  const web = await group("web", { Name: "web" });
  await group("ops-rig-quarantine", { "ops-rig:purpose": "quarantine", "ops-rig:managed-by": "ops-rig" });
  await group("ops-rig-ssh-route", { "ops-rig:purpose": "ssh-route", "ops-rig:managed-by": "ops-rig" });
  const iam = new IAMClient(config("us-east-1"));
  await iam.send(new CreateRoleCommand({ RoleName: "web", AssumeRolePolicyDocument: "{}" }));
  const profile = await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: "web" }));
  await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: "web", RoleName: "web" }));
  const run = async (tags: Record<string, string>, volumes: number, withProfile: boolean) =>
    (
      await ec2.send(
        new RunInstancesCommand({
          ImageId: "ami-12c6146b",
          InstanceType: "t3.micro",
          MinCount: 1,
          MaxCount: 1,
          SecurityGroupIds: [web],
          BlockDeviceMappings: Array.from({ length: volumes }, (_, i) => ({
            DeviceName: i === 0 ? "/dev/xvda" : "/dev/sdf",
            Ebs: { VolumeSize: 8 },
          })),
          ...(withProfile ? { IamInstanceProfile: { Arn: profile.InstanceProfile?.Arn ?? "" } } : {}),
          TagSpecifications: [
            { ResourceType: "instance", Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
          ],
        }),
      )
    ).Instances?.[0]?.InstanceId ?? "";
  const target = await run({ Name: "web-1" }, 2, true);
  const rig = await run({ "ops-rig:role": "forensic", "ops-rig:case": CASE }, 1, false);
  front.manage(target);
  await new S3Client({ ...config(), forcePathStyle: true }).send(
    new CreateBucketCommand({
      Bucket: `ops-rig-evidence-123456789012-${REGION}`,
      CreateBucketConfiguration: { LocationConstraint: REGION },
    }),
  );
  const topic = await new SNSClient(config("us-east-1")).send(
    new CreateTopicCommand({ Name: "ops-rig-audit" }),
  );
  const env = {
    AWS_ENDPOINT_URL: front.url,
    AWS_ACCESS_KEY_ID: "testing",
    AWS_SECRET_ACCESS_KEY: "testing",
    AWS_REGION: REGION,
    AWS_MAX_ATTEMPTS: "1",
    OPS_RIG_POLL_MS: "100",
    OPS_RIG_AUDIT_TOPIC: topic.TopicArn ?? "",
  };
  front.mutations.length = 0;
  return { target, rig, env };
}

const steps = (a: Account): string[][] => {
  const c = ["--case", CASE, "--region", REGION];
  return [
    ["inspect", a.target, ...c],
    ["isolate", a.target, ...c],
    ["snapshot", a.target, ...c],
    ["attach", a.target, "--rig", a.rig, ...c],
    [
      "capture-memory",
      a.target,
      ...c,
      "--lime-url",
      "https://lime.test/lime.ko",
      "--lime-sha256",
      createHash("sha256").update("not really a kernel module\n").digest("hex"),
    ],
    ["ssh-route", a.target, "--rig", a.rig, ...c],
    ["ssh-route", a.target, "--rig", a.rig, "--remove", ...c],
    ["release", a.target, ...c],
    ["isolate", a.target, ...c],
    ["terminate", a.target, "--yes", ...c],
  ];
};

/** What the incident leaves behind, with AWS's random ids replaced by what they stand for. */
async function endState(a: Account) {
  const ec2 = new EC2Client(config());
  const ids = new Map<string, string>([
    [a.target, "TARGET"],
    [a.rig, "RIG"],
  ]);
  const name = (id: string) => {
    if (!ids.has(id)) ids.set(id, `${id.split("-")[0]}#${ids.size}`);
    return ids.get(id) ?? id;
  };
  const scrub = (text: string) =>
    text.replace(/\b(?:i|vol|snap|eni|sg|iip-assoc)-[0-9a-f]{8,17}\b/g, (m) => name(m));
  const reservations =
    (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [a.target, a.rig] }))).Reservations ?? [];
  const instances = reservations
    .flatMap((r) => r.Instances ?? [])
    .map((i) => ({
      id: i.InstanceId === a.target ? "TARGET" : "RIG",
      state: i.State?.Name,
      profile: i.IamInstanceProfile?.Arn ?? null,
      tags: Object.fromEntries((i.Tags ?? []).map((t) => [t.Key, scrub(t.Value ?? "")]).sort()),
      groups: (i.NetworkInterfaces ?? []).map((e) => (e.Groups ?? []).map((g) => g.GroupName).sort()),
    }))
    .sort((x, y) => x.id.localeCompare(y.id));
  const snapshots = ((await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ["self"] }))).Snapshots ?? [])
    .map((s) => ({
      device: s.Tags?.find((t) => t.Key === "ops-rig:source-device")?.Value,
      case: s.Tags?.find((t) => t.Key === "ops-rig:case")?.Value,
    }))
    .sort((x, y) => String(x.device).localeCompare(String(y.device)));
  const copies = (
    (
      await ec2.send(
        new DescribeVolumesCommand({ Filters: [{ Name: "tag:ops-rig:evidence-copy", Values: ["true"] }] }),
      )
    ).Volumes ?? []
  )
    .map((v) => ({
      from: v.Tags?.find((t) => t.Key === "ops-rig:source-device")?.Value,
      on: v.Attachments?.map((x) => (x.InstanceId === a.rig ? "RIG" : x.InstanceId)),
    }))
    .sort((x, y) => String(x.from).localeCompare(String(y.from)));
  const s3 = new S3Client({ ...config(), forcePathStyle: true });
  const bucket = `ops-rig-evidence-123456789012-${REGION}`;
  const keys = ((await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? [])
    .map((o) => scrub(o.Key ?? ""))
    .sort();
  return {
    instances,
    snapshots,
    copies,
    keys: keys.map((k) => k.replace(/-[0-9a-f]{16}\.(json|txt)$/, "-HASH.$1")),
    captures: front.commands.filter((c) => c.instanceId === a.target && c.status === "Success").length,
  };
}

describe("an incident on the local AWS, through the ops-rig command", { timeout: 600_000 }, () => {
  let baseline: Awaited<ReturnType<typeof endState>>;

  it("inspect, isolate, snapshot, attach, capture, route, release, isolate, terminate", async () => {
    const a = await account();
    const outputs: Record<string, string> = {};
    // Another socket holds the port the capture tries first: it must move on, not fail.
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(limePort(a.target), "127.0.0.1", resolve));
    try {
      for (const args of steps(a)) {
        const r = await runCli(["--json", ...args], a.env);
        expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
        outputs[args[0] ?? ""] = r.stdout;
      }
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    const inspect = JSON.parse(outputs.inspect ?? "{}");
    expect(inspect.report.trailEvents.ok).toBe(true);
    expect(inspect.report.instanceProfile.value.roles[0].roleName).toBe("web");
    const capture = JSON.parse(outputs["capture-memory"] ?? "{}");
    expect(capture.status).toBe("captured");
    // The capture went through presigned multipart parts into moto's S3: it hashes to what was recorded.
    const s3 = new S3Client({ ...config(), forcePathStyle: true });
    const object = await s3.send(
      new GetObjectCommand({
        Bucket: `ops-rig-evidence-123456789012-${REGION}`,
        Key: `cases/${CASE}/memory/${a.target}.lime`,
      }),
    );
    const bytes = Buffer.from((await object.Body?.transformToByteArray()) ?? []);
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(memorySha);
    expect(capture.sha256).toBe(memorySha);
    baseline = await endState(a);
    expect(baseline.instances.find((i) => i.id === "TARGET")?.state).toMatch(/shutting-down|terminated/);
    expect(baseline.snapshots).toHaveLength(2);
    expect(baseline.copies.map((c) => c.on)).toEqual([["RIG"], ["RIG"]]);
    expect(baseline.captures).toBe(1);
  });

  it("a crash after each mutating call in turn, the command re-run: the same end state", async () => {
    expect(baseline).toBeDefined();
    const a = await account();
    let crashes = 0;
    for (const args of steps(a)) {
      // Run k of the command crashes right after its k-th mutating call and run k+1 is the re-run:
      // the steps already done are skipped (S3 writes are repeated, byte-identical where they can
      // be), so the crash moves through the command's calls until a run gets through.
      for (let k = 1; ; k++) {
        expect(k, `${args.join(" ")} does not converge`).toBeLessThan(40);
        front.crashAfter(k);
        const r = await runCli(["--json", ...args], a.env);
        front.crashAfter(0);
        await front.settle();
        if (r.code === 0) break;
        crashes++;
      }
    }
    console.log(`[e2e incident] ${crashes} crashes injected and recovered`);
    expect(crashes).toBeGreaterThan(15);
    expect(await endState(a)).toEqual(baseline);
  });
});
