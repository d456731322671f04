import { beforeAll, describe, expect, it } from "vitest";
import { PARTITION_REGIONS } from "../../src/config/regions.js";
import { createHandler, REPORT_PART_BYTES, reportParts } from "../../src/lambda/handler.js";
import type { PipelineProject } from "../../src/pipeline/run.js";
import { shippedProject } from "../helpers/shipped.js";
import { converge, fakeWorld, HOME, run } from "./fake-world.js";

const REGIONS = [HOME, ...(PARTITION_REGIONS.aws ?? []).filter((r) => r !== HOME)].slice(0, 17);

let project: PipelineProject;
beforeAll(async () => {
  project = await shippedProject({ regions: REGIONS });
});

describe("a fleet run on the in-memory AWS (16 lines × 17 regions)", () => {
  it("reads the account and the regions once per run, however many passes", async () => {
    const world = fakeWorld(project);
    const result = await run(world, { trigger: "nightly", maxPasses: 3 });
    world.aws.finishBuilds();
    const second = await run(world, { maxPasses: 3 });
    expect(result.passes.length + second.passes.length).toBeGreaterThan(2);
    const count = (operation: string) => world.aws.calls().filter((c) => c.operation === operation).length;
    expect(count("GetCallerIdentity")).toBe(2);
    expect(count("DescribeRegions")).toBe(2);
  });

  it("the no-op nightly: no mutating call, at most 3 reads per region and a constant", async () => {
    const world = fakeWorld(project, { copies: "pending" });
    await converge(world, { trigger: "nightly" }, 12);
    world.aws.resetCalls();
    const again = await run(world, { trigger: "nightly" });
    expect(again.report.counts.changed).toBe(0);
    const calls = world.aws.calls();
    expect(calls.filter((c) => c.mutating)).toEqual([]);
    const perRegion = new Map<string, number>();
    for (const c of calls) perRegion.set(c.region, (perRegion.get(c.region) ?? 0) + 1);
    for (const region of REGIONS.filter((r) => r !== HOME))
      expect(perRegion.get(region), region).toBeLessThanOrEqual(3);
    // The home region adds the run's constant: account, regions, the bases (one batched parameter
    // read, one DescribeImages).
    expect(perRegion.get(HOME)).toBeLessThanOrEqual(3 + 4);
  });

  it("stores the full report in the logs bucket, links it from the message, and logs it in parts", async () => {
    const withBucket: PipelineProject = {
      ...project,
      pipeline: { ...project.pipeline, build: { ...project.pipeline.build, logsBucket: "ops-rig-logs" } },
    };
    const world = fakeWorld(withBucket);
    const stored: { bucket: string; key: string; body: string }[] = [];
    const ports = {
      ...world.aws.ports,
      reports: {
        putReport: async (_region: string, bucket: string, key: string, body: string) => {
          stored.push({ bucket, key, body });
          return `s3://${bucket}/${key}`;
        },
      },
    };
    const logs: { message: string; data?: Record<string, unknown> }[] = [];
    const handler = createHandler({
      project: async () => withBucket,
      ports: () => ports,
      now: world.clock.now,
      sleep: world.clock.sleep,
      log: (_level, message, data) => {
        logs.push({ message, ...(data ? { data } : {}) });
      },
    });
    await handler({ kind: "nightly" });
    expect(stored).toHaveLength(1);
    expect(stored[0]?.key).toMatch(/^reports\/2026-11-29T12-00-00-000Z-nightly\.json$/);
    const full = JSON.parse(stored[0]?.body ?? "{}") as { actions: unknown[] };
    expect(full.actions.length).toBeGreaterThan(16);
    const message = world.aws.published.at(-1);
    expect(message?.text).toContain(`Full report: s3://ops-rig-logs/${stored[0]?.key}`);
    expect((message?.json as { fullReport?: string } | undefined)?.fullReport).toBe(
      `s3://ops-rig-logs/${stored[0]?.key}`,
    );
    const parts = logs.filter((l) => l.message === "report");
    expect(parts.flatMap((p) => p.data?.actions as unknown[])).toEqual(full.actions);
  });

  it("cuts the logged report into parts under the size of a log event", () => {
    const actions = Array.from({ length: 3000 }, (_, i) => ({ i, error: "x".repeat(100) }));
    const parts = reportParts(actions);
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.flat()).toEqual(actions);
    for (const part of parts)
      expect(Buffer.byteLength(JSON.stringify(part))).toBeLessThan(REPORT_PART_BYTES + 200);
    expect(reportParts([])).toEqual([[]]);
  });
});
