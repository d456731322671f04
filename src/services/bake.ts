import { UsageError } from "../errors.js";
import type { RunReport } from "../pipeline/report.js";
import {
  type PipelineDeps,
  type PipelineProject,
  type ReconcileOptions,
  reconcile,
} from "../pipeline/run.js";
import type { LambdaPort } from "./ports.js";

/** How a run ended, for exit statuses and Lambda results. */
export type RunStatus = "ok" | "failed" | "notification-failed" | "interrupted";

export function runStatus(report: RunReport): RunStatus {
  if (report.interrupted) return "interrupted";
  if (!report.ok) return "failed";
  if (report.notification.status === "failed") return "notification-failed";
  return "ok";
}

export interface BakeResult {
  readonly report: RunReport;
  readonly status: RunStatus;
}

/** `ops-rig bake` (and every Lambda trigger): reconcile now. */
export async function bake(
  project: PipelineProject,
  deps: PipelineDeps,
  options: ReconcileOptions,
): Promise<BakeResult> {
  const { report } = await reconcile(project, deps, options);
  return { report, status: runStatus(report) };
}

/** What the pipeline Lambda answers (the contract between the handler and `bake --remote`). */
export type PipelineResponse =
  | {
      readonly outcome: "run";
      readonly status: RunStatus;
      readonly trigger: string;
      readonly passes: number;
      readonly changed: number;
      readonly failed: number;
      readonly waiting: number;
      readonly notification: RunReport["notification"]["status"];
    }
  /** The event asked for nothing this function does (logged). */
  | { readonly outcome: "ignored"; readonly reason: string }
  /** The event asked for something invalid (a manual event with bad fields): nothing was done. */
  | { readonly outcome: "refused"; readonly code: string; readonly message: string }
  /** The run could not start for a reason a retry would not fix (its configuration, a permission). */
  | { readonly outcome: "failed"; readonly code: string; readonly message: string };

export interface RemoteBakeResult {
  readonly functionName: string;
  readonly functionError?: string;
  /** The function's answer, parsed when it is JSON. */
  readonly response: unknown;
}

/** `ops-rig bake --remote`: the manual event to the deployed pipeline function. */
export async function remoteBake(
  lambda: LambdaPort,
  request: {
    readonly region: string;
    readonly functionName: string;
    readonly toolsets?: readonly string[];
    readonly force?: boolean;
  },
): Promise<RemoteBakeResult> {
  const out = await lambda.invoke(request.region, request.functionName, {
    action: "bake",
    ...(request.toolsets ? { toolsets: request.toolsets } : {}),
    ...(request.force ? { force: true } : {}),
  });
  const response = parseJson(out.body);
  if (isRefusal(response))
    throw new UsageError(`${request.functionName} refused the request: ${response.message}`);
  return {
    functionName: request.functionName,
    ...(out.functionError ? { functionError: out.functionError } : {}),
    response,
  };
}

function isRefusal(value: unknown): value is Extract<PipelineResponse, { outcome: "refused" }> {
  return (
    typeof value === "object" && value !== null && (value as { outcome?: unknown }).outcome === "refused"
  );
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
