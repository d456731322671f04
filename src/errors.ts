/**
 * One small error hierarchy with stable codes. User errors (bad config, bad flags) exit 2 and name
 * the file/field/flag; system errors (AWS, processes) exit 1 and name the call and region.
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

export class OpsRigError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;

  constructor(code: string, kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.kind = kind;
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

/** A command-line flag or argument is invalid. */
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
  readonly retryable: boolean;

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
      options,
    );
    this.service = init.service;
    this.operation = init.operation;
    this.region = init.region;
    this.awsCode = init.awsCode;
    this.retryable = init.retryable ?? false;
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

/** Process exit code for an error: 2 for user errors (bad usage, bad config), 1 otherwise. */
export function exitCodeFor(error: unknown): 1 | 2 {
  return isOpsRigError(error) && error.kind === "user" ? 2 : 1;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
