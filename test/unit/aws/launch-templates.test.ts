import {
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  EC2Client,
  RunInstancesCommand,
} from "@aws-sdk/client-ec2";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createLaunchTemplateAdapter } from "../../../src/aws/launch-templates.js";
import { AwsCallError } from "../../../src/errors.js";

const ec2Mock = mockClient(EC2Client);
afterEach(() => ec2Mock.reset());
afterAll(() => ec2Mock.restore());

const adapter = createLaunchTemplateAdapter((region) => new EC2Client({ region, maxAttempts: 1 }));
const REGION = "eu-west-1";

/** An SDK error as the EC2 query protocol deserializes it. */
function ec2Error(code: string, message: string): Error {
  return Object.assign(new Error(message), { name: code, $metadata: { httpStatusCode: 400 } });
}

describe("the launch template adapter", () => {
  it("reads the default version (not $Latest) and flattens its data", async () => {
    ec2Mock.on(DescribeLaunchTemplatesCommand).resolves({
      LaunchTemplates: [
        {
          LaunchTemplateId: "lt-0a20c965061f64abc",
          LaunchTemplateName: "ops-rig-light",
          DefaultVersionNumber: 2,
          LatestVersionNumber: 3,
        },
      ],
    });
    ec2Mock.on(DescribeLaunchTemplateVersionsCommand).resolves({
      LaunchTemplateVersions: [
        {
          LaunchTemplateId: "lt-0a20c965061f64abc",
          VersionNumber: 2,
          DefaultVersion: true,
          LaunchTemplateData: {
            ImageId: "resolve:ssm:/ops-rig/light/ami-id",
            InstanceType: "m7i.large",
            IamInstanceProfile: { Arn: "arn:aws:iam::123456789012:instance-profile/ops-rig-forensic" },
            MetadataOptions: { HttpTokens: "required", HttpPutResponseHopLimit: 1, HttpEndpoint: "enabled" },
            BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { Encrypted: true, VolumeSize: 16 } }],
            SecurityGroupIds: ["sg-0123456789abcdef0"],
            TagSpecifications: [
              { ResourceType: "instance", Tags: [{ Key: "ops-rig:role", Value: "forensic" }] },
            ],
          },
        },
      ],
    });
    const info = await adapter.template(REGION, "ops-rig-light");
    expect(ec2Mock.commandCalls(DescribeLaunchTemplateVersionsCommand)[0]?.args[0].input).toEqual({
      LaunchTemplateId: "lt-0a20c965061f64abc",
      Versions: ["2"],
    });
    expect(info).toEqual({
      templateId: "lt-0a20c965061f64abc",
      name: "ops-rig-light",
      defaultVersion: 2,
      latestVersion: 3,
      data: {
        imageId: "resolve:ssm:/ops-rig/light/ami-id",
        instanceType: "m7i.large",
        instanceProfileArn: "arn:aws:iam::123456789012:instance-profile/ops-rig-forensic",
        metadata: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 },
        blockDevices: [{ deviceName: "/dev/sda1", encrypted: true, volumeSize: 16 }],
        securityGroupIds: ["sg-0123456789abcdef0"],
        networkInterfaces: 0,
        tags: { "ops-rig:role": "forensic" },
      },
    });
  });

  it("answers undefined for a missing name (EC2's NotFound error or an empty list), and names other failures", async () => {
    ec2Mock
      .on(DescribeLaunchTemplatesCommand)
      .rejectsOnce(
        ec2Error(
          "InvalidLaunchTemplateName.NotFoundException",
          "At least one of the launch templates specified in the request does not exist.",
        ),
      )
      .resolvesOnce({ LaunchTemplates: [] })
      .rejectsOnce(ec2Error("UnauthorizedOperation", "You are not authorized to perform this operation."));
    expect(await adapter.template(REGION, "ops-rig-light")).toBeUndefined();
    expect(await adapter.template(REGION, "ops-rig-light")).toBeUndefined();
    const error = await adapter.template(REGION, "ops-rig-light").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AwsCallError);
    expect((error as AwsCallError).message).toMatch(
      /ec2:DescribeLaunchTemplates in eu-west-1 .*UnauthorizedOperation/,
    );
  });

  it("launches the pinned version number with the full tag set on instance, volume and interface", async () => {
    ec2Mock
      .on(RunInstancesCommand)
      .resolves({ Instances: [{ InstanceId: "i-0123456789abcdef0", PrivateIpAddress: "10.0.0.5" }] });
    const out = await adapter.runFromTemplate(REGION, {
      templateId: "lt-0a20c965061f64abc",
      version: 2,
      subnetId: "subnet-0123456789abcdef0",
      tags: { "ops-rig:case": "IR-7", "ops-rig:role": "forensic" },
    });
    expect(out).toEqual({ instanceId: "i-0123456789abcdef0", privateIp: "10.0.0.5" });
    const input = ec2Mock.commandCalls(RunInstancesCommand)[0]?.args[0].input;
    expect(input?.LaunchTemplate).toEqual({ LaunchTemplateId: "lt-0a20c965061f64abc", Version: "2" });
    expect(input?.ImageId).toBeUndefined();
    expect(input?.SecurityGroupIds).toBeUndefined();
    expect(input?.TagSpecifications?.map((t) => t.ResourceType)).toEqual([
      "instance",
      "volume",
      "network-interface",
    ]);
  });

  it("a dry run resolves on DryRunOperation and fails when EC2 answers as if it ran", async () => {
    ec2Mock
      .on(RunInstancesCommand)
      .rejectsOnce(ec2Error("DryRunOperation", "Request would have succeeded, but DryRun flag is set."));
    await expect(
      adapter.checkRunFromTemplate(REGION, { templateId: "lt-1", version: 1, tags: {} }),
    ).resolves.toBeUndefined();
    ec2Mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: "i-1" }] });
    await expect(
      adapter.checkRunFromTemplate(REGION, { templateId: "lt-1", version: 1, tags: {} }),
    ).rejects.toThrow(/answered as if it had run/);
  });
});
