import { setMaxListeners } from "node:events";
import { Logger } from "@aws-lambda-powertools/logger";
import {
  type ApiCaller,
  type ApiErrorBody,
  type ApiLaunchResponse,
  type ApiRoute,
  type OutcomeBody,
  parseApiRequest,
} from "../api/requests.js";
import { createAwsClients } from "../aws/clients.js";
import { createEc2Adapter } from "../aws/ec2.js";
import { createLaunchAdapter } from "../aws/launch.js";
import { createLaunchTemplateAdapter } from "../aws/launch-templates.js";
import { createSsmAdapter } from "../aws/ssm.js";
import { createStsAdapter } from "../aws/sts.js";
import type { ToolsetData } from "../config/types.js";
import { asOpsRigError, errorMessage } from "../errors.js";
import { FORENSIC_INSTANCE_PROFILE, type ResponderAction } from "../responders/contract.js";
import {
  launchFromTemplate,
  type TemplateLaunchDeps,
  type TemplateLaunchRequest,
  type TemplateLaunchResult,
} from "../services/launch-template.js";
import { readShippedProject, shippedProjectPath } from "./project.js";

/**
 * The responders' API (Lambda function URL, AWS_IAM auth): a composition root that parses the
 * request, names the caller from the signature Lambda verified, calls the same services the CLI
 * calls, renders JSON, and writes one audit line per call, answered or refused.
 */

/** The function URL event (payload format 2.0), as far as the API reads it. */
export interface FunctionUrlEvent {
  readonly rawPath?: string;
  readonly body?: string;
  readonly isBase64Encoded?: boolean;
  readonly requestContext?: {
    readonly requestId?: string;
    readonly http?: { readonly method?: string; readonly sourceIp?: string };
    readonly authorizer?: {
      readonly iam?: {
        readonly userArn?: string;
        readonly accountId?: string;
        readonly userId?: string;
        readonly callerId?: string;
      };
    };
  };
}

