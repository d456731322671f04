import {
  type _InstanceType,
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeImagesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  type EC2Client,
  RunInstancesCommand,
} from "@aws-sdk/client-ec2";
import { awsCall, tagList, tagMap } from "./call.js";

/**
 * EC2 calls only the `ops-rig launch` command makes, with the responder's own credentials. The
 * pipeline Lambda never imports this file, so its role never gets RunInstances.
 */
export interface LaunchPort {
  defaultVpc(region: string): Promise<string | undefined>;
  subnetOf(region: string, subnetId: string): Promise<{ subnetId: string; vpcId: string } | undefined>;
  defaultSubnet(region: string, vpcId: string): Promise<string | undefined>;
  findSecurityGroup(
    region: string,
    vpcId: string,
    name: string,
  ): Promise<{ groupId: string; tags: Record<string, string> } | undefined>;
  createSecurityGroup(
    region: string,
    input: { vpcId: string; name: string; description: string; tags: Record<string, string> },
  ): Promise<string>;
  allowSsh(region: string, groupId: string, cidrs: readonly string[]): Promise<void>;
  image(
    region: string,
    imageId: string,
  ): Promise<{ imageId: string; name: string; state: string; rootDeviceName: string } | undefined>;
  runInstance(
    region: string,
    input: RunInstanceInput,
  ): Promise<{ instanceId: string; privateIp?: string; publicIp?: string }>;
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
  readonly dryRun: boolean;
}

export function createLaunchAdapter(client: (region: string) => EC2Client): LaunchPort {
  return {
    defaultVpc: (region) =>
      awsCall("ec2", "DescribeVpcs", region, async () => {
        const out = await client(region).send(
          new DescribeVpcsCommand({ Filters: [{ Name: "is-default", Values: ["true"] }] }),
        );
        return out.Vpcs?.[0]?.VpcId;
      }),
    subnetOf: (region, subnetId) =>
      awsCall("ec2", "DescribeSubnets", region, async () => {
        const out = await client(region).send(new DescribeSubnetsCommand({ SubnetIds: [subnetId] }));
        const subnet = out.Subnets?.[0];
        return subnet?.SubnetId && subnet.VpcId
          ? { subnetId: subnet.SubnetId, vpcId: subnet.VpcId }
          : undefined;
      }),
    defaultSubnet: (region, vpcId) =>
      awsCall("ec2", "DescribeSubnets", region, async () => {
        const out = await client(region).send(
          new DescribeSubnetsCommand({ Filters: [{ Name: "vpc-id", Values: [vpcId] }] }),
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
      awsCall("ec2", "DescribeSecurityGroups", region, async () => {
        const out = await client(region).send(
          new DescribeSecurityGroupsCommand({
            Filters: [
              { Name: "vpc-id", Values: [vpcId] },
              { Name: "group-name", Values: [name] },
            ],
          }),
        );
        const group = out.SecurityGroups?.[0];
        return group?.GroupId ? { groupId: group.GroupId, tags: tagMap(group.Tags) } : undefined;
      }),
    createSecurityGroup: (region, input) =>
      awsCall("ec2", "CreateSecurityGroup", region, async () => {
        const out = await client(region).send(
          new CreateSecurityGroupCommand({
            VpcId: input.vpcId,
            GroupName: input.name,
            Description: input.description,
            TagSpecifications: [{ ResourceType: "security-group", Tags: tagList(input.tags) }],
          }),
        );
        if (!out.GroupId) throw new Error("CreateSecurityGroup returned no GroupId");
        return out.GroupId;
      }),
    allowSsh: (region, groupId, cidrs) =>
      awsCall("ec2", "AuthorizeSecurityGroupIngress", region, async () => {
        if (cidrs.length === 0) return;
        const v4 = cidrs.filter((c) => !c.includes(":"));
        const v6 = cidrs.filter((c) => c.includes(":"));
        await client(region).send(
          new AuthorizeSecurityGroupIngressCommand({
            GroupId: groupId,
            IpPermissions: [
              {
                IpProtocol: "tcp",
                FromPort: 22,
                ToPort: 22,
                ...(v4.length > 0
                  ? { IpRanges: v4.map((CidrIp) => ({ CidrIp, Description: "ops-rig responder SSH" })) }
                  : {}),
                ...(v6.length > 0
                  ? { Ipv6Ranges: v6.map((CidrIpv6) => ({ CidrIpv6, Description: "ops-rig responder SSH" })) }
                  : {}),
              },
            ],
          }),
        );
      }),
    image: (region, imageId) =>
      awsCall("ec2", "DescribeImages", region, async () => {
        const out = await client(region).send(new DescribeImagesCommand({ ImageIds: [imageId] }));
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
      awsCall("ec2", "RunInstances", region, async () => {
        const out = await client(region).send(
          new RunInstancesCommand({
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
            DryRun: input.dryRun,
          }),
        );
        const instance = out.Instances?.[0];
        if (!instance?.InstanceId) throw new Error("RunInstances returned no instance");
        return {
          instanceId: instance.InstanceId,
          ...(instance.PrivateIpAddress ? { privateIp: instance.PrivateIpAddress } : {}),
          ...(instance.PublicIpAddress ? { publicIp: instance.PublicIpAddress } : {}),
        };
      }),
  };
}
