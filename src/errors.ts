/**
 * One small error hierarchy with stable codes. User errors (bad config, bad flags, a state the user
 * must change) exit 2 and name the file/field/flag; system errors (AWS, processes) exit 1 and name
 * the call and region. There is one class per condition a user acts on; each keeps its `cause`.
 */

export type ErrorKind = "user" | "system";

export interface Problem {
  /** Project-relative file the problem is in, when it comes from a file. */
  readonly file?: string;
  /** Path inside the file, e.g. `components[2].name` or `phases.build.steps.Install`. */
  readonly path?: string;
  /** 1-based line and column inside `file`, when known. */
  readonly line?: number;
  readonly column?: number;
  readonly message: string;
}

export function formatProblem(problem: Problem): string {
  const where = problem.file
    ? `${problem.file}${problem.line ? `:${problem.line}${problem.column ? `:${problem.column}` : ""}` : ""}`
    : "";
  const path = problem.path ? `${problem.path}: ` : "";
  return where ? `${where}: ${path}${problem.message}` : `${path}${problem.message}`;
}

/** Exit statuses of the CLI (README documents them). */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  /** The work was done, but the run's notification could not be sent. */
  notificationFailed: 3,
  /** Ctrl-C (128 + SIGINT). */
  interrupted: 130,
} as const;

export interface ErrorOptions {
  readonly cause?: unknown;
  /** A retry of the same request could succeed (throttling, a server fault, a dropped connection). */
  readonly retryable?: boolean;
}

export class OpsRigError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly retryable: boolean;

  constructor(code: string, kind: ErrorKind, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.kind = kind;
    this.retryable = options.retryable ?? false;
  }

  /** The CLI's exit status for this error. */
  get exitCode(): number {
    return this.kind === "user" ? EXIT.usage : EXIT.failed;
  }
}

/** A configuration or component template is invalid. Carries every problem found, not just the first. */
export class ConfigError extends OpsRigError {
  readonly problems: readonly Problem[];

  constructor(problems: readonly Problem[], options?: { cause?: unknown }) {
    const first = problems[0];
    const summary =
      problems.length === 1 && first
        ? formatProblem(first)
        : `${problems.length} problems:\n${problems.map((p) => `  ${formatProblem(p)}`).join("\n")}`;
    super("CONFIG_INVALID", "user", summary, options);
    this.problems = problems;
  }
}

/** A command-line flag, argument or request field is invalid. */
export class UsageError extends OpsRigError {
  readonly flag: string | undefined;

  constructor(message: string, flag?: string) {
    super("USAGE", "user", flag ? `${flag}: ${message}` : message);
    this.flag = flag;
  }
}

/** An AWS call failed; names the service, operation and region. */
export class AwsCallError extends OpsRigError {
  readonly service: string;
  readonly operation: string;
  readonly region: string;
  readonly awsCode: string | undefined;

  constructor(
    init: {
      service: string;
      operation: string;
      region: string;
      awsCode?: string | undefined;
      message: string;
      retryable?: boolean;
      kind?: ErrorKind;
    },
    options?: { cause?: unknown },
  ) {
    super(
      init.kind === "user" ? "AWS_REJECTED" : "AWS_CALL_FAILED",
      init.kind ?? "system",
      `${init.service}:${init.operation} in ${init.region} failed${init.awsCode ? ` (${init.awsCode})` : ""}: ${init.message}`,
      { ...options, retryable: init.retryable ?? false },
    );
    this.service = init.service;
    this.operation = init.operation;
    this.region = init.region;
    this.awsCode = init.awsCode;
  }
}

/** Ctrl-C (or the Lambda's deadline) stopped the work; the next run continues from where it stopped. */
export class InterruptedError extends OpsRigError {
  constructor(message = "interrupted", options?: { cause?: unknown }) {
    super("INTERRUPTED", "system", message, { ...options, retryable: true });
  }

  override get exitCode(): number {
    return EXIT.interrupted;
  }
}

/** A parameter the command needs does not exist in a region (nothing was baked or published there). */
export class ParameterNotFoundError extends OpsRigError {
  constructor(
    readonly parameter: string,
    readonly region: string,
    hint = "",
  ) {
    super(
      "PARAMETER_NOT_FOUND",
      "user",
      `${parameter} does not exist in ${region}${hint ? `: ${hint}` : ""}`,
    );
  }
}

/** An AMI the command would use is not `available` (or gone). */
export class ImageNotAvailableError extends OpsRigError {
  constructor(
    readonly imageId: string,
    readonly region: string,
    readonly state: string,
    message: string,
  ) {
    super("IMAGE_NOT_AVAILABLE", "system", message);
  }
}

/** No publisher base image was found for a base and arch in a region. */
export class BaseNotFoundError extends OpsRigError {
  constructor(message: string) {
    super("BASE_NOT_FOUND", "system", message);
  }
}

/** A rollback has nothing to go back to (or the version asked for does not exist or cannot be used). */
export class NoRollbackTargetError extends OpsRigError {
  constructor(
    readonly region: string,
    message: string,
  ) {
    super("NO_ROLLBACK_TARGET", "user", message);
  }
}

