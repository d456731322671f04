import { describe, expect, it } from "vitest";
import {
  notificationFor,
  publishBytes,
  SNS_PUBLISH_LIMIT_BYTES,
  snsPublishBody,
} from "../../../src/pipeline/notification.js";
import type { ReportedAction, RunReport } from "../../../src/pipeline/report.js";

function report(failures: number, changes: number, errorChars = 200): RunReport {
  const actions: ReportedAction[] = [];
  for (let i = 0; i < failures; i++)
    actions.push({
      kind: "copy",
      line: `heavy/debian-12/amd64#${i}`,
      region: "ap-southeast-2",
      reason: "copy",
      status: "failed",
      // Multi-byte characters: the limit is in UTF-8 bytes, not characters.
      error: `Zugriff verweigert — ${"ü".repeat(errorChars)}`,
      code: "AWS_CALL_FAILED",
      failure: true,
      ms: 1,
    });
  for (let i = 0; i < changes; i++)
    actions.push({
      kind: "publish",
      line: `light/ubuntu-24.04/arm64#${i}`,
      region: "eu-west-1",
      reason: "r",
      status: "done",
      result: `ami-0123456789abcdef0 → /ops-rig/light/ubuntu-24.04/arm64/ami-id v${i}`,
      failure: false,
      ms: 1,
    });
  return {
    trigger: "nightly",
    startedAt: "2026-11-29T02:00:00.000Z",
    finishedAt: "2026-11-29T02:10:00.000Z",
    passes: 3,
    actions,
    lines: [],
    counts: { changed: changes, failed: failures, waiting: 0, skipped: 0 },
    ok: failures === 0,
    retryable: false,
    interrupted: false,
    notification: { status: "skipped" },
  };
}

describe("the run's SNS summary", () => {
  it("a small run: everything listed, nothing omitted, one JSON form and one text form", () => {
    const message = notificationFor(report(3, 5), { fullReport: "s3://logs/reports/x.json" });
    expect(message.json.failures).toHaveLength(3);
    expect(message.json.changes).toHaveLength(5);
    expect(message.json.failuresOmitted).toBe(0);
    expect(message.json.byKind).toEqual({ copy: { failed: 3 }, publish: { done: 5 } });
    expect(message.text).toContain("Full report: s3://logs/reports/x.json");
    expect(message.text).not.toContain("more in the full report");
    const forms = JSON.parse(snsPublishBody(message).message) as Record<string, string>;
    expect(JSON.parse(forms.default ?? "")).toEqual(message.json);
    expect(forms.email).toBe(message.text);
  });

  it("any fleet size: cut to the budget, failures before changes, the rest counted", () => {
    for (const [failures, changes] of [
      [5_000, 0],
      [0, 20_000],
      [2_000, 5_000],
    ] as const) {
      const message = notificationFor(report(failures, changes));
      const bytes = publishBytes(snsPublishBody(message));
      expect(bytes).toBeLessThanOrEqual(SNS_PUBLISH_LIMIT_BYTES);
      // Cut close to the budget, not far below it (binary search on the entries that fit).
      expect(bytes).toBeGreaterThan(SNS_PUBLISH_LIMIT_BYTES - 32_768);
      const { json } = message;
      expect(json.failures.length + json.failuresOmitted).toBe(failures);
      expect(json.changes.length + json.changesOmitted).toBe(changes);
      if (failures > 0) {
        expect(json.failuresOmitted).toBeGreaterThan(0);
        // Only what still fits beside the failures (a change is shorter than a failure).
        expect(json.changes.length).toBeLessThan(changes / 100 + 1);
        expect(message.text).toContain(`+${json.failuresOmitted} more in the full report`);
      } else {
        expect(message.text).toContain(`+${json.changesOmitted} more in the full report`);
      }
    }
  });

  it("counts the bytes SNS counts: UTF-8 of message, subject and every attribute's name, type and value", () => {
    const body = { subject: "ü", messageStructure: "json" as const, message: "€", attributes: { ab: "ç" } };
    expect(publishBytes(body)).toBe(3 + 2 + (2 + "String".length + 2));
  });
});
