import { beforeAll, describe, expect, it } from "vitest";
import type { Toolset } from "../../src/config/types.js";
import { NoRollbackTargetError, ParameterNotFoundError } from "../../src/errors.js";
import type { PipelineProject } from "../../src/pipeline/run.js";
import { aliasParameterName, lineParameterName, TAG } from "../../src/plan/names.js";
import type { LineKey } from "../../src/plan/types.js";
import { planRun } from "../../src/services/plan.js";
import { type RollbackResult, rollback } from "../../src/services/rollback.js";
import { FakeCrash } from "../fakes/fake-aws.js";
import { shippedProject } from "../helpers/shipped.js";
import { converge, EU, type FakeWorld, fakeWorld, HOME, run } from "./fake-world.js";

const LINE: LineKey = { toolset: "light", base: "debian-12", arch: "amd64" };
const PARAM = lineParameterName("/ops-rig", LINE);
const ALIAS = aliasParameterName("/ops-rig", "light");
const REGIONS = [HOME, EU];

let project: PipelineProject;
let toolset: Toolset;
beforeAll(async () => {
  project = await shippedProject({
    toolsets: ["light"],
    bases: ["debian-12"],
    arches: ["amd64"],
    regions: REGIONS,
  });
  toolset = project.toolsets[0] as Toolset;
});

interface Generations {
  readonly world: FakeWorld;
  /** Per region: the good AMI (first build) and the bad one (second build, published now). */
  readonly good: Record<string, string>;
  readonly bad: Record<string, string>;
}

/** Two generations of the line published in both regions; the second is the bad one. */
async function twoGenerations(): Promise<Generations> {
  const world = fakeWorld(project);
  await converge(world, { trigger: "nightly" });
  const good = Object.fromEntries(REGIONS.map((r) => [r, world.aws.parameter(r, PARAM)?.value ?? ""]));
  world.clock.advance(3_600_000);
  world.aws.publishNewerBase("debian-12", "amd64");
  await converge(world);
  const bad = Object.fromEntries(REGIONS.map((r) => [r, world.aws.parameter(r, PARAM)?.value ?? ""]));
  for (const r of REGIONS) expect(bad[r]).not.toBe(good[r]);
  return { world, good, bad };
}

const rollBack = (world: FakeWorld, extra: { to?: number; regions?: readonly string[] } = {}) =>
  rollback(world.project, world.deps(), { toolset, line: LINE, regions: extra.regions ?? REGIONS, ...extra });

const withdrawn = (world: FakeWorld, region: string) =>
  world.aws
    .ownImages(region)
    .filter((a) => a.tags[TAG.withdrawn] !== undefined)
    .map((a) => a.imageId)
    .sort();

/**
 * What a finished rollback leaves: where the parameters point, what is withdrawn, and (unless the
 * pipeline's fallback got there first) that the current versions are labelled as a rollback.
 */
function endState(world: FakeWorld, options: { labels: boolean } = { labels: true }) {
  return REGIONS.map((region) => {
    const line = world.aws.parameter(region, PARAM);
    const alias = world.aws.parameter(region, ALIAS);
    return {
      region,
      line: line?.value,
      alias: alias?.value,
      ...(options.labels
        ? { labelled: [line, alias].every((p) => p?.labels.some((l) => l.startsWith("rollback-"))) }
        : {}),
      withdrawn: withdrawn(world, region),
    };
  });
}

/** No version written since `from` points at a withdrawn AMI: a rollback never publishes one. */
function neverPublishedWithdrawn(world: FakeWorld, versionsBefore: Record<string, number>) {
  for (const region of REGIONS) {
    for (const name of [PARAM, ALIAS]) {
      const written = world.aws
        .history(region, name)
        .filter((h) => h.version > (versionsBefore[`${region}${name}`] ?? 0));
      const bad = written.filter((h) => world.aws.image(h.value)?.tags[TAG.withdrawn] !== undefined);
      expect(bad, `${name} in ${region}`).toEqual([]);
    }
  }
}

