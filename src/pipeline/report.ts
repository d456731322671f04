import { isMutating, lineId } from "../plan/index.js";
import type { LineStatus, Plan } from "../plan/types.js";
import { formatTable } from "../text/table.js";
import type { ActionOutcome } from "./apply.js";

export interface ReportedAction {
  readonly kind: string;
  readonly line: string;
  readonly region?: string;
  readonly reason: string;
  readonly status: ActionOutcome["status"];
  readonly result?: string;
  readonly error?: string;
  readonly ms: number;
}

export interface RunReport {
  readonly trigger: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly passes: number;
  /** Every action of every pass with its outcome. */
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
  readonly notification?: { readonly messageId?: string; readonly error?: string; readonly topicArn: string };
}

export function reportedAction(outcome: ActionOutcome): ReportedAction {
  const { action } = outcome;
  return {
    kind: action.kind,
    line: lineId(action.line),
    ...("region" in action && action.region ? { region: action.region } : {}),
    reason: action.reason,
    status: outcome.status,
    ...(outcome.result ? { result: outcome.result } : {}),
    ...(outcome.error ? { error: outcome.error } : {}),
    ms: outcome.ms,
  };
}

/** A failure counts when an action failed or a line was skipped because of an error. */
export function isFailure(outcome: ActionOutcome): boolean {
  return (
    outcome.status === "failed" ||
    (outcome.action.kind === "skip" && outcome.action.error) ||
    outcome.action.kind === "notify"
  );
}

export function buildReport(input: {
  trigger: string;
  startedAt: Date;
  finishedAt: Date;
  passes: number;
  outcomes: readonly ActionOutcome[];
  finalPlan: Plan;
}): RunReport {
  const { outcomes } = input;
  const failedAt = new Map<string, string>();
  for (const o of outcomes) {
    if (o.status === "failed" && "region" in o.action && o.action.region) {
      failedAt.set(
        `${lineId(o.action.line)}@${o.action.region}`,
        `${o.action.kind} failed: ${o.error ?? "unknown error"}`,
      );
    }
  }
  const lines = input.finalPlan.lines.map((status): LineStatus => {
    const failure = failedAt.get(`${lineId(status.line)}@${status.region}`);
    return failure && status.state !== "published" ? { ...status, state: "failed", detail: failure } : status;
  });
  const changed = outcomes.filter((o) => o.status === "done" && isMutating(o.action)).length;
  const failed = outcomes.filter(isFailure).length;
  return {
    trigger: input.trigger,
    startedAt: input.startedAt.toISOString(),
    finishedAt: input.finishedAt.toISOString(),
    passes: input.passes,
    actions: outcomes.map(reportedAction),
    lines,
    counts: {
      changed,
      failed,
      waiting: outcomes.filter((o) => o.status === "waiting").length,
      skipped: outcomes.filter((o) => o.status === "skipped" && !isFailure(o)).length,
    },
    ok: failed === 0,
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
  return `ops-rig ${report.trigger}: ${parts.join(", ") || "no changes"}`.slice(0, 100);
}

/** Plain text for people: what happened, then where every line stands. */
/**
 * Plain text for people: what changed (counted by kind), the builds started and every failure in
 * full, then where every line stands in every region.
 */
export function reportText(report: RunReport): string {
  const done = report.actions.filter((a) => a.status === "done");
  const counts = new Map<string, number>();
  for (const a of done) counts.set(a.kind, (counts.get(a.kind) ?? 0) + 1);
  const failures = report.actions.filter(
    (a) => a.status === "failed" || a.kind === "notify" || (a.kind === "skip" && a.error),
  );
  const builds = done.filter((a) => a.kind === "build");
  const sections = [
    `${reportSubject(report)} (${report.startedAt} → ${report.finishedAt}, ${report.passes} pass${report.passes === 1 ? "" : "es"})`,
    counts.size > 0
      ? `Done: ${[...counts].map(([kind, n]) => `${n} ${kind}`).join(", ")}.`
      : "Nothing changed.",
  ];
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
        { header: "action", value: (a) => a.kind },
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
  return `${sections.join("\n")}\n`;
}
