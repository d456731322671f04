import { AwsSolutionsChecks } from "cdk-nag";
import { afterAll, describe, expect, it } from "vitest";
import { loadProject } from "../../src/config/load.js";
import { type LaunchTemplateData, templateProblems } from "../../src/responders/launch-template.js";
import { cleanup, propsOf, REPO_ROOT, resourcesOfType, synth, type TemplateJson } from "./helpers.js";

afterAll(cleanup);

const VPCS: Record<string, string[]> = {
  "us-east-1": ["vpc-0aaaaaaaaaaaaaaa1", "vpc-0aaaaaaaaaaaaaaa2"],
  "eu-west-1": ["vpc-0bbbbbbbbbbbbbbb1"],
  "ap-southeast-2": ["vpc-0ccccccccccccccc1"],
};
const CONTEXT = { responderCidrs: "10.8.0.0/16", responderVpcs: JSON.stringify(VPCS) };

/** The synthesized template data in the shape `ops-rig launch --template` reads back from EC2. */
function asTemplateData(data: Record<string, unknown>): LaunchTemplateData {
  const profile = data.IamInstanceProfile as { Name?: string } | undefined;
  const metadata = data.MetadataOptions as Record<string, unknown> | undefined;
  const tagSpecs = (data.TagSpecifications ?? []) as {
    ResourceType: string;
    Tags: { Key: string; Value: string }[];
  }[];
  const instanceTags = tagSpecs.find((t) => t.ResourceType === "instance")?.Tags ?? [];
  return {
    ...(typeof data.ImageId === "string" ? { imageId: data.ImageId } : {}),
    ...(typeof data.InstanceType === "string" ? { instanceType: data.InstanceType } : {}),
    ...(profile?.Name ? { instanceProfileName: profile.Name } : {}),
    ...(metadata
      ? {
          metadata: {
            httpTokens: metadata.HttpTokens as string,
            httpEndpoint: metadata.HttpEndpoint as string,
            httpPutResponseHopLimit: metadata.HttpPutResponseHopLimit as number,
          },
        }
      : {}),
    blockDevices: (
      (data.BlockDeviceMappings ?? []) as { DeviceName: string; Ebs: Record<string, unknown> }[]
    ).map((b) => ({
      deviceName: b.DeviceName,
      encrypted: b.Ebs.Encrypted as boolean,
      volumeSize: b.Ebs.VolumeSize as number,
    })),
    securityGroupIds: ((data.SecurityGroupIds ?? []) as unknown[]).map((g) => JSON.stringify(g)),
    networkInterfaces: ((data.NetworkInterfaces ?? []) as unknown[]).length,
    tags: Object.fromEntries(instanceTags.map((t) => [t.Key, t.Value])),
  };
}

function templatesOf(json: TemplateJson) {
  return resourcesOfType(json, "AWS::EC2::LaunchTemplate").map(([id, r]) => {
    const p = propsOf(r);
    return {
      id,
      name: p.LaunchTemplateName as string,
      data: p.LaunchTemplateData as Record<string, unknown>,
    };
  });
}

