import { CASE_ID_PATTERN, NO_CASE, RESPONDER_ACTIONS, type ResponderAction } from "../responders/contract.js";
import { typeName } from "../text/type-name.js";

/**
 * The API's requests, shared by the Lambda (which parses what arrives) and `ops-rig --api` (which
 * checks what it is about to send, so a bad flag fails locally with its name). Neutral on purpose:
 * neither the CLI nor the Lambda is imported here, and neither imports the other.
 */

/** `m7i.large`, `c7gn.16xlarge`, `m7i-flex.large`, `c7i.metal-24xl` (as `ops-rig launch` accepts). */
export const INSTANCE_TYPE_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*\.[a-z0-9]+(-[a-z0-9]+)*$/;
/** Largest request body the API reads (a launch request is a few hundred bytes). */
export const MAX_BODY_BYTES = 8 * 1024;

/** A problem with a request, naming its field (`body` for the request as a whole). */
export interface FieldProblem {
  readonly field: string;
  readonly message: string;
}

/** What `POST /launch` takes. */
export interface LaunchBody {
  readonly toolset: string;
  /** The region the caller means: checked against the function's own (the API is regional). */
  readonly region?: string;
  readonly caseId?: string;
  readonly instanceType?: string;
  readonly keyName?: string;
  readonly subnet?: string;
  readonly dryRun?: boolean;
}

/** The responder outcomes' common request: the case and the instance it acts on (other fields kept). */
export interface OutcomeBody {
  readonly caseId: string;
  readonly instanceId: string;
  readonly dryRun?: boolean;
  readonly [field: string]: unknown;
}

// Hand-written checks, not a schema library: the API Lambda ships without zod (issue 11, cold starts).
// Every problem is reported (not just the first), in field order, unknown fields last; the messages
// are the ones the zod schemas gave.

type Check = (value: string) => string | undefined;
const matches =
  (pattern: RegExp, message: string): Check =>
  (value) =>
    pattern.test(value) ? undefined : message;
const CASE_ID_CHECKS: readonly Check[] = [
  matches(CASE_ID_PATTERN, "1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit"),
  (value) => (value === NO_CASE ? `"${NO_CASE}" is not a case` : undefined),
];

/** A field's checks: a string with these checks, or a boolean; required or not. */
interface FieldRule {
  readonly type: "string" | "boolean";
  readonly required: boolean;
  readonly checks?: readonly Check[];
}

const LAUNCH_FIELDS: Readonly<Record<keyof LaunchBody, FieldRule>> = {
  toolset: {
    type: "string",
    required: true,
    checks: [matches(/^[a-z][a-z0-9-]{0,31}$/, "a toolset name like light or heavy")],
  },
  region: {
    type: "string",
    required: false,
    checks: [matches(/^[a-z]{2}(-[a-z]+)+-\d$/, "an AWS region name")],
  },
  caseId: { type: "string", required: false, checks: CASE_ID_CHECKS },
  instanceType: {
    type: "string",
    required: false,
    checks: [
      (value) => (value.length > 64 ? "Too big: expected string to have <=64 characters" : undefined),
      matches(INSTANCE_TYPE_PATTERN, "an EC2 instance type like m7i.large"),
    ],
  },
  keyName: {
    type: "string",
    required: false,
    checks: [matches(/^[\x20-\x7e]{1,255}$/, "an EC2 key pair name")],
  },
  subnet: {
    type: "string",
    required: false,
    checks: [matches(/^subnet-[0-9a-f]{8,17}$/, "a subnet id (subnet-...)")],
  },
  dryRun: { type: "boolean", required: false },
};

const OUTCOME_FIELDS: Readonly<Record<"caseId" | "instanceId" | "dryRun", FieldRule>> = {
  caseId: { type: "string", required: true, checks: CASE_ID_CHECKS },
  instanceId: {
    type: "string",
    required: true,
    checks: [matches(/^i-[0-9a-f]{8,17}$/, "an instance id (i-...)")],
  },
  dryRun: { type: "boolean", required: false },
};

type Checked<T> =
  | { readonly ok: true; readonly data: T }
  | { readonly ok: false; readonly problems: readonly FieldProblem[] };

/** Checks a launch request (the Lambda on arrival, `ops-rig launch --api` before sending). */
export function checkLaunchBody(body: unknown): Checked<LaunchBody> {
  return checkFields(body, LAUNCH_FIELDS, "strict") as Checked<LaunchBody>;
}

/** Checks a responder outcome's request; fields beyond the common ones pass through for the outcome. */
export function checkOutcomeBody(body: unknown): Checked<OutcomeBody> {
  return checkFields(body, OUTCOME_FIELDS, "loose") as Checked<OutcomeBody>;
}

function checkFields(
  body: unknown,
  rules: Readonly<Record<string, FieldRule>>,
  unknownFields: "strict" | "loose",
): Checked<Record<string, unknown>> {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    return {
      ok: false,
      problems: [{ field: "body", message: `Invalid input: expected object, received ${typeName(body)}` }],
    };
  const fields = body as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  const data: Record<string, unknown> = {};
  for (const [field, rule] of Object.entries(rules)) {
    const value = fields[field];
    if (value === undefined) {
      if (rule.required)
        problems.push({ field, message: `Invalid input: expected ${rule.type}, received undefined` });
      continue;
    }
    if (typeof value !== rule.type) {
      problems.push({ field, message: `Invalid input: expected ${rule.type}, received ${typeName(value)}` });
      continue;
    }
    const messages = (rule.checks ?? []).flatMap((check) => check(value as string) ?? []);
    problems.push(...messages.map((message) => ({ field, message })));
    data[field] = value;
  }
  const unknown = Object.keys(fields).filter((key) => !Object.hasOwn(rules, key));
  if (unknownFields === "strict" && unknown.length > 0)
    problems.push({
      field: "body",
      message: `Unrecognized key${unknown.length > 1 ? "s" : ""}: ${unknown.map((k) => JSON.stringify(k)).join(", ")}`,
    });
  if (unknownFields === "loose") for (const key of unknown) data[key] = fields[key];
  return problems.length > 0 ? { ok: false, problems } : { ok: true, data };
}

export type ApiRoute =
  | { readonly kind: "launch"; readonly body: LaunchBody }
  | { readonly kind: "outcome"; readonly action: ResponderAction; readonly body: OutcomeBody };

/** A refused request: the HTTP status and every problem, each naming its field. */
export interface ApiRefusal {
  readonly status: 400 | 404 | 405 | 413;
  readonly error: string;
  readonly problems: readonly FieldProblem[];
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
  if (path === API_PATHS.launch) {
    const checked = checkLaunchBody(body);
    return checked.ok
      ? { ok: true, route: { kind: "launch", body: checked.data } }
      : { ok: false, status: 400, error: "invalid request", problems: checked.problems };
  }
  const checked = checkOutcomeBody(body);
  return checked.ok
    ? { ok: true, route: { kind: "outcome", action: outcome as ResponderAction, body: checked.data } }
    : { ok: false, status: 400, error: "invalid request", problems: checked.problems };
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
