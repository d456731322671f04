import { beforeAll, describe, expect, it } from "vitest";
import type { PipelineSettings, Toolset } from "../../../src/config/types.js";
import { AwsCallError, PublishNotStoredError } from "../../../src/errors.js";
import { type ApplyContext, apply } from "../../../src/pipeline/apply.js";
import { ImageBuilderResources } from "../../../src/pipeline/imagebuilder-resources.js";
import type { PipelinePorts } from "../../../src/pipeline/ports.js";
import type { Action, ParameterValue } from "../../../src/plan/types.js";
import { ALIAS, EU, HOME, LINE, loadFixtureConfig, NOW, PARAM } from "../plan/fixtures.js";

let pipeline: PipelineSettings;
let toolset: Toolset;
beforeAll(async () => {
  ({ pipeline, toolset } = await loadFixtureConfig());
});

interface FakeState {
  calls: string[];
  parameters: Map<string, ParameterValue>;
  history: Map<string, { version: number; value: string; labels: string[] }[]>;
  /** Values SSM's aws:ec2:image validation rejects (accepted with 200, never stored). */
  rejected: Set<string>;
  /** Reads before a stored value becomes visible. */
  visibleAfterReads: number;
  failCopyIn?: string;
  copyDelayMs: number;
  activeCopies: number;
  maxActiveCopies: number;
}

function fakePorts(state: FakeState): PipelinePorts {
  const key = (region: string, name: string) => `${region}:${name}`;
  let reads = 0;
  const unused = async (): Promise<never> => {
    throw new Error("not used in these tests");
  };
  return {
    ec2: {
      describeRegions: unused,
      describeImages: unused,
      searchImages: unused,
      listOwnImages: unused,
      copyImage: async (region, input) => {
        state.calls.push(`CopyImage ${region} ${input.sourceImageId}`);
        state.activeCopies++;
        state.maxActiveCopies = Math.max(state.maxActiveCopies, state.activeCopies);
        await new Promise((r) => setTimeout(r, state.copyDelayMs));
        state.activeCopies--;
        if (region === state.failCopyIn) {
          throw new AwsCallError({
            service: "ec2",
            operation: "CopyImage",
            region,
            awsCode: "InvalidRegion",
            message: "region broken",
          });
        }
        return `ami-copy-${region}-${input.clientToken.slice(0, 4)}`;
      },
      createTags: async (region, id, tags) => {
        state.calls.push(`CreateTags ${region} ${id} ${Object.keys(tags).join(",")}`);
      },
      enableImageDeprecation: async (region, id, at) => {
        state.calls.push(`EnableImageDeprecation ${region} ${id} ${at.toISOString()}`);
      },
      deregisterImage: async (region, id) => {
        state.calls.push(`DeregisterImage ${region} ${id}`);
      },
    },
    ssm: {
      getParameters: async (region, names) => {
        state.calls.push(`GetParameters ${region} ${names.join(",")}`);
        reads++;
        if (reads <= state.visibleAfterReads) return { found: [], invalid: [...names] };
        const found = names.flatMap((name) => state.parameters.get(key(region, name)) ?? []);
        return { found, invalid: names.filter((n) => !found.some((f) => f.name === n)) };
      },
      getParametersByPath: unused,
      getParameter: async (region, name) => {
        state.calls.push(`GetParameter ${region} ${name}`);
        reads++;
        if (reads <= state.visibleAfterReads) return undefined;
        return state.parameters.get(key(region, name));
      },
      putImageParameter: async (region, name, value) => {
        state.calls.push(`PutParameter ${region} ${name} ${value}`);
        const current = state.parameters.get(key(region, name));
        const version = (current?.version ?? 0) + 1;
        if (!state.rejected.has(value)) state.parameters.set(key(region, name), { name, value, version });
        return version;
      },
      labelParameterVersion: async (region, name, version, labels) => {
        state.calls.push(`LabelParameterVersion ${region} ${name} v${version} ${labels.join(",")}`);
      },
      unlabelParameterVersion: async (region, name, version, labels) => {
        state.calls.push(`UnlabelParameterVersion ${region} ${name} v${version} ${labels.join(",")}`);
      },
      getParameterHistory: async (region, name) => {
        state.calls.push(`GetParameterHistory ${region} ${name}`);
        return state.history.get(key(region, name)) ?? [];
      },
    },
    sns: { publish: unused },
    sts: {
      accountId: async () => "123456789012",
      identity: async () => ({ accountId: "123456789012", arn: "arn:aws:iam::123456789012:user/t" }),
    },
    imageBuilder: {
      region: HOME,
      listComponentVersions: unused,
      createComponent: unused,
      listRecipeVersions: unused,
      createRecipe: unused,
      findInfrastructure: unused,
      createInfrastructure: unused,
      updateInfrastructure: unused,
      findDistribution: unused,
      createDistribution: unused,
      updateDistribution: unused,
      createImage: unused,
      listImageBuilds: unused,
      tagResource: unused,
    },
  };
}

