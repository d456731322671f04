import { topicArn } from "../config/overrides.js";
import type { PipelineData, ToolsetData } from "../config/types.js";
import { asOpsRigError } from "../errors.js";
import type { ServiceEvents } from "../events.js";
import { TAG } from "../plan/names.js";
import { plan as makePlan } from "../plan/plan.js";
import { type Action, isMutating, type Observed, type Plan } from "../plan/types.js";
import type { PipelineComponent } from "../render/index.js";
import { type ActionOutcome, apply } from "./apply.js";
import { ImageBuilderResources } from "./imagebuilder-resources.js";
import { notificationFor, snsPublishBody } from "./notification.js";
import { observe, type RunFacts, runFacts } from "./observe.js";
import type { PipelinePorts } from "./ports.js";
import { actionKey, buildReport, type RunReport, type Trigger } from "./report.js";
import { selectToolsetsByName } from "./toolsets.js";

export type { Trigger } from "./report.js";
export { selectToolsetsByName } from "./toolsets.js";

/** What the pipeline and the services need from their composition root. Time and waiting are injected. */
export interface PipelineDeps {
  readonly ports: PipelinePorts;
  readonly now: () => Date;
  /** Waits (for builds in flight, for SSM's validation); returns early once `signal` aborts. */
  readonly sleep: (ms: number) => Promise<void>;
  readonly events: ServiceEvents;
  /** Ctrl-C or the Lambda's deadline: no new action starts, in-flight calls end (the ports share it). */
  readonly signal?: AbortSignal;
}

export interface PipelineProject {
  readonly pipeline: PipelineData;
  readonly toolsets: readonly ToolsetData[];
  readonly components: ReadonlyMap<string, PipelineComponent>;
}

export interface PlanOptions {
  readonly toolsets?: readonly string[];
  /** Ignore the back-off after a failed build. */
  readonly force?: boolean;
  /** The account and regions, read once per run (reconcile shares one across its passes). */
  readonly facts?: RunFacts;
}

export interface ReconcileOptions extends PlanOptions {
  readonly trigger: Trigger;
  /** Keep reconciling while builds or copies are in flight, polling every `pollMs` (CLI `bake --wait`). */
  readonly wait?: boolean;
  readonly pollMs?: number;
  /** Stop after this many observe→plan→apply passes. */
  readonly maxPasses?: number;
  /** Stop starting new passes after this time (the Lambda stops well before its 15 minutes). */
  readonly deadline?: Date;
  /** Send the run's SNS notification (default true). */
  readonly notify?: boolean;
  /** Actions in flight at once over all regions (default 64; `--concurrency`, `OPS_RIG_CONCURRENCY`). */
  readonly concurrency?: number;
}

export interface PassResult {
  readonly observed: Observed;
  readonly plan: Plan;
  readonly outcomes: readonly ActionOutcome[];
}

export interface ReconcileResult {
  readonly passes: readonly PassResult[];
  readonly report: RunReport;
}

/** Actions that move a line forward (a pass with none of them means the run has converged or must wait). */
const PROGRESS: readonly Action["kind"][] = [
  "build",
  "copy",
  "tag",
  "publish",
  "deprecate",
  "deregister",
  "share",
  "share-region",
];

/** Observe the world and decide: what `ops-rig plan` shows and every pass starts with. Changes nothing. */
export async function observeAndPlan(
  project: PipelineProject,
  deps: PipelineDeps,
  options: PlanOptions = {},
): Promise<{ readonly observed: Observed; readonly plan: Plan; readonly toolsets: readonly ToolsetData[] }> {
  const toolsets = selectToolsetsByName(project.toolsets, options.toolsets);
  const now = deps.now();
  const observed = await observe({
    ports: deps.ports,
    pipeline: project.pipeline,
    toolsets,
    components: project.components,
    now,
    events: deps.events,
    ...(options.facts ? { facts: options.facts } : {}),
  });
  const plan = makePlan({
    pipeline: project.pipeline,
    toolsets,
    observed,
    now,
    options: { force: options.force ?? false },
  });
  deps.events({
    type: "planned",
    actions: plan.actions.length,
    mutating: plan.actions.filter(isMutating).length,
  });
  return { observed, plan, toolsets };
}

/** One observe → plan → apply pass. Actions that failed earlier in the run wait for the next run. */
export async function reconcilePass(
  project: PipelineProject,
  deps: PipelineDeps,
  options: PlanOptions & { readonly concurrency?: number },
  failedEarlier: ReadonlySet<string> = new Set(),
): Promise<PassResult> {
  const { observed, plan, toolsets } = await observeAndPlan(project, deps, options);
  const resources = new ImageBuilderResources(deps.ports.imageBuilder, project.pipeline, observed.accountId);
  const outcomes = await apply(
    {
      ports: deps.ports,
      pipeline: project.pipeline,
      toolsets,
      components: project.components,
      resources,
      now: deps.now,
      sleep: deps.sleep,
      events: deps.events,
      ...(deps.signal ? { signal: deps.signal } : {}),
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    },
    plan.actions.filter((a) => !failedEarlier.has(actionKey(a))),
  );
  // No retry storms: what failed in this run is retried by the next run.
  const postponed = plan.actions
    .filter((a) => failedEarlier.has(actionKey(a)))
    .map(
      (action): ActionOutcome => ({ action, status: "skipped", note: "failed earlier in this run", ms: 0 }),
    );
  return { observed, plan, outcomes: [...outcomes, ...postponed] };
}

