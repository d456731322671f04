import {
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  CreateSecurityGroupCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSubnetsCommand,
  DescribeVolumesCommand,
  DescribeVpcsCommand,
  EC2Client,
  type Instance,
  ModifyLaunchTemplateCommand,
  RegisterImageCommand,
  type RequestLaunchTemplateData,
} from "@aws-sdk/client-ec2";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadProject } from "../../src/config/load.js";
import { type LocalAws, startLocalAws } from "../emulators/local-aws.js";
import { deployLocally, type LocalDeployment } from "../helpers/deployment.js";
import { runCli } from "../helpers/project.js";
import { cleanup as cleanupSynth, propsOf, REPO_ROOT, resourcesOfType, synth } from "../infra/helpers.js";

const REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"];
const EU = "eu-west-1";
/** The VPC the synthesized stack names; on the local AWS the rig group is made in the default VPC. */
const SYNTH_VPC = "vpc-0123456789abcdef0";
let aws: LocalAws;
let deployment: LocalDeployment;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  aws = await startLocalAws({ regions: REGIONS, clock: "manual", moto: "lent" });
  deployment = await deployLocally(aws, (await loadProject(REPO_ROOT)).pipeline);
  env = { ...aws.env, AWS_MAX_ATTEMPTS: "2" };
}, 60_000);
afterAll(async () => {
  deployment?.destroy();
  await aws?.stop();
  cleanupSynth();
});

const cli = (...args: string[]) => runCli(args, env);

/** What both launches must agree on, read back from EC2. */
async function settings(ec2: EC2Client, instanceId: string) {
  const instance = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })))
    .Reservations?.[0]?.Instances?.[0] as Instance;
  const volumes =
    (
      await ec2.send(
        new DescribeVolumesCommand({ Filters: [{ Name: "attachment.instance-id", Values: [instanceId] }] }),
      )
    ).Volumes ?? [];
  const tags = Object.fromEntries((instance.Tags ?? []).map((t) => [t.Key, t.Value]));
  return {
    imageId: instance.ImageId,
    instanceType: instance.InstanceType,
    httpTokens: instance.MetadataOptions?.HttpTokens,
    hopLimit: instance.MetadataOptions?.HttpPutResponseHopLimit,
    profile: instance.IamInstanceProfile?.Arn?.split("/").pop(),
    volumes: volumes.map((v) => ({ size: v.Size, encrypted: v.Encrypted })),
    tags: Object.fromEntries(
      [
        "ops-rig:role",
        "ops-rig:case",
        "ops-rig:toolset",
        "ops-rig:base",
        "ops-rig:arch",
        "ops-rig:image-request",
      ].map((k) => [k, tags[k]]),
    ),
    groups: (instance.SecurityGroups ?? []).map((g) => g.GroupId),
  };
}

