import {
  type _InstanceType,
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteSecurityGroupCommand,
  DescribeImagesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  type EC2Client,
  type IpPermission,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
  type RunInstancesCommandInput,
} from "@aws-sdk/client-ec2";
import { AwsCallError } from "../errors.js";
import type { IngressRule, LaunchPort, RunInstanceInput } from "../services/ports.js";
import { type AdapterOptions, awsCall as call, sendOptions, tagList, tagMap } from "./call.js";

/**
 * EC2 calls only the `ops-rig launch` command makes, with the responder's own credentials. The
 * pipeline Lambda never imports this file, so its role never gets RunInstances.
 */
export function createLaunchAdapter(
  client: (region: string) => EC2Client,
  options: AdapterOptions = {},
): LaunchPort {
  const { signal } = options;
  const opts = sendOptions(signal);
  const awsCall = <T>(operation: string, region: string, fn: () => Promise<T>) =>
    call("ec2", operation, region, fn, signal);
  /** DryRun calls answer DryRunOperation when they would have succeeded. */
  const dryRun = async (operation: string, region: string, fn: () => Promise<unknown>) => {
    try {
      await awsCall(operation, region, fn);
    } catch (error) {
      if (error instanceof AwsCallError && error.awsCode === "DryRunOperation") return;
      throw error;
    }
    throw new AwsCallError({
      service: "ec2",
      operation,
      region,
      message: "a DryRun request was answered as if it had run",
    });
  };
  return {
    defaultVpc: (region) =>
      awsCall("DescribeVpcs", region, async () => {
        const out = await client(region).send(
          new DescribeVpcsCommand({ Filters: [{ Name: "is-default", Values: ["true"] }] }),
          opts,
        );
        return out.Vpcs?.[0]?.VpcId;
      }),
    subnetOf: (region, subnetId) =>
      awsCall("DescribeSubnets", region, async () => {
        try {
          const out = await client(region).send(new DescribeSubnetsCommand({ SubnetIds: [subnetId] }), opts);
          const subnet = out.Subnets?.[0];
          return subnet?.SubnetId && subnet.VpcId
            ? { subnetId: subnet.SubnetId, vpcId: subnet.VpcId }
            : undefined;
        } catch (error) {
          if ((error as { name?: string }).name === "InvalidSubnetID.NotFound") return undefined;
          throw error;
        }
      }),
    defaultSubnet: (region, vpcId) =>
      awsCall("DescribeSubnets", region, async () => {
        const out = await client(region).send(
          new DescribeSubnetsCommand({ Filters: [{ Name: "vpc-id", Values: [vpcId] }] }),
          opts,
        );
        const subnets = (out.Subnets ?? []).filter((s) => s.SubnetId);
        // Prefer a default-for-AZ subnet (public IP on launch), in a stable order.
        subnets.sort(
          (a, b) =>
            Number(Boolean(b.DefaultForAz)) - Number(Boolean(a.DefaultForAz)) ||
            (a.AvailabilityZone ?? "").localeCompare(b.AvailabilityZone ?? ""),
        );
        return subnets[0]?.SubnetId;
      }),
    findSecurityGroup: (region, vpcId, name) =>
      awsCall("DescribeSecurityGroups", region, async () => {
        const out = await client(region).send(
          new DescribeSecurityGroupsCommand({
            Filters: [
              { Name: "vpc-id", Values: [vpcId] },
              { Name: "group-name", Values: [name] },
            ],
          }),
          opts,
        );
        const group = out.SecurityGroups?.find((g) => g.GroupName === name);
        return group?.GroupId
          ? {
              groupId: group.GroupId,
              name: group.GroupName ?? name,
              vpcId: group.VpcId ?? vpcId,
              tags: tagMap(group.Tags),
              ingress: (group.IpPermissions ?? []).flatMap(flattenPermission),
            }
          : undefined;
      }),
    createSecurityGroup: (region, input) =>
      awsCall("CreateSecurityGroup", region, async () => {
        const out = await client(region).send(
          new CreateSecurityGroupCommand({
            VpcId: input.vpcId,
            GroupName: input.name,
            Description: input.description,
            TagSpecifications: [{ ResourceType: "security-group", Tags: tagList(input.tags) }],
          }),
          opts,
        );
        if (!out.GroupId) throw new Error("CreateSecurityGroup returned no GroupId");
        return out.GroupId;
      }),
    checkCreateSecurityGroup: (region, input) =>
      dryRun("CreateSecurityGroup", region, () =>
        client(region).send(
          new CreateSecurityGroupCommand({
            VpcId: input.vpcId,
            GroupName: input.name,
            Description: input.description,
            DryRun: true,
          }),
          opts,
        ),
      ),
    authorizeSsh: (region, groupId, cidrs) =>
      awsCall("AuthorizeSecurityGroupIngress", region, async () => {
        if (cidrs.length === 0) return;
        await client(region).send(
          new AuthorizeSecurityGroupIngressCommand({
            GroupId: groupId,
            IpPermissions: [permission({ protocol: "tcp", fromPort: 22, toPort: 22 }, cidrs)],
          }),
          opts,
        );
      }),
    revokeIngress: (region, groupId, rules) =>
      awsCall("RevokeSecurityGroupIngress", region, async () => {
        if (rules.length === 0) return;
        await client(region).send(
          new RevokeSecurityGroupIngressCommand({
            GroupId: groupId,
            IpPermissions: rules.map((rule) => permission(rule, [rule.source])),
          }),
          opts,
        );
      }),
    tagSecurityGroup: (region, groupId, tags) =>
      awsCall("CreateTags", region, async () => {
        await client(region).send(new CreateTagsCommand({ Resources: [groupId], Tags: tagList(tags) }), opts);
      }),
    deleteSecurityGroup: (region, groupId) =>
      awsCall("DeleteSecurityGroup", region, async () => {
        await client(region).send(new DeleteSecurityGroupCommand({ GroupId: groupId }), opts);
      }),
    image: (region, imageId) =>
      awsCall("DescribeImages", region, async () => {
        const out = await client(region).send(new DescribeImagesCommand({ ImageIds: [imageId] }), opts);
        const image = out.Images?.[0];
        return image?.ImageId
          ? {
              imageId: image.ImageId,
              name: image.Name ?? "",
              state: image.State ?? "",
              rootDeviceName: image.RootDeviceName ?? "/dev/xvda",
            }
          : undefined;
      }),
    runInstance: (region, input) =>
      awsCall("RunInstances", region, async () => {
        const out = await client(region).send(new RunInstancesCommand(runInstancesInput(input)), opts);
        const instance = out.Instances?.[0];
        if (!instance?.InstanceId) throw new Error("RunInstances returned no instance");
        return {
          instanceId: instance.InstanceId,
          ...(instance.PrivateIpAddress ? { privateIp: instance.PrivateIpAddress } : {}),
          ...(instance.PublicIpAddress ? { publicIp: instance.PublicIpAddress } : {}),
        };
      }),
    checkRunInstance: (region, input) =>
      dryRun("RunInstances", region, () =>
        client(region).send(new RunInstancesCommand({ ...runInstancesInput(input), DryRun: true }), opts),
      ),
  };
}

