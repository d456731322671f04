import type { ActionKind } from "../plan/types.js";
import type { ReportedAction, RunReport } from "./report.js";
import { reportSubject } from "./report.js";

/**
 * SNS refuses a Publish over 256 KB (262,144 UTF-8 bytes), counting the message and every message
 * attribute's name, type and value (the SNS API reference, Publish and MessageAttributeValue).
 */
export const SNS_PUBLISH_LIMIT_BYTES = 262_144;
/**
 * What the summary aims at: the limit minus room for what SNS might count that we cannot see
 * (the subject, rounding). Whatever the fleet, the message never comes near the limit.
 */
export const SUMMARY_BUDGET_BYTES = SNS_PUBLISH_LIMIT_BYTES - 16_384;

/** One notification: what the SnsPort publishes. `json` is the machine form, `text` the human one. */
export interface NotificationMessage {
  readonly subject: string;
  readonly text: string;
  readonly json: RunSummary;
  readonly attributes: Readonly<Record<string, string>>;
}

/** What `Publish` gets, built once so its size is measured on exactly what is sent. */
export interface SnsPublishBody {
  readonly subject: string;
  readonly messageStructure: "json";
  readonly message: string;
  readonly attributes: Readonly<Record<string, string>>;
}

/**
 * The message-structure envelope: people (e-mail) read the text; every other protocol (SQS, Lambda,
 * HTTP(S), e-mail-json, Firehose) gets `default`, the JSON summary, once; SMS only the subject.
 * Each form appears once, so the summary's size is what counts.
 */
export function snsPublishBody(message: NotificationMessage): SnsPublishBody {
  return {
    subject: message.subject.slice(0, 100),
    messageStructure: "json",
    message: JSON.stringify({
      default: JSON.stringify(message.json),
      email: message.text,
      sms: message.subject.slice(0, 100),
    }),
    attributes: message.attributes,
  };
}

/** The UTF-8 bytes SNS counts for this Publish: message, subject and every attribute's name, type and value. */
export function publishBytes(body: SnsPublishBody): number {
  let bytes = Buffer.byteLength(body.message, "utf8") + Buffer.byteLength(body.subject, "utf8");
  for (const [name, value] of Object.entries(body.attributes))
    bytes += Buffer.byteLength(name, "utf8") + "String".length + Buffer.byteLength(value, "utf8");
  return bytes;
}

/** A changed action in the summary: what was done where. */
export interface SummaryChange {
  readonly kind: ActionKind;
  readonly line: string;
  readonly region?: string;
  readonly result?: string;
}

/** The machine form of a run's notification: bounded in size whatever the fleet. */
export interface RunSummary {
  readonly trigger: RunReport["trigger"];
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly passes: number;
  readonly ok: boolean;
  readonly retryable: boolean;
  readonly interrupted: boolean;
  readonly counts: RunReport["counts"];
  /** Actions by kind and outcome (`{ publish: { done: 272 }, copy: { failed: 16 } }`). */
  readonly byKind: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Lines × regions by state after the run. */
  readonly lineStates: Readonly<Record<string, number>>;
  /** Failures in full, as many as fit; `failuresOmitted` more are in the full report. */
  readonly failures: readonly ReportedAction[];
  readonly failuresOmitted: number;
  /** What changed (published, copied, built, ...), as many as fit after the failures. */
  readonly changes: readonly SummaryChange[];
  readonly changesOmitted: number;
  /** Where the full JSON report is (`s3://bucket/reports/...`), when it was stored. */
  readonly fullReport?: string;
}

export interface SummaryOptions {
  /** Where the full report was stored, linked from the message. */
  readonly fullReport?: string;
  readonly budgetBytes?: number;
}

/**
 * The run's notification: counts, every failure in full and the changes, cut (failures last) to
 * fit the budget, with "+N more in the full report" where something was left out. The full report
 * goes to the run's log and the logs bucket, where size is no issue.
 */
export function notificationFor(report: RunReport, options: SummaryOptions = {}): NotificationMessage {
  const budget = options.budgetBytes ?? SUMMARY_BUDGET_BYTES;
  const failures = report.actions.filter((a) => a.failure);
  const changes = report.actions
    .filter((a) => a.status === "done" && isChange(a.kind))
    .map(
      (a): SummaryChange => ({
        kind: a.kind,
        line: a.line,
        ...(a.region ? { region: a.region } : {}),
        ...(a.result ? { result: a.result } : {}),
      }),
    );
  const make = (f: number, c: number) => message(report, failures, f, changes, c, options.fullReport);
  const fits = (f: number, c: number) => publishBytes(snsPublishBody(make(f, c))) <= budget;
  if (fits(failures.length, changes.length)) return make(failures.length, changes.length);
  // Failures first: as many as fit with no changes listed, then as many changes as still fit.
  const f = largest(failures.length, (n) => fits(n, 0));
  const c = largest(changes.length, (n) => fits(f, n));
  return make(f, c);
}