const versions = (world: FakeWorld) =>
  Object.fromEntries(
    REGIONS.flatMap((r) => [PARAM, ALIAS].map((n) => [`${r}${n}`, world.aws.parameter(r, n)?.version ?? 0])),
  );

describe("rollback", () => {
  it("publishes the previous AMI everywhere through the publish path, then withdraws the bad one; the pipeline leaves it alone", async () => {
    const { world, good, bad } = await twoGenerations();
    const result = await rollBack(world);
    expect(result.failed).toEqual([]);
    for (const region of REGIONS) {
      expect(world.aws.parameter(region, PARAM)?.value).toBe(good[region]);
      expect(world.aws.parameter(region, ALIAS)?.value).toBe(good[region]);
      expect(withdrawn(world, region)).toEqual([bad[region]]);
      const current = world.aws.parameter(region, PARAM);
      expect(current?.labels.some((l) => /^rollback-\d{8}-\d{6}$/.test(l))).toBe(true);
      expect(current?.description).toMatch(
        /^ops-rig rollback from [0-9a-f]{64} built \S+ to ami-\S+ by arn:aws:iam::/,
      );
    }
    const plan = await planRun(world.project, world.deps());
    expect(plan.actions.filter((a) => a.kind === "publish")).toEqual([]);
    expect(plan.lines.map((l) => l.state)).toEqual(["withdrawn", "withdrawn"]);
    // Running it again changes nothing.
    world.aws.resetCalls();
    const again = await rollBack(world);
    expect(again.regions.map((r) => r.status === "done" && r.changed.length)).toEqual([0, 0]);
    expect(world.aws.calls().filter((c) => c.mutating)).toEqual([]);
  });

  it("PutParameter failing in one region: that region keeps the bad AMI published and not withdrawn; plan shows it; a re-run converges without ever publishing a withdrawn AMI", async () => {
    const { world, good, bad } = await twoGenerations();
    const before = versions(world);
    world.aws.fail({ operation: "PutParameter", region: EU, code: "InternalServerError", retryable: true });
    const partial = await rollBack(world);
    expect(partial.failed.map((f) => f.region)).toEqual([EU]);
    expect(world.aws.parameter(HOME, PARAM)?.value).toBe(good[HOME]);
    expect(world.aws.parameter(EU, PARAM)?.value).toBe(bad[EU]);
    // Withdrawn only where no parameter points at it any more.
    expect(withdrawn(world, HOME)).toEqual([bad[HOME]]);
    expect(withdrawn(world, EU)).toEqual([]);
    // The pipeline does not call this "nothing to do": EU must fall back from the withdrawn build.
    const plan = await planRun(world.project, world.deps());
    expect(plan.actions.filter((a) => a.kind === "publish").map((a) => a.region)).toEqual([EU]);
    // A tick in between does what the plan said (never rolls EU forward), then the rollback re-run finishes.
    world.aws.clearFaults();
    await run(world);
    expect(world.aws.parameter(EU, PARAM)?.value).toBe(good[EU]);
    const rerun = await rollBack(world);
    expect(rerun.failed).toEqual([]);
    expect(rerun.from).toBe(partial.from);
    for (const region of REGIONS) {
      expect(world.aws.parameter(region, PARAM)?.value).toBe(good[region]);
      expect(world.aws.parameter(region, ALIAS)?.value).toBe(good[region]);
      expect(withdrawn(world, region)).toEqual([bad[region]]);
    }
    neverPublishedWithdrawn(world, before);
  });

  it("re-running after a rollback that succeeded in only some regions rolls none forward and withdraws no good AMI", async () => {
    const { world, good, bad } = await twoGenerations();
    const before = versions(world);
    await rollBack(world, { regions: [HOME] });
    expect(world.aws.parameter(EU, PARAM)?.value).toBe(bad[EU]);
    const all = await rollBack(world);
    expect(all.failed).toEqual([]);
    expect(endState(world)).toEqual(
      REGIONS.map((region) => ({
        region,
        line: good[region],
        alias: good[region],
        labelled: true,
        withdrawn: [bad[region]],
      })),
    );
    neverPublishedWithdrawn(world, before);
  });

  it("crash after every mutating call (with and without a pipeline tick before the re-run): the same end state", async () => {
    const reference = await twoGenerations();
    reference.world.aws.crashAfter(Number.POSITIVE_INFINITY);
    await rollBack(reference.world);
    const total = reference.world.aws.mutatingCalls;
    const expected = (labels: boolean) => endState(reference.world, { labels });
    expect(total).toBeGreaterThanOrEqual(10);
    let checked = 0;
    for (const tickBetween of [false, true]) {
      for (let k = 1; k <= total; k++) {
        const { world } = await twoGenerations();
        const before = versions(world);
        world.aws.crashAfter(k);
        let result: RollbackResult | undefined;
        try {
          result = await rollBack(world);
        } catch (error) {
          if (!(error instanceof FakeCrash)) throw error;
        }
        // A crash inside a region's work is reported as that region failing.
        expect(world.aws.crashed || result?.failed.length === 0, `crash ${k}`).toBe(true);
        world.aws.recover();
        if (tickBetween) await run(world);
        const rerun = await rollBack(world);
        expect(rerun.failed, `re-run after crash ${k}`).toEqual([]);
        // Withdrawn-tag timestamps differ; where things point and what is withdrawn may not. A tick in
        // between may already have moved the parameters off the marked build (with its own labels).
        expect(
          endState(world, { labels: !tickBetween }),
          `after a crash following mutating call ${k}${tickBetween ? " and a tick" : ""}`,
        ).toEqual(expected(!tickBetween));
        neverPublishedWithdrawn(world, before);
        checked++;
      }
    }
    console.log(
      `[services] rollback crash-anywhere: ${total} mutating calls, ${checked} crashed runs re-run`,
    );
  });

  it("--to a version: that version's AMI, unless it was withdrawn or is gone", async () => {
    const { world, good, bad } = await twoGenerations();
    const result = await rollBack(world, { to: 1 });
    expect(result.failed).toEqual([]);
    for (const region of REGIONS) expect(world.aws.parameter(region, PARAM)?.value).toBe(good[region]);
    // Version 2 is the withdrawn build now: refused, naming why.
    const forward = await rollBack(world, { to: 2 });
    expect(forward.failed.map((f) => f.error)).toEqual([
      expect.any(NoRollbackTargetError),
      expect.any(NoRollbackTargetError),
    ]);
    expect(forward.failed[0]?.error.message).toMatch(
      /version 2's AMI ami-\S+ is withdrawn by a rollback in us-east-1; pick another with --to/,
    );
    const none = await rollBack(world, { to: 99 });
    expect(none.failed[0]?.error.message).toMatch(/has no version 99 in us-east-1/);
    for (const region of REGIONS) expect(world.aws.parameter(region, PARAM)?.value).not.toBe(bad[region]);
  });

  it("a line that was never published: a user error naming the parameter and region, and nothing changes", async () => {
    const world = fakeWorld(project);
    const result = await rollBack(world);
    expect(result.failed.map((f) => [f.region, f.error.constructor, f.error.kind])).toEqual([
      [HOME, ParameterNotFoundError, "user"],
      [EU, ParameterNotFoundError, "user"],
    ]);
    expect(result.failed[0]?.error.message).toBe(`${PARAM} does not exist in us-east-1`);
    expect(world.aws.calls().filter((c) => c.mutating)).toEqual([]);
  });

  it("a line published only once has nothing to roll back to", async () => {
    const world = fakeWorld(project);
    await converge(world);
    world.aws.resetCalls();
    const result = await rollBack(world);
    expect(result.failed.map((f) => f.error.code)).toEqual(["NO_ROLLBACK_TARGET", "NO_ROLLBACK_TARGET"]);
    expect(result.failed[0]?.error.message).toMatch(
      /has never pointed at another available AMI that was not withdrawn/,
    );
    expect(world.aws.calls().filter((c) => c.mutating)).toEqual([]);
  });
});