/**
 * Reconciles until nothing more can be done now: another pass follows a pass that made progress
 * (a tag lets the copies start, a finished copy lets the publish happen), and with `wait` the run
 * also sleeps through builds and copies in flight. One notification per run, when anything changed
 * or failed; failed builds are marked notified only after the message went out.
 */
export async function reconcile(
  project: PipelineProject,
  deps: PipelineDeps,
  options: ReconcileOptions,
): Promise<ReconcileResult> {
  const startedAt = deps.now();
  const passes: PassResult[] = [];
  const failed = new Set<string>();
  const maxPasses = options.maxPasses ?? (options.wait ? 10_000 : 3);
  const aborted = () => deps.signal?.aborted === true;
  const passOptions = {
    ...options,
    facts: options.facts ?? runFacts(deps.ports, project.pipeline.homeRegion),
  };
  for (;;) {
    const pass = await reconcilePass(project, deps, passOptions, failed);
    passes.push(pass);
    for (const outcome of pass.outcomes)
      if (outcome.status === "failed") failed.add(actionKey(outcome.action));
    deps.events({
      type: "pass-finished",
      pass: passes.length,
      actions: pass.plan.actions.length,
      lines: pass.plan.lines,
    });
    const progressed = pass.outcomes.some((o) => o.status === "done" && PROGRESS.includes(o.action.kind));
    const inFlight = pass.plan.actions.some((a) => a.kind === "wait");
    if (passes.length >= maxPasses || aborted()) break;
    if (options.deadline && deps.now() >= options.deadline) break;
    // A failure in one region must not hold the others back: keep going while anything moved.
    if (progressed) continue;
    if (options.wait && inFlight) {
      const ms = options.pollMs ?? 30_000;
      deps.events({ type: "waiting", pass: passes.length, ms });
      await deps.sleep(ms);
      if (aborted()) break;
      continue;
    }
    break;
  }

  const last = passes.at(-1) as PassResult;
  const report = buildReport({
    trigger: options.trigger,
    startedAt,
    finishedAt: deps.now(),
    passes: passes.map((p) => p.outcomes),
    finalPlan: last.plan,
    interrupted: aborted(),
  });
  if (options.notify === false || report.interrupted) return { passes, report };
  if (report.counts.changed === 0 && report.counts.failed === 0)
    return { passes, report: { ...report, notification: { status: "not-needed" } } };
  return { passes, report: await notify(project, deps, last.observed, report, passes) };
}

async function notify(
  project: PipelineProject,
  deps: PipelineDeps,
  observed: Observed,
  report: RunReport,
  passes: readonly PassResult[],
): Promise<RunReport> {
  const home = project.pipeline.homeRegion;
  const arn = topicArn(project.pipeline.notifications.topic, home, observed.accountId);
  const fullReport = await storeReport(project, deps, report);
  let messageId: string;
  try {
    messageId = await deps.ports.sns.publish(
      home,
      arn,
      snsPublishBody(notificationFor(report, fullReport ? { fullReport } : {})),
    );
  } catch (thrown) {
    const error = asOpsRigError(thrown);
    deps.events({ type: "notification-failed", topicArn: arn, error });
    return {
      ...report,
      notification: { status: "failed", topicArn: arn, error: error.message, retryable: error.retryable },
    };
  }
  deps.events({ type: "notification-sent", topicArn: arn, messageId });
  const builds = new Set(
    passes.flatMap((p) => p.plan.actions).flatMap((a) => (a.kind === "notify" ? [a.build] : [])),
  );
  for (const build of builds) {
    try {
      await deps.ports.imageBuilder.tagResource(build, { [TAG.notified]: report.finishedAt });
    } catch (thrown) {
      // Not fatal: the failure is reported again next run.
      deps.events({ type: "build-not-marked", build, error: asOpsRigError(thrown) });
    }
  }
  return { ...report, notification: { status: "sent", topicArn: arn, messageId } };
}

/** Key of a run's full report in the logs bucket: sortable by time, one per run. */
export function reportKey(report: RunReport): string {
  return `reports/${report.startedAt.replace(/[:.]/g, "-")}-${report.trigger}.json`;
}

/**
 * The full JSON report, where size is no issue: an object in the logs bucket (linked from the
 * message). Not being able to store it fails nothing: the report is in the run's log as well.
 */
async function storeReport(
  project: PipelineProject,
  deps: PipelineDeps,
  report: RunReport,
): Promise<string | undefined> {
  const bucket = project.pipeline.build.logsBucket;
  const store = deps.ports.reports;
  if (!bucket || !store) return undefined;
  const key = reportKey(report);
  const body = JSON.stringify(report);
  try {
    const location = await store.putReport(project.pipeline.homeRegion, bucket, key, body);
    deps.events({ type: "report-stored", location, bytes: Buffer.byteLength(body, "utf8") });
    return location;
  } catch (thrown) {
    deps.events({
      type: "report-not-stored",
      location: `s3://${bucket}/${key}`,
      error: asOpsRigError(thrown),
    });
    return undefined;
  }
}
