import { lineId, MUTATING_KINDS } from "../plan/index.js";
import type { Action, ActionKind, LineStatus, Plan } from "../plan/types.js";
import { formatTable } from "../text/table.js";
import type { ActionOutcome, OutcomeStatus } from "./apply.js";

/** What started a run. */
export type Trigger = "nightly" | "tick" | "manual" | "image-builder";

/** One action of the run and what became of it (errors as text: this is the report). */
export interface ReportedAction {
  readonly kind: ActionKind;
  readonly line: string;
  readonly region?: string;
  readonly reason: string;
  readonly status: OutcomeStatus;
  readonly result?: string;
  readonly error?: string;
  /** The error's stable code (`AWS_CALL_FAILED`, `PUBLISH_NOT_STORED`, ...). */
  readonly code?: string;
  /** Counted as a failure of this run (a failed action, a line skipped because of an error, a failed build). */
  readonly failure: boolean;
  /** A failure that a retry could fix (throttling, a dropped connection). */
  readonly retryable?: boolean;
  readonly ms: number;
}

export type NotificationReport =
  | { readonly status: "sent"; readonly topicArn: string; readonly messageId: string }
  | {
      readonly status: "failed";
      readonly topicArn: string;
      readonly error: string;
      readonly retryable: boolean;
    }
  /** Nothing changed and nothing failed: no message. */
  | { readonly status: "not-needed" }
  /** Notifications turned off for this run, or the run was interrupted. */
  | { readonly status: "skipped" };

export interface RunReport {
  readonly trigger: Trigger;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly passes: number;
  /** Every action of the run, once, with its final outcome (an action re-planned in later passes is one action). */
  readonly actions: readonly ReportedAction[];
  /** Where each line stands in each region after the run. */
  readonly lines: readonly LineStatus[];
  readonly counts: {
    readonly changed: number;
    readonly failed: number;
    readonly waiting: number;
    readonly skipped: number;
  };
  /** True when nothing failed (backing off after a failed build is not a failure of this run). */
  readonly ok: boolean;
  /** Some failure could be fixed by running again now (the Lambda fails its invocation only then). */
  readonly retryable: boolean;
  /** Ctrl-C or the deadline stopped the run early; the next run continues. */
  readonly interrupted: boolean;
  readonly notification: NotificationReport;
}

/** Same action across passes: kind, line, region and what it acts on. */
export function actionKey(action: Action): string {
  const target =
    action.kind === "notify"
      ? action.build
      : "imageId" in action && action.imageId
        ? action.imageId
        : action.kind === "copy"
          ? action.sourceImageId
          : "";
  return [action.kind, lineId(action.line), "region" in action ? (action.region ?? "") : "", target].join(
    "|",
  );
}

const RANK: Readonly<Record<OutcomeStatus, number>> = { failed: 3, done: 2, waiting: 1, skipped: 0 };

/**
 * The outcomes of every pass, one per action: a wait or a failed build's notice re-planned in each
 * pass is one action, and an action that failed is reported as failed even though later passes
 * postponed it. The order is the order actions were first planned.
 */
export function mergeOutcomes(passes: readonly (readonly ActionOutcome[])[]): ActionOutcome[] {
  const merged = new Map<string, ActionOutcome>();
  for (const outcomes of passes) {
    for (const outcome of outcomes) {
      const key = actionKey(outcome.action);
      const earlier = merged.get(key);
      if (!earlier || RANK[outcome.status] >= RANK[earlier.status]) merged.set(key, outcome);
    }
  }
  return [...merged.values()];
}

/** A failure of the run: an action failed, a line was skipped because of an error, or a build failed. */
export function isFailure(outcome: ActionOutcome): boolean {
  return (
    outcome.status === "failed" ||
    (outcome.action.kind === "skip" && outcome.action.error) ||
    outcome.action.kind === "notify"
  );
}

function isRetryable(outcome: ActionOutcome): boolean {
  if (outcome.status === "failed") return outcome.error.retryable;
  return outcome.action.kind === "skip" && outcome.action.error && outcome.action.retryable === true;
}

export function reportedAction(outcome: ActionOutcome): ReportedAction {
  const { action } = outcome;
  const failure = isFailure(outcome);
  return {
    kind: action.kind,
    line: lineId(action.line),
    ...("region" in action && action.region ? { region: action.region } : {}),
    reason: action.reason,
    status: outcome.status,
    ...(outcome.status === "done" ? { result: outcome.result } : {}),
    ...(outcome.status === "skipped" && outcome.note ? { result: outcome.note } : {}),
    ...(outcome.status === "failed" ? { error: outcome.error.message, code: outcome.error.code } : {}),
    ...(action.kind === "notify" ? { error: action.failure, code: "BUILD_FAILED" } : {}),
    failure,
    ...(failure && isRetryable(outcome) ? { retryable: true } : {}),
    ms: outcome.ms,
  };
}

