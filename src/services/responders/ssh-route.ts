import { FORENSIC } from "../../responders/contract.js";
import {
  adoptSteps,
  audited,
  type CaseRequest,
  caseOf,
  findInstance,
  type ResponderDeps,
  runSteps,
  type Step,
} from "./common.js";
import { CaseMismatchError, ResponderRefusedError } from "./errors.js";
import { RTAG } from "./tags.js";

export interface SshRouteRequest extends CaseRequest {
  readonly instanceId: string;
  readonly rigId: string;
  readonly remove?: boolean;
}

export interface SshRouteResult {
  readonly instanceId: string;
  readonly rigId: string;
  readonly region: string;
  readonly dryRun: boolean;
  readonly interfaceId: string;
  readonly routeGroup: string;
  readonly open: boolean;
  readonly sameVpc: boolean;
  readonly targetAddress?: string;
  readonly changes: readonly string[];
}

/**
 * `ops-rig ssh-route`: the ops-rig SSH-route group (SSH from the responders' prefix list only) joins
 * the target's primary interface, next to its groups. The interface is tagged with the rig first, so
 * `--remove` takes away only a route it opened, and a crash in between is finished by a re-run.
 */
export async function sshRoute(deps: ResponderDeps, request: SshRouteRequest): Promise<SshRouteResult> {
  return audited(deps, { ...request, command: "ssh-route", target: request.instanceId }, async () => {
    const { region, caseId } = request;
    const target = await findInstance(deps, region, request.instanceId);
    const rig = await findInstance(deps, region, request.rigId);
    if (rig.tags[RTAG.role] !== FORENSIC)
      throw new ResponderRefusedError(
        "NOT_A_RIG",
        `${rig.instanceId} is not a rig (no ${RTAG.role}=${FORENSIC} tag)`,
        "--rig",
      );
    if (caseOf(rig.tags) !== caseId) throw new CaseMismatchError(rig.instanceId, caseId, caseOf(rig.tags));
    const eni = target.interfaces[0];
    if (!eni)
      throw new ResponderRefusedError("NO_INTERFACE", `${target.instanceId} has no network interface`);
    const group = await deps.port.managedGroup(region, eni.vpcId, "ssh-route");
    if (!group)
      throw new ResponderRefusedError(
        "NO_SSH_ROUTE_GROUP",
        `${eni.vpcId} in ${region} has no ops-rig SSH-route group (tagged ops-rig:purpose=ssh-route): add the VPC to the regional stack and deploy`,
      );
    const current = eni.groups.map((g) => g.groupId);
    const has = current.includes(group.groupId);
    const steps: Step[] = [];
    if (request.remove) {
      const ours = eni.tags[RTAG.sshRoute];
      if (ours !== undefined && has) {
        steps.push({
          resource: eni.interfaceId,
          change: `remove group ${group.groupId} (ssh-route)`,
          run: () =>
            deps.port.setInterfaceGroups(
              region,
              eni.interfaceId,
              current.filter((g) => g !== group.groupId),
            ),
        });
      }
      if (ours !== undefined) {
        steps.push({
          resource: eni.interfaceId,
          change: `remove ${RTAG.sshRoute}`,
          run: () => deps.port.untag(region, [eni.interfaceId], [RTAG.sshRoute]),
        });
      }
    } else {
      steps.push(...(await adoptSteps(deps, request, target)));
      if (eni.tags[RTAG.sshRoute] !== rig.instanceId)
        steps.push({
          resource: eni.interfaceId,
          change: `tag ${RTAG.sshRoute}=${rig.instanceId}`,
          run: () => deps.port.tag(region, [eni.interfaceId], { [RTAG.sshRoute]: rig.instanceId }),
        });
      if (!has) {
        if (current.length >= 16)
          throw new ResponderRefusedError(
            "TOO_MANY_GROUPS",
            `${eni.interfaceId} already has ${current.length} groups`,
          );
        steps.push({
          resource: eni.interfaceId,
          change: `add group ${group.groupId} (ssh-route) to ${current.join(" ")}`,
          run: () => deps.port.setInterfaceGroups(region, eni.interfaceId, [...current, group.groupId]),
        });
      }
    }
    const changes = await runSteps(deps, request, steps);
    return {
      instanceId: target.instanceId,
      rigId: rig.instanceId,
      region,
      dryRun: Boolean(request.dryRun),
      interfaceId: eni.interfaceId,
      routeGroup: group.groupId,
      open: !request.remove,
      sameVpc: rig.vpcId === eni.vpcId,
      ...(eni.privateIp ? { targetAddress: eni.privateIp } : {}),
      changes,
    };
  });
}
