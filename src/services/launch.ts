import { BASE_INFO, type Base } from "../config/bases.js";
import type { ToolsetData } from "../config/types.js";
import {
  AwsCallError,
  asOpsRigError,
  BaseNotFoundError,
  ImageNotAvailableError,
  ParameterNotFoundError,
  SecurityGroupMismatchError,
  UsageError,
} from "../errors.js";
import type { ServiceEvents } from "../events.js";
import { baseKey, discoverBases } from "../pipeline/bases.js";
import { aliasParameterName, lineParameterName, TAG } from "../plan/names.js";
import type { LineKey } from "../plan/types.js";
import { sha256Hex } from "../render/hash.js";
import type { IngressRule, LaunchPort, PipelinePorts, RunInstanceInput, SecurityGroupInfo } from "./ports.js";

/** The ownership tag: ops-rig's groups carry the SSH ranges they were made for. */
export const GROUP_CIDRS_TAG = "ops-rig:ssh-cidrs";

export interface LaunchRequest {
  readonly region: string;
  readonly toolset: ToolsetData;
  readonly line: LineKey;
  /** The line is the toolset's default: launch from the short alias parameter. */
  readonly usesDefault: boolean;
  readonly parameterPrefix: string;
  readonly caseId?: string;
  /** Canonical CIDRs (checked by the caller); none = no inbound (SSM sessions only). */
  readonly sshCidrs: readonly string[];
  readonly keyName?: string;
  readonly instanceType: string;
  readonly subnet?: string;
  readonly instanceProfile: string;
  readonly pin?: { readonly version: number } | { readonly label: string };
  /** No baked image: the stock base AMI with this cloud-init user data. */
  readonly stock?: { readonly userData: string };
  /** Make an existing group with ops-rig's name match (tag, rules) instead of refusing it. */
  readonly repairGroup?: boolean;
  readonly dryRun?: boolean;
}

export interface LaunchDeps {
  readonly ports: Pick<PipelinePorts, "ssm" | "ec2" | "sts">;
  readonly launch: LaunchPort;
  readonly events: ServiceEvents;
}

export interface SecurityGroupOutcome {
  readonly name: string;
  /** Absent in a dry run when the group would be created. */
  readonly groupId?: string;
  readonly status: "reused" | "created" | "completed" | "repaired" | "would-create";
  /** What was changed on an existing group (completing a half-made one, or --repair-group). */
  readonly changes: readonly string[];
}

export interface LaunchResult {
  readonly region: string;
  readonly dryRun: boolean;
  readonly instanceId?: string;
  /** What RunInstances gets as ImageId: `resolve:ssm:...`, or the stock AMI. */
  readonly imageRequest: string;
  readonly resolvesTo: string;
  readonly imageName: string;
  readonly instanceType: string;
  readonly securityGroup: SecurityGroupOutcome;
  readonly sshCidrs: readonly string[];
  readonly address?: string;
  readonly user: string;
  readonly stock: boolean;
  /** The RunInstances request as sent (the dry run sends exactly this with DryRun). */
  readonly request: RunInstanceInput;
}

/**
 * `ops-rig launch`: a locked-down rig in the incident's region. The security group is trusted only
 * when it carries ops-rig's tag and exactly SSH from the given ranges; a group ops-rig created but
 * could not finish (a crash, a concurrent launch) is completed; anything else is refused (or
 * repaired with `repairGroup`). A group this launch created is removed again when RunInstances fails.
 */