function newState(partial: Partial<FakeState> = {}): FakeState {
  return {
    calls: [],
    parameters: new Map(),
    history: new Map(),
    rejected: new Set(),
    visibleAfterReads: 0,
    copyDelayMs: 0,
    activeCopies: 0,
    maxActiveCopies: 0,
    ...partial,
  };
}

function context(state: FakeState, sleeps: number[] = []): ApplyContext {
  const ports = fakePorts(state);
  return {
    ports,
    pipeline,
    toolsets: [toolset],
    components: new Map(),
    resources: new ImageBuilderResources(ports.imageBuilder, pipeline, "123456789012"),
    now: () => NOW,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    events: () => {},
  };
}

const publish = (
  region: string,
  imageId: string,
  parameters: Extract<Action, { kind: "publish" }>["parameters"],
): Action => ({
  kind: "publish",
  line: LINE,
  region,
  imageId,
  parameters,
  tags: { "ops-rig:published": NOW.toISOString() },
  label: "build-20261129-030012",
  reason: "test",
});

describe("apply", () => {
  it("publishes in four round trips: tag the AMI, write every parameter, read them back at once, label", async () => {
    const state = newState();
    const ports = fakePorts(state);
    // Each call takes one "round trip"; calls started in the same trip overlap.
    let trip = 0;
    let inFlight = 0;
    const trips: number[] = [];
    const timed =
      <A extends unknown[], R>(f: (...a: A) => Promise<R>) =>
      async (...a: A): Promise<R> => {
        if (inFlight === 0) trip++;
        inFlight++;
        trips.push(trip);
        await Promise.resolve();
        const result = await f(...a);
        inFlight--;
        return result;
      };
    const counted: PipelinePorts = {
      ...ports,
      ec2: { ...ports.ec2, createTags: timed(ports.ec2.createTags) },
      ssm: {
        ...ports.ssm,
        putImageParameter: timed(ports.ssm.putImageParameter),
        getParameters: timed(ports.ssm.getParameters),
        labelParameterVersion: timed(ports.ssm.labelParameterVersion),
      },
    };
    const [outcome] = await apply({ ...context(state), ports: counted }, [
      publish(HOME, "ami-1", [{ name: PARAM }, { name: ALIAS }]),
    ]);
    expect(outcome?.status).toBe("done");
    expect(state.calls).toEqual([
      `CreateTags ${HOME} ami-1 ops-rig:published`,
      `PutParameter ${HOME} ${PARAM} ami-1`,
      `PutParameter ${HOME} ${ALIAS} ami-1`,
      `GetParameters ${HOME} ${PARAM},${ALIAS}`,
      `LabelParameterVersion ${HOME} ${PARAM} v1 build-20261129-030012`,
      `LabelParameterVersion ${HOME} ${ALIAS} v1 build-20261129-030012`,
    ]);
    expect(Math.max(...trips)).toBe(4);
  });

  it("waits for SSM's asynchronous validation before believing a write", async () => {
    const state = newState({ visibleAfterReads: 2 });
    const sleeps: number[] = [];
    const [outcome] = await apply(context(state, sleeps), [publish(HOME, "ami-1", [{ name: PARAM }])]);
    expect(outcome?.status).toBe("done");
    expect(sleeps).toEqual([1500, 1500]);
  });

  it("fails the publish when SSM silently drops an AMI its validation rejects", async () => {
    const state = newState({ rejected: new Set(["ami-bad"]) });
    state.parameters.set(`${HOME}:${PARAM}`, { name: PARAM, value: "ami-good", version: 4 });
    const [outcome] = await apply(context(state), [
      publish(HOME, "ami-bad", [{ name: PARAM, current: "ami-good", version: 4 }]),
    ]);
    expect(outcome?.status).toBe("failed");
    // The outcome keeps the error object: its class and stable code, not just text.
    const error = outcome?.status === "failed" ? outcome.error : undefined;
    expect(error).toBeInstanceOf(PublishNotStoredError);
    expect(error?.code).toBe("PUBLISH_NOT_STORED");
    expect(error?.message).toBe(
      `SSM did not store ami-bad in ${PARAM} (it holds ami-good): the aws:ec2:image validation rejected it`,
    );
    expect(state.calls.filter((c) => c.startsWith("LabelParameterVersion"))).toEqual([]);
  });

  it("frees the labels of the version SSM is about to drop at 100 versions", async () => {
    const state = newState();
    state.parameters.set(`${HOME}:${PARAM}`, { name: PARAM, value: "ami-old", version: 100 });
    state.history.set(`${HOME}:${PARAM}`, [
      { version: 1, value: "ami-a", labels: ["published-20260801-0300"] },
      { version: 2, value: "ami-b", labels: [] },
      { version: 100, value: "ami-old", labels: ["published-20261128-0300"] },
    ]);
    const [outcome] = await apply(context(state), [
      publish(HOME, "ami-new", [{ name: PARAM, current: "ami-old", version: 100 }]),
    ]);
    expect(outcome?.status).toBe("done");
    expect(state.calls).toContain(`UnlabelParameterVersion ${HOME} ${PARAM} v1 published-20260801-0300`);
    expect(
      state.calls.indexOf(`UnlabelParameterVersion ${HOME} ${PARAM} v1 published-20260801-0300`),
    ).toBeLessThan(state.calls.indexOf(`PutParameter ${HOME} ${PARAM} ami-new`));
  });

  it("records a failed copy and finishes the others", async () => {
    const state = newState({ failCopyIn: EU });
    const copy = (region: string): Action => ({
      kind: "copy",
      line: LINE,
      region,
      sourceRegion: HOME,
      sourceImageId: "ami-src",
      name: "ops-rig-light-debian-12-amd64-2026-11-29T03-00-00.000Z",
      fingerprint: "f".repeat(64),
      attempt: 1,
      tags: {},
      reason: "test",
    });
    const outcomes = await apply(context(state), [copy(EU), copy("ap-southeast-2"), copy("eu-central-1")]);
    expect(outcomes.map((o) => o.status)).toEqual(["failed", "done", "done"]);
    const failed = outcomes[0];
    expect(failed?.status === "failed" && failed.error).toBeInstanceOf(AwsCallError);
    expect(failed?.status === "failed" && failed.error.message).toMatch(
      /^ec2:CopyImage in eu-west-1 failed \(InvalidRegion\)/,
    );
  });

  it("bounds copies per destination region and deregisters the failed copy a retry replaces", async () => {
    const state = newState({ copyDelayMs: 20 });
    const settings = { ...pipeline, copy: { ...pipeline.copy, concurrencyPerRegion: 2 } };
    const actions: Action[] = Array.from({ length: 6 }, (_, i) => ({
      kind: "copy",
      line: { ...LINE, arch: i % 2 === 0 ? "amd64" : "arm64" },
      region: EU,
      sourceRegion: HOME,
      sourceImageId: `ami-src-${i}`,
      name: `n${i}`,
      fingerprint: `${i}`.repeat(64),
      attempt: 2,
      tags: {},
      ...(i === 0 ? { replaces: "ami-failed" } : {}),
      reason: "test",
    }));
    const outcomes = await apply({ ...context(state), pipeline: settings }, actions);
    expect(outcomes.every((o) => o.status === "done")).toBe(true);
    expect(state.maxActiveCopies).toBe(2);
    expect(state.calls).toContain(`DeregisterImage ${EU} ami-failed`);
  });

  it("runs every region's lane at once: copies bounded per region and overall, never by one global pool", async () => {
    const regions = Array.from({ length: 17 }, (_, i) => `r${i}`);
    const settings = { ...pipeline, copy: { ...pipeline.copy, concurrencyPerRegion: 2 } };
    const actions: Action[] = regions.flatMap((region) =>
      Array.from(
        { length: 3 },
        (_, i): Action => ({
          kind: "copy",
          line: { ...LINE, arch: i % 2 === 0 ? "amd64" : "arm64" },
          region,
          sourceRegion: HOME,
          sourceImageId: `ami-src-${i}`,
          name: `n${i}`,
          fingerprint: `${i}`.repeat(64),
          attempt: 1,
          tags: {},
          reason: "test",
        }),
      ),
    );
    for (const [concurrency, expected] of [
      [undefined, 17 * 2],
      [8, 8],
    ] as const) {
      const state = newState();
      const ports = fakePorts(state);
      const active = new Map<string, number>();
      let maxPerRegion = 0;
      const copyImage: PipelinePorts["ec2"]["copyImage"] = async (region, input) => {
        active.set(region, (active.get(region) ?? 0) + 1);
        maxPerRegion = Math.max(maxPerRegion, active.get(region) ?? 0);
        try {
          return await ports.ec2.copyImage(region, input);
        } finally {
          active.set(region, (active.get(region) ?? 0) - 1);
        }
      };
      const ctx = {
        ...context(state),
        ports: { ...ports, ec2: { ...ports.ec2, copyImage } },
        pipeline: settings,
        ...(concurrency ? { concurrency } : {}),
      };
      const outcomes = await apply(ctx, actions);
      expect(outcomes.every((o) => o.status === "done")).toBe(true);
      expect(state.maxActiveCopies, `concurrency ${concurrency}`).toBe(expected);
      expect(maxPerRegion).toBe(2);
    }
  });

  it("deprecates at the next whole minute (AWS refuses a time in the past)", async () => {
    const state = newState();
    await apply(context(state), [
      { kind: "deprecate", line: LINE, region: EU, imageId: "ami-old", reason: "test" },
    ]);
    expect(state.calls).toEqual([`EnableImageDeprecation ${EU} ami-old 2026-11-29T12:01:00.000Z`]);
  });

  it("makes no call for wait, skip and notify actions", async () => {
    const state = newState();
    const outcomes = await apply(context(state), [
      { kind: "wait", line: LINE, region: HOME, reason: "build running" },
      { kind: "skip", line: LINE, region: HOME, reason: "backoff", error: false },
      { kind: "notify", line: LINE, region: HOME, build: "arn", failure: "x", reason: "x" },
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["waiting", "skipped", "skipped"]);
    expect(state.calls).toEqual([]);
  });
});
