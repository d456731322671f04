import { setMaxListeners } from "node:events";
import { Logger } from "@aws-lambda-powertools/logger";
import { createClientFactory } from "../aws/client-factory.js";
import { createPipelinePorts } from "../aws/index.js";
import { applyEnvOverrides } from "../config/overrides.js";
import { ActionsFailedError, asOpsRigError, errorMessage } from "../errors.js";
import { parseConcurrency } from "../pipeline/apply.js";
import { linesOf } from "../pipeline/observe.js";
import type { PipelinePorts } from "../pipeline/ports.js";
import type { PipelineProject } from "../pipeline/run.js";
import { recipeResourceName } from "../render/recipe.js";
import { bake, type PipelineResponse } from "../services/bake.js";
import { type EventScope, parseEvent } from "./events.js";
import { eventLog, type LogLevel } from "./log.js";
import { readShippedProject, shippedProjectPath } from "./project.js";

export interface LambdaContextLike {
  getRemainingTimeInMillis?: () => number;
  awsRequestId?: string;
}

export interface HandlerDeps {
  readonly project: () => Promise<PipelineProject>;
  /** Ports for one invocation; `signal` aborts their in-flight calls near the invocation's deadline. */
  readonly ports: (homeRegion: string, signal: AbortSignal) => PipelinePorts;
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  readonly log: (level: LogLevel, message: string, data?: Record<string, unknown>) => void;
  /** Actions in flight at once (`OPS_RIG_CONCURRENCY`; default 64); throws on a bad value. */
  readonly concurrency?: () => number | undefined;
}

/** Stop starting passes this long before the invocation ends: the report and notification need it. */
const SAFETY_MARGIN_MS = 90_000;
/** Abort calls still in flight this long before the end, so the invocation reports instead of being killed. */
const ABORT_MARGIN_MS = 20_000;

/** Which topic and which images may trigger work: the deployment's own. */
export function eventScope(project: PipelineProject): EventScope {
  const images = new Map<string, string>();
  for (const line of linesOf(project.toolsets)) images.set(recipeResourceName(line), line.toolset);
  return {
    buildTopic: project.pipeline.build.notificationTopic,
    homeRegion: project.pipeline.homeRegion,
    images,
  };
}

/**
 * The Lambda entry point: a composition root that parses the event and renders logs. Every trigger
 * leads to the same reconcile; the invocation never waits for a build. It fails (and so is retried
 * and counted in Lambda's error metrics) only for failures a retry could fix; everything else is
 * logged at error level and answered with a result that says what happened.
 */
