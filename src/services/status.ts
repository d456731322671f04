import { observeAndPlan, type PipelineDeps, type PipelineProject } from "../pipeline/run.js";
import { lineId, parameterNamesFor, TAG } from "../plan/names.js";
import { amisOfLine, regionOf } from "../plan/plan.js";
import type { LineStatus } from "../plan/types.js";

export interface StatusRequest {
  readonly toolsets?: readonly string[];
  readonly regions?: readonly string[];
}

export type StatusState = LineStatus["state"] | "missing" | "stale";

export interface StatusRow {
  readonly line: string;
  readonly region: string;
  readonly state: StatusState;
  readonly imageId?: string;
  readonly ageHours?: number;
  readonly baseAmi?: string;
  readonly parameterVersion?: number;
  readonly stale: boolean;
  readonly detail: string;
}

export interface StatusResult {
  readonly rows: readonly StatusRow[];
  /** Rows that are not published (missing, stale, failed, ...). */
  readonly attention: readonly StatusRow[];
}

/**
 * `ops-rig status`: lines × regions with the published AMI, its age and base, the parameter version.
 * Stale: older than twice the toolset's maxAge (the nightly runs are failing). Changes nothing.
 */
export async function lineStatus(
  project: PipelineProject,
  deps: PipelineDeps,
  request: StatusRequest = {},
): Promise<StatusResult> {
  const now = deps.now();
  const { observed, plan } = await observeAndPlan(project, deps, {
    ...(request.toolsets ? { toolsets: request.toolsets } : {}),
  });
  const regions = request.regions;
  const rows = plan.lines
    .filter((status) => !regions || regions.includes(status.region))
    .map((status): StatusRow => {
      const toolset = project.toolsets.find((t) => t.name === status.line.toolset);
      const region = regionOf(observed, status.region);
      const [name] = toolset ? parameterNamesFor(project.pipeline.parameterPrefix, toolset, status.line) : [];
      const parameter = name ? region?.parameters.get(name) : undefined;
      const publishedId = parameter?.value;
      const ami = amisOfLine(region, status.line).find((a) => a.imageId === publishedId);
      const ageMs = ami ? now.getTime() - Date.parse(ami.creationDate) : undefined;
      const stale = ageMs !== undefined && toolset !== undefined && ageMs > toolset.maxAge.ms * 2;
      return {
        line: lineId(status.line),
        region: status.region,
        state: !publishedId ? "missing" : stale ? "stale" : status.state,
        ...(publishedId ? { imageId: publishedId } : {}),
        ...(ageMs !== undefined ? { ageHours: Math.round(ageMs / 360_000) / 10 } : {}),
        ...(ami?.tags[TAG.baseAmi] ? { baseAmi: ami.tags[TAG.baseAmi] } : {}),
        ...(parameter ? { parameterVersion: parameter.version } : {}),
        stale,
        detail: status.detail,
      };
    });
  return { rows, attention: rows.filter((r) => r.state !== "published") };
}
