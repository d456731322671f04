/** The record of every call made to the local AWS, so tests can count calls ("a re-run mutates nothing"). */

export type RecordedService = "ec2" | "ssm" | "sns" | "sts" | "iam" | "sqs" | "imagebuilder";

export interface CallRecord {
  service: RecordedService;
  action: string;
  region: string;
  mutating: boolean;
  status: number;
  /** Wall-clock time (ms since the epoch) the request arrived. */
  at: number;
  /** Set when the local AWS answered in place of moto or the emulator's normal logic. */
  injected?: "error" | "throttle" | "dropped-parameter" | "pending-copy";
}

/**
 * Verbs whose calls change state. A prefix counts only as a whole word of the PascalCase action:
 * `Tag` matches TagResource but not a hypothetical Tagline, `Put` matches PutParameter.
 */
const MUTATING_VERBS = [
  "Accept",
  "Add",
  "Allocate",
  "Apply",
  "Assign",
  "Associate",
  "Attach",
  "Authorize",
  "Cancel",
  "Change",
  "Confirm",
  "Copy",
  "Create",
  "Delete",
  "Deprecate",
  "Deregister",
  "Detach",
  "Disable",
  "Disassociate",
  "Enable",
  "Export",
  "Import",
  "Label",
  "Modify",
  "Publish",
  "Purge",
  "Put",
  "Reboot",
  "Register",
  "Reject",
  "Release",
  "Remove",
  "Replace",
  "Reset",
  "Restore",
  "Retry",
  "Revoke",
  "Run",
  "Send",
  "Set",
  "Start",
  "Stop",
  "Subscribe",
  "Tag",
  "Terminate",
  "Unassign",
  "Unlabel",
  "Unsubscribe",
  "Untag",
  "Update",
] as const;

export function isMutatingAction(action: string): boolean {
  const verb = /^[A-Z][a-z]+/.exec(action)?.[0];
  return verb !== undefined && (MUTATING_VERBS as readonly string[]).includes(verb);
}

export class CallLog {
  private records: CallRecord[] = [];

  add(record: CallRecord): void {
    this.records.push(record);
  }

  all(): readonly CallRecord[] {
    return this.records.map((r) => ({ ...r }));
  }

  clear(): void {
    this.records = [];
  }
}

/** Region and service from a SigV4 Authorization header's credential scope. */
export function credentialScope(
  authorization: string | undefined,
): { region: string; service: string } | undefined {
  const match = /Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(authorization ?? "");
  if (!match?.[1] || !match[2]) return undefined;
  return { region: match[1], service: match[2] };
}