export interface HttpResult {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * A responder outcome as the API runs it: the same service function (and signature) the CLI calls,
 * with its dependencies built for the authenticated caller. Absent outcomes answer 501.
 */
export interface OutcomeRoute<D = unknown, R = unknown, T = unknown> {
  /** Only a human principal (not a rig) may ask (HUMAN_ONLY_ACTIONS). */
  readonly humanOnly: boolean;
  readonly deps: (caller: ApiCaller, region: string) => D;
  readonly request: (body: OutcomeBody, caller: ApiCaller, region: string) => R;
  readonly service: (deps: D, request: R) => Promise<T>;
}
export type OutcomeTable = Partial<Record<ResponderAction, OutcomeRoute>>;

export interface ApiHandlerDeps {
  /** The function's own region: the API acts here only. */
  readonly region: string;
  /** The function's account: callers from other accounts are refused (the URL's policy should already). */
  readonly account: string;
  readonly toolsets: () => Promise<{
    readonly toolsets: readonly ToolsetData[];
    readonly parameterPrefix: string;
  }>;
  readonly instanceProfile: string;
  readonly launch: {
    readonly deps: (caller: ApiCaller, signal: AbortSignal) => TemplateLaunchDeps;
    readonly service: (
      deps: TemplateLaunchDeps,
      request: TemplateLaunchRequest,
    ) => Promise<TemplateLaunchResult>;
  };
  readonly outcomes: OutcomeTable;
  readonly audit: (record: AuditLine) => void;
  readonly log: (level: "info" | "warn" | "error", message: string, data: Record<string, unknown>) => void;
}

/** One line per call: who asked what, and what came of it. */
export interface AuditLine {
  readonly audit: "ops-rig-api";
  readonly requestId: string;
  readonly caller: string;
  readonly callerAccount: string;
  readonly sourceIp: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly outcome: "done" | "refused" | "failed";
  readonly request?: unknown;
  readonly result?: unknown;
  readonly code?: string;
}

const respond = (statusCode: number, body: unknown): HttpResult => ({
  statusCode,
  headers: { "content-type": "application/json", "cache-control": "no-store" },
  body: JSON.stringify(body),
});

/** The caller as Lambda's IAM authorizer verified it; undefined when the event carries no signature. */
export function callerOf(event: FunctionUrlEvent): ApiCaller | undefined {
  const iam = event.requestContext?.authorizer?.iam;
  if (!iam?.userArn || !iam.accountId) return undefined;
  const sourceIp = event.requestContext?.http?.sourceIp;
  return {
    arn: iam.userArn,
    accountId: iam.accountId,
    ...(iam.userId ? { userId: iam.userId } : {}),
    ...(sourceIp ? { sourceIp } : {}),
  };
}

export function createApiHandler(deps: ApiHandlerDeps) {
  return async (event: FunctionUrlEvent, context: { awsRequestId?: string } = {}): Promise<HttpResult> => {
    const requestId = event.requestContext?.requestId ?? context.awsRequestId ?? "unknown";
    const method = event.requestContext?.http?.method ?? "";
    const path = event.rawPath ?? "";
    const caller = callerOf(event);
    const audit = (status: number, outcome: AuditLine["outcome"], extra: Partial<AuditLine>) =>
      deps.audit({
        audit: "ops-rig-api",
        requestId,
        caller: caller?.arn ?? "(unsigned)",
        callerAccount: caller?.accountId ?? "",
        sourceIp: event.requestContext?.http?.sourceIp ?? "",
        method,
        path,
        status,
        outcome,
        ...extra,
      });
    const refuse = (status: number, body: ApiErrorBody, request?: unknown) => {
      audit(status, "refused", { code: body.code, ...(request !== undefined ? { request } : {}) });
      return respond(status, { ...body, requestId });
    };

    // AWS_IAM auth means Lambda invokes only for a valid signature; an event without the verified
    // identity came another way (a direct Invoke, a misconfigured URL) and is refused all the same.
    if (!caller)
      return refuse(403, {
        code: "UNSIGNED",
        error: "requests must be SigV4-signed (the function URL uses AWS_IAM auth)",
      });
    if (caller.accountId !== deps.account)
      return refuse(403, {
        code: "FOREIGN_ACCOUNT",
        error: `callers from account ${caller.accountId} are not served`,
      });

    const text = event.isBase64Encoded
      ? Buffer.from(event.body ?? "", "base64").toString("utf8")
      : event.body;
    const parsed = parseApiRequest(method, path, text);
    if (!parsed.ok)
      return refuse(parsed.status, { code: "BAD_REQUEST", error: parsed.error, problems: parsed.problems });
    const route = parsed.route;

    try {
      const result = await run(deps, route, caller);
      if ("refused" in result) return refuse(result.status, result.refused, route.body);
      audit(200, "done", { request: route.body, result: result.summary });
      return respond(200, result.body);
    } catch (thrown) {
      const error = asOpsRigError(thrown);
      // User errors (an edited template, a missing parameter, an unknown subnet) are the caller's to fix.
      const status = error.kind === "user" ? 409 : 502;
      audit(status, "failed", { request: route.body, code: error.code });
      deps.log(status === 502 ? "error" : "warn", "request failed", {
        requestId,
        code: error.code,
        error: error.message,
      });
      return respond(status, { code: error.code, error: error.message, requestId } satisfies ApiErrorBody);
    }
  };
}

type RunResult =
  | { readonly body: unknown; readonly summary: unknown }
  | { readonly refused: ApiErrorBody; readonly status: number };

async function run(deps: ApiHandlerDeps, route: ApiRoute, caller: ApiCaller): Promise<RunResult> {
  if (route.kind === "outcome") {
    const outcome = deps.outcomes[route.action];
    if (!outcome)
      return {
        status: 501,
        refused: {
          code: "NOT_DEPLOYED",
          error: `the ${route.action} outcome is not served by this API yet; use the ops-rig CLI with a responder session`,
        },
      };
    const result = await outcome.service(
      outcome.deps(caller, deps.region),
      outcome.request(route.body, caller, deps.region),
    );
    return { body: result, summary: { action: route.action } };
  }
  const body = route.body;
  if (body.region && body.region !== deps.region)
    return {
      status: 400,
      refused: {
        code: "WRONG_REGION",
        error: `this API launches in ${deps.region}; call the ${body.region} API for ${body.region}`,
        problems: [{ field: "region", message: `must be ${deps.region} (or omitted)` }],
      },
    };
  const { toolsets, parameterPrefix } = await deps.toolsets();
  const toolset = toolsets.find((t) => t.name === body.toolset);
  if (!toolset)
    return {
      status: 400,
      refused: {
        code: "BAD_REQUEST",
        error: "invalid request",
        problems: [{ field: "toolset", message: `one of ${toolsets.map((t) => t.name).join(", ")}` }],
      },
    };
  const signal = AbortSignal.timeout(25_000);
  setMaxListeners(0, signal);
  const result = await deps.launch.service(deps.launch.deps(caller, signal), {
    region: deps.region,
    toolset,
    line: { toolset: toolset.name, base: toolset.default.base, arch: toolset.default.arch },
    parameterPrefix,
    instanceProfile: deps.instanceProfile,
    ...(body.caseId ? { caseId: body.caseId } : {}),
    // The API never opens SSH itself: the template's rig group admits the responders' prefix list.
    sshCidrs: [],
    ...(body.instanceType ? { instanceType: body.instanceType } : {}),
    ...(body.keyName ? { keyName: body.keyName } : {}),
    ...(body.subnet ? { subnet: body.subnet } : {}),
    ...(body.dryRun ? { dryRun: true } : {}),
    launchedBy: caller.arn,
    requireTemplateGroup: true,
  });
  const response: ApiLaunchResponse = {
    region: result.region,
    dryRun: result.dryRun,
    ...(result.instanceId ? { instanceId: result.instanceId } : {}),
    template: result.template,
    imageRequest: result.imageRequest,
    resolvesTo: result.resolvesTo,
    instanceType: result.instanceType,
    launchedBy: caller.arn,
  };
  return { body: response, summary: { instanceId: result.instanceId, template: result.template } };
}

// ---- The composition for the deployed function: clients and configuration live as long as the container.
const logger = new Logger({ serviceName: "ops-rig-api" });
const clients = createAwsClients({ retryMode: "adaptive", maxAttempts: 3, requestTimeoutMs: 10_000 });
let project: Promise<{ toolsets: readonly ToolsetData[]; parameterPrefix: string }> | undefined;

export const handler = createApiHandler({
  region: process.env.AWS_REGION ?? "",
  account: process.env.OPS_RIG_ACCOUNT ?? "",
  instanceProfile: process.env.OPS_RIG_FORENSIC_PROFILE ?? FORENSIC_INSTANCE_PROFILE,
  toolsets: () => {
    project ??= (async () => {
      const shipped = await readShippedProject(shippedProjectPath(process.env));
      return { toolsets: shipped.toolsets, parameterPrefix: shipped.pipeline.parameterPrefix };
    })();
    project.catch(() => {
      project = undefined;
    });
    return project;
  },
  launch: {
    deps: (_caller, signal) => ({
      // Only what a template launch reads: the bundle (and so the role) carries no other adapter.
      ports: {
        ssm: createSsmAdapter((r) => clients.ssm(r), { signal }),
        ec2: createEc2Adapter((r) => clients.ec2(r), { signal }),
        sts: createStsAdapter((r) => clients.sts(r), { signal }),
      },
      launch: createLaunchAdapter((r) => clients.ec2(r), { signal }),
      templates: createLaunchTemplateAdapter((r) => clients.ec2(r), { signal }),
      events: () => {},
    }),
    service: launchFromTemplate,
  },
  // The responder outcomes plug in here (see README, "The API"): same services as the CLI.
  outcomes: {},
  audit: (record) => logger.info("audit", { ...record }),
  log: (level, message, data) => {
    try {
      logger[level](message, data);
    } catch (error) {
      logger.error("log failed", { error: errorMessage(error) });
    }
  },
});
