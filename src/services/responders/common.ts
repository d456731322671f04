import { asOpsRigError, type OpsRigError } from "../../errors.js";
import { sha256Hex } from "../../render/hash.js";
import { evidenceBucketName, evidencePrefix, isCaseId, NO_CASE } from "../../responders/contract.js";
import { CaseMismatchError, ResourceNotFoundError, ResponderRefusedError } from "./errors.js";
import type { InstanceInfo, ResponderPort } from "./ports.js";
import { RTAG } from "./tags.js";

export type ResponderCommand =
  | "inspect"
  | "isolate"
  | "release"
  | "snapshot"
  | "attach"
  | "capture-memory"
  | "ssh-route"
  | "terminate";

/** What a responder command reports while it works. The CLI renders them; the Lambda logs them. */
export type ResponderEvent =
  | {
      readonly type: "responder-change";
      readonly region: string;
      readonly resource: string;
      readonly change: string;
    }
  | { readonly type: "snapshot-progress"; readonly snapshotId: string; readonly progress: string }
  | { readonly type: "volume-waiting"; readonly volumeId: string; readonly state: string }
  | { readonly type: "command-waiting"; readonly commandId: string; readonly status: string }
  | { readonly type: "audit"; readonly record: AuditRecord }
  | { readonly type: "audit-failed"; readonly error: OpsRigError };

export type ResponderEvents = (event: ResponderEvent) => void;

export interface ResponderDeps {
  readonly port: ResponderPort;
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  readonly events: ResponderEvents;
  /** SNS topic for the audit event (the pipeline's notification topic); absent = the log only. */
  readonly auditTopicArn?: string;
  /** Poll interval while waiting for EC2 or Run Command (ms). */
  readonly pollMs?: number;
  /** The account whose evidence buckets keep evidence (the security account); the port's own when absent. */
  readonly evidenceAccount?: string;
  /** The member account the port acts in, and the role it assumed there (for error messages). */
  readonly target?: { readonly account: string; readonly roleArn?: string };
}

export interface CaseRequest {
  readonly caseId: string;
  readonly region: string;
  readonly dryRun?: boolean;
}

/** One change a command makes; a dry run lists them, a real run performs them in order. */
export interface Step {
  readonly resource: string;
  readonly change: string;
  readonly run: () => Promise<void>;
}

export interface AuditRecord {
  readonly kind: "ops-rig-responder";
  readonly command: ResponderCommand;
  readonly caseId: string;
  readonly region: string;
  readonly target: string;
  readonly actor: string;
  readonly at: string;
  readonly dryRun: boolean;
  readonly changes: readonly string[];
  readonly outcome: "done" | "nothing-to-do" | "failed";
  readonly error?: string;
}

export function checkCase(caseId: string): void {
  if (!isCaseId(caseId)) {
    throw new ResponderRefusedError(
      "BAD_CASE_ID",
      `"${caseId}" is not a case id: 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit, not "${NO_CASE}"`,
      "--case",
    );
  }
}

export async function findInstance(
  deps: ResponderDeps,
  region: string,
  instanceId: string,
): Promise<InstanceInfo> {
  if (!/^i-[0-9a-f]{8,17}$/.test(instanceId))
    throw new ResponderRefusedError(
      "BAD_INSTANCE_ID",
      `"${instanceId}" is not an instance id (i-...)`,
      "INSTANCE",
    );
  const instance = await deps.port.instance(region, instanceId);
  if (!instance)
    throw new ResourceNotFoundError(
      instanceId,
      region,
      deps.target
        ? `not in account ${deps.target.account}${deps.target.roleArn ? ` (seen through ${deps.target.roleArn})` : ""}: check --account and --region`
        : "give the instance's region with --region",
    );
  return instance;
}

/** A case tag of another case is never overwritten; `none` (a rig launched without a case) is not a case. */
export function caseOf(tags: Readonly<Record<string, string>>): string | undefined {
  const value = tags[RTAG.case];
  return value && value !== NO_CASE ? value : undefined;
}

/**
 * Steps that bring the instance, its interfaces and volumes into the case (the roles act only on
 * resources tagged with the session's case). Refuses anything already in another case.
 */
export async function adoptSteps(
  deps: ResponderDeps,
  request: CaseRequest,
  instance: InstanceInfo,
): Promise<Step[]> {
  const { region, caseId } = request;
  const current = caseOf(instance.tags);
  if (current && current !== caseId) throw new CaseMismatchError(instance.instanceId, caseId, current);
  const untagged: string[] = [];
  if (!current) untagged.push(instance.instanceId);
  for (const eni of instance.interfaces) {
    const c = caseOf(eni.tags);
    if (c && c !== caseId) throw new CaseMismatchError(eni.interfaceId, caseId, c);
    if (!c) untagged.push(eni.interfaceId);
  }
  const volumes = await deps.port.volumes(
    region,
    instance.volumes.map((v) => v.volumeId),
  );
  for (const volume of volumes) {
    const c = caseOf(volume.tags);
    if (c && c !== caseId) throw new CaseMismatchError(volume.volumeId, caseId, c);
    if (!c) untagged.push(volume.volumeId);
  }
  if (untagged.length === 0) return [];
  return [
    {
      resource: untagged.join(", "),
      change: `tag ${RTAG.case}=${caseId}`,
      run: () => deps.port.tag(region, untagged, { [RTAG.case]: caseId }),
    },
  ];
}

