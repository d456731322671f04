import { beforeAll, describe, expect, it } from "vitest";
import { createHandler } from "../../src/lambda/handler.js";
import type { PipelineProject } from "../../src/pipeline/run.js";
import { lineParameterName, TAG } from "../../src/plan/names.js";
import { bake } from "../../src/services/bake.js";
import { FakeCrash } from "../fakes/fake-aws.js";
import { shippedProject } from "../helpers/shipped.js";
import { converge, EU, type FakeWorld, fakeWorld, HOME, notificationTopic, run } from "./fake-world.js";

const LINE = { toolset: "light", base: "debian-12", arch: "amd64" } as const;
const PARAM = lineParameterName("/ops-rig", LINE);

let project: PipelineProject;
beforeAll(async () => {
  project = await shippedProject({
    toolsets: ["light"],
    bases: ["debian-12", "ubuntu-24.04"],
    arches: ["amd64"],
    regions: [HOME, EU],
  });
});

describe("the pipeline on the in-memory AWS", () => {
  it("converges, and an immediate second run makes no mutating call", async () => {
    const world = fakeWorld(project);
    await converge(world, { trigger: "nightly" });
    for (const region of [HOME, EU]) {
      const value = world.aws.parameter(region, PARAM)?.value;
      expect(world.aws.image(value ?? "")?.state, region).toBe("available");
    }
    world.aws.resetCalls();
    const again = await run(world);
    expect(again.report.counts.changed).toBe(0);
    expect(world.aws.calls().filter((c) => c.mutating)).toEqual([]);
  });

  it("reports a failed build once per run, in the report, the SNS text and the Lambda's log", async () => {
    const world = fakeWorld(project);
    await run(world, { trigger: "nightly" });
    world.aws.finishBuilds((b) =>
      b.recipe.includes("debian-12") ? "test phase: RecoverDeletedFile exited 1" : undefined,
    );
    world.aws.settleCopies();
    // Three passes: the failed build is re-planned (notify) in each.
    const result = await run(world, { maxPasses: 3 });
    expect(result.passes.length).toBeGreaterThan(1);
    const failures = result.report.actions.filter((a) => a.failure);
    expect(failures.map((a) => a.kind)).toEqual(["notify"]);
    expect(result.report.counts.failed).toBe(1);
    const sent = world.aws.published.length;
    const message = world.aws.published.at(-1);
    // One row in the failures (the line table then shows each region backing off because of it).
    const failuresSection = /Failures:\n([\s\S]*?)\n\n/.exec(message?.text ?? "")?.[1] ?? "";
    expect(failuresSection.match(/RecoverDeletedFile exited 1/g)).toHaveLength(1);
    expect(message?.subject).toMatch(/1 failed/);
    // Marked notified: the next run neither reports nor notifies it again.
    const next = await run(world);
    expect(next.report.counts.failed).toBe(0);
    expect(world.aws.published).toHaveLength(sent);
  });

  it("a run whose only failure is the notification: the work counts, the status says what failed", async () => {
    const world = fakeWorld(project);
    world.aws.fail({ operation: "Publish", code: "AuthorizationError", message: "not allowed to publish" });
    const { report, status } = await bake(world.project, world.deps(), { trigger: "nightly" });
    expect(report.ok).toBe(true);
    expect(report.counts.changed).toBeGreaterThan(0);
    expect(report.counts.failed).toBe(0);
    expect(report.notification).toMatchObject({
      status: "failed",
      topicArn: notificationTopic(world),
      error: expect.stringContaining("not allowed to publish"),
      retryable: false,
    });
    expect(status).toBe("notification-failed");
  });

  it("the Lambda fails its invocation only for failures a retry could fix", async () => {
    const world = fakeWorld(project);
    const logs: { level: string; message: string }[] = [];
    const handler = createHandler({
      project: async () => world.project,
      ports: () => world.aws.ports,
      now: world.clock.now,
      sleep: world.clock.sleep,
      log: (level, message) => {
        logs.push({ level, message });
      },
    });
    // A build that failed: a retry changes nothing. Logged as an error, answered, not thrown.
    await handler({ kind: "nightly" });
    world.aws.finishBuilds(() => "apt mirror unreachable");
    const failed = await handler({ kind: "tick" });
    expect(failed).toMatchObject({ outcome: "run", status: "failed", failed: 2 });
    expect(logs.filter((l) => l.level === "error" && l.message === "failure")).toHaveLength(2);
    // Throttled copies: a retry may well work, so the invocation fails and Lambda retries it.
    world.clock.advance(7 * 3_600_000);
    await handler({ kind: "tick", force: true });
    world.aws.finishBuilds();
    world.aws.fail({ operation: "CopyImage", code: "RequestLimitExceeded", retryable: true });
    await expect(handler({ kind: "tick" })).rejects.toThrow(
      /retryable.*ec2:CopyImage in eu-west-1 failed \(RequestLimitExceeded\)/,
    );
  });

  it("crash after every mutating call: every re-run converges to the same end state", async () => {
    const narrow = await shippedProject({
      toolsets: ["light"],
      bases: ["debian-12"],
      arches: ["amd64"],
      components: ["sleuthkit"],
      regions: [HOME, EU],
    });
    const endState = (world: FakeWorld) =>
      [HOME, EU].map((region) => {
        const amis = world.aws.ownImages(region);
        const current = world.aws.parameter(region, PARAM);
        return {
          region,
          published: amis.filter((a) => a.imageId === current?.value && a.state === "available").length,
          amis: amis.length,
          version: current?.version,
          fingerprintTagged: amis.every((a) => a.tags[TAG.fingerprint] !== undefined),
          // Never a version pointing at an AMI that is not available.
          historyOk: world.aws
            .history(region, PARAM)
            .every((h) => amis.some((a) => a.imageId === h.value && a.state === "available")),
          builds: world.aws.buildList().length,
        };
      });
    const reference = fakeWorld(narrow);
    reference.aws.crashAfter(Number.POSITIVE_INFINITY);
    await converge(reference);
    const expected = endState(reference);
    const total = reference.aws.mutatingCalls;
    expect(expected.every((r) => r.published === 1 && r.historyOk)).toBe(true);
    expect(total).toBeGreaterThan(10);

    for (let k = 1; k < total; k++) {
      const world = fakeWorld(narrow);
      world.aws.crashAfter(k);
      for (let i = 0; i < 6 && !world.aws.crashed; i++) {
        await run(world).catch((error: unknown) => {
          if (!(error instanceof FakeCrash)) throw error;
        });
        world.aws.finishBuilds();
        world.aws.settleCopies();
      }
      expect(world.aws.crashed, `crash ${k} happened`).toBe(true);
      world.aws.recover();
      world.aws.finishBuilds();
      world.aws.settleCopies();
      await converge(world);
      expect(endState(world), `after a crash following mutating call ${k}`).toEqual(expected);
    }
    console.log(
      `[services] pipeline crash-anywhere: ${total} mutating calls to converge, crashed after each`,
    );
  });
});
