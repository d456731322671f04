import {
  adoptSteps,
  audited,
  type CaseRequest,
  caseOf,
  findInstance,
  type ResponderDeps,
  runSteps,
  type Step,
  sameSet,
} from "./common.js";
import { CaseMismatchError, ResponderRefusedError } from "./errors.js";
import type { FlowLogInfo, InstanceInfo } from "./ports.js";
import { chunkKeys, chunkTag, RTAG, readChunks } from "./tags.js";

export interface IsolateRequest extends CaseRequest {
  readonly instanceId: string;
}

/** Why a group swap is not enough, and what to do: the report says it every time. */
export const TRACKED_CONNECTIONS_NOTE = [
  "Connections already established through the old groups are tracked and keep flowing after the swap:",
  "a security group change does not cut them (only rules open to 0.0.0.0/0 and ::/0 both ways are untracked).",
  "To cut them now: add DENY entries to the subnet's network ACL (stateless: applies at once, to the whole subnet),",
  "or stop the instance after its memory is captured. The flow logs below show which connections were open.",
] as const;

export interface IsolateResult {
  readonly instanceId: string;
  readonly region: string;
  readonly dryRun: boolean;
  readonly quarantineGroups: readonly string[];
  readonly previous: readonly { readonly interfaceId: string; readonly groups: readonly string[] }[];
  readonly previousProfile?: string;
  readonly changes: readonly string[];
  readonly flowLogs: readonly FlowLogInfo[];
  /** Interfaces with no flow log on them, their subnet or VPC: their connections cannot be listed. */
  readonly unlogged: readonly string[];
  readonly note: readonly string[];
}

/**
 * `ops-rig isolate`: every interface gets ops-rig's quarantine group only, the instance loses its
 * profile. What it had is written to tags first, so `release` restores it exactly and a crash in
 * between leaves nothing unrecorded.
 */
export async function isolate(deps: ResponderDeps, request: IsolateRequest): Promise<IsolateResult> {
  return audited(deps, { ...request, command: "isolate", target: request.instanceId }, async () => {
    const { region } = request;
    const instance = await findInstance(deps, region, request.instanceId);
    if (instance.state === "terminated" || instance.state === "shutting-down")
      throw new ResponderRefusedError("INSTANCE_GONE", `${instance.instanceId} is ${instance.state}`);
    const steps: Step[] = await adoptSteps(deps, request, instance);
    const quarantine = new Map<string, string>();
    for (const vpcId of new Set(instance.interfaces.map((e) => e.vpcId))) {
      const group = await deps.port.managedGroup(region, vpcId, "quarantine");
      if (!group)
        throw new ResponderRefusedError(
          "NO_QUARANTINE_GROUP",
          `${vpcId} in ${region} has no ops-rig quarantine group (tagged ops-rig:purpose=quarantine): add the VPC to the regional stack's quarantine VPCs and deploy`,
        );
      quarantine.set(vpcId, group.groupId);
    }
    const previous: { interfaceId: string; groups: string[] }[] = [];
    for (const eni of instance.interfaces) {
      const target = quarantine.get(eni.vpcId) ?? "";
      const current = eni.groups.map((g) => g.groupId);
      if (sameSet(current, [target])) {
        previous.push({
          interfaceId: eni.interfaceId,
          groups: (readChunks(eni.tags, RTAG.previousGroups) ?? "").split(" ").filter(Boolean),
        });
        continue;
      }
      previous.push({ interfaceId: eni.interfaceId, groups: current });
      const recorded = readChunks(eni.tags, RTAG.previousGroups);
      if (recorded !== current.join(" ")) {
        const tags = chunkTag(RTAG.previousGroups, current.join(" "));
        steps.push({
          resource: eni.interfaceId,
          change: `record previous groups ${current.join(" ")}`,
          run: () => deps.port.tag(region, [eni.interfaceId], tags),
        });
      }
      steps.push({
        resource: eni.interfaceId,
        change: `swap groups ${current.join(" ")} → ${target} (quarantine)`,
        run: () => deps.port.setInterfaceGroups(region, eni.interfaceId, [target]),
      });
    }
    const profile = instance.instanceProfile;
    if (profile?.associationId) {
      const associationId = profile.associationId;
      if (readChunks(instance.tags, RTAG.previousProfile) !== profile.arn) {
        const tags = chunkTag(RTAG.previousProfile, profile.arn);
        steps.push({
          resource: instance.instanceId,
          change: `record previous instance profile ${profile.arn}`,
          run: () => deps.port.tag(region, [instance.instanceId], tags),
        });
      }
      steps.push({
        resource: instance.instanceId,
        change: `disassociate instance profile ${profile.arn}`,
        run: () => deps.port.disassociateProfile(region, associationId),
      });
    }
    if (instance.tags[RTAG.quarantined] !== "true") {
      steps.push({
        resource: instance.instanceId,
        change: `tag ${RTAG.quarantined}=true`,
        run: () => deps.port.tag(region, [instance.instanceId], { [RTAG.quarantined]: "true" }),
      });
    }
    const changes = await runSteps(deps, request, steps);
    const { flowLogs, unlogged } = await flowLogsOf(deps, region, instance);
    const previousProfile = profile?.arn ?? readChunks(instance.tags, RTAG.previousProfile);
    return {
      instanceId: instance.instanceId,
      region,
      dryRun: Boolean(request.dryRun),
      quarantineGroups: [...new Set(quarantine.values())],
      previous,
      ...(previousProfile ? { previousProfile } : {}),
      changes,
      flowLogs,
      unlogged,
      note: TRACKED_CONNECTIONS_NOTE,
    };
  });
}