export function buildReport(input: {
  trigger: Trigger;
  startedAt: Date;
  finishedAt: Date;
  passes: readonly (readonly ActionOutcome[])[];
  finalPlan: Plan;
  interrupted?: boolean;
}): RunReport {
  const outcomes = mergeOutcomes(input.passes);
  const failedAt = new Map<string, string>();
  for (const o of outcomes) {
    if (o.status === "failed" && "region" in o.action && o.action.region) {
      failedAt.set(
        `${lineId(o.action.line)}@${o.action.region}`,
        `${o.action.kind} failed: ${o.error.message}`,
      );
    }
  }
  const lines = input.finalPlan.lines.map((status): LineStatus => {
    const failure = failedAt.get(`${lineId(status.line)}@${status.region}`);
    return failure && status.state !== "published" ? { ...status, state: "failed", detail: failure } : status;
  });
  const failures = outcomes.filter(isFailure);
  return {
    trigger: input.trigger,
    startedAt: input.startedAt.toISOString(),
    finishedAt: input.finishedAt.toISOString(),
    passes: input.passes.length,
    actions: outcomes.map(reportedAction),
    lines,
    counts: {
      changed: outcomes.filter((o) => o.status === "done" && MUTATING_KINDS.includes(o.action.kind)).length,
      failed: failures.length,
      waiting: outcomes.filter((o) => o.status === "waiting").length,
      skipped: outcomes.filter((o) => o.status === "skipped" && !isFailure(o)).length,
    },
    ok: failures.length === 0,
    retryable: failures.some(isRetryable),
    interrupted: input.interrupted ?? false,
    notification: { status: "skipped" },
  };
}

export function reportSubject(report: RunReport): string {
  const published = report.actions.filter((a) => a.kind === "publish" && a.status === "done").length;
  const started = report.actions.filter((a) => a.kind === "build" && a.status === "done").length;
  const parts = [
    published > 0 ? `${published} published` : "",
    started > 0 ? `${started} builds started` : "",
    report.counts.failed > 0 ? `${report.counts.failed} failed` : "",
    report.counts.changed > 0 && published === 0 && started === 0 ? `${report.counts.changed} changes` : "",
  ].filter(Boolean);
  return `ops-rig ${report.trigger}: ${parts.join(", ") || "no changes"}${report.interrupted ? " (interrupted)" : ""}`.slice(
    0,
    100,
  );
}

/**
 * Plain text for people: what changed (counted by kind), the builds started and every failure in
 * full, then where every line stands in every region.
 */
export function reportText(report: RunReport): string {
  const done = report.actions.filter((a) => a.status === "done");
  const counts = new Map<string, number>();
  for (const a of done) counts.set(a.kind, (counts.get(a.kind) ?? 0) + 1);
  const failures = report.actions.filter((a) => a.failure);
  const builds = done.filter((a) => a.kind === "build");
  const sections = [
    `${reportSubject(report)} (${report.startedAt} → ${report.finishedAt}, ${report.passes} pass${report.passes === 1 ? "" : "es"})`,
    counts.size > 0
      ? `Done: ${[...counts].map(([kind, n]) => `${n} ${kind}`).join(", ")}.`
      : "Nothing changed.",
  ];
  if (report.interrupted) sections.push("Interrupted: the next run continues from where this one stopped.");
  if (builds.length > 0) {
    sections.push(
      "",
      "Builds started:",
      formatTable(builds, [
        { header: "line", value: (a) => a.line },
        { header: "why", value: (a) => a.reason },
      ]),
    );
  }
  if (failures.length > 0) {
    sections.push(
      "",
      "Failures:",
      formatTable(failures, [
        { header: "action", value: (a) => (a.kind === "notify" ? "build" : a.kind) },
        { header: "line", value: (a) => a.line },
        { header: "region", value: (a) => a.region ?? "" },
        { header: "error", value: (a) => a.error ?? a.reason },
      ]),
    );
  }
  sections.push(
    "",
    formatTable(report.lines, [
      { header: "toolset", value: (l) => l.line.toolset },
      { header: "line", value: (l) => `${l.line.base}/${l.line.arch}` },
      { header: "region", value: (l) => l.region },
      { header: "state", value: (l) => l.state },
      { header: "AMI", value: (l) => l.imageId ?? "" },
      { header: "detail", value: (l) => l.detail },
    ]),
  );
  if (report.notification.status === "failed") {
    sections.push("", `Notification failed: ${report.notification.error}`);
  }
  return `${sections.join("\n")}\n`;
}