describe("launch --template on the local AWS", () => {
  it("launches from the synthesized template's data and gets the same instance settings as ops-rig launch", async () => {
    const ec2 = new EC2Client(aws.clientConfig(EU, { maxAttempts: 2 }));
    const ssm = new SSMClient(aws.clientConfig(EU, { maxAttempts: 2 }));
    try {
      // A published light image in EU, as the pipeline leaves it.
      const imageId =
        (
          await ec2.send(
            new RegisterImageCommand({
              Name: "ops-rig-light-ubuntu-24.04-amd64-test",
              RootDeviceName: "/dev/sda1",
            }),
          )
        ).ImageId ?? "";
      await ssm.send(
        new PutParameterCommand({
          Name: "/ops-rig/light/ami-id",
          Value: imageId,
          Type: "String",
          DataType: "aws:ec2:image",
        }),
      );

      // The template exactly as the regional stack synthesizes it, its intrinsics resolved the way
      // CloudFormation would: the rig group's id.
      const built = await synth({
        responderCidrs: "10.8.0.0/16",
        responderVpcs: JSON.stringify({ [EU]: [SYNTH_VPC] }),
      });
      const json = built.regionalJson(`OpsRig-${EU}`);
      const [groupLogicalId] =
        resourcesOfType(json, "AWS::EC2::SecurityGroup").find(
          ([, r]) => propsOf(r).GroupName === "ops-rig-rig",
        ) ?? [];
      const [, template] =
        resourcesOfType(json, "AWS::EC2::LaunchTemplate").find(
          ([, r]) => propsOf(r).LaunchTemplateName === "ops-rig-light",
        ) ?? [];
      const vpcId = (
        await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: "is-default", Values: ["true"] }] }))
      ).Vpcs?.[0]?.VpcId;
      const subnetId = (
        await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: "vpc-id", Values: [vpcId ?? ""] }] }))
      ).Subnets?.[0]?.SubnetId as string;
      const rigGroup =
        (
          await ec2.send(
            new CreateSecurityGroupCommand({ GroupName: "ops-rig-rig", Description: "rig", VpcId: vpcId }),
          )
        ).GroupId ?? "";
      const data = JSON.parse(
        JSON.stringify(propsOf(template).LaunchTemplateData).replaceAll(
          JSON.stringify({ "Fn::GetAtt": [groupLogicalId, "GroupId"] }),
          JSON.stringify(rigGroup),
        ),
      ) as RequestLaunchTemplateData;
      expect(JSON.stringify(data)).not.toContain("Fn::");
      // Before the template exists, status says so (EC2 answers a missing name with an error).
      const none = JSON.parse(
        (await cli("--json", "--region", EU, "status", "--toolset", "light")).stdout,
      ) as {
        line: string;
        template?: { problems: string[] };
      }[];
      expect(none.find((r) => r.line === "light/ubuntu-24.04/amd64")?.template?.problems).toEqual([
        "missing",
      ]);
      await ec2.send(
        new CreateLaunchTemplateCommand({ LaunchTemplateName: "ops-rig-light", LaunchTemplateData: data }),
      );

      const fromTemplate = await cli(
        "--json",
        "--region",
        EU,
        "launch",
        "--toolset",
        "light",
        "--template",
        "--case",
        "IR-7",
        "--subnet",
        subnetId,
      );
      expect(fromTemplate.code, fromTemplate.stderr).toBe(0);
      const t = JSON.parse(fromTemplate.stdout) as { instanceId: string; template: { version: number } };
      expect(t.template.version).toBe(1);
      const direct = await cli(
        "--json",
        "--region",
        EU,
        "launch",
        "--toolset",
        "light",
        "--case",
        "IR-7",
        "--subnet",
        subnetId,
      );
      expect(direct.code, direct.stderr).toBe(0);
      const d = JSON.parse(direct.stdout) as { instanceId: string; securityGroup: string };

      const a = await settings(ec2, t.instanceId);
      const b = await settings(ec2, d.instanceId);
      expect(b.httpTokens).toBe("required");
      expect(b.hopLimit).toBe(1);
      expect(b.profile).toBe("ops-rig-forensic");
      expect(a.tags["ops-rig:case"]).toBe("IR-7");
      expect(b.volumes).toEqual([{ size: 16, encrypted: true }]);
      // moto also gives a template launch its default 8 GiB unencrypted root volume (setup_defaults
      // runs unless the request itself maps devices); EC2 uses the template's mapping for the root.
      const motoDefault = a.volumes.findIndex((v) => v.size === 8 && !v.encrypted);
      expect(motoDefault).toBeGreaterThanOrEqual(0);
      a.volumes.splice(motoDefault, 1);
      // moto 5.2.1 applies a template's image, type, key, groups, tags, user data and block devices
      // to the instance, but not its MetadataOptions or IamInstanceProfile (moto/ec2/models/
      // instances.py), which EC2 does. Those two are compared from the template version the launch
      // was pinned to, as EC2 holds it.
      const pinned = (
        await ec2.send(
          new DescribeLaunchTemplateVersionsCommand({
            LaunchTemplateName: "ops-rig-light",
            Versions: [String(t.template.version)],
          }),
        )
      ).LaunchTemplateVersions?.[0]?.LaunchTemplateData;
      const fromPinned = {
        ...a,
        httpTokens: pinned?.MetadataOptions?.HttpTokens,
        hopLimit: pinned?.MetadataOptions?.HttpPutResponseHopLimit,
        profile: pinned?.IamInstanceProfile?.Name,
      };
      expect({ ...fromPinned, groups: undefined }).toEqual({ ...b, groups: undefined });
      // The network differs by design: the template's rig group (prefix list), the launch's own group.
      expect(a.groups).toEqual([rigGroup]);
      expect(b.groups).toEqual([d.securityGroup]);

      // status shows the template's version in the region.
      const status = JSON.parse(
        (await cli("--json", "--region", EU, "status", "--toolset", "light")).stdout,
      ) as {
        line: string;
        template?: { version?: number; problems: string[] };
      }[];
      expect(status.find((r) => r.line === "light/ubuntu-24.04/amd64")?.template).toMatchObject({
        version: 1,
        problems: [],
      });

      // Someone makes IMDSv1 the template's default: refused, naming the version and the setting; nothing launched.
      await ec2.send(
        new CreateLaunchTemplateVersionCommand({
          LaunchTemplateName: "ops-rig-light",
          SourceVersion: "1",
          LaunchTemplateData: { MetadataOptions: { HttpTokens: "optional" } },
        }),
      );
      await ec2.send(
        new ModifyLaunchTemplateCommand({ LaunchTemplateName: "ops-rig-light", DefaultVersion: "2" }),
      );
      const before = (await ec2.send(new DescribeInstancesCommand({}))).Reservations?.flatMap(
        (r) => r.Instances ?? [],
      ).length;
      const refused = await cli(
        "--region",
        EU,
        "launch",
        "--toolset",
        "light",
        "--template",
        "--subnet",
        subnetId,
      );
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/ops-rig-light version 2 in eu-west-1 .*HttpTokens is optional/);
      const after = (await ec2.send(new DescribeInstancesCommand({}))).Reservations?.flatMap(
        (r) => r.Instances ?? [],
      ).length;
      expect(after).toBe(before);
    } finally {
      ec2.destroy();
      ssm.destroy();
    }
  });
});