export async function launch(deps: LaunchDeps, request: LaunchRequest): Promise<LaunchResult> {
  const { region, line } = request;
  const image = await resolveImage(deps, request);
  const subnet = request.subnet
    ? await deps.launch.subnetOf(region, request.subnet)
    : await (async () => {
        const vpc = await deps.launch.defaultVpc(region);
        const subnetId = vpc ? await deps.launch.defaultSubnet(region, vpc) : undefined;
        return vpc && subnetId ? { subnetId, vpcId: vpc } : undefined;
      })();
  if (!subnet) {
    throw new UsageError(
      request.subnet
        ? `subnet ${request.subnet} does not exist in ${region}`
        : `${region} has no default VPC: name a subnet`,
      "--subnet",
    );
  }
  const identity = await deps.ports.sts.identity(region);
  const group = await ensureGroup(deps, request, subnet.vpcId);
  const tags: Record<string, string> = {
    Name: truncate(`ops-rig-${request.toolset.name}${request.caseId ? `-${request.caseId}` : ""}`, 256),
    [TAG.toolset]: request.toolset.name,
    [TAG.base]: line.base,
    [TAG.arch]: line.arch,
    "ops-rig:case": request.caseId ?? "none",
    "ops-rig:launched-by": truncate(identity.arn, 256),
    "ops-rig:image-request": truncate(image.request, 256),
  };
  const input: RunInstanceInput = {
    imageId: image.request,
    instanceType: request.instanceType,
    subnetId: subnet.subnetId,
    securityGroupIds: group.groupId ? [group.groupId] : [],
    ...(request.keyName ? { keyName: request.keyName } : {}),
    instanceProfile: request.instanceProfile,
    rootDeviceName: image.rootDeviceName,
    rootVolumeGiB: request.toolset.rootVolume.sizeGiB,
    ...(request.stock ? { userData: request.stock.userData } : {}),
    tags,
  };
  const result = {
    region,
    imageRequest: image.request,
    resolvesTo: image.imageId,
    imageName: image.name,
    instanceType: request.instanceType,
    securityGroup: group,
    sshCidrs: request.sshCidrs,
    user: BASE_INFO[line.base as Base].defaultUser,
    stock: Boolean(request.stock),
    request: input,
  };
  if (request.dryRun) {
    // EC2 checks permissions and parameters and answers DryRunOperation when the launch would succeed.
    await deps.launch.checkRunInstance(region, input);
    return { ...result, dryRun: true };
  }
  return {
    ...result,
    dryRun: false,
    ...(await runLaunch(deps, region, createdGroupId(group), () => deps.launch.runInstance(region, input))),
  };
}

/** The group this launch created, the one to remove again if the instance does not start. */
export function createdGroupId(group: {
  readonly status: string;
  readonly groupId?: string | undefined;
}): string | undefined {
  return group.status === "created" ? group.groupId : undefined;
}

/**
 * Runs the instance and says so; a group this launch created is removed again when the run fails, so a
 * failed launch leaves nothing behind. Shared by plain and template launches.
 */
export async function runLaunch(
  deps: LaunchDeps,
  region: string,
  createdGroupId: string | undefined,
  run: () => ReturnType<LaunchPort["runInstance"]>,
): Promise<{ instanceId: string; address?: string }> {
  let instance: Awaited<ReturnType<LaunchPort["runInstance"]>>;
  try {
    instance = await run();
  } catch (error) {
    if (createdGroupId) await removeGroup(deps, region, createdGroupId);
    throw error;
  }
  deps.events({ type: "instance-launched", region, instanceId: instance.instanceId });
  const address = instance.publicIp ?? instance.privateIp;
  return { instanceId: instance.instanceId, ...(address ? { address } : {}) };
}

/** What the image resolution needs of a request (a template launch passes the toolset's default line). */
export type ImageRequest = Pick<
  LaunchRequest,
  "region" | "toolset" | "line" | "usesDefault" | "parameterPrefix" | "pin" | "stock"
>;

export async function resolveImage(
  deps: Pick<LaunchDeps, "ports" | "launch">,
  request: ImageRequest,
): Promise<{ request: string; imageId: string; name: string; rootDeviceName: string }> {
  const { region, line } = request;
  let imageRequest: string;
  let resolved: string;
  if (request.stock) {
    const wanted = { base: line.base as Base, arch: line.arch };
    const found = (await discoverBases(deps.ports, region, [wanted])).get(baseKey(wanted));
    if (!found?.ok)
      throw new BaseNotFoundError(
        found?.ok === false ? found.error : `no ${line.base} ${line.arch} base in ${region}`,
      );
    imageRequest = found.image.imageId;
    resolved = found.image.imageId;
  } else {
    const parameter = request.usesDefault
      ? aliasParameterName(request.parameterPrefix, request.toolset.name)
      : lineParameterName(request.parameterPrefix, line);
    const pin = request.pin;
    const selector = pin === undefined ? "" : "version" in pin ? `:${pin.version}` : `:${pin.label}`;
    const value = await deps.ports.ssm.getParameter(region, `${parameter}${selector}`);
    if (!value) {
      throw new ParameterNotFoundError(
        `parameter ${parameter}${selector}`,
        region,
        `no baked ${request.toolset.name} image there yet (use --stock for a stock AMI with cloud-init)`,
      );
    }
    imageRequest = `resolve:ssm:${parameter}${selector}`;
    resolved = value.value;
  }
  const image = await deps.launch.image(region, resolved);
  if (image?.state !== "available") {
    throw new ImageNotAvailableError(
      resolved,
      region,
      image?.state ?? "missing",
      `${resolved} in ${region} is ${image?.state ?? "missing"}; refusing to launch it`,
    );
  }
  return { request: imageRequest, imageId: resolved, name: image.name, rootDeviceName: image.rootDeviceName };
}

