import { describe, expect, it } from "vitest";
import { AwsCallError } from "../../../src/errors.js";
import type { ActionOutcome } from "../../../src/pipeline/apply.js";
import { buildReport, mergeOutcomes, reportSubject, reportText } from "../../../src/pipeline/report.js";
import type { Action } from "../../../src/plan/types.js";

const line = { toolset: "light", base: "debian-12" as const, arch: "amd64" as const };
const copyError = new AwsCallError({
  service: "ec2",
  operation: "CopyImage",
  region: "ap-southeast-2",
  awsCode: "InternalError",
  message: "copy backend unavailable",
  retryable: true,
});
const build = { kind: "build", line, region: "us-east-1", reason: "new base image ami-1 → ami-2" } as Action;
const publish = (region: string, imageId: string): Action => ({
  kind: "publish",
  line,
  region,
  imageId,
  parameters: [],
  tags: {},
  label: "build-x",
  reason: "r",
});
const copy: Action = {
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
};
const wait: Action = { kind: "wait", line, region: "eu-west-1", reason: "copy pending" };
const notify: Action = {
  kind: "notify",
  line,
  region: "us-east-1",
  build: "arn:aws:imagebuilder:us-east-1:1:image/ops-rig-light-debian-12-amd64/1.0.1/1",
  failure: "test phase: RecoverDeletedFile exited 1",
  reason: "build failed: test phase: RecoverDeletedFile exited 1",
};
const plan = {
  actions: [],
  lines: [
    {
      line,
      region: "us-east-1",
      state: "published" as const,
      imageId: "ami-h",
      detail: "ops-rig-light-debian-12-amd64-2026-11-29T02-00-00.000Z",
    },
    { line, region: "ap-southeast-2", state: "copying" as const, detail: "copy in progress" },
  ],
};
const report = (passes: ActionOutcome[][]) =>
  buildReport({
    trigger: "nightly",
    startedAt: new Date("2026-11-29T02:00:00Z"),
    finishedAt: new Date("2026-11-29T02:03:00Z"),
    passes,
    finalPlan: plan,
  });

describe("run report", () => {
  // Three passes as reconcile makes them: the failed build is re-planned (notify) in each, the copy
  // that failed in pass 1 is postponed in the others, and the wait is seen every pass.
  const passes: ActionOutcome[][] = [
    [
      { action: build, status: "done", result: "started arn", ms: 5 },
      { action: copy, status: "failed", error: copyError, ms: 5 },
      { action: notify, status: "skipped", ms: 0 },
      { action: wait, status: "waiting", ms: 0 },
    ],
    [
      { action: publish("us-east-1", "ami-h"), status: "done", result: "ami-h → v1", ms: 5 },
      { action: publish("eu-west-1", "ami-e"), status: "done", result: "ami-e → v1", ms: 5 },
      { action: notify, status: "skipped", ms: 0 },
      { action: wait, status: "waiting", ms: 0 },
      { action: copy, status: "skipped", note: "failed earlier in this run", ms: 0 },
    ],
    [
      { action: notify, status: "skipped", ms: 0 },
      { action: wait, status: "waiting", ms: 0 },
      { action: copy, status: "skipped", note: "failed earlier in this run", ms: 0 },
    ],
  ];
  const three = report(passes);

  it("counts every failure once per run, however many passes re-planned it", () => {
    expect(mergeOutcomes(passes)).toHaveLength(6);
    expect(three.counts).toEqual({ changed: 3, failed: 2, waiting: 1, skipped: 0 });
    expect(three.actions.filter((a) => a.kind === "notify")).toHaveLength(1);
    // The postponed copy is reported as the failure it was, with the error's code.
    expect(three.actions.find((a) => a.kind === "copy")).toMatchObject({
      status: "failed",
      code: "AWS_CALL_FAILED",
      failure: true,
      retryable: true,
      error: expect.stringContaining("copy backend unavailable"),
    });
    expect(three.ok).toBe(false);
    expect(three.retryable).toBe(true);
    expect(reportSubject(three)).toBe("ops-rig nightly: 2 published, 1 builds started, 2 failed");
    expect(reportText(three).match(/RecoverDeletedFile exited 1/g)).toHaveLength(1);
  });

  it("a failed build alone is a failure a retry cannot fix", () => {
    const only = report([
      [{ action: notify, status: "skipped", ms: 0 }],
      [{ action: notify, status: "skipped", ms: 0 }],
    ]);
    expect(only.counts.failed).toBe(1);
    expect(only.ok).toBe(false);
    expect(only.retryable).toBe(false);
  });

  it("shows a line whose action failed as failed, with the error", () => {
    expect(three.lines.find((l) => l.region === "ap-southeast-2")).toMatchObject({
      state: "failed",
      detail: expect.stringContaining("copy backend unavailable"),
    });
  });

  it("reads well as an e-mail: counts, builds with reasons, failures in full, then every line", () => {
    const text = reportText(three);
    expect(text).toContain("Done: 1 build, 2 publish.");
    expect(text).toMatch(
      /Builds started:\nline\s+why\n-+\s+-+\nlight\/debian-12\/amd64\s+new base image ami-1 → ami-2/,
    );
    expect(text).toMatch(
      /Failures:\naction\s+line\s+region\s+error\n.*\ncopy\s+light\/debian-12\/amd64\s+ap-southeast-2\s+ec2:CopyImage in ap-southeast-2 failed \(InternalError\): copy backend unavailable/,
    );
    expect(text).toMatch(
      /build\s+light\/debian-12\/amd64\s+us-east-1\s+test phase: RecoverDeletedFile exited 1/,
    );
    expect(text).toMatch(/light\s+debian-12\/amd64\s+us-east-1\s+published\s+ami-h/);
  });
});
