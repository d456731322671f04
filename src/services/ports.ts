/**
 * Ports the services need beyond the pipeline's. The launch port is the responder's own (CLI only):
 * the pipeline Lambda never gets RunInstances or security group rights, and its bundle never
 * contains the adapter (the infra tests check both).
 */
export type { PipelinePorts } from "../pipeline/ports.js";

import type { ApiLaunchResponse, LaunchBody } from "../api/requests.js";
import type { LaunchTemplateData } from "../responders/launch-template.js";

/** One ingress rule, flattened: one source (a CIDR, `sg-...` or `pl-...`) per rule. */
export interface IngressRule {
  /** `tcp`, `udp`, `icmp`, `-1` (all), ... as EC2 reports it. */
  readonly protocol: string;
  readonly fromPort?: number;
  readonly toPort?: number;
  readonly source: string;
}

export interface SecurityGroupInfo {
  readonly groupId: string;
  readonly name: string;
  readonly vpcId: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly ingress: readonly IngressRule[];
}

export interface RunInstanceInput {
  readonly imageId: string;
  readonly instanceType: string;
  readonly subnetId: string;
  readonly securityGroupIds: readonly string[];
  readonly keyName?: string;
  readonly instanceProfile?: string;
  readonly rootDeviceName: string;
  readonly rootVolumeGiB?: number;
  readonly userData?: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface LaunchedInstance {
  readonly instanceId: string;
  readonly privateIp?: string;
  readonly publicIp?: string;
}

export interface LaunchPort {
  defaultVpc(region: string): Promise<string | undefined>;
  subnetOf(region: string, subnetId: string): Promise<{ subnetId: string; vpcId: string } | undefined>;
  defaultSubnet(region: string, vpcId: string): Promise<string | undefined>;
  findSecurityGroup(region: string, vpcId: string, name: string): Promise<SecurityGroupInfo | undefined>;
  /** CreateSecurityGroup, tagged at creation. Fails with `InvalidGroup.Duplicate` when the name is taken. */
  createSecurityGroup(
    region: string,
    input: {
      readonly vpcId: string;
      readonly name: string;
      readonly description: string;
      readonly tags: Readonly<Record<string, string>>;
    },
  ): Promise<string>;
  /** Asks EC2 whether CreateSecurityGroup would be allowed (DryRun), creating nothing. */
  checkCreateSecurityGroup(
    region: string,
    input: { readonly vpcId: string; readonly name: string; readonly description: string },
  ): Promise<void>;
  /** SSH (tcp/22) from each CIDR. Fails with `InvalidPermission.Duplicate` when a rule exists. */
  authorizeSsh(region: string, groupId: string, cidrs: readonly string[]): Promise<void>;
  revokeIngress(region: string, groupId: string, rules: readonly IngressRule[]): Promise<void>;
  tagSecurityGroup(region: string, groupId: string, tags: Readonly<Record<string, string>>): Promise<void>;
  /** Fails with `DependencyViolation` while an instance uses the group. */
  deleteSecurityGroup(region: string, groupId: string): Promise<void>;
  image(
    region: string,
    imageId: string,
  ): Promise<{ imageId: string; name: string; state: string; rootDeviceName: string } | undefined>;
  runInstance(region: string, input: RunInstanceInput): Promise<LaunchedInstance>;
  /** The same RunInstances request with DryRun: resolves when EC2 answers that it would succeed. */
  checkRunInstance(region: string, input: RunInstanceInput): Promise<void>;
}

/** A rig launch template as EC2 holds it: its default version's data, flattened. */
export interface LaunchTemplateInfo {
  readonly templateId: string;
  readonly name: string;
  readonly defaultVersion: number;
  readonly latestVersion: number;
  readonly data: LaunchTemplateData;
}

/** RunInstances from a template version, with what the launcher sets on top of it. */
export interface TemplateRunInput {
  readonly templateId: string;
  /** Always a number: the version that was checked, never `$Default` (it could change in between). */
  readonly version: number;
  readonly subnetId?: string;
  /** Only when the template carries no group. */
  readonly securityGroupIds?: readonly string[];
  readonly instanceType?: string;
  readonly keyName?: string;
  /** The complete tag set (template tags included): AWS may replace, not merge, a resource type's tags. */
  readonly tags: Readonly<Record<string, string>>;
}

/** The rig launch templates of the regional stacks (`launch --template`, `status`, the API). */
export interface LaunchTemplatePort {
  /** The template and its default version, or undefined when there is no template of that name. */
  template(region: string, name: string): Promise<LaunchTemplateInfo | undefined>;
  runFromTemplate(region: string, input: TemplateRunInput): Promise<LaunchedInstance>;
  /** The same request with DryRun: resolves when EC2 answers that it would succeed. */
  checkRunFromTemplate(region: string, input: TemplateRunInput): Promise<void>;
}

/** The regional ops-rig API, called SigV4-signed with the caller's own credentials (`ops-rig --api URL`). */
export interface ApiPort {
  launch(body: LaunchBody): Promise<ApiLaunchResponse>;
}

/** `ops-rig bake --remote`: the deployed pipeline function. */
export interface LambdaPort {
  invoke(
    region: string,
    functionName: string,
    payload: unknown,
  ): Promise<{ readonly body: string; readonly functionError?: string }>;
}