/** The largest n in [0, max] for which `ok(n)` holds (`ok` is monotone: fewer entries, smaller message). */
function largest(max: number, ok: (n: number) => boolean): number {
  let low = 0;
  let high = max;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (ok(mid)) low = mid;
    else high = mid - 1;
  }
  return low;
}

const CHANGE_KINDS: readonly ActionKind[] = [
  "build",
  "copy",
  "tag",
  "publish",
  "deprecate",
  "deregister",
  "share",
  "share-region",
];
function isChange(kind: ActionKind): boolean {
  return CHANGE_KINDS.includes(kind);
}

function message(
  report: RunReport,
  allFailures: readonly ReportedAction[],
  failureCount: number,
  allChanges: readonly SummaryChange[],
  changeCount: number,
  fullReport: string | undefined,
): NotificationMessage {
  const byKind: Record<string, Record<string, number>> = {};
  for (const a of report.actions) {
    const kind = byKind[a.kind] ?? {};
    byKind[a.kind] = kind;
    const outcome = a.failure ? "failed" : a.status;
    kind[outcome] = (kind[outcome] ?? 0) + 1;
  }
  const lineStates: Record<string, number> = {};
  for (const l of report.lines) lineStates[l.state] = (lineStates[l.state] ?? 0) + 1;
  const failures = allFailures.slice(0, failureCount);
  const changes = allChanges.slice(0, changeCount);
  const summary: RunSummary = {
    trigger: report.trigger,
    startedAt: report.startedAt,
    finishedAt: report.finishedAt,
    passes: report.passes,
    ok: report.ok,
    retryable: report.retryable,
    interrupted: report.interrupted,
    counts: report.counts,
    byKind,
    lineStates,
    failures,
    failuresOmitted: allFailures.length - failures.length,
    changes,
    changesOmitted: allChanges.length - changes.length,
    ...(fullReport ? { fullReport } : {}),
  };
  return {
    subject: reportSubject(report),
    text: summaryText(summary, reportSubject(report)),
    json: summary,
    attributes: {
      trigger: report.trigger,
      changed: String(report.counts.changed),
      failed: String(report.counts.failed),
    },
  };
}

/** The e-mail: counts, failures in full, what changed, where the full report is. */
export function summaryText(summary: RunSummary, subject: string): string {
  const out = [
    `${subject} (${summary.startedAt} → ${summary.finishedAt}, ${summary.passes} pass${summary.passes === 1 ? "" : "es"})`,
  ];
  const kinds = Object.entries(summary.byKind).map(
    ([kind, outcomes]) =>
      `${kind}: ${Object.entries(outcomes)
        .map(([o, n]) => `${n} ${o}`)
        .join(", ")}`,
  );
  if (kinds.length > 0) out.push(`Actions: ${kinds.join("; ")}.`);
  const states = Object.entries(summary.lineStates).map(([s, n]) => `${n} ${s}`);
  if (states.length > 0) out.push(`Lines × regions: ${states.join(", ")}.`);
  if (summary.interrupted) out.push("Interrupted: the next run continues from where this one stopped.");
  if (summary.failures.length > 0 || summary.failuresOmitted > 0) {
    out.push("", "Failures:");
    for (const f of summary.failures)
      out.push(
        `- ${f.kind === "notify" ? "build" : f.kind} ${f.line}${f.region ? ` ${f.region}` : ""}: ${f.error ?? f.reason}${f.code ? ` [${f.code}]` : ""}`,
      );
    if (summary.failuresOmitted > 0) out.push(`+${summary.failuresOmitted} more in the full report`);
  }
  if (summary.changes.length > 0 || summary.changesOmitted > 0) {
    out.push("", "Changes:");
    for (const c of summary.changes)
      out.push(`- ${c.kind} ${c.line}${c.region ? ` ${c.region}` : ""}${c.result ? `: ${c.result}` : ""}`);
    if (summary.changesOmitted > 0) out.push(`+${summary.changesOmitted} more in the full report`);
  }
  out.push(
    "",
    summary.fullReport
      ? `Full report: ${summary.fullReport}`
      : "Full report: in the run's log (no logs bucket configured).",
  );
  return `${out.join("\n")}\n`;
}
