import { topicArn } from "../config/overrides.js";
import type { PipelineSettings, Toolset } from "../config/types.js";
import { errorMessage, UsageError } from "../errors.js";
import type { EventSink } from "../events.js";
import { lineId, TAG } from "../plan/names.js";
import { plan as makePlan } from "../plan/plan.js";
import type { Action, Observed, Plan } from "../plan/types.js";
import type { RenderedComponent } from "../render/index.js";
import { type ActionOutcome, apply } from "./apply.js";
import { ImageBuilderResources } from "./imagebuilder-resources.js";
import { observe } from "./observe.js";
import type { PipelinePorts } from "./ports.js";
import { buildReport, type RunReport, reportSubject, reportText } from "./report.js";

/** What the pipeline needs from its composition root. Time and waiting are injected. */
export interface PipelineDeps {
  readonly ports: PipelinePorts;
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  readonly events: EventSink;
}

export interface PipelineProject {
  readonly pipeline: PipelineSettings;
  readonly toolsets: readonly Toolset[];
  readonly components: ReadonlyMap<string, RenderedComponent>;
}

export interface ReconcileOptions {
  /** What started the run (`nightly`, `tick`, `manual`, `image-builder`, `cli`): shown in reports. */
  readonly trigger: string;
  readonly toolsets?: readonly string[];
  /** Ignore the back-off after a failed build. */
  readonly force?: boolean;
  /** Observe and plan only: change nothing. */
  readonly dryRun?: boolean;
  /** Keep reconciling while builds or copies are in flight, polling every `pollMs` (CLI `bake --wait`). */
  readonly wait?: boolean;
  readonly pollMs?: number;
  /** Stop after this many observe→plan→apply passes. */
  readonly maxPasses?: number;
  /** Stop starting new passes after this time (the Lambda stops well before its 15 minutes). */
  readonly deadline?: Date;
  readonly notify?: boolean;
  readonly signal?: AbortSignal;
  readonly concurrency?: number;
  /** Called after each pass (live progress). */
  readonly onPass?: (pass: PassResult, index: number) => void;
}

/** Actions that failed earlier in this run are not tried again until the next run (no retry storms). */
function actionKey(action: Action): string {
  return [
    action.kind,
    lineId(action.line),
    "region" in action ? action.region : "",
    "imageId" in action ? action.imageId : "",
  ].join("|");
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
const PROGRESS: readonly Action["kind"][] = ["build", "copy", "tag", "publish", "deprecate", "deregister"];

export function selectToolsetsByName(
  toolsets: readonly Toolset[],
  names: readonly string[] | undefined,
): Toolset[] {
  if (!names || names.length === 0) return [...toolsets];
  return names.map((name) => {
    const found = toolsets.find((t) => t.name === name);
    if (!found)
      throw new UsageError(
        `unknown toolset "${name}" (known: ${toolsets.map((t) => t.name).join(", ")})`,
        "--toolset",
      );
    return found;
  });
}

/** One observe → plan → apply pass. */
export async function reconcilePass(
  project: PipelineProject,
  deps: PipelineDeps,
  options: ReconcileOptions,
  failedEarlier: ReadonlySet<string> = new Set(),
): Promise<PassResult> {
  const toolsets = selectToolsetsByName(project.toolsets, options.toolsets);
  const now = deps.now();
  const observed = await observe({
    ports: deps.ports,
    pipeline: project.pipeline,
    toolsets,
    components: project.components,
    now,
    events: deps.events,
  });
  const plan = makePlan({
    pipeline: project.pipeline,
    toolsets,
    observed,
    now,
    options: { force: options.force ?? false },
  });
  deps.events({
    type: "check",
    subject: "plan",
    message: `${plan.actions.length} actions`,
    data: { actions: plan.actions.length },
  });
  if (options.dryRun)
    return {
      observed,
      plan,
      outcomes: plan.actions.map((action) => ({ action, status: "skipped" as const, ms: 0 })),
    };
  const resources = new ImageBuilderResources(deps.ports.imageBuilder, project.pipeline, observed.accountId);
  const retryLater = plan.actions.filter((a) => failedEarlier.has(actionKey(a)));
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
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    },
    plan.actions.filter((a) => !failedEarlier.has(actionKey(a))),
  );
  const postponed = retryLater.map(
    (action): ActionOutcome => ({
      action,
      status: "skipped",
      result: "failed earlier in this run; the next run retries",
      ms: 0,
    }),
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
  for (;;) {
    const pass = await reconcilePass(project, deps, options, failed);
    passes.push(pass);
    for (const outcome of pass.outcomes)
      if (outcome.status === "failed") failed.add(actionKey(outcome.action));
    options.onPass?.(pass, passes.length);
    if (options.dryRun) break;
    const progressed = pass.outcomes.some((o) => o.status === "done" && PROGRESS.includes(o.action.kind));
    const inFlight = pass.plan.actions.some((a) => a.kind === "wait");
    if (passes.length >= maxPasses || options.signal?.aborted) break;
    if (options.deadline && deps.now() >= options.deadline) break;
    // A failure in one region must not hold the others back: keep going while anything moved.
    if (progressed) {
      deps.events({
        type: "progress",
        subject: "run",
        message: `pass ${passes.length} made progress; observing again`,
      });
      continue;
    }
    if (options.wait && inFlight) {
      deps.events({
        type: "progress",
        subject: "run",
        message: `waiting for work in flight (pass ${passes.length})`,
      });
      await deps.sleep(options.pollMs ?? 30_000);
      continue;
    }
    break;
  }

  const last = passes.at(-1) as PassResult;
  let report = buildReport({
    trigger: options.trigger,
    startedAt,
    finishedAt: deps.now(),
    passes: passes.length,
    outcomes: passes.flatMap((p) => p.outcomes),
    finalPlan: last.plan,
  });
  if (
    !options.dryRun &&
    options.notify !== false &&
    (report.counts.changed > 0 || report.counts.failed > 0)
  ) {
    report = await notify(project, deps, last.observed, report, passes);
  }
  return { passes, report };
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
  try {
    const messageId = await deps.ports.sns.publish(home, arn, {
      subject: reportSubject(report),
      text: reportText(report),
      json: report,
      attributes: {
        trigger: report.trigger,
        changed: String(report.counts.changed),
        failed: String(report.counts.failed),
      },
    });
    deps.events({ type: "done", subject: "notify", message: `${arn}: ${messageId}` });
    const builds = new Set(
      passes.flatMap((p) => p.plan.actions).flatMap((a) => (a.kind === "notify" ? [a.build] : [])),
    );
    for (const build of builds) {
      try {
        await deps.ports.imageBuilder.tagResource(build, { [TAG.notified]: report.finishedAt });
      } catch (error) {
        // Not fatal: the failure is reported again next run.
        deps.events({
          type: "failed",
          subject: "notify",
          message: `cannot mark ${build} notified: ${errorMessage(error)}`,
        });
      }
    }
    return { ...report, notification: { topicArn: arn, messageId } };
  } catch (error) {
    deps.events({ type: "failed", subject: "notify", message: errorMessage(error) });
    return { ...report, ok: false, notification: { topicArn: arn, error: errorMessage(error) } };
  }
}
