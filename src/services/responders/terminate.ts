import { FORENSIC } from "../../responders/contract.js";
import {
  audited,
  type CaseRequest,
  caseOf,
  custodyStep,
  evidenceLocation,
  findInstance,
  type ResponderDeps,
  runSteps,
} from "./common.js";
import { CaseMismatchError, ConfirmationRequiredError, ResponderRefusedError } from "./errors.js";
import { caseSnapshotOf } from "./snapshot.js";
import { RTAG } from "./tags.js";

export interface TerminateRequest extends CaseRequest {
  readonly instanceId: string;
  /** Terminate even when a volume has no snapshot in the case. */
  readonly withoutEvidence?: boolean;
  /** A human confirmed (the CLI asks, or `--yes`). */
  readonly confirmed?: boolean;
}

export interface TerminateResult {
  readonly instanceId: string;
  readonly region: string;
  readonly dryRun: boolean;
  readonly state: string;
  readonly evidence: readonly {
    readonly volumeId: string;
    readonly device: string;
    readonly snapshotId?: string;
  }[];
  readonly changes: readonly string[];
}

/**
 * `ops-rig terminate`: only an instance of the case that is quarantined (or one of the case's rigs),
 * only when every volume has a snapshot in the case (or `withoutEvidence`), only when confirmed. What
 * was terminated is recorded in the chain of custody before the call.
 */
export async function terminate(deps: ResponderDeps, request: TerminateRequest): Promise<TerminateResult> {
  return audited(deps, { ...request, command: "terminate", target: request.instanceId }, async () => {
    const { region, caseId } = request;
    const instance = await findInstance(deps, region, request.instanceId);
    if (caseOf(instance.tags) !== caseId)
      throw new CaseMismatchError(instance.instanceId, caseId, caseOf(instance.tags));
    const base = {
      instanceId: instance.instanceId,
      region,
      dryRun: Boolean(request.dryRun),
      state: instance.state,
    };
    if (instance.state === "terminated" || instance.state === "shutting-down")
      return { ...base, evidence: [], changes: [] };
    const rig = instance.tags[RTAG.role] === FORENSIC;
    if (!rig && instance.tags[RTAG.quarantined] !== "true")
      throw new ResponderRefusedError(
        "NOT_QUARANTINED",
        `${instance.instanceId} is not quarantined: run ops-rig isolate first (workloads are terminated only from quarantine)`,
      );
    const evidence = [];
    for (const v of instance.volumes) {
      const snap = await caseSnapshotOf(deps, region, caseId, v.volumeId);
      evidence.push({
        volumeId: v.volumeId,
        device: v.device,
        ...(snap ? { snapshotId: snap.snapshotId } : {}),
      });
    }
    const missing = evidence.filter((e) => !e.snapshotId);
    if (missing.length > 0 && !rig && !request.withoutEvidence)
      throw new ResponderRefusedError(
        "NO_EVIDENCE",
        `case ${caseId} has no snapshot of ${missing.map((m) => `${m.volumeId} (${m.device})`).join(", ")}: run ops-rig snapshot ${instance.instanceId}, or pass --without-evidence`,
        "--without-evidence",
      );
    if (!request.confirmed && !request.dryRun)
      throw new ConfirmationRequiredError(
        `terminating ${instance.instanceId} in ${region} cannot be undone: confirm, or pass --yes`,
      );
    const location = await evidenceLocation(deps, request);
    const steps = [
      custodyStep(deps, region, location, `terminated-${instance.instanceId}`, {
        caseId,
        artefact: instance.instanceId,
        kind: "termination",
        region,
        source: instance.instanceId,
        recordedBy: location.actor,
        at: deps.now().toISOString(),
        details: {
          instanceType: instance.instanceType,
          imageId: instance.imageId,
          launchTime: instance.launchTime,
          privateIp: instance.privateIp,
          evidence,
          withoutEvidence: missing.length > 0,
        },
      }),
      {
        resource: instance.instanceId,
        change: "terminate",
        run: () => deps.port.terminate(region, instance.instanceId),
      },
    ];
    const changes = await runSteps(deps, request, steps);
    return { ...base, state: request.dryRun ? instance.state : "shutting-down", evidence, changes };
  });
}
