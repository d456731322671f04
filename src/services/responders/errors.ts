import { OpsRigError } from "../../errors.js";

/** The instance (or snapshot, or rig) named on the command line does not exist in the region. */
export class ResourceNotFoundError extends OpsRigError {
  constructor(
    readonly resource: string,
    readonly region: string,
    hint = "",
  ) {
    super("RESOURCE_NOT_FOUND", "user", `${resource} does not exist in ${region}${hint ? `: ${hint}` : ""}`);
  }
}

/** The resource belongs to another case (its `ops-rig:case` tag): responders never move evidence between cases. */
export class CaseMismatchError extends OpsRigError {
  constructor(
    readonly resource: string,
    readonly expected: string,
    readonly actual: string | undefined,
  ) {
    super(
      "CASE_MISMATCH",
      "user",
      actual
        ? `${resource} belongs to case ${actual}, not ${expected} (--case)`
        : `${resource} is not part of case ${expected} (--case): run a command on the instance with this case first`,
    );
  }
}

/** The state of the world forbids the outcome (a stopped target for memory, no quarantine group, ...). */
export class ResponderRefusedError extends OpsRigError {
  constructor(
    code: string,
    message: string,
    readonly flag?: string,
  ) {
    super(code, "user", flag ? `${flag}: ${message}` : message);
  }
}

/** A destructive outcome needs a human's confirmation (`--yes`). */
export class ConfirmationRequiredError extends OpsRigError {
  constructor(message: string) {
    super("CONFIRMATION_REQUIRED", "user", message);
  }
}

/** Something ops-rig started on AWS's side (a snapshot, a Run Command) ended badly. */
export class ResponderFailedError extends OpsRigError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, "system", message, options);
  }
}