/** `ops-rig-ssh-<hash of the ranges>`, or `ops-rig-no-inbound`: one group per set of ranges and VPC. */
export function securityGroupName(cidrs: readonly string[]): string {
  return cidrs.length > 0
    ? `ops-rig-ssh-${sha256Hex([...cidrs].sort().join(",")).slice(0, 10)}`
    : "ops-rig-no-inbound";
}

const ruleText = (r: IngressRule) =>
  `${r.protocol === "-1" ? "all traffic" : `${r.protocol} ${r.fromPort ?? "*"}${r.toPort !== r.fromPort ? `-${r.toPort ?? "*"}` : ""}`} from ${r.source}`;

function expectedRules(cidrs: readonly string[]): IngressRule[] {
  return cidrs.map((source) => ({ protocol: "tcp", fromPort: 22, toPort: 22, source }));
}

function sameRule(a: IngressRule, b: IngressRule): boolean {
  return (
    a.protocol === b.protocol &&
    a.fromPort === b.fromPort &&
    a.toPort === b.toPort &&
    canonicalSource(a.source) === canonicalSource(b.source)
  );
}

/** CIDRs compare by value: EC2 may return an IPv6 range in another spelling than it was given. */
function canonicalSource(source: string): string {
  if (!source.includes(":")) return source;
  const [address = "", bits = ""] = source.split("/");
  const parts = address.split("::");
  const head = (parts[0] ?? "").split(":").filter(Boolean);
  const tail = (parts[1] ?? "").split(":").filter(Boolean);
  const fill = parts.length === 2 ? Array(8 - head.length - tail.length).fill("0") : [];
  return `${[...head, ...fill, ...tail].map((g) => Number.parseInt(g, 16).toString(16)).join(":")}/${bits}`;
}

interface Differences {
  readonly owned: boolean;
  readonly missing: readonly IngressRule[];
  readonly extra: readonly IngressRule[];
}

function compare(group: SecurityGroupInfo, cidrs: readonly string[]): Differences {
  const expected = expectedRules(cidrs);
  return {
    owned: group.tags[GROUP_CIDRS_TAG] === (cidrs.join(",") || "none"),
    missing: expected.filter((e) => !group.ingress.some((r) => sameRule(r, e))),
    extra: group.ingress.filter((r) => !expected.some((e) => sameRule(r, e))),
  };
}

function describe(d: Differences): string[] {
  return [
    ...(d.owned ? [] : [`it does not carry ops-rig's ${GROUP_CIDRS_TAG} tag for these ranges`]),
    ...d.extra.map((r) => `it allows ${ruleText(r)}`),
    ...d.missing.map((r) => `it lacks ${ruleText(r)}`),
  ];
}

/** What the group handling needs of a request. */
export type GroupRequest = Pick<LaunchRequest, "region" | "sshCidrs" | "repairGroup" | "dryRun">;

export async function ensureGroup(
  deps: LaunchDeps,
  request: GroupRequest,
  vpcId: string,
): Promise<SecurityGroupOutcome> {
  const { region, sshCidrs: cidrs } = request;
  const name = securityGroupName(cidrs);
  const description =
    cidrs.length > 0
      ? truncate(`ops-rig responder SSH from ${cidrs.join(", ")}`, 255)
      : "ops-rig rig without inbound access (SSM sessions)";
  let existing = await deps.launch.findSecurityGroup(region, vpcId, name);
  let created = false;
  if (!existing) {
    if (request.dryRun) {
      await deps.launch.checkCreateSecurityGroup(region, { vpcId, name, description });
      return { name, status: "would-create", changes: [] };
    }
    try {
      const groupId = await deps.launch.createSecurityGroup(region, {
        vpcId,
        name,
        description,
        tags: { Name: name, [GROUP_CIDRS_TAG]: cidrs.join(",") || "none" },
      });
      deps.events({ type: "security-group-created", region, groupId, name });
      created = true;
      existing = {
        groupId,
        name,
        vpcId,
        tags: { [GROUP_CIDRS_TAG]: cidrs.join(",") || "none" },
        ingress: [],
      };
    } catch (error) {
      // A concurrent launch created it first: use theirs, checked like any other.
      if (!(error instanceof AwsCallError && error.awsCode === "InvalidGroup.Duplicate")) throw error;
      existing = await deps.launch.findSecurityGroup(region, vpcId, name);
      if (!existing) throw error;
    }
  }
  const group = existing;
  try {
    return await settleGroup(deps, request, group, created);
  } catch (error) {
    // Nothing left behind: a group this launch created and could not finish goes again.
    if (created) await removeGroup(deps, region, group.groupId);
    throw error;
  }
}

