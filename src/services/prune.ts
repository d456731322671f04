import { type ActionOutcome, apply } from "../pipeline/apply.js";
import { ImageBuilderResources } from "../pipeline/imagebuilder-resources.js";
import { observeAndPlan, type PipelineDeps, type PipelineProject } from "../pipeline/run.js";
import type { Action } from "../plan/types.js";

export interface PruneRequest {
  /** AMIs to keep per line and region (default: retention.keep). */
  readonly keep?: number;
  readonly toolsets?: readonly string[];
  readonly regions?: readonly string[];
  /** Show what would go; change nothing. */
  readonly dryRun?: boolean;
}

export type RetentionAction = Extract<Action, { kind: "deprecate" | "deregister" }>;

export type PruneOutcome =
  | { readonly action: RetentionAction; readonly status: "planned" }
  | (ActionOutcome & { readonly action: RetentionAction });

export interface PruneResult {
  readonly dryRun: boolean;
  readonly outcomes: readonly PruneOutcome[];
  readonly failed: number;
}

/** `ops-rig prune`: retention on demand, by the pipeline's rules (deprecate, later deregister). */
export async function prune(
  project: PipelineProject,
  deps: PipelineDeps,
  request: PruneRequest = {},
): Promise<PruneResult> {
  const pipeline =
    request.keep === undefined
      ? project.pipeline
      : { ...project.pipeline, retention: { ...project.pipeline.retention, keep: request.keep } };
  const scoped = { ...project, pipeline };
  const { observed, plan, toolsets } = await observeAndPlan(scoped, deps, {
    ...(request.toolsets ? { toolsets: request.toolsets } : {}),
  });
  const actions = plan.actions.filter(
    (a): a is RetentionAction =>
      (a.kind === "deprecate" || a.kind === "deregister") &&
      (!request.regions || request.regions.includes(a.region)),
  );
  if (request.dryRun) {
    return { dryRun: true, outcomes: actions.map((action) => ({ action, status: "planned" })), failed: 0 };
  }
  const outcomes = (await apply(
    {
      ports: deps.ports,
      pipeline,
      toolsets,
      components: project.components,
      resources: new ImageBuilderResources(deps.ports.imageBuilder, pipeline, observed.accountId),
      now: deps.now,
      sleep: deps.sleep,
      events: deps.events,
      ...(deps.signal ? { signal: deps.signal } : {}),
    },
    actions,
  )) as (ActionOutcome & { action: RetentionAction })[];
  return { dryRun: false, outcomes, failed: outcomes.filter((o) => o.status === "failed").length };
}
