import { describe, expect, it } from "vitest";
import type { ActionOutcome } from "../../../src/pipeline/apply.js";
import { buildReport, reportSubject, reportText } from "../../../src/pipeline/report.js";
import type { Action } from "../../../src/plan/types.js";

const line = { toolset: "light", base: "debian-12" as const, arch: "amd64" as const };
const outcome = (
  action: Action,
  status: ActionOutcome["status"],
  extra: Partial<ActionOutcome> = {},
): ActionOutcome => ({ action, status, ms: 5, ...extra });

describe("run report", () => {
  const outcomes: ActionOutcome[] = [
    outcome(
      { kind: "build", line, region: "us-east-1", reason: "new base image ami-1 → ami-2" } as Action,
      "done",
      { result: "started arn" },
    ),
    outcome(
      {
        kind: "publish",
        line,
        region: "us-east-1",
        imageId: "ami-h",
        parameters: [],
        tags: {},
        label: "build-x",
        reason: "r",
      },
      "done",
    ),
    outcome(
      {
        kind: "publish",
        line,
        region: "eu-west-1",
        imageId: "ami-e",
        parameters: [],
        tags: {},
        label: "build-x",
        reason: "r",
      },
      "done",
    ),
    outcome(
      {
        kind: "copy",
        line,
        region: "ap-southeast-2",
        sourceRegion: "us-east-1",
        sourceImageId: "ami-h",
        name: "n",
        fingerprint: "f",
        attempt: 1,
        tags: {},
        reason: "copy",
      },
      "failed",
      {
        error: "ec2:CopyImage in ap-southeast-2 failed (InternalError): copy backend unavailable",
      },
    ),
    outcome({ kind: "wait", line, region: "eu-west-1", reason: "copy pending" }, "waiting"),
  ];
  const report = buildReport({
    trigger: "nightly",
    startedAt: new Date("2026-11-29T02:00:00Z"),
    finishedAt: new Date("2026-11-29T02:03:00Z"),
    passes: 2,
    outcomes,
    finalPlan: {
      actions: [],
      lines: [
        {
          line,
          region: "us-east-1",
          state: "published",
          imageId: "ami-h",
          detail: "ops-rig-light-debian-12-amd64-2026-11-29T02-00-00.000Z",
        },
        { line, region: "ap-southeast-2", state: "copying", detail: "copy in progress" },
      ],
    },
  });

  it("counts changes and failures; a failed region makes the run not ok", () => {
    expect(report.counts).toEqual({ changed: 3, failed: 1, waiting: 1, skipped: 0 });
    expect(report.ok).toBe(false);
    expect(reportSubject(report)).toBe("ops-rig nightly: 2 published, 1 builds started, 1 failed");
    // A line/region whose action failed is shown as failed, with the error.
    expect(report.lines.find((l) => l.region === "ap-southeast-2")).toMatchObject({
      state: "failed",
      detail: expect.stringContaining("copy backend unavailable"),
    });
  });

  it("reads well as an e-mail: counts, builds with reasons, failures in full, then every line", () => {
    const text = reportText(report);
    expect(text).toContain("Done: 1 build, 2 publish.");
    expect(text).toMatch(
      /Builds started:\nline\s+why\n-+\s+-+\nlight\/debian-12\/amd64\s+new base image ami-1 → ami-2/,
    );
    expect(text).toMatch(
      /Failures:\naction\s+line\s+region\s+error\n.*\ncopy\s+light\/debian-12\/amd64\s+ap-southeast-2\s+ec2:CopyImage in ap-southeast-2 failed \(InternalError\): copy backend unavailable/,
    );
    expect(text).toMatch(/light\s+debian-12\/amd64\s+us-east-1\s+published\s+ami-h/);
  });
});