/**
 * Brings a group to exactly SSH from the ranges. A group carrying ops-rig's tag that only lacks rules
 * was left half-made (a crash, a concurrent launch between create and authorize): completing it can
 * only add the expected rules. Anything else is someone else's doing and is refused unless repairing.
 */
async function settleGroup(
  deps: LaunchDeps,
  request: GroupRequest,
  initial: SecurityGroupInfo,
  created: boolean,
): Promise<SecurityGroupOutcome> {
  const { region, sshCidrs: cidrs } = request;
  let group = initial;
  const changes: string[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const diff = compare(group, cidrs);
    const halfMade = diff.owned && diff.extra.length === 0;
    if (diff.missing.length === 0 && diff.extra.length === 0 && diff.owned) {
      const status = created
        ? "created"
        : changes.length === 0
          ? "reused"
          : request.repairGroup
            ? "repaired"
            : "completed";
      return { name: group.name, groupId: group.groupId, status, changes };
    }
    if (!halfMade && !request.repairGroup) {
      throw new SecurityGroupMismatchError(group.groupId, region, describe(diff));
    }
    if (request.dryRun) {
      return {
        name: group.name,
        groupId: group.groupId,
        status: halfMade ? "completed" : "repaired",
        changes: describe(diff).map((d) => `would fix: ${d}`),
      };
    }
    if (!diff.owned) {
      await deps.launch.tagSecurityGroup(region, group.groupId, {
        [GROUP_CIDRS_TAG]: cidrs.join(",") || "none",
      });
      note(deps, region, group.groupId, changes, `tagged ${GROUP_CIDRS_TAG}`);
    }
    if (diff.extra.length > 0) {
      await deps.launch.revokeIngress(region, group.groupId, diff.extra);
      note(deps, region, group.groupId, changes, `revoked ${diff.extra.map(ruleText).join(", ")}`);
    }
    if (diff.missing.length > 0) {
      try {
        await deps.launch.authorizeSsh(
          region,
          group.groupId,
          diff.missing.map((r) => r.source),
        );
        note(deps, region, group.groupId, changes, `allowed ${diff.missing.map(ruleText).join(", ")}`);
      } catch (error) {
        // Someone (a concurrent launch) added a rule meanwhile: look again.
        if (!(error instanceof AwsCallError && error.awsCode === "InvalidPermission.Duplicate")) throw error;
      }
    }
    const fresh = await deps.launch.findSecurityGroup(region, group.vpcId, group.name);
    if (!fresh)
      throw new SecurityGroupMismatchError(group.groupId, region, ["it disappeared while being set up"]);
    group = fresh;
  }
  throw new SecurityGroupMismatchError(group.groupId, region, describe(compare(group, cidrs)));
}

function note(deps: LaunchDeps, region: string, groupId: string, changes: string[], change: string): void {
  changes.push(change);
  deps.events({ type: "security-group-changed", region, groupId, change });
}

/** Best effort, never hiding the launch's own error: a failed removal is reported as an event. */
export async function removeGroup(deps: LaunchDeps, region: string, groupId: string): Promise<void> {
  try {
    await deps.launch.deleteSecurityGroup(region, groupId);
    deps.events({ type: "security-group-removed", region, groupId, reason: "the launch failed" });
  } catch (error) {
    // In use by a concurrent launch's instance (DependencyViolation): it stays, correctly configured.
    const e = asOpsRigError(error);
    if (e instanceof AwsCallError && e.awsCode === "DependencyViolation") return;
    deps.events({
      type: "security-group-changed",
      region,
      groupId,
      change: `could not be removed: ${e.message}`,
    });
  }
}

/** Tag values hold at most 256 Unicode characters (not UTF-16 units). */
export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : chars.slice(0, max).join("");
}