/** SSM answered PutParameter but did not store the value (aws:ec2:image validates asynchronously). */
export class PublishNotStoredError extends OpsRigError {
  constructor(
    readonly parameter: string,
    readonly region: string,
    readonly imageId: string,
    readonly holds: string | undefined,
  ) {
    super(
      "PUBLISH_NOT_STORED",
      "system",
      `SSM did not store ${imageId} in ${parameter} (it holds ${holds ?? "nothing"}): the aws:ec2:image validation rejected it`,
    );
  }
}

/**
 * A security group with ops-rig's name exists but is not what ops-rig would make: not tagged as
 * ops-rig's, or other rules than SSH from the given ranges. `--repair-group` makes it so.
 */
export class SecurityGroupMismatchError extends OpsRigError {
  constructor(
    readonly groupId: string,
    readonly region: string,
    readonly differences: readonly string[],
  ) {
    super(
      "SECURITY_GROUP_MISMATCH",
      "user",
      `security group ${groupId} in ${region} is not what ops-rig expects: ${differences.join("; ")}. Refusing to launch into it; --repair-group makes it match (or delete it)`,
    );
  }
}

/** The region has no rig launch template of that name (the regional stack is not deployed there). */
export class LaunchTemplateNotFoundError extends OpsRigError {
  constructor(
    readonly template: string,
    readonly region: string,
  ) {
    super(
      "LAUNCH_TEMPLATE_NOT_FOUND",
      "user",
      `launch template ${template} does not exist in ${region}: deploy the regional stack there (npm run deploy), or launch without --template`,
    );
  }
}

/** A rig launch template's default version is not a locked-down rig (someone edited it): refused. */
export class LaunchTemplateMismatchError extends OpsRigError {
  constructor(
    readonly template: string,
    readonly region: string,
    readonly version: number,
    readonly problems: readonly string[],
  ) {
    super(
      "LAUNCH_TEMPLATE_MISMATCH",
      "user",
      `launch template ${template} version ${version} in ${region} is not a locked-down rig: ${problems.join("; ")}. Refusing to launch from it; redeploy the regional stack to restore it`,
    );
  }
}

/**
 * The ops-rig API answered with an error: 4xx are the caller's to fix (exit 2, the message names the
 * fields the API refused), anything else is a system failure.
 */
export class ApiCallError extends OpsRigError {
  constructor(
    readonly url: string,
    readonly status: number,
    readonly apiCode: string,
    message: string,
    readonly problems: readonly { readonly field: string; readonly message: string }[] = [],
  ) {
    super(
      status >= 400 && status < 500 && status !== 429 ? "API_REFUSED" : "API_FAILED",
      status >= 400 && status < 500 && status !== 429 ? "user" : "system",
      `the ops-rig API at ${url} answered ${status} ${apiCode}: ${message}${problems.length > 0 ? ` (${problems.map((p) => `${p.field}: ${p.message}`).join("; ")})` : ""}`,
      { retryable: status === 429 || status >= 500 },
    );
  }
}

/** The toolset renders no cloud-init, so `launch --stock` has nothing to give the stock AMI. */
export class NoCloudInitError extends OpsRigError {
  constructor() {
    super(
      "NO_CLOUD_INIT",
      "user",
      "no toolset renders cloud-init (set cloudInit: true in recipes/light.yaml)",
    );
  }
}

/** Some actions of a command failed; the message counts them and the output lists them. */
export class ActionsFailedError extends OpsRigError {
  constructor(
    code: "RUN_FAILED" | "PRUNE_FAILED" | "ROLLBACK_FAILED" | "REMOTE_FAILED",
    message: string,
    options: ErrorOptions & { kind?: ErrorKind } = {},
  ) {
    super(code, options.kind ?? "system", message, options);
  }
}

/** Everything was done, but the run's notification could not be sent. */
export class NotificationFailedError extends OpsRigError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("NOTIFICATION_FAILED", "system", message, options);
  }

  override get exitCode(): number {
    return EXIT.notificationFailed;
  }
}

/** A broken promise inside ops-rig itself (a bug), never the user's or AWS's doing. */
export class InvariantError extends OpsRigError {
  constructor(message: string) {
    super("INTERNAL", "system", message);
  }
}

/** A local build step, process or tool failed. */
export class LocalRunError extends OpsRigError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, "system", message, options);
  }
}

export function isOpsRigError(error: unknown): error is OpsRigError {
  return error instanceof OpsRigError;
}

/** Any thrown value as an OpsRigError (a non-project error becomes an INTERNAL one, keeping it as cause). */
export function asOpsRigError(error: unknown): OpsRigError {
  if (error instanceof OpsRigError) return error;
  if (error instanceof Error && error.name === "AbortError")
    return new InterruptedError("interrupted", { cause: error });
  return new OpsRigError("UNEXPECTED", "system", errorMessage(error), { cause: error });
}

/** Process exit code for an error: 2 for user errors (bad usage, bad config), 1 otherwise. */
export function exitCodeFor(error: unknown): number {
  return isOpsRigError(error) ? error.exitCode : EXIT.failed;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