/** The one RunInstances request a launch (and its dry run) sends. */
function runInstancesInput(input: RunInstanceInput): RunInstancesCommandInput {
  return {
    ImageId: input.imageId,
    InstanceType: input.instanceType as _InstanceType,
    MinCount: 1,
    MaxCount: 1,
    SubnetId: input.subnetId,
    SecurityGroupIds: [...input.securityGroupIds],
    ...(input.keyName ? { KeyName: input.keyName } : {}),
    ...(input.instanceProfile ? { IamInstanceProfile: { Name: input.instanceProfile } } : {}),
    // IMDSv2 only, and no metadata from containers on the box (hop limit 1).
    MetadataOptions: { HttpTokens: "required", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 1 },
    BlockDeviceMappings: [
      {
        DeviceName: input.rootDeviceName,
        Ebs: {
          Encrypted: true,
          DeleteOnTermination: true,
          VolumeType: "gp3",
          ...(input.rootVolumeGiB ? { VolumeSize: input.rootVolumeGiB } : {}),
        },
      },
    ],
    ...(input.userData ? { UserData: Buffer.from(input.userData, "utf8").toString("base64") } : {}),
    // The responder roles act only on instances and interfaces tagged as forensic rigs.
    TagSpecifications: (["instance", "volume", "network-interface"] as const).map((ResourceType) => ({
      ResourceType,
      Tags: tagList({ ...input.tags, "ops-rig:role": "forensic" }),
    })),
  };
}

/** One rule per source, so rules compare one to one. */
function flattenPermission(p: IpPermission): IngressRule[] {
  const base = {
    protocol: p.IpProtocol ?? "-1",
    ...(p.FromPort !== undefined ? { fromPort: p.FromPort } : {}),
    ...(p.ToPort !== undefined ? { toPort: p.ToPort } : {}),
  };
  return [
    ...(p.IpRanges ?? []).flatMap((r) => (r.CidrIp ? [{ ...base, source: r.CidrIp }] : [])),
    ...(p.Ipv6Ranges ?? []).flatMap((r) => (r.CidrIpv6 ? [{ ...base, source: r.CidrIpv6 }] : [])),
    ...(p.PrefixListIds ?? []).flatMap((r) => (r.PrefixListId ? [{ ...base, source: r.PrefixListId }] : [])),
    ...(p.UserIdGroupPairs ?? []).flatMap((r) => (r.GroupId ? [{ ...base, source: r.GroupId }] : [])),
  ];
}

function permission(
  rule: { protocol: string; fromPort?: number; toPort?: number },
  sources: readonly string[],
): IpPermission {
  const v4 = sources.filter((s) => /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(s));
  const v6 = sources.filter((s) => s.includes(":"));
  const prefixLists = sources.filter((s) => s.startsWith("pl-"));
  const groups = sources.filter((s) => s.startsWith("sg-"));
  return {
    IpProtocol: rule.protocol,
    ...(rule.fromPort !== undefined ? { FromPort: rule.fromPort } : {}),
    ...(rule.toPort !== undefined ? { ToPort: rule.toPort } : {}),
    ...(v4.length > 0
      ? { IpRanges: v4.map((CidrIp) => ({ CidrIp, Description: "ops-rig responder SSH" })) }
      : {}),
    ...(v6.length > 0
      ? { Ipv6Ranges: v6.map((CidrIpv6) => ({ CidrIpv6, Description: "ops-rig responder SSH" })) }
      : {}),
    ...(prefixLists.length > 0
      ? { PrefixListIds: prefixLists.map((PrefixListId) => ({ PrefixListId })) }
      : {}),
    ...(groups.length > 0 ? { UserIdGroupPairs: groups.map((GroupId) => ({ GroupId })) } : {}),
  };
}
