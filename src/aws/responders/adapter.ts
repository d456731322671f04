import { LookupEventsCommand } from "@aws-sdk/client-cloudtrail";
import {
  type _InstanceType,
  AssociateIamInstanceProfileCommand,
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteTagsCommand,
  DescribeFlowLogsCommand,
  DescribeIamInstanceProfileAssociationsCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  DisassociateIamInstanceProfileCommand,
  type Filter,
  type Instance,
  type IpPermission,
  ModifyNetworkInterfaceAttributeCommand,
  type Snapshot,
  TerminateInstancesCommand,
  type Volume,
} from "@aws-sdk/client-ec2";
import {
  GetInstanceProfileCommand,
  type InstanceProfile,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
} from "@aws-sdk/client-iam";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { PublishCommand } from "@aws-sdk/client-sns";
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  ListCommandsCommand,
  SendCommandCommand,
} from "@aws-sdk/client-ssm";
import { GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import type {
  InstanceInfo,
  PermissionRule,
  ResponderPort,
  SnapshotInfo,
  VolumeInfo,
} from "../../services/responders/ports.js";
import { type AdapterOptions, awsCall, sendOptions, tagList, tagMap } from "../call.js";
import type { ResponderClients } from "./clients.js";

const notFound = (error: unknown, ...codes: string[]) =>
  codes.includes((error as { name?: string }).name ?? "");

const tagFilters = (tags: Readonly<Record<string, string>>): Filter[] =>
  Object.entries(tags).map(([k, v]) => ({ Name: `tag:${k}`, Values: [v] }));

function rules(perms: IpPermission[] | undefined): PermissionRule[] {
  const out: PermissionRule[] = [];
  for (const p of perms ?? []) {
    const base = {
      protocol: p.IpProtocol ?? "-1",
      ...(p.FromPort !== undefined && p.FromPort !== -1 ? { fromPort: p.FromPort } : {}),
      ...(p.ToPort !== undefined && p.ToPort !== -1 ? { toPort: p.ToPort } : {}),
    };
    for (const r of p.IpRanges ?? []) if (r.CidrIp) out.push({ ...base, peer: r.CidrIp });
    for (const r of p.Ipv6Ranges ?? []) if (r.CidrIpv6) out.push({ ...base, peer: r.CidrIpv6 });
    for (const r of p.UserIdGroupPairs ?? []) if (r.GroupId) out.push({ ...base, peer: r.GroupId });
    for (const r of p.PrefixListIds ?? []) if (r.PrefixListId) out.push({ ...base, peer: r.PrefixListId });
  }
  return out;
}

function volumeInfo(v: Volume): VolumeInfo {
  return {
    volumeId: v.VolumeId ?? "",
    availabilityZone: v.AvailabilityZone ?? "",
    sizeGiB: v.Size ?? 0,
    state: v.State ?? "unknown",
    encrypted: Boolean(v.Encrypted),
    ...(v.KmsKeyId ? { kmsKeyId: v.KmsKeyId } : {}),
    ...(v.SnapshotId ? { snapshotId: v.SnapshotId } : {}),
    ...(v.VolumeType ? { volumeType: v.VolumeType } : {}),
    tags: tagMap(v.Tags),
    attachments: (v.Attachments ?? []).map((a) => ({
      instanceId: a.InstanceId ?? "",
      device: a.Device ?? "",
      state: a.State ?? "",
    })),
  };
}

function snapshotInfo(s: Snapshot): SnapshotInfo {
  return {
    snapshotId: s.SnapshotId ?? "",
    volumeId: s.VolumeId ?? "",
    state: s.State ?? "unknown",
    progress: s.Progress ?? "",
    ...(s.StartTime ? { startTime: new Date(s.StartTime).toISOString() } : {}),
    tags: tagMap(s.Tags),
  };
}

/**
 * The responder port over the SDK: EC2, Run Command, S3 (write-only evidence: never a read),
 * CloudTrail, IAM, SNS, all in the instance's region. Adapters translate errors (awsCall); "not
 * found" answers become `undefined`.
 */
export function createResponderAdapter(
  clients: ResponderClients,
  options: AdapterOptions = {},
): ResponderPort {
  const { signal } = options;
  const opts = sendOptions(signal);
  const call = <T>(service: string, operation: string, region: string, fn: () => Promise<T>) =>
    awsCall(service, operation, region, fn, signal);

  const volumes = (region: string, ids: readonly string[]) =>
    ids.length === 0
      ? Promise.resolve([])
      : call("ec2", "DescribeVolumes", region, async () => {
          const out = await clients
            .ec2(region)
            .send(new DescribeVolumesCommand({ VolumeIds: [...ids] }), opts);
          return (out.Volumes ?? []).map(volumeInfo);
        });

  return {
    identity: (region) =>
      call("sts", "GetCallerIdentity", region, async () => {
        const out = await clients.sts(region).send(new GetCallerIdentityCommand({}), opts);
        const arn = out.Arn ?? "";
        return { account: out.Account ?? "", arn, partition: arn.split(":")[1] ?? "aws" };
      }),

    instance: (region, instanceId) =>
      call("ec2", "DescribeInstances", region, async () => {
        const ec2 = clients.ec2(region);
        let found: Instance | undefined;
        try {
          found = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }), opts))
            .Reservations?.[0]?.Instances?.[0];
        } catch (error) {
          if (notFound(error, "InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed")) return undefined;
          throw error;
        }
        if (!found?.InstanceId) return undefined;
        const eniIds = (found.NetworkInterfaces ?? []).flatMap((e) =>
          e.NetworkInterfaceId ? [e.NetworkInterfaceId] : [],
        );
        const enis =
          eniIds.length > 0
            ? ((await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: eniIds }), opts))
                .NetworkInterfaces ?? [])
            : [];
        const profileArn = found.IamInstanceProfile?.Arn;
        const association = profileArn
          ? (
              await ec2.send(
                new DescribeIamInstanceProfileAssociationsCommand({
                  Filters: [
                    { Name: "instance-id", Values: [instanceId] },
                    { Name: "state", Values: ["associated"] },
                  ],
                }),
                opts,
              )
            ).IamInstanceProfileAssociations?.[0]?.AssociationId
          : undefined;
        // The primary interface (device index 0) first: ssh-route works on it.
        const ordered = [...(found.NetworkInterfaces ?? [])].sort(
          (a, b) => (a.Attachment?.DeviceIndex ?? 0) - (b.Attachment?.DeviceIndex ?? 0),
        );
        const info: InstanceInfo = {
          instanceId: found.InstanceId,
          region,
          availabilityZone: found.Placement?.AvailabilityZone ?? "",
          state: found.State?.Name ?? "unknown",
          instanceType: found.InstanceType ?? "",
          imageId: found.ImageId ?? "",
          ...(found.VpcId ? { vpcId: found.VpcId } : {}),
          ...(found.SubnetId ? { subnetId: found.SubnetId } : {}),
          ...(found.PrivateIpAddress ? { privateIp: found.PrivateIpAddress } : {}),
          ...(found.PublicIpAddress ? { publicIp: found.PublicIpAddress } : {}),
          ...(found.KeyName ? { keyName: found.KeyName } : {}),
          ...(found.LaunchTime ? { launchTime: new Date(found.LaunchTime).toISOString() } : {}),
          ...(found.PlatformDetails ? { platform: found.PlatformDetails } : {}),
          ...(profileArn
            ? { instanceProfile: { arn: profileArn, ...(association ? { associationId: association } : {}) } }
            : {}),
          tags: tagMap(found.Tags),
          interfaces: ordered.map((e) => {
            const detail = enis.find((d) => d.NetworkInterfaceId === e.NetworkInterfaceId);
            return {
              interfaceId: e.NetworkInterfaceId ?? "",
              subnetId: e.SubnetId ?? "",
              vpcId: e.VpcId ?? "",
              ...(e.PrivateIpAddress ? { privateIp: e.PrivateIpAddress } : {}),
              groups: (detail?.Groups ?? e.Groups ?? []).map((g) => ({
                groupId: g.GroupId ?? "",
                name: g.GroupName ?? "",
              })),
              tags: tagMap(detail?.TagSet),
            };
          }),
          volumes: (found.BlockDeviceMappings ?? []).flatMap((b) =>
            b.Ebs?.VolumeId ? [{ volumeId: b.Ebs.VolumeId, device: b.DeviceName ?? "" }] : [],
          ),
        };
        return info;
      }),

    volumes,

    volumesTagged: (region, tags) =>
      call("ec2", "DescribeVolumes", region, async () => {
        const out = await clients
          .ec2(region)
          .send(new DescribeVolumesCommand({ Filters: tagFilters(tags) }), opts);
        return (out.Volumes ?? []).map(volumeInfo);
      }),

    groups: (region, ids) =>
      ids.length === 0
        ? Promise.resolve([])
        : call("ec2", "DescribeSecurityGroups", region, async () => {
            const out = await clients
              .ec2(region)
              .send(new DescribeSecurityGroupsCommand({ GroupIds: [...ids] }), opts);
            return (out.SecurityGroups ?? []).map((g) => ({
              groupId: g.GroupId ?? "",
              name: g.GroupName ?? "",
              vpcId: g.VpcId ?? "",
              tags: tagMap(g.Tags),
              ingress: rules(g.IpPermissions),
              egress: rules(g.IpPermissionsEgress),
            }));
          }),

    managedGroup: (region, vpcId, purpose) =>
      call("ec2", "DescribeSecurityGroups", region, async () => {
        const out = await clients.ec2(region).send(
          new DescribeSecurityGroupsCommand({
            Filters: [
              { Name: "vpc-id", Values: [vpcId] },
              ...tagFilters({ "ops-rig:purpose": purpose, "ops-rig:managed-by": "ops-rig" }),
            ],
          }),
          opts,
        );
        const g = out.SecurityGroups?.[0];
        return g?.GroupId ? { groupId: g.GroupId, name: g.GroupName ?? "" } : undefined;
      }),

    flowLogs: (region, resourceIds) =>
      call("ec2", "DescribeFlowLogs", region, async () => {
        const out = await clients
          .ec2(region)
          .send(
            new DescribeFlowLogsCommand({ Filter: [{ Name: "resource-id", Values: [...resourceIds] }] }),
            opts,
          );
        return (out.FlowLogs ?? []).map((f) => ({
          flowLogId: f.FlowLogId ?? "",
          resourceId: f.ResourceId ?? "",
          trafficType: f.TrafficType ?? "",
          status: f.FlowLogStatus ?? "",
          destinationType: f.LogDestinationType ?? "",
          ...(f.LogDestination ? { destination: f.LogDestination } : {}),
          ...(f.LogGroupName ? { logGroupName: f.LogGroupName } : {}),
          ...(f.LogFormat ? { logFormat: f.LogFormat } : {}),
        }));
      }),

    trailEvents: (region, instanceId, since, limit) =>
      call("cloudtrail", "LookupEvents", region, async () => {
        const out = await clients.cloudTrail(region).send(
          new LookupEventsCommand({
            LookupAttributes: [{ AttributeKey: "ResourceName", AttributeValue: instanceId }],
            StartTime: since,
            MaxResults: Math.min(limit, 50),
          }),
          opts,
        );
        return (out.Events ?? []).map((e) => ({
          eventId: e.EventId ?? "",
          eventName: e.EventName ?? "",
          eventTime: e.EventTime ? new Date(e.EventTime).toISOString() : "",
          ...(e.EventSource ? { eventSource: e.EventSource } : {}),
          ...(e.Username ? { username: e.Username } : {}),
          ...(e.ReadOnly !== undefined ? { readOnly: e.ReadOnly === "true" } : {}),
        }));
      }),

    profilePolicies: (profileArn) =>
      call("iam", "GetInstanceProfile", "global", async () => {
        const name = profileArn.split("/").pop() ?? "";
        const iam = clients.iam();
        let profile: InstanceProfile | undefined;
        try {
          profile = (await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name }), opts))
            .InstanceProfile;
        } catch (error) {
          if (notFound(error, "NoSuchEntityException", "NoSuchEntity")) return undefined;
          throw error;
        }
        const roles = [];
        for (const role of profile?.Roles ?? []) {
          const roleName = role.RoleName ?? "";
          const attached = await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: roleName }), opts);
          const inline = await iam.send(new ListRolePoliciesCommand({ RoleName: roleName }), opts);
          roles.push({
            roleName,
            attached: (attached.AttachedPolicies ?? []).map((p) => p.PolicyName ?? ""),
            inline: inline.PolicyNames ?? [],
          });
        }
        return { profileArn, roles };
      }),

    snapshotsTagged: (region, tags) =>
      call("ec2", "DescribeSnapshots", region, async () => {
        const out = await clients
          .ec2(region)
          .send(new DescribeSnapshotsCommand({ OwnerIds: ["self"], Filters: tagFilters(tags) }), opts);
        return (out.Snapshots ?? []).map(snapshotInfo);
      }),

    snapshot: (region, snapshotId) =>
      call("ec2", "DescribeSnapshots", region, async () => {
        try {
          const out = await clients
            .ec2(region)
            .send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }), opts);
          const s = out.Snapshots?.[0];
          return s ? snapshotInfo(s) : undefined;
        } catch (error) {
          if (notFound(error, "InvalidSnapshot.NotFound", "InvalidSnapshotID.Malformed")) return undefined;
          throw error;
        }
      }),

    memoryMiB: (region, instanceType) =>
      call("ec2", "DescribeInstanceTypes", region, async () => {
        const out = await clients
          .ec2(region)
          .send(new DescribeInstanceTypesCommand({ InstanceTypes: [instanceType as _InstanceType] }), opts);
        return out.InstanceTypes?.[0]?.MemoryInfo?.SizeInMiB;
      }),

    managedInstance: (region, instanceId) =>
      call("ssm", "DescribeInstanceInformation", region, async () => {
        const out = await clients.ssm(region).send(
          new DescribeInstanceInformationCommand({
            Filters: [{ Key: "InstanceIds", Values: [instanceId] }],
          }),
          opts,
        );
        const info = out.InstanceInformationList?.[0];
        return info
          ? {
              pingStatus: info.PingStatus ?? "Unknown",
              ...(info.PlatformName ? { platformName: info.PlatformName } : {}),
              ...(info.AgentVersion ? { agentVersion: info.AgentVersion } : {}),
            }
          : undefined;
      }),

    commandsWithComment: (region, instanceId, comment) =>
      call("ssm", "ListCommands", region, async () => {
        const ssm = clients.ssm(region);
        const out = await ssm.send(new ListCommandsCommand({ InstanceId: instanceId }), opts);
        const mine = (out.Commands ?? []).filter((c) => c.Comment === comment && c.CommandId);
        const result = [];
        for (const c of mine) {
          let stdout: string | undefined;
          let stderr: string | undefined;
          let status: string = c.Status ?? "Pending";
          if (status === "Success" || status === "Failed") {
            // GetCommandInvocation returns up to 24,000 characters of output (ListCommandInvocations 2,500).
            const inv = await ssm.send(
              new GetCommandInvocationCommand({ CommandId: c.CommandId, InstanceId: instanceId }),
              opts,
            );
            stdout = inv.StandardOutputContent;
            stderr = inv.StandardErrorContent;
            status = inv.Status ?? status;
          }
          result.push({
            commandId: c.CommandId ?? "",
            comment,
            status,
            ...(stdout !== undefined ? { stdout } : {}),
            ...(stderr !== undefined ? { stderr } : {}),
          });
        }
        return result;
      }),

    tag: (region, ids, tags) =>
      call("ec2", "CreateTags", region, async () => {
        await clients
          .ec2(region)
          .send(new CreateTagsCommand({ Resources: [...ids], Tags: tagList(tags) }), opts);
      }),

    untag: (region, ids, keys) =>
      call("ec2", "DeleteTags", region, async () => {
        await clients
          .ec2(region)
          .send(new DeleteTagsCommand({ Resources: [...ids], Tags: keys.map((Key) => ({ Key })) }), opts);
      }),

    setInterfaceGroups: (region, interfaceId, groupIds) =>
      call("ec2", "ModifyNetworkInterfaceAttribute", region, async () => {
        await clients.ec2(region).send(
          new ModifyNetworkInterfaceAttributeCommand({
            NetworkInterfaceId: interfaceId,
            Groups: [...groupIds],
          }),
          opts,
        );
      }),

    disassociateProfile: (region, associationId) =>
      call("ec2", "DisassociateIamInstanceProfile", region, async () => {
        await clients
          .ec2(region)
          .send(new DisassociateIamInstanceProfileCommand({ AssociationId: associationId }), opts);
      }),

    associateProfile: (region, instanceId, profileArn) =>
      call("ec2", "AssociateIamInstanceProfile", region, async () => {
        await clients.ec2(region).send(
          new AssociateIamInstanceProfileCommand({
            InstanceId: instanceId,
            IamInstanceProfile: { Arn: profileArn },
          }),
          opts,
        );
      }),

    createSnapshot: (region, input) =>
      call("ec2", "CreateSnapshot", region, async () => {
        const out = await clients.ec2(region).send(
          new CreateSnapshotCommand({
            VolumeId: input.volumeId,
            Description: input.description,
            TagSpecifications: [{ ResourceType: "snapshot", Tags: tagList(input.tags) }],
          }),
          opts,
        );
        return snapshotInfo({ ...out, Tags: out.Tags ?? tagList(input.tags) });
      }),

    createVolume: (region, input) =>
      call("ec2", "CreateVolume", region, async () => {
        const out = await clients.ec2(region).send(
          new CreateVolumeCommand({
            SnapshotId: input.snapshotId,
            AvailabilityZone: input.availabilityZone,
            ClientToken: input.clientToken,
            TagSpecifications: [{ ResourceType: "volume", Tags: tagList(input.tags) }],
          }),
          opts,
        );
        return volumeInfo({ ...out, Tags: out.Tags ?? tagList(input.tags) });
      }),

    attachVolume: (region, volumeId, instanceId, device) =>
      call("ec2", "AttachVolume", region, async () => {
        await clients
          .ec2(region)
          .send(
            new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: device }),
            opts,
          );
      }),

    terminate: (region, instanceId) =>
      call("ec2", "TerminateInstances", region, async () => {
        await clients.ec2(region).send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }), opts);
      }),

    sendCommand: (region, input) =>
      call("ssm", "SendCommand", region, async () => {
        const out = await clients.ssm(region).send(
          new SendCommandCommand({
            DocumentName: "AWS-RunShellScript",
            InstanceIds: [input.instanceId],
            Comment: input.comment,
            Parameters: { commands: [...input.commands], executionTimeout: [String(input.timeoutSeconds)] },
          }),
          opts,
        );
        const id = out.Command?.CommandId;
        if (!id) throw new Error("SendCommand returned no command id");
        return id;
      }),

    putObject: (region, input) =>
      call("s3", "PutObject", region, async () => {
        await clients.s3(region).send(
          new PutObjectCommand({
            Bucket: input.bucket,
            Key: input.key,
            Body: input.body,
            ContentType: input.contentType,
            ChecksumAlgorithm: "SHA256",
          }),
          opts,
        );
      }),

    createUpload: (region, input) =>
      call("s3", "CreateMultipartUpload", region, async () => {
        const out = await clients
          .s3(region)
          .send(new CreateMultipartUploadCommand({ Bucket: input.bucket, Key: input.key }), opts);
        if (!out.UploadId) throw new Error("CreateMultipartUpload returned no upload id");
        return out.UploadId;
      }),

    presignParts: (region, input) =>
      call("s3", "UploadPart (presign)", region, async () => {
        const urls: string[] = [];
        for (let part = 1; part <= input.parts; part++) {
          urls.push(
            await getSignedUrl(
              clients.s3(region),
              new UploadPartCommand({
                Bucket: input.bucket,
                Key: input.key,
                UploadId: input.uploadId,
                PartNumber: part,
              }),
              { expiresIn: input.expiresSeconds },
            ),
          );
        }
        return urls;
      }),

    completeUpload: (region, input) =>
      call("s3", "CompleteMultipartUpload", region, async () => {
        try {
          await clients.s3(region).send(
            new CompleteMultipartUploadCommand({
              Bucket: input.bucket,
              Key: input.key,
              UploadId: input.uploadId,
              MultipartUpload: {
                Parts: [...input.parts]
                  .sort((a, b) => a.partNumber - b.partNumber)
                  .map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })),
              },
            }),
            opts,
          );
          return true;
        } catch (error) {
          // Completed by an earlier run that crashed before recording it: nothing left to do.
          if (notFound(error, "NoSuchUpload")) return false;
          throw error;
        }
      }),

    publish: (topicArn, subject, message) => {
      const region = topicArn.split(":")[3] ?? "us-east-1";
      return call("sns", "Publish", region, async () => {
        await clients
          .sns(region)
          .send(
            new PublishCommand({ TopicArn: topicArn, Subject: subject.slice(0, 100), Message: message }),
            opts,
          );
      });
    },
  };
}
