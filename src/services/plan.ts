import { observeAndPlan, type PipelineDeps, type PipelineProject } from "../pipeline/run.js";
import type { Action, LineStatus, Observed } from "../plan/types.js";

export interface PlanRequest {
  readonly toolsets?: readonly string[];
  /** Plan as `bake --force` would (no back-off after failed builds). */
  readonly force?: boolean;
  /** Only actions in these regions (and those that belong to no region). */
  readonly regions?: readonly string[];
}

export interface PlanResult {
  readonly actions: readonly Action[];
  /** How many of the actions would change something in AWS. */
  readonly mutating: number;
  readonly lines: readonly LineStatus[];
  readonly observed: Observed;
}

/** `ops-rig plan`: the actions the next run would take, and why. Changes nothing. */
export async function planRun(
  project: PipelineProject,
  deps: PipelineDeps,
  request: PlanRequest = {},
): Promise<PlanResult> {
  const { observed, plan } = await observeAndPlan(project, deps, {
    ...(request.toolsets ? { toolsets: request.toolsets } : {}),
    ...(request.force ? { force: true } : {}),
  });
  const regions = request.regions;
  const actions = regions
    ? plan.actions.filter((a) => !("region" in a) || !a.region || regions.includes(a.region))
    : plan.actions;
  return {
    actions,
    mutating: actions.filter((a) => a.kind !== "wait" && a.kind !== "skip").length,
    lines: regions ? plan.lines.filter((l) => regions.includes(l.region)) : plan.lines,
    observed,
  };
}
