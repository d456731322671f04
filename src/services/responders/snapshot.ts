import {
  adoptSteps,
  audited,
  type CaseRequest,
  custodyStep,
  evidenceLocation,
  findInstance,
  type ResponderDeps,
  runSteps,
  type Step,
} from "./common.js";
import { ResponderFailedError } from "./errors.js";
import type { SnapshotInfo } from "./ports.js";
import { RTAG, userTags } from "./tags.js";

export interface SnapshotRequest extends CaseRequest {
  readonly instanceId: string;
  /** Wait until every snapshot is `completed` (with progress events). Default true. */
  readonly wait?: boolean;
  /** Give up waiting after this long (ms); the snapshots go on, a re-run picks them up. */
  readonly maxWaitMs?: number;
}

export interface SnapshotRow {
  readonly volumeId: string;
  readonly device: string;
  readonly snapshotId?: string;
  readonly state: string;
  readonly progress: string;
  readonly reused: boolean;
}

export interface SnapshotResult {
  readonly instanceId: string;
  readonly region: string;
  readonly dryRun: boolean;
  readonly snapshots: readonly SnapshotRow[];
  readonly changes: readonly string[];
}

/** The case's snapshot of a volume: reused by re-runs, found by tags (state lives in AWS). */
export async function caseSnapshotOf(
  deps: ResponderDeps,
  region: string,
  caseId: string,
  volumeId: string,
): Promise<SnapshotInfo | undefined> {
  const found = await deps.port.snapshotsTagged(region, {
    [RTAG.case]: caseId,
    [RTAG.sourceVolume]: volumeId,
  });
  return found
    .filter((s) => s.state !== "error")
    .sort((a, b) => (a.startTime ?? "").localeCompare(b.startTime ?? ""))[0];
}

/**
 * `ops-rig snapshot`: one snapshot per attached volume, tagged at creation with the volume's tags and
 * the case, each with a chain-of-custody entry. A re-run reuses the case's snapshots.
 */
export async function snapshot(deps: ResponderDeps, request: SnapshotRequest): Promise<SnapshotResult> {
  return audited(deps, { ...request, command: "snapshot", target: request.instanceId }, async () => {
    const { region, caseId } = request;
    const instance = await findInstance(deps, region, request.instanceId);
    const steps: Step[] = await adoptSteps(deps, request, instance);
    const changes = await runSteps(deps, request, steps);
    const volumes = await deps.port.volumes(
      region,
      instance.volumes.map((v) => v.volumeId),
    );
    const location = await evidenceLocation(deps, request);
    const rows: SnapshotRow[] = [];
    const made: SnapshotInfo[] = [];
    for (const attached of instance.volumes) {
      const volume = volumes.find((v) => v.volumeId === attached.volumeId);
      const custody = (s: SnapshotInfo) =>
        custodyStep(deps, region, location, `snapshot-${s.snapshotId}`, {
          caseId,
          artefact: s.snapshotId,
          kind: "ebs-snapshot",
          region,
          source: `${instance.instanceId}:${attached.device}:${attached.volumeId}`,
          snapshotId: s.snapshotId,
          recordedBy: s.tags[RTAG.recordedBy] ?? location.actor,
          at: s.startTime ?? "unknown",
          details: {
            volumeSizeGiB: volume?.sizeGiB,
            encrypted: volume?.encrypted,
            kmsKeyId: volume?.kmsKeyId,
          },
        });
      const existing = await caseSnapshotOf(deps, region, caseId, attached.volumeId);
      if (existing) {
        rows.push({
          volumeId: attached.volumeId,
          device: attached.device,
          snapshotId: existing.snapshotId,
          state: existing.state,
          progress: existing.progress,
          reused: true,
        });
        made.push(existing);
        // The bucket is write-only: a custody entry cannot be checked, so it is written again,
        // byte for byte the same (a crash may have come between the snapshot and its entry).
        if (!request.dryRun) await custody(existing).run();
        continue;
      }
      if (request.dryRun) {
        changes.push(`${attached.volumeId}: snapshot (${attached.device} of ${instance.instanceId})`);
        rows.push({
          volumeId: attached.volumeId,
          device: attached.device,
          state: "would-create",
          progress: "",
          reused: false,
        });
        continue;
      }
      const tags = {
        ...userTags(volume?.tags ?? {}),
        Name: `ops-rig ${caseId} ${instance.instanceId} ${attached.device}`.slice(0, 256),
        [RTAG.case]: caseId,
        [RTAG.sourceVolume]: attached.volumeId,
        [RTAG.sourceInstance]: instance.instanceId,
        [RTAG.sourceDevice]: attached.device,
        [RTAG.recordedBy]: location.actor.slice(0, 256),
      };
      const created = await deps.port.createSnapshot(region, {
        volumeId: attached.volumeId,
        description: `ops-rig case ${caseId}: ${instance.instanceId} ${attached.device}`.slice(0, 255),
        tags,
      });
      const change = `${attached.volumeId}: snapshot ${created.snapshotId} (${attached.device})`;
      deps.events({
        type: "responder-change",
        region,
        resource: attached.volumeId,
        change: `snapshot ${created.snapshotId}`,
      });
      changes.push(change);
      // Custody right away: the snapshot id is the evidence, whether or not this run waits for it.
      changes.push(...(await runSteps(deps, request, [custody(created)])));
      rows.push({
        volumeId: attached.volumeId,
        device: attached.device,
        snapshotId: created.snapshotId,
        state: created.state,
        progress: created.progress,
        reused: false,
      });
      made.push(created);
    }
    const finalRows =
      request.dryRun || request.wait === false ? rows : await waitForSnapshots(deps, request, rows);
    return {
      instanceId: instance.instanceId,
      region,
      dryRun: Boolean(request.dryRun),
      snapshots: finalRows,
      changes,
    };
  });
}

async function waitForSnapshots(
  deps: ResponderDeps,
  request: SnapshotRequest,
  rows: SnapshotRow[],
): Promise<SnapshotRow[]> {
  const start = deps.now().getTime();
  const maxWait = request.maxWaitMs ?? 6 * 3600_000;
  let current = rows;
  for (;;) {
    const pending = current.filter((r) => r.snapshotId && r.state === "pending");
    const failed = current.filter((r) => r.state === "error");
    if (failed.length > 0)
      throw new ResponderFailedError(
        "SNAPSHOT_FAILED",
        `snapshot ${failed.map((r) => r.snapshotId).join(", ")} failed; a re-run makes a new one`,
      );
    if (pending.length === 0 || deps.now().getTime() - start >= maxWait) return current;
    await deps.sleep(deps.pollMs ?? 15_000);
    const next: SnapshotRow[] = [];
    for (const row of current) {
      if (!row.snapshotId || row.state !== "pending") {
        next.push(row);
        continue;
      }
      const fresh = await deps.port.snapshot(request.region, row.snapshotId);
      const updated = { ...row, state: fresh?.state ?? "missing", progress: fresh?.progress ?? "" };
      if (updated.progress !== row.progress || updated.state !== row.state)
        deps.events({
          type: "snapshot-progress",
          snapshotId: row.snapshotId,
          progress: `${updated.state} ${updated.progress}`,
        });
      next.push(updated);
    }
    current = next;
  }
}