export async function flowLogsOf(
  deps: ResponderDeps,
  region: string,
  instance: InstanceInfo,
): Promise<{ flowLogs: FlowLogInfo[]; unlogged: string[] }> {
  const ids = [...instance.interfaces.flatMap((e) => [e.interfaceId, e.subnetId, e.vpcId])].filter(
    (v, i, all) => v && all.indexOf(v) === i,
  );
  const flowLogs = ids.length > 0 ? await deps.port.flowLogs(region, ids) : [];
  const covered = new Set(flowLogs.map((f) => f.resourceId));
  const unlogged = instance.interfaces
    .filter((e) => !covered.has(e.interfaceId) && !covered.has(e.subnetId) && !covered.has(e.vpcId))
    .map((e) => e.interfaceId);
  return { flowLogs, unlogged };
}

export interface ReleaseResult {
  readonly instanceId: string;
  readonly region: string;
  readonly dryRun: boolean;
  readonly restored: readonly { readonly interfaceId: string; readonly groups: readonly string[] }[];
  readonly restoredProfile?: string;
  readonly changes: readonly string[];
}

/** `ops-rig release`: the exact groups and profile `isolate` recorded, then the records go. */
export async function release(deps: ResponderDeps, request: IsolateRequest): Promise<ReleaseResult> {
  return audited(deps, { ...request, command: "release", target: request.instanceId }, async () => {
    const { region } = request;
    const instance = await findInstance(deps, region, request.instanceId);
    const current = caseOf(instance.tags);
    if (current !== request.caseId) throw new CaseMismatchError(instance.instanceId, request.caseId, current);
    const steps: Step[] = [];
    const restored: { interfaceId: string; groups: string[] }[] = [];
    for (const eni of instance.interfaces) {
      const recorded = readChunks(eni.tags, RTAG.previousGroups);
      if (recorded === undefined) continue;
      const groups = recorded.split(" ").filter(Boolean);
      restored.push({ interfaceId: eni.interfaceId, groups });
      if (
        groups.length > 0 &&
        !sameSet(
          eni.groups.map((g) => g.groupId),
          groups,
        )
      ) {
        steps.push({
          resource: eni.interfaceId,
          change: `restore groups ${groups.join(" ")}`,
          run: () => deps.port.setInterfaceGroups(region, eni.interfaceId, groups),
        });
      }
      const keys = chunkKeys(eni.tags, RTAG.previousGroups);
      steps.push({
        resource: eni.interfaceId,
        change: `remove ${keys.join(", ")}`,
        run: () => deps.port.untag(region, [eni.interfaceId], keys),
      });
    }
    const profile = readChunks(instance.tags, RTAG.previousProfile);
    if (profile !== undefined) {
      if (!instance.instanceProfile) {
        steps.push({
          resource: instance.instanceId,
          change: `associate instance profile ${profile}`,
          run: () => deps.port.associateProfile(region, instance.instanceId, profile),
        });
      } else if (instance.instanceProfile.arn !== profile) {
        throw new ResponderRefusedError(
          "PROFILE_CHANGED",
          `${instance.instanceId} has profile ${instance.instanceProfile.arn} now, not the recorded ${profile}: someone changed it since isolate; fix it by hand`,
        );
      }
      const keys = chunkKeys(instance.tags, RTAG.previousProfile);
      steps.push({
        resource: instance.instanceId,
        change: `remove ${keys.join(", ")}`,
        run: () => deps.port.untag(region, [instance.instanceId], keys),
      });
    }
    if (instance.tags[RTAG.quarantined] !== undefined) {
      steps.push({
        resource: instance.instanceId,
        change: `remove ${RTAG.quarantined}`,
        run: () => deps.port.untag(region, [instance.instanceId], [RTAG.quarantined]),
      });
    }
    const changes = await runSteps(deps, request, steps);
    return {
      instanceId: instance.instanceId,
      region,
      dryRun: Boolean(request.dryRun),
      restored,
      ...(profile ? { restoredProfile: profile } : {}),
      changes,
    };
  });
}
