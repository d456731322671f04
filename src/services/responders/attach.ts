import { FORENSIC } from "../../responders/contract.js";
import { audited, type CaseRequest, caseOf, findInstance, type ResponderDeps, sha256 } from "./common.js";
import {
  CaseMismatchError,
  ResourceNotFoundError,
  ResponderFailedError,
  ResponderRefusedError,
} from "./errors.js";
import type { InstanceInfo, SnapshotInfo, VolumeInfo } from "./ports.js";
import { RTAG } from "./tags.js";

export interface AttachRequest extends CaseRequest {
  /** A snapshot of the case (`snap-...`) or an instance whose case snapshots are attached (`i-...`). */
  readonly source: string;
  readonly rigId: string;
  readonly maxWaitMs?: number;
}

export interface AttachedEvidence {
  readonly snapshotId: string;
  readonly volumeId?: string;
  readonly device?: string;
  /** What the snapshot was taken of: `<instance> <device>`. */
  readonly origin: string;
  readonly status: "attached" | "already-attached" | "would-attach";
  /** The command to run on the rig to mount it read-only. */
  readonly mountCommand: string;
}

export interface AttachResult {
  readonly rigId: string;
  readonly region: string;
  readonly dryRun: boolean;
  readonly evidence: readonly AttachedEvidence[];
  readonly changes: readonly string[];
}

/** Devices EC2 accepts for extra EBS volumes on Linux; Nitro shows them as NVMe, found by volume id. */
const DEVICES = "fghijklmnop".split("").map((c) => `/dev/sd${c}`);

/** `/evidence/<case>/<name>`: the name says what the volume was. */
export function mountName(origin: { instance: string; device: string }): string {
  return `${origin.instance}-${origin.device.replace(/^\/dev\//, "").replace(/[^A-Za-z0-9._-]/g, "_")}`;
}

export function mountCommand(caseId: string, volumeId: string, name: string): string {
  return `sudo evidence-mount --case ${caseId} --volume ${volumeId} --name ${name}`;
}

/**
 * `ops-rig attach`: a volume from each of the case's snapshots, in the rig's availability zone,
 * tagged as an evidence copy of the case, attached to the rig. Volumes are created with a client
 * token from (case, snapshot, rig): a re-run after a crash gets the same volume, never a second one.
 */
export async function attach(deps: ResponderDeps, request: AttachRequest): Promise<AttachResult> {
  return audited(deps, { ...request, command: "attach", target: request.rigId }, async () => {
    const { region, caseId } = request;
    const rig = await findInstance(deps, region, request.rigId);
    if (rig.tags[RTAG.role] !== FORENSIC)
      throw new ResponderRefusedError(
        "NOT_A_RIG",
        `${rig.instanceId} is not a rig (no ${RTAG.role}=${FORENSIC} tag): evidence is attached to rigs only`,
        "--rig",
      );
    if (caseOf(rig.tags) !== caseId) throw new CaseMismatchError(rig.instanceId, caseId, caseOf(rig.tags));
    if (rig.state !== "running" && rig.state !== "stopped")
      throw new ResponderRefusedError("RIG_NOT_USABLE", `rig ${rig.instanceId} is ${rig.state}`, "--rig");
    const snapshots = await sourceSnapshots(deps, request);
    const changes: string[] = [];
    const evidence: AttachedEvidence[] = [];
    const used = new Set(rig.volumes.map((v) => v.device));
    for (const snap of snapshots) {
      const origin = {
        instance: snap.tags[RTAG.sourceInstance] ?? "unknown",
        device: snap.tags[RTAG.sourceDevice] ?? snap.volumeId,
      };
      const name = mountName(origin);
      const copies = await deps.port.volumesTagged(region, {
        [RTAG.case]: caseId,
        [RTAG.sourceSnapshot]: snap.snapshotId,
        [RTAG.rig]: rig.instanceId,
      });
      let volume: VolumeInfo | undefined = copies.find(
        (v) => v.state !== "deleting" && v.state !== "deleted" && v.state !== "error",
      );
      const onRig = volume ? rig.volumes.find((v) => v.volumeId === volume?.volumeId) : undefined;
      if (volume && onRig) {
        evidence.push({
          snapshotId: snap.snapshotId,
          volumeId: volume.volumeId,
          device: onRig.device,
          origin: `${origin.instance} ${origin.device}`,
          status: "already-attached",
          mountCommand: mountCommand(caseId, volume.volumeId, name),
        });
        continue;
      }
      if (request.dryRun) {
        changes.push(
          `${snap.snapshotId}: ${volume ? `attach ${volume.volumeId}` : "create an evidence copy and attach it"} to ${rig.instanceId}`,
        );
        evidence.push({
          snapshotId: snap.snapshotId,
          ...(volume ? { volumeId: volume.volumeId } : {}),
          origin: `${origin.instance} ${origin.device}`,
          status: "would-attach",
          mountCommand: mountCommand(caseId, volume?.volumeId ?? "<new volume>", name),
        });
        continue;
      }
      if (!volume) {
        volume = await deps.port.createVolume(region, {
          snapshotId: snap.snapshotId,
          availabilityZone: rig.availabilityZone,
          // ≤ 64 ASCII characters; same inputs, same volume.
          clientToken: `ops-rig-${sha256(`${caseId}\n${snap.snapshotId}\n${rig.instanceId}`).slice(0, 48)}`,
          tags: {
            Name: `ops-rig evidence ${caseId} ${origin.instance} ${origin.device}`.slice(0, 256),
            [RTAG.case]: caseId,
            [RTAG.evidenceCopy]: "true",
            [RTAG.sourceSnapshot]: snap.snapshotId,
            [RTAG.sourceInstance]: origin.instance,
            [RTAG.sourceDevice]: origin.device,
            [RTAG.rig]: rig.instanceId,
          },
        });
        changes.push(`${snap.snapshotId}: evidence copy ${volume.volumeId} in ${rig.availabilityZone}`);
        deps.events({
          type: "responder-change",
          region,
          resource: snap.snapshotId,
          change: `evidence copy ${volume.volumeId}`,
        });
      }
      volume = await waitAvailable(deps, request, volume);
      const device = DEVICES.find(
        (d) => !used.has(d) && !rig.volumes.some((v) => v.device === d.replace("/dev/sd", "/dev/xvd")),
      );
      if (!device)
        throw new ResponderRefusedError(
          "NO_FREE_DEVICE",
          `rig ${rig.instanceId} has no free device name (/dev/sdf-/dev/sdp)`,
          "--rig",
        );
      used.add(device);
      await deps.port.attachVolume(region, volume.volumeId, rig.instanceId, device);
      changes.push(`${volume.volumeId}: attach to ${rig.instanceId} as ${device}`);
      deps.events({
        type: "responder-change",
        region,
        resource: volume.volumeId,
        change: `attach to ${rig.instanceId} as ${device}`,
      });
      evidence.push({
        snapshotId: snap.snapshotId,
        volumeId: volume.volumeId,
        device,
        origin: `${origin.instance} ${origin.device}`,
        status: "attached",
        mountCommand: mountCommand(caseId, volume.volumeId, name),
      });
    }
    return { rigId: rig.instanceId, region, dryRun: Boolean(request.dryRun), evidence, changes };
  });
}