export function createHandler(deps: HandlerDeps) {
  return async (event: unknown, context: LambdaContextLike = {}): Promise<PipelineResponse> => {
    let project: PipelineProject;
    let concurrency: number | undefined;
    try {
      project = await deps.project();
      concurrency = deps.concurrency?.();
    } catch (thrown) {
      const error = asOpsRigError(thrown);
      deps.log("error", "cannot load the project", { code: error.code, error: error.message });
      if (error.retryable) throw error;
      return { outcome: "failed", code: error.code, message: error.message };
    }
    const parsed = parseEvent(event, eventScope(project));
    if (parsed.kind === "ignored") {
      deps.log("info", "event ignored", { reason: parsed.reason });
      return { outcome: "ignored", reason: parsed.reason };
    }
    if (parsed.kind === "refused") {
      deps.log("warn", "event refused", { code: parsed.error.code, error: parsed.error.message });
      return { outcome: "refused", code: parsed.error.code, message: parsed.error.message };
    }
    const { request } = parsed;
    const remaining = context.getRemainingTimeInMillis?.() ?? 15 * 60_000;
    deps.log("info", "run starting", { request, requestId: context.awsRequestId });
    const signal = AbortSignal.timeout(Math.max(1_000, remaining - ABORT_MARGIN_MS));
    // Every AWS call in flight listens on it: not a leak, no warning.
    setMaxListeners(0, signal);
    let result: Awaited<ReturnType<typeof bake>>;
    try {
      result = await bake(
        project,
        {
          ports: deps.ports(project.pipeline.homeRegion, signal),
          now: deps.now,
          sleep: deps.sleep,
          events: (e) => {
            const line = eventLog(e);
            if (line) deps.log(line.level, line.message, line.data);
          },
          signal,
        },
        {
          trigger: request.trigger,
          ...(request.toolsets ? { toolsets: request.toolsets } : {}),
          ...(request.force ? { force: true } : {}),
          ...(concurrency ? { concurrency } : {}),
          deadline: new Date(deps.now().getTime() + Math.max(0, remaining - SAFETY_MARGIN_MS)),
        },
      );
    } catch (thrown) {
      // The run could not even observe (STS, DescribeRegions): retry only what a retry can fix.
      const error = asOpsRigError(thrown);
      deps.log("error", "run failed before acting", {
        code: error.code,
        error: error.message,
        retryable: error.retryable,
      });
      if (error.retryable) throw error;
      return { outcome: "failed", code: error.code, message: error.message };
    }
    const { report, status } = result;
    for (const action of report.actions.filter((a) => a.failure)) deps.log("error", "failure", { ...action });
    const response: PipelineResponse = {
      outcome: "run",
      status,
      trigger: report.trigger,
      passes: report.passes,
      changed: report.counts.changed,
      failed: report.counts.failed,
      waiting: report.counts.waiting,
      notification: report.notification.status,
    };
    // The full report belongs in the run's log too (the SNS message is a summary): in parts, as a
    // CloudWatch Logs event holds at most 256 KB.
    const parts = reportParts(report.actions);
    for (const [index, actions] of parts.entries())
      deps.log("info", "report", { part: index + 1, of: parts.length, actions });
    deps.log(status === "ok" ? "info" : "error", "run finished", {
      ...response,
      lines: report.lines.map((l) => ({
        line: `${l.line.toolset}/${l.line.base}/${l.line.arch}`,
        region: l.region,
        state: l.state,
        imageId: l.imageId,
      })),
    });
    const notificationRetryable = report.notification.status === "failed" && report.notification.retryable;
    if (report.retryable || notificationRetryable) {
      const failures = report.actions
        .filter((a) => a.failure && a.retryable)
        .map((a) => `${a.kind} ${a.line}${a.region ? ` ${a.region}` : ""}: ${a.error ?? a.reason}`);
      if (notificationRetryable && report.notification.status === "failed")
        failures.push(`notification: ${report.notification.error}`);
      throw new ActionsFailedError(
        "RUN_FAILED",
        `ops-rig run failed (${failures.length} retryable): ${failures.slice(0, 5).join("; ")}${failures.length > 5 ? "; ..." : ""}`,
        { retryable: true },
      );
    }
    return response;
  };
}

/** Bytes of actions per report log line: well under CloudWatch Logs' 256 KB per event. */
export const REPORT_PART_BYTES = 64 * 1024;

/** The report's actions cut into log-sized parts (at least one, so an empty run logs its report too). */
export function reportParts<T>(actions: readonly T[], maxBytes = REPORT_PART_BYTES): T[][] {
  const parts: T[][] = [[]];
  let bytes = 0;
  for (const action of actions) {
    const size = Buffer.byteLength(JSON.stringify(action), "utf8") + 1;
    const current = parts.at(-1) as T[];
    if (current.length > 0 && bytes + size > maxBytes) {
      parts.push([action]);
      bytes = size;
    } else {
      current.push(action);
      bytes += size;
    }
  }
  return parts;
}

// The composition for the deployed function: clients and configuration live as long as the container.
// Each SDK client is loaded at its service's first call (see createPipelinePorts), not at import.
const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "ops-rig" });
const clients = createClientFactory({ retryMode: "adaptive", maxAttempts: 8 });
let project: Promise<PipelineProject> | undefined;

export const handler = createHandler({
  project: () => {
    project ??= (async () => {
      // Rendered and validated at bundle time: no YAML or schemas at a cold start (issue 11).
      const shipped = await readShippedProject(shippedProjectPath(process.env));
      logger.info("project loaded", {
        inputs: shipped.inputs,
        toolsets: shipped.toolsets.map((t) => t.name),
      });
      return {
        pipeline: applyEnvOverrides(shipped.pipeline, process.env),
        toolsets: shipped.toolsets,
        components: shipped.components,
      };
    })();
    project.catch(() => {
      project = undefined;
    });
    return project;
  },
  ports: (home, signal) => createPipelinePorts(clients, home, { signal }),
  concurrency: () => parseConcurrency(process.env.OPS_RIG_CONCURRENCY, "OPS_RIG_CONCURRENCY"),
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
