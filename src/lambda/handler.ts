import { Logger } from "@aws-lambda-powertools/logger";
import { createAwsClients, createPipelinePorts } from "../aws/index.js";
import { loadProject } from "../config/load.js";
import { applyEnvOverrides } from "../config/overrides.js";
import { errorMessage } from "../errors.js";
import type { OpsRigEvent } from "../events.js";
import type { PipelinePorts } from "../pipeline/ports.js";
import { type PipelineProject, reconcile } from "../pipeline/run.js";
import { renderProject } from "../render/index.js";
import { parseEvent } from "./events.js";

export interface LambdaContextLike {
  getRemainingTimeInMillis?: () => number;
  awsRequestId?: string;
}

export interface RunSummary {
  readonly ok: boolean;
  readonly trigger: string;
  readonly passes: number;
  readonly changed: number;
  readonly failed: number;
  readonly waiting: number;
  readonly notification?: string;
}

export interface HandlerDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly project: () => Promise<PipelineProject>;
  readonly ports: (homeRegion: string) => PipelinePorts;
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  readonly log: (level: "info" | "warn" | "error", message: string, data?: Record<string, unknown>) => void;
}

/** Leave this much of the invocation for the report and the notification. */
const SAFETY_MARGIN_MS = 90_000;

/**
 * The Lambda entry point: a composition root, nothing else. Every trigger leads to the same
 * observe → plan → apply; the invocation never waits for a build (the next tick or the build's
 * notification continues), and it throws after notifying when anything failed, so Lambda's error
 * metrics and alarms see it.
 */
export function createHandler(deps: HandlerDeps) {
  return async (event: unknown, context: LambdaContextLike = {}): Promise<RunSummary> => {
    const request = parseEvent(event);
    if (!request) {
      deps.log("info", "nothing to do for this event", { event: summarizeEvent(event) });
      return { ok: true, trigger: "image-builder", passes: 0, changed: 0, failed: 0, waiting: 0 };
    }
    const project = await deps.project();
    const remaining = context.getRemainingTimeInMillis?.() ?? 15 * 60_000;
    deps.log("info", "run starting", { request, requestId: context.awsRequestId });
    const { report } = await reconcile(
      project,
      {
        ports: deps.ports(project.pipeline.homeRegion),
        now: deps.now,
        sleep: deps.sleep,
        events: (e: OpsRigEvent) =>
          deps.log(e.type === "failed" ? "warn" : "info", `${e.type} ${e.subject}`, {
            ...(e.message ? { detail: e.message } : {}),
            ...(e.data ?? {}),
          }),
      },
      {
        trigger: request.trigger,
        ...(request.toolsets ? { toolsets: request.toolsets } : {}),
        ...(request.force ? { force: true } : {}),
        deadline: new Date(deps.now().getTime() + Math.max(0, remaining - SAFETY_MARGIN_MS)),
      },
    );
    for (const action of report.actions)
      deps.log(action.status === "failed" ? "error" : "info", "action", { ...action });
    const summary: RunSummary = {
      ok: report.ok,
      trigger: report.trigger,
      passes: report.passes,
      changed: report.counts.changed,
      failed: report.counts.failed,
      waiting: report.counts.waiting,
      ...(report.notification?.messageId ? { notification: report.notification.messageId } : {}),
    };
    deps.log(report.ok ? "info" : "error", "run finished", {
      ...summary,
      lines: report.lines.map((l) => ({
        line: `${l.line.toolset}/${l.line.base}/${l.line.arch}`,
        region: l.region,
        state: l.state,
        imageId: l.imageId,
      })),
    });
    if (!report.ok) {
      const failures = report.actions
        .filter((a) => a.status === "failed" || a.error)
        .map((a) => `${a.kind} ${a.line}${a.region ? ` ${a.region}` : ""}: ${a.error ?? a.reason}`);
      throw new Error(
        `ops-rig run failed (${report.counts.failed}): ${failures.slice(0, 5).join("; ")}${failures.length > 5 ? "; ..." : ""}`,
      );
    }
    return summary;
  };
}

function summarizeEvent(event: unknown): unknown {
  return JSON.stringify(event).slice(0, 500);
}

// The composition for the deployed function: clients and configuration live as long as the container.
const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "ops-rig" });
const clients = createAwsClients({ retryMode: "adaptive", maxAttempts: 8 });
let project: Promise<PipelineProject> | undefined;

export const handler = createHandler({
  env: process.env,
  project: () => {
    project ??= (async () => {
      const root = process.env.OPS_RIG_CONFIG ?? process.env.LAMBDA_TASK_ROOT ?? process.cwd();
      const rendered = renderProject(await loadProject(root));
      return {
        pipeline: applyEnvOverrides(rendered.config.pipeline, process.env),
        toolsets: rendered.config.toolsets,
        components: rendered.components,
      };
    })();
    project.catch(() => {
      project = undefined;
    });
    return project;
  },
  ports: (home) => createPipelinePorts(clients, home),
  now: () => new Date(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  log: (level, message, data) => {
    try {
      logger[level](message, data ?? {});
    } catch (error) {
      logger.error("log failed", { error: errorMessage(error) });
    }
  },
});
