import {
  type _InstanceType,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  type EC2Client,
  type ResponseLaunchTemplateData,
  RunInstancesCommand,
  type RunInstancesCommandInput,
} from "@aws-sdk/client-ec2";
import { AwsCallError } from "../errors.js";
import type { LaunchTemplateData } from "../responders/launch-template.js";
import type { LaunchTemplatePort, TemplateRunInput } from "../services/ports.js";
import { type AdapterOptions, awsCall as call, sendOptions, tagList, tagMap } from "./call.js";

/** The rig launch templates: read a template's default version, launch a pinned version of it. */
export function createLaunchTemplateAdapter(
  client: (region: string) => EC2Client,
  options: AdapterOptions = {},
): LaunchTemplatePort {
  const { signal } = options;
  const opts = sendOptions(signal);
  const awsCall = <T>(operation: string, region: string, fn: () => Promise<T>) =>
    call("ec2", operation, region, fn, signal);
  const run = async (region: string, input: TemplateRunInput, dryRun: boolean) => {
    const out = await client(region).send(
      new RunInstancesCommand({ ...runInput(input), DryRun: dryRun }),
      opts,
    );
    return out.Instances?.[0];
  };
  return {
    template: async (region, name) => {
      const template = await awsCall("DescribeLaunchTemplates", region, async () => {
        try {
          const out = await client(region).send(
            new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: [name] }),
            opts,
          );
          return out.LaunchTemplates?.find((t) => t.LaunchTemplateName === name);
        } catch (error) {
          // EC2 answers a missing name with this error, not an empty list.
          if ((error as { name?: string }).name === "InvalidLaunchTemplateName.NotFoundException")
            return undefined;
          throw error;
        }
      });
      if (!template?.LaunchTemplateId || template.DefaultVersionNumber === undefined) return undefined;
      const templateId = template.LaunchTemplateId;
      const defaultVersion = template.DefaultVersionNumber;
      const version = await awsCall("DescribeLaunchTemplateVersions", region, async () => {
        const out = await client(region).send(
          new DescribeLaunchTemplateVersionsCommand({
            LaunchTemplateId: templateId,
            Versions: [String(defaultVersion)],
          }),
          opts,
        );
        return out.LaunchTemplateVersions?.[0];
      });
      return {
        templateId,
        name,
        defaultVersion,
        latestVersion: template.LatestVersionNumber ?? defaultVersion,
        data: flatten(version?.LaunchTemplateData ?? {}),
      };
    },
    runFromTemplate: (region, input) =>
      awsCall("RunInstances", region, async () => {
        const instance = await run(region, input, false);
        if (!instance?.InstanceId) throw new Error("RunInstances returned no instance");
        return {
          instanceId: instance.InstanceId,
          ...(instance.PrivateIpAddress ? { privateIp: instance.PrivateIpAddress } : {}),
          ...(instance.PublicIpAddress ? { publicIp: instance.PublicIpAddress } : {}),
        };
      }),
    checkRunFromTemplate: async (region, input) => {
      try {
        await awsCall("RunInstances", region, () => run(region, input, true));
      } catch (error) {
        if (error instanceof AwsCallError && error.awsCode === "DryRunOperation") return;
        throw error;
      }
      throw new AwsCallError({
        service: "ec2",
        operation: "RunInstances",
        region,
        message: "a DryRun request was answered as if it had run",
      });
    },
  };
}

/** RunInstances from a template version: only what the launcher adds, the template gives the rest. */
export function runInput(input: TemplateRunInput): RunInstancesCommandInput {
  return {
    LaunchTemplate: { LaunchTemplateId: input.templateId, Version: String(input.version) },
    MinCount: 1,
    MaxCount: 1,
    ...(input.subnetId ? { SubnetId: input.subnetId } : {}),
    ...(input.securityGroupIds?.length ? { SecurityGroupIds: [...input.securityGroupIds] } : {}),
    ...(input.instanceType ? { InstanceType: input.instanceType as _InstanceType } : {}),
    ...(input.keyName ? { KeyName: input.keyName } : {}),
    TagSpecifications: (["instance", "volume", "network-interface"] as const).map((ResourceType) => ({
      ResourceType,
      Tags: tagList(input.tags),
    })),
  };
}

function flatten(data: ResponseLaunchTemplateData): LaunchTemplateData {
  const m = data.MetadataOptions;
  const instanceTags = data.TagSpecifications?.find((t) => t.ResourceType === "instance")?.Tags;
  return {
    ...(data.ImageId ? { imageId: data.ImageId } : {}),
    ...(data.InstanceType ? { instanceType: data.InstanceType } : {}),
    ...(data.IamInstanceProfile?.Name ? { instanceProfileName: data.IamInstanceProfile.Name } : {}),
    ...(data.IamInstanceProfile?.Arn ? { instanceProfileArn: data.IamInstanceProfile.Arn } : {}),
    ...(m
      ? {
          metadata: {
            ...(m.HttpTokens ? { httpTokens: m.HttpTokens } : {}),
            ...(m.HttpEndpoint ? { httpEndpoint: m.HttpEndpoint } : {}),
            ...(m.HttpPutResponseHopLimit !== undefined
              ? { httpPutResponseHopLimit: m.HttpPutResponseHopLimit }
              : {}),
          },
        }
      : {}),
    blockDevices: (data.BlockDeviceMappings ?? []).map((b) => ({
      ...(b.DeviceName ? { deviceName: b.DeviceName } : {}),
      ...(b.Ebs?.Encrypted !== undefined ? { encrypted: b.Ebs.Encrypted } : {}),
      ...(b.Ebs?.VolumeSize !== undefined ? { volumeSize: b.Ebs.VolumeSize } : {}),
    })),
    // Groups by name count too: either way the template decides the rig's network access.
    securityGroupIds: [...(data.SecurityGroupIds ?? []), ...(data.SecurityGroups ?? [])],
    networkInterfaces: data.NetworkInterfaces?.length ?? 0,
    ...(data.UserData ? { userData: data.UserData } : {}),
    tags: tagMap(instanceTags),
  };
}
