import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AnyClient } from "../../src/aws/clients.js";
import type { PipelineProject } from "../../src/pipeline/run.js";
import { lineParameterName, TAG } from "../../src/plan/names.js";
import { type LocalAws, startLocalAws } from "../emulators/local-aws.js";
import { parameterHistory, readRegion } from "./inspect.js";
import { converge, HOME, prepareWorld, REGIONS, runOnce, shippedProject, type World } from "./world.js";

let aws: LocalAws;
const started = Date.now();
beforeAll(async () => {
  aws = await startLocalAws({ regions: REGIONS, clock: "manual", moto: "lent" });
}, 60_000);
afterAll(async () => {
  await aws?.stop();
  console.log(`[e2e faults] ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

const HOUR = 3_600_000;
const EU = "eu-west-1";
const AP = "ap-southeast-2";
const DEBIAN_PARAM = "/ops-rig/light/debian-12/amd64/ami-id";

describe("a failed build", () => {
  let project: PipelineProject;
  let world: World;
  beforeAll(async () => {
    project = await shippedProject({
      toolsets: ["light"],
      bases: ["ubuntu-24.04", "debian-12"],
      arches: ["amd64"],
    });
    world = await prepareWorld(aws, project);
  });

  it("publishes nothing for its line, notifies the reason once, backs off, and retries after the back-off or with force", async () => {
    const failing = (name: string) => name === "ops-rig-light-debian-12-amd64";
    aws.imageBuilder.failNext({
      phase: "TESTING",
      reason: "test phase: RecoverDeletedFile exited 1",
      match: failing,
    });
    await runOnce(world, project, { trigger: "nightly" });
    await aws.imageBuilder.settle();
    const runs = await converge(world, project);
    const report = runs.at(-1)?.report;
    // Ubuntu went ahead; Debian is backing off, with nothing published.
    for (const region of REGIONS) {
      const state = await readRegion(aws, region);
      expect(state.parameters.get("/ops-rig/light/ubuntu-24.04/amd64/ami-id")?.value).toMatch(/^ami-/);
      expect(state.parameters.has(DEBIAN_PARAM)).toBe(false);
    }
    expect(report?.lines.filter((l) => l.line.base === "debian-12").map((l) => l.state)).toEqual([
      "backoff",
      "backoff",
      "backoff",
    ]);
    const notes = await world.deployment.drain();
    const failures = notes.filter((n) => JSON.stringify(n.json).includes("RecoverDeletedFile exited 1"));
    expect(failures).toHaveLength(1);
    expect(failures[0]?.subject).toMatch(/failed/);

    // The next tick neither retries nor notifies again.
    aws.resetCalls();
    const tick = await runOnce(world, project, { trigger: "tick" });
    expect(aws.calls().filter((c) => c.action === "CreateImage")).toEqual([]);
    expect(tick.report.actions.find((a) => a.kind === "skip")?.reason).toMatch(
      /^build failed \(test phase: RecoverDeletedFile exited 1\); next attempt after /,
    );
    expect(await world.deployment.drain()).toEqual([]);

    // Force retries at once (and this attempt fails too).
    aws.imageBuilder.failNext({ phase: "BUILDING", reason: "apt mirror unreachable", match: failing });
    const forced = await runOnce(world, project, { trigger: "manual", force: true });
    expect(forced.report.actions.filter((a) => a.kind === "build").map((a) => a.reason)).toEqual([
      "retry after failed build (test phase: RecoverDeletedFile exited 1), forced",
    ]);
    await aws.imageBuilder.settle();
    await runOnce(world, project, { trigger: "tick" });
    expect(aws.calls().filter((c) => c.action === "CreateImage")).toHaveLength(1);

    // After the back-off the pipeline retries by itself, and this time it works.
    world.clock.advance(7 * HOUR);
    const later = await runOnce(world, project, { trigger: "tick" });
    expect(later.report.actions.filter((a) => a.kind === "build").map((a) => a.reason)).toEqual([
      "retry after failed build (apt mirror unreachable)",
    ]);
    await aws.imageBuilder.settle();
    await converge(world, project);
    for (const region of REGIONS)
      expect((await readRegion(aws, region)).parameters.get(DEBIAN_PARAM)?.value).toMatch(/^ami-/);
    // Three attempts of the same line, each with its own client token, none duplicated.
    expect(
      aws.imageBuilder
        .images()
        .filter((i) => failing(i.recipeName))
        .map((i) => i.status)
        .sort(),
    ).toEqual(["AVAILABLE", "FAILED", "FAILED"]);
  });
});

describe("copies", () => {
  let project: PipelineProject;
  let world: World;
  beforeAll(async () => {
    project = await shippedProject({ toolsets: ["light"], bases: ["debian-12"], arches: ["amd64"] });
  });

  it("CopyImage failing in one region: the others publish, the failing region is named, a later run succeeds", async () => {
    world = await prepareWorld(aws, project);
    aws.faults.fail({
      service: "ec2",
      action: "CopyImage",
      region: AP,
      error: { code: "InternalError", message: "copy backend unavailable", status: 500 },
    });
    await runOnce(world, project, { trigger: "nightly" });
    await aws.imageBuilder.settle();
    const run = await runOnce(world, project, { trigger: "tick" });
    expect(run.report.ok).toBe(false);
    const failed = run.report.actions.filter((a) => a.status === "failed");
    expect(failed.map((a) => `${a.kind} ${a.region}`)).toEqual([`copy ${AP}`]);
    expect(failed[0]?.error).toMatch(/ec2:CopyImage in ap-southeast-2 failed \(InternalError\)/);
    for (const region of [HOME, EU])
      expect((await readRegion(aws, region)).parameters.get(DEBIAN_PARAM)?.value).toMatch(/^ami-/);
    expect((await readRegion(aws, AP)).parameters.has(DEBIAN_PARAM)).toBe(false);
    const note = (await world.deployment.drain()).find((n) =>
      JSON.stringify(n.json).includes("copy backend unavailable"),
    );
    expect(note?.subject).toMatch(/failed/);
    expect(JSON.stringify(note?.json)).toContain(AP);

    aws.faults.clear();
    await converge(world, project);
    expect((await readRegion(aws, AP)).parameters.get(DEBIAN_PARAM)?.value).toMatch(/^ami-/);
  });

  it("a copy stays pending (wait, nothing published there), then fails; the retry replaces it and publishes", async () => {
    world = await prepareWorld(aws, project);
    aws.faults.pendingCopies({ region: EU, outcome: "failed", reason: "snapshot copy failed" });
    await runOnce(world, project, { trigger: "nightly" });
    await aws.imageBuilder.settle();
    const waiting = await runOnce(world, project, { trigger: "tick" });
    expect(waiting.report.actions.some((a) => a.kind === "wait" && a.region === EU)).toBe(true);
    expect((await readRegion(aws, EU)).parameters.has(DEBIAN_PARAM)).toBe(false);
    await aws.faults.releaseCopies(EU);
    aws.faults.clear();
    const retry = await runOnce(world, project, { trigger: "tick" });
    const copy = retry.report.actions.find((a) => a.kind === "copy" && a.region === EU);
    expect(copy?.reason).toMatch(/^retry failed copy ami-/);
    expect(copy?.result).toMatch(/failed copy ami-[0-9a-f]+ deregistered/);
    await converge(world, project);
    const eu = await readRegion(aws, EU);
    const published = eu.amis.find((a) => a.imageId === eu.parameters.get(DEBIAN_PARAM)?.value);
    expect(published?.state).toBe("available");
    expect(eu.amis.filter((a) => a.state === "failed")).toEqual([]);
  });
});

describe("retention", () => {
  it("keeps the configured count, and never removes the published or the rollback AMI", async () => {
    const project = await shippedProject({
      toolsets: ["light"],
      bases: ["debian-12"],
      arches: ["amd64"],
      regions: [HOME, EU],
      pipeline: (p) => ({ ...p, retention: { keep: 2, gracePeriod: { text: "1m", ms: 60_000 } } }),
    });
    const world = await prepareWorld(aws, project);
    const generations: string[] = [];
    for (let gen = 0; gen < 4; gen++) {
      if (gen > 0) await aws.bases.publishNewer("debian-12", "amd64");
      world.clock.advance(10 * 60_000);
      await runOnce(world, project);
      await aws.imageBuilder.settle();
      await converge(world, project);
      generations.push((await readRegion(aws, EU)).parameters.get(DEBIAN_PARAM)?.value ?? "");
    }
    expect(new Set(generations).size).toBe(4);
    // Deprecation happened on the way; one more run after the deprecation time deregisters.
    world.clock.advance(5 * 60_000);
    await runOnce(world, project);
    for (const region of [HOME, EU]) {
      const state = await readRegion(aws, region);
      const line = state.amis.filter((a) => a.tags[TAG.base] === "debian-12" && a.state === "available");
      const current = state.parameters.get(DEBIAN_PARAM)?.value;
      expect(line).toHaveLength(2);
      expect(line.map((a) => a.imageId)).toContain(current);
      // The rollback target: the value the parameter held before the current one.
      const history = await parameterHistory(aws, region, DEBIAN_PARAM);
      const previous = [...history].reverse().find((h) => h.value !== current)?.value;
      expect(line.map((a) => a.imageId)).toContain(previous);
    }
    expect(lineParameterName("/ops-rig", { toolset: "light", base: "debian-12", arch: "amd64" })).toBe(
      DEBIAN_PARAM,
    );
  });
});

describe("crash anywhere", () => {
  const MUTATING =
    /^(Create|Copy|Put|Label|Unlabel|Deregister|Enable|Disable|Tag|Untag|Publish|Update|Cancel|Delete|Register)/;

  class Crash extends Error {}

  interface CrashCounter {
    mutating: number;
    crashed: boolean;
    /** Calls sent and not yet answered. */
    readonly inFlight: Set<Promise<unknown>>;
  }

  const crashCounter = (): CrashCounter => ({ mutating: 0, crashed: false, inFlight: new Set() });

  /**
   * Waits for the calls that were on the wire when the process "died". A dead process's request
   * reaches AWS once and its answer is lost; destroying the clients under it instead makes the SDK
   * retry it on a new connection (seen here: a second PutParameter, a second parameter version),
   * which no dead process does.
   */
  async function drained(counter: CrashCounter): Promise<void> {
    while (counter.inFlight.size > 0) await Promise.allSettled([...counter.inFlight]);
  }

  /** Middleware that lets `limit` mutating calls through, then fails every call: the process "died". */
  function crashAfter(limit: number, counter: CrashCounter) {
    return (client: AnyClient) => {
      (client.middlewareStack as unknown as { add: (mw: unknown, options: unknown) => void }).add(
        (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) =>
          async (args: unknown) => {
            if (counter.crashed) throw new Crash("crashed");
            const call = next(args);
            counter.inFlight.add(call);
            let result: unknown;
            try {
              result = await call;
            } finally {
              counter.inFlight.delete(call);
            }
            if (counter.crashed) throw new Crash("crashed");
            if (MUTATING.test((context.commandName ?? "").replace(/Command$/, ""))) {
              counter.mutating++;
              if (counter.mutating === limit) counter.crashed = true;
            }
            return result;
          },
        { step: "initialize", name: `crash-after-${limit}` },
      );
    };
  }

  interface EndState {
    perRegion: Record<string, { published: number; lineAmis: number; versions: number; historyOk: boolean }>;
    images: number;
  }

  async function endState(project: PipelineProject): Promise<EndState> {
    const perRegion: EndState["perRegion"] = {};
    for (const region of project.pipeline.targetRegions) {
      const state = await readRegion(aws, region);
      const lineAmis = state.amis.filter(
        (a) => a.tags[TAG.base] === "debian-12" || a.name.startsWith("ops-rig-light-debian-12"),
      );
      const current = state.parameters.get(DEBIAN_PARAM);
      const history = await parameterHistory(aws, region, DEBIAN_PARAM);
      perRegion[region] = {
        published: lineAmis.filter((a) => a.imageId === current?.value && a.state === "available").length,
        lineAmis: lineAmis.length,
        versions: current?.version ?? 0,
        // Never a version pointing at an AMI that is not available.
        historyOk: history.every((h) =>
          lineAmis.some((a) => a.imageId === h.value && a.state === "available"),
        ),
      };
    }
    return { perRegion, images: aws.imageBuilder.images().length };
  }

  it("kill the apply after each mutating call in turn; every re-run converges to the same end state", async () => {
    const project = await shippedProject({
      toolsets: ["light"],
      bases: ["debian-12"],
      arches: ["amd64"],
      components: ["sleuthkit"],
      regions: [HOME, EU],
    });
    let world = await prepareWorld(aws, project);
    const reference = crashCounter();
    const referencePorts = world.ports({ onClient: crashAfter(Number.POSITIVE_INFINITY, reference) });
    for (let i = 0; i < 6; i++) {
      const run = await runOnce(world, project, {}, referencePorts.ports);
      await aws.imageBuilder.settle();
      if (run.passes.at(-1)?.plan.actions.length === 0) break;
    }
    referencePorts.destroy();
    const expected = await endState(project);
    expect(expected.perRegion[HOME]?.published).toBe(1);
    expect(expected.images).toBe(1);
    const total = reference.mutating;
    // Every call is crashed after on the in-memory AWS (test/services/pipeline.test.ts); on the wire,
    // where the SDK and the adapters' client tokens are real, a spread: the first calls, every fourth,
    // and the last.
    const sample = [
      ...new Set([
        1,
        2,
        3,
        ...Array.from({ length: total }, (_, i) => i).filter((i) => i > 0 && i % 4 === 0),
        total - 1,
      ]),
    ]
      .filter((k) => k >= 1 && k < total)
      .sort((a, b) => a - b);
    console.log(
      `[e2e faults] crash-anywhere: ${total} mutating calls to converge; crashing after calls ${sample.join(", ")}`,
    );
    expect(total).toBeGreaterThan(10);

    for (const k of sample) {
      world = await prepareWorld(aws, project);
      const counter = crashCounter();
      const crashing = world.ports({ onClient: crashAfter(k, counter) });
      for (let i = 0; i < 6 && !counter.crashed; i++) {
        await runOnce(world, project, {}, crashing.ports).catch(() => undefined);
        await aws.imageBuilder.settle();
      }
      await drained(counter);
      crashing.destroy();
      expect(counter.crashed, `crash ${k} happened`).toBe(true);
      await aws.imageBuilder.settle();
      await converge(world, project);
      expect(await endState(project), `after a crash following mutating call ${k}`).toEqual(expected);
    }
  }, 240_000);
});

describe("throttling", () => {
  it("Image Builder answering 429 to a third of the calls: retries absorb it and the run converges", async () => {
    const project = await shippedProject({
      toolsets: ["light"],
      bases: ["debian-12", "ubuntu-24.04"],
      arches: ["amd64"],
      regions: [HOME, EU],
    });
    const world = await prepareWorld(aws, project);
    aws.imageBuilder.throttle(0.33);
    // Retries without the SDK's back-off: the test checks that throttling is retried and absorbed,
    // not how long AWS's back-off sleeps (that made this test sleep ~40 s).
    const adaptive = world.ports({ retryMode: "standard", retryDelays: "none", maxAttempts: 10 });
    try {
      for (let i = 0; i < 6; i++) {
        const run = await runOnce(world, project, {}, adaptive.ports);
        expect(run.report.counts.failed).toBe(0);
        await aws.imageBuilder.settle();
        if (run.passes.at(-1)?.plan.actions.length === 0) break;
      }
    } finally {
      aws.imageBuilder.throttle(0);
      adaptive.destroy();
    }
    const throttled = aws.calls().filter((c) => c.service === "imagebuilder" && c.status === 429).length;
    console.log(`[e2e faults] throttling: ${throttled} Image Builder calls answered 429, all retried`);
    expect(throttled).toBeGreaterThan(3);
    for (const region of [HOME, EU])
      expect((await readRegion(aws, region)).parameters.get(DEBIAN_PARAM)?.value).toMatch(/^ami-/);
  }, 120_000);
});