async function sourceSnapshots(deps: ResponderDeps, request: AttachRequest): Promise<SnapshotInfo[]> {
  const { region, caseId, source } = request;
  let snapshots: SnapshotInfo[];
  if (/^snap-[0-9a-f]{8,17}$/.test(source)) {
    const snap = await deps.port.snapshot(region, source);
    if (!snap) throw new ResourceNotFoundError(source, region);
    if (caseOf(snap.tags) !== caseId) throw new CaseMismatchError(source, caseId, caseOf(snap.tags));
    snapshots = [snap];
  } else if (/^i-[0-9a-f]{8,17}$/.test(source)) {
    snapshots = (
      await deps.port.snapshotsTagged(region, { [RTAG.case]: caseId, [RTAG.sourceInstance]: source })
    ).filter((s) => s.state !== "error");
    // One per source volume (the oldest: the one the custody chain recorded first).
    const byVolume = new Map<string, SnapshotInfo>();
    for (const s of snapshots.sort((a, b) => (a.startTime ?? "").localeCompare(b.startTime ?? "")))
      if (!byVolume.has(s.volumeId)) byVolume.set(s.volumeId, s);
    snapshots = [...byVolume.values()];
    if (snapshots.length === 0)
      throw new ResponderRefusedError(
        "NO_SNAPSHOTS",
        `case ${caseId} has no snapshots of ${source}: run ops-rig snapshot ${source} first`,
        "SOURCE",
      );
  } else {
    throw new ResponderRefusedError(
      "BAD_SOURCE",
      `"${source}" is neither a snapshot (snap-...) nor an instance (i-...)`,
      "SOURCE",
    );
  }
  const unfinished = snapshots.filter((s) => s.state !== "completed");
  if (unfinished.length > 0)
    throw new ResponderRefusedError(
      "SNAPSHOT_NOT_READY",
      `${unfinished.map((s) => `${s.snapshotId} is ${s.state} ${s.progress}`).join(", ")}: wait for it (ops-rig snapshot waits) and run attach again`,
    );
  return snapshots;
}

async function waitAvailable(
  deps: ResponderDeps,
  request: AttachRequest,
  volume: VolumeInfo,
): Promise<VolumeInfo> {
  const start = deps.now().getTime();
  let current = volume;
  while (current.state !== "available") {
    if (
      current.state === "in-use" ||
      current.state === "error" ||
      deps.now().getTime() - start > (request.maxWaitMs ?? 600_000)
    )
      throw new ResponderFailedError(
        "VOLUME_NOT_AVAILABLE",
        `${current.volumeId} is ${current.state}, not available; run attach again`,
      );
    deps.events({ type: "volume-waiting", volumeId: current.volumeId, state: current.state });
    await deps.sleep(deps.pollMs ?? 5_000);
    const [fresh] = await deps.port.volumes(request.region, [current.volumeId]);
    if (!fresh) throw new ResponderFailedError("VOLUME_NOT_AVAILABLE", `${current.volumeId} disappeared`);
    current = fresh;
  }
  return current;
}

export type { InstanceInfo };
