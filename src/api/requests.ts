import { z } from "zod";
import { CASE_ID_PATTERN, NO_CASE, RESPONDER_ACTIONS, type ResponderAction } from "../responders/contract.js";

/**
 * The API's requests, shared by the Lambda (which parses what arrives) and `ops-rig --api` (which
 * checks what it is about to send, so a bad flag fails locally with its name). Neutral on purpose:
 * neither the CLI nor the Lambda is imported here, and neither imports the other.
 */

/** `m7i.large`, `c7gn.16xlarge`, `m7i-flex.large`, `c7i.metal-24xl` (as `ops-rig launch` accepts). */
export const INSTANCE_TYPE_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*\.[a-z0-9]+(-[a-z0-9]+)*$/;
/** Largest request body the API reads (a launch request is a few hundred bytes). */
export const MAX_BODY_BYTES = 8 * 1024;

export const launchBodySchema = z.strictObject({
  toolset: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, "a toolset name like light or heavy"),
  /** The region the caller means: checked against the function's own (the API is regional). */
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "an AWS region name")
    .optional(),
  caseId: z
    .string()
    .regex(CASE_ID_PATTERN, "1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit")
    .refine((v) => v !== NO_CASE, `"${NO_CASE}" is not a case`)
    .optional(),
  instanceType: z
    .string()
    .max(64)
    .regex(INSTANCE_TYPE_PATTERN, "an EC2 instance type like m7i.large")
    .optional(),
  keyName: z
    .string()
    .regex(/^[\x20-\x7e]{1,255}$/, "an EC2 key pair name")
    .optional(),
  subnet: z
    .string()
    .regex(/^subnet-[0-9a-f]{8,17}$/, "a subnet id (subnet-...)")
    .optional(),
  dryRun: z.boolean().optional(),
});
export type LaunchBody = z.infer<typeof launchBodySchema>;

/** The responder outcomes' common request: the case and the instance it acts on. */
export const outcomeBodySchema = z.looseObject({
  caseId: z
    .string()
    .regex(CASE_ID_PATTERN, "1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit")
    .refine((v) => v !== NO_CASE, `"${NO_CASE}" is not a case`),
  instanceId: z.string().regex(/^i-[0-9a-f]{8,17}$/, "an instance id (i-...)"),
  dryRun: z.boolean().optional(),
});
export type OutcomeBody = z.infer<typeof outcomeBodySchema>;

export type ApiRoute =
  | { readonly kind: "launch"; readonly body: LaunchBody }
  | { readonly kind: "outcome"; readonly action: ResponderAction; readonly body: OutcomeBody };

/** A refused request: the HTTP status and every problem, each naming its field. */
export interface ApiRefusal {
  readonly status: 400 | 404 | 405 | 413;
  readonly error: string;
  readonly problems: readonly { readonly field: string; readonly message: string }[];
}

export const API_PATHS = {
  launch: "/launch",
  outcome: (action: ResponderAction) => `/outcomes/${action}`,
} as const;

/** Parses a request: method, path and the body's text. Never throws. */
export function parseApiRequest(
  method: string,
  path: string,
  bodyText: string | undefined,
): { readonly ok: true; readonly route: ApiRoute } | ({ readonly ok: false } & ApiRefusal) {
  const outcome = /^\/outcomes\/([a-z-]+)$/.exec(path)?.[1];
  const known = path === API_PATHS.launch || (outcome !== undefined && isAction(outcome));
  if (!known)
    return {
      ok: false,
      status: 404,
      error: `no such route ${path}`,
      problems: [
        { field: "path", message: `use ${API_PATHS.launch} or /outcomes/<${RESPONDER_ACTIONS.join("|")}>` },
      ],
    };
  if (method !== "POST")
    return {
      ok: false,
      status: 405,
      error: `${method} is not allowed`,
      problems: [{ field: "method", message: "use POST" }],
    };
  if (Buffer.byteLength(bodyText ?? "", "utf8") > MAX_BODY_BYTES)
    return {
      ok: false,
      status: 413,
      error: "request body too large",
      problems: [{ field: "body", message: `at most ${MAX_BODY_BYTES} bytes` }],
    };
  let body: unknown;
  try {
    body = JSON.parse(bodyText || "{}");
  } catch {
    return {
      ok: false,
      status: 400,
      error: "the body is not JSON",
      problems: [{ field: "body", message: "send a JSON object" }],
    };
  }
  const schema = path === API_PATHS.launch ? launchBodySchema : outcomeBodySchema;
  const parsed = schema.safeParse(body);
  if (!parsed.success)
    return {
      ok: false,
      status: 400,
      error: "invalid request",
      problems: parsed.error.issues.map((issue) => ({
        field: issue.path.length > 0 ? issue.path.join(".") : "body",
        message: issue.message,
      })),
    };
  return path === API_PATHS.launch
    ? { ok: true, route: { kind: "launch", body: parsed.data as LaunchBody } }
    : {
        ok: true,
        route: { kind: "outcome", action: outcome as ResponderAction, body: parsed.data as OutcomeBody },
      };
}

function isAction(value: string): value is ResponderAction {
  return (RESPONDER_ACTIONS as readonly string[]).includes(value);
}

/** Who called, as Lambda's IAM authorizer states it (the SigV4 signature it verified). */
export interface ApiCaller {
  readonly arn: string;
  readonly accountId: string;
  readonly userId?: string;
  readonly sourceIp?: string;
}

/** The API's answer to a launch (a subset of the service's result, nothing secret). */
export interface ApiLaunchResponse {
  readonly region: string;
  readonly dryRun: boolean;
  readonly instanceId?: string;
  readonly template: { readonly name: string; readonly id: string; readonly version: number };
  readonly imageRequest: string;
  readonly resolvesTo: string;
  readonly instanceType: string;
  readonly launchedBy: string;
}

/** Every error answer: a stable code, a message, and the problems for a refused request. */
export interface ApiErrorBody {
  readonly error: string;
  readonly code: string;
  readonly problems?: readonly { readonly field: string; readonly message: string }[];
  readonly requestId?: string;
}