describe("rig launch templates", { timeout: 180_000 }, () => {
  it("exist in every configured region for every toolset, locked down like ops-rig launch", async () => {
    const built = await synth(CONTEXT);
    const project = await loadProject(REPO_ROOT);
    const home = built.json;
    // The instance profile the templates name is the one the home stack creates.
    const [, profile] = resourcesOfType(home, "AWS::IAM::InstanceProfile").find(
      ([, r]) => propsOf(r).InstanceProfileName === "ops-rig-forensic",
    ) ?? [undefined, undefined];
    expect(profile).toBeDefined();

    expect(built.regionalStacks.map((s) => s.region).sort()).toEqual(Object.keys(VPCS).sort());
    for (const stack of built.regionalStacks) {
      const json = built.regionalJson(stack.stackName);
      const templates = templatesOf(json);
      const vpcs = VPCS[stack.region] ?? [];
      const expectedNames = project.toolsets.flatMap((t) =>
        vpcs.map((vpc, i) => (i === 0 ? `ops-rig-${t.name}` : `ops-rig-${t.name}-${vpc}`)),
      );
      expect(templates.map((t) => t.name).sort()).toEqual(expectedNames.sort());
      const rigGroups = resourcesOfType(json, "AWS::EC2::SecurityGroup").filter(
        ([, r]) => propsOf(r).GroupName === "ops-rig-rig",
      );
      expect(rigGroups).toHaveLength(vpcs.length);
      for (const toolset of project.toolsets) {
        const template = templates.find((t) => t.name === `ops-rig-${toolset.name}`);
        if (!template) throw new Error(`no template for ${toolset.name} in ${stack.region}`);
        const { data } = template;
        expect(data.ImageId).toBe(`resolve:ssm:/ops-rig/${toolset.name}/ami-id`);
        expect(data.MetadataOptions).toEqual({
          HttpTokens: "required",
          HttpEndpoint: "enabled",
          HttpPutResponseHopLimit: 1,
        });
        expect(data.IamInstanceProfile).toEqual({ Name: "ops-rig-forensic" });
        expect(data.InstanceType).toBe(toolset.instanceTypes[toolset.default.arch]?.[0]);
        expect(data.BlockDeviceMappings).toEqual([
          {
            DeviceName: toolset.default.base.startsWith("ubuntu") ? "/dev/sda1" : "/dev/xvda",
            Ebs: {
              Encrypted: true,
              DeleteOnTermination: true,
              VolumeType: "gp3",
              VolumeSize: toolset.rootVolume.sizeGiB,
            },
          },
        ]);
        // The default template carries the first VPC's rig group.
        const [groupId] = rigGroups.find(([, r]) => propsOf(r).VpcId === vpcs[0]) ?? [];
        expect(data.SecurityGroupIds).toEqual([{ "Fn::GetAtt": [groupId, "GroupId"] }]);
        expect(
          templateProblems(asTemplateData(data), {
            parameter: `/ops-rig/${toolset.name}/ami-id`,
            instanceProfile: "ops-rig-forensic",
          }),
        ).toEqual([]);
        for (const spec of data.TagSpecifications as {
          ResourceType: string;
          Tags: { Key: string; Value: string }[];
        }[]) {
          expect(spec.Tags).toEqual(
            expect.arrayContaining([
              { Key: "ops-rig:role", Value: "forensic" },
              { Key: "ops-rig:case", Value: "none" },
              { Key: "ops-rig:toolset", Value: toolset.name },
            ]),
          );
        }
      }
      // The rig group: SSH from the prefix list in, HTTPS out, nothing else.
      for (const [id, group] of rigGroups) {
        expect(propsOf(group).SecurityGroupEgress).toEqual([
          expect.objectContaining({ CidrIp: "0.0.0.0/0", IpProtocol: "tcp", FromPort: 443, ToPort: 443 }),
        ]);
        const ingress = resourcesOfType(json, "AWS::EC2::SecurityGroupIngress")
          .map(([, r]) => propsOf(r))
          .filter((r) => JSON.stringify(r.GroupId).includes(id));
        expect(ingress).toEqual([
          expect.objectContaining({
            IpProtocol: "tcp",
            FromPort: 22,
            ToPort: 22,
            SourcePrefixListId: expect.anything(),
          }),
        ]);
      }
    }
  });

  it("are refused by the launcher's check when someone edits them", async () => {
    const built = await synth(CONTEXT);
    const [stack] = built.regionalStacks;
    if (!stack) throw new Error("no regional stack");
    const light = templatesOf(built.regionalJson(stack.stackName)).find((t) => t.name === "ops-rig-light");
    if (!light) throw new Error("no light template");
    const expected = { parameter: "/ops-rig/light/ami-id", instanceProfile: "ops-rig-forensic" };
    const edit = (patch: Record<string, unknown>) =>
      templateProblems(asTemplateData({ ...light.data, ...patch }), expected);
    expect(edit({ ImageId: "ami-0123456789abcdef0" })).toEqual([expect.stringContaining("ImageId")]);
    expect(edit({ ImageId: "resolve:ssm:/ops-rig/light/ami-id:7" })).toEqual([]);
    expect(edit({ ImageId: "resolve:ssm:/ops-rig/light/ami-id-evil" })).toEqual([
      expect.stringContaining("ImageId"),
    ]);
    expect(edit({ MetadataOptions: { HttpTokens: "optional" } })).toEqual([
      expect.stringContaining("HttpTokens"),
    ]);
    expect(edit({ MetadataOptions: { HttpTokens: "required", HttpPutResponseHopLimit: 2 } })).toEqual([
      expect.stringContaining("HopLimit"),
    ]);
    expect(edit({ IamInstanceProfile: { Name: "admin" } })).toEqual([
      expect.stringContaining("IamInstanceProfile"),
    ]);
    expect(edit({ BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { Encrypted: false } }] })).toEqual([
      expect.stringContaining("not encrypted"),
    ]);
    expect(edit({ NetworkInterfaces: [{ DeviceIndex: 0 }] })).toEqual([
      expect.stringContaining("network interfaces"),
    ]);
  });

  it("keep cdk-nag clean in every regional stack", async () => {
    const { app, regionalStacks } = await synth(CONTEXT);
    const findings = regionalStacks.flatMap((stack) =>
      new AwsSolutionsChecks(app)
        .validateScope(stack)
        .violations.map(
          (v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(", ")}`,
        ),
    );
    expect(findings).toEqual([]);
  });
});
