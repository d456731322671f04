import { beforeAll, describe, expect, it } from "vitest";
import { PARTITION_REGIONS } from "../../src/config/regions.js";
import { type RunSummary, SNS_PUBLISH_LIMIT_BYTES } from "../../src/pipeline/notification.js";
import { linesOf } from "../../src/pipeline/observe.js";
import type { PipelineProject } from "../../src/pipeline/run.js";
import { bake } from "../../src/services/bake.js";
import { shippedProject } from "../helpers/shipped.js";
import { fakeWorld, HOME, run } from "./fake-world.js";

// The shipped toolsets (every line) over 17 regions: the fleet the notification must fit for.
const REGIONS = [HOME, ...(PARTITION_REGIONS.aws ?? []).filter((r) => r !== HOME)].slice(0, 17);

let project: PipelineProject;
beforeAll(async () => {
  project = await shippedProject({ regions: REGIONS });
});

describe("the run's notification at fleet scale", () => {
  it("16 lines × 17 regions with a failure in every region: one message SNS accepts, every failure accounted for", async () => {
    expect(linesOf(project.toolsets)).toHaveLength(16);
    expect(REGIONS).toHaveLength(17);
    const world = fakeWorld(project, { copies: "pending" });
    await run(world, { trigger: "nightly" });
    world.aws.finishBuilds();
    // AWS's error messages are long; every copy and every home publish fails with one.
    const long = `the copy backend is unavailable: ${"retry later, ".repeat(20)}`;
    world.aws.fail({ operation: "CopyImage", code: "InternalError", message: long, retryable: true });
    world.aws.fail({ operation: "PutParameter", region: HOME, code: "InternalError", message: long });
    const sentBefore = world.aws.published.length;
    const { report, status } = await bake(world.project, world.deps(), { trigger: "nightly" });

    expect(status).toBe("failed");
    const failedRegions = new Set(report.actions.filter((a) => a.failure).map((a) => a.region));
    expect(failedRegions.size).toBe(17);
    expect(report.counts.failed).toBeGreaterThanOrEqual(16 * 17);
    expect(report.notification.status).toBe("sent");
    const sent = world.aws.published.slice(sentBefore);
    expect(sent).toHaveLength(1);
    const message = sent[0];
    // The fake refuses what SNS refuses (the whole Publish over 262,144 UTF-8 bytes); checked here too.
    expect(message?.bytes).toBeLessThanOrEqual(SNS_PUBLISH_LIMIT_BYTES);
    const summary = message?.json as RunSummary;
    expect(summary.counts.failed).toBe(report.counts.failed);
    expect(summary.failures.length + summary.failuresOmitted).toBe(report.counts.failed);
    expect(summary.byKind.copy?.failed).toBe(16 * 16);
    expect(summary.byKind.publish?.failed).toBe(16);
    // Failures listed in full: error text and code as the report has them.
    expect(summary.failures[0]).toEqual(report.actions.find((a) => a.failure));
    if (summary.failuresOmitted > 0)
      expect(message?.text).toContain(`+${summary.failuresOmitted} more in the full report`);
    else expect(message?.text).not.toContain("more in the full report");
  });
});