/** Runs the steps in order (a dry run only lists them) and emits one event per change. */
export async function runSteps(
  deps: ResponderDeps,
  request: CaseRequest,
  steps: readonly Step[],
): Promise<string[]> {
  const done: string[] = [];
  for (const step of steps) {
    const text = `${step.resource}: ${step.change}`;
    if (!request.dryRun) {
      await step.run();
      deps.events({
        type: "responder-change",
        region: request.region,
        resource: step.resource,
        change: step.change,
      });
    }
    done.push(text);
  }
  return done;
}

/**
 * The one audit event of a command: the log (as an event) and SNS. A failed publish is reported,
 * never hiding the command's own outcome: the changes are done and recorded in tags either way.
 */
export async function audit(
  deps: ResponderDeps,
  fields: Omit<AuditRecord, "kind" | "at" | "actor"> & { readonly actor?: string },
): Promise<AuditRecord> {
  const record: AuditRecord = {
    kind: "ops-rig-responder",
    at: deps.now().toISOString(),
    actor: fields.actor ?? "unknown",
    ...fields,
  };
  deps.events({ type: "audit", record });
  if (deps.auditTopicArn && !record.dryRun) {
    try {
      await deps.port.publish(
        deps.auditTopicArn,
        `ops-rig ${record.command} ${record.target} (case ${record.caseId})`.slice(0, 99),
        JSON.stringify(record),
      );
    } catch (error) {
      deps.events({ type: "audit-failed", error: asOpsRigError(error) });
    }
  }
  return record;
}

/** Runs a command body and audits it once, whether it succeeds or fails. */
export async function audited<T extends { readonly changes: readonly string[] }>(
  deps: ResponderDeps,
  request: CaseRequest & { readonly command: ResponderCommand; readonly target: string },
  body: () => Promise<T>,
): Promise<T & { readonly audit: AuditRecord }> {
  checkCase(request.caseId);
  let actor: string | undefined;
  try {
    actor = (await deps.port.identity(request.region)).arn;
    const result = await body();
    const record = await audit(deps, {
      command: request.command,
      caseId: request.caseId,
      region: request.region,
      target: request.target,
      actor,
      dryRun: Boolean(request.dryRun),
      changes: result.changes,
      outcome: result.changes.length > 0 ? "done" : "nothing-to-do",
    });
    return { ...result, audit: record };
  } catch (error) {
    const e = asOpsRigError(error);
    await audit(deps, {
      command: request.command,
      caseId: request.caseId,
      region: request.region,
      target: request.target,
      ...(actor ? { actor } : {}),
      dryRun: Boolean(request.dryRun),
      changes: [],
      outcome: "failed",
      error: e.message,
    });
    throw error;
  }
}

export interface EvidenceLocation {
  readonly bucket: string;
  readonly prefix: string;
  readonly actor: string;
}

export async function evidenceLocation(deps: ResponderDeps, request: CaseRequest): Promise<EvidenceLocation> {
  const who = await deps.port.identity(request.region);
  return {
    // Member-account sessions write to the security account's bucket of the same region.
    bucket: evidenceBucketName(deps.evidenceAccount ?? who.account, request.region),
    prefix: evidencePrefix(request.caseId),
    actor: who.arn,
  };
}

/** One chain-of-custody entry: an object per artefact, so a write-only bucket never needs a read. */
export interface CustodyRecord {
  readonly caseId: string;
  readonly artefact: string;
  readonly kind: "inspect-report" | "ebs-snapshot" | "memory-capture" | "termination";
  readonly region: string;
  readonly source: string;
  readonly sha256?: string;
  readonly snapshotId?: string;
  readonly location?: string;
  readonly recordedBy: string;
  readonly at: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export function custodyKey(location: EvidenceLocation, name: string): string {
  return `${location.prefix}custody/${name}.json`;
}

export function custodyStep(
  deps: ResponderDeps,
  region: string,
  location: EvidenceLocation,
  name: string,
  record: CustodyRecord,
): Step {
  const key = custodyKey(location, name);
  return {
    resource: `s3://${location.bucket}/${key}`,
    change: `record ${record.kind} ${record.artefact} in the chain of custody`,
    run: () =>
      deps.port.putObject(region, {
        bucket: location.bucket,
        key,
        body: `${JSON.stringify(record, null, 2)}\n`,
        contentType: "application/json",
      }),
  };
}

export const sha256 = (text: string): string => sha256Hex(text);

export function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/**
 * The instance's own region: the one given, else the first candidate where it exists (the
 * environment's region, then the pipeline's). Responders work where the instance is.
 */
export async function locateInstance(
  port: Pick<ResponderPort, "instance">,
  instanceId: string,
  candidates: readonly string[],
  target?: ResponderDeps["target"],
): Promise<string> {
  if (!/^i-[0-9a-f]{8,17}$/.test(instanceId))
    throw new ResponderRefusedError(
      "BAD_INSTANCE_ID",
      `"${instanceId}" is not an instance id (i-...)`,
      "INSTANCE",
    );
  const regions = [...new Set(candidates.filter(Boolean))];
  for (const region of regions) if (await port.instance(region, instanceId)) return region;
  throw new ResourceNotFoundError(
    instanceId,
    regions.join(", ") || "any region",
    target
      ? `not in account ${target.account}${target.roleArn ? ` (seen through ${target.roleArn})` : ""}: check --account, or name its region with --region`
      : "name its region with --region",
  );
}
