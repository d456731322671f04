import { beforeAll, describe, expect, it } from "vitest";
import type { Toolset } from "../../src/config/types.js";
import { LaunchTemplateNotFoundError, UsageError } from "../../src/errors.js";
import type { PipelineProject } from "../../src/pipeline/run.js";
import type { LaunchTemplateData } from "../../src/responders/launch-template.js";
import { securityGroupName } from "../../src/services/launch.js";
import { launchFromTemplate, type TemplateLaunchRequest } from "../../src/services/launch-template.js";
import { FakeTemplates } from "../fakes/fake-templates.js";
import { shippedProject } from "../helpers/shipped.js";
import { AP, converge, EU, type FakeWorld, fakeWorld, HOME } from "./fake-world.js";

let project: PipelineProject;
let toolset: Toolset;
beforeAll(async () => {
  project = await shippedProject({
    toolsets: ["light"],
    bases: ["ubuntu-24.04"],
    arches: ["amd64"],
    regions: [HOME, EU, AP],
  });
  toolset = project.toolsets[0] as Toolset;
});

const DATA: LaunchTemplateData = {
  imageId: "resolve:ssm:/ops-rig/light/ami-id",
  instanceType: "m7i.large",
  instanceProfileName: "ops-rig-forensic",
  metadata: { httpTokens: "required", httpPutResponseHopLimit: 1 },
  blockDevices: [{ deviceName: "/dev/sda1", encrypted: true }],
  securityGroupIds: [],
  networkInterfaces: 0,
  tags: { "ops-rig:role": "forensic", "ops-rig:case": "none" },
};

async function world(data: Partial<LaunchTemplateData> = {}, region = EU) {
  const w: FakeWorld = fakeWorld(project);
  await converge(w);
  const templates = new FakeTemplates();
  templates.put(region, {
    templateId: "lt-0123456789abcdef0",
    name: "ops-rig-light",
    defaultVersion: 4,
    latestVersion: 5,
    data: { ...DATA, ...data },
  });
  const go = (extra: Partial<TemplateLaunchRequest> = {}) =>
    launchFromTemplate(
      { ports: w.aws.ports, launch: w.aws.launch, templates, events: () => {} },
      {
        region: EU,
        toolset,
        line: { toolset: "light", base: "ubuntu-24.04", arch: "amd64" },
        parameterPrefix: "/ops-rig",
        instanceProfile: "ops-rig-forensic",
        sshCidrs: [],
        ...extra,
      },
    );
  return { w, templates, go };
}

describe("launch --template (the service)", () => {
  it("supplies ops-rig's own group when the template has none (a region without a responder VPC)", async () => {
    const { w, templates, go } = await world();
    const result = await go({ sshCidrs: ["10.8.0.0/16"], caseId: "IR-9" });
    expect(result.securityGroup).toMatchObject({
      status: "created",
      name: securityGroupName(["10.8.0.0/16"]),
    });
    const [group] = w.aws.securityGroups(EU);
    const run = templates.runs[0]?.input;
    expect(run?.securityGroupIds).toEqual([group?.groupId]);
    expect(run?.subnetId).toMatch(/^subnet-/);
    // Pinned to the default version that was checked, not the newer latest one.
    expect(run?.version).toBe(4);
    expect(run?.tags).toMatchObject({
      "ops-rig:case": "IR-9",
      "ops-rig:role": "forensic",
      "ops-rig:launch-template": "ops-rig-light:4",
      "ops-rig:image-request": "resolve:ssm:/ops-rig/light/ami-id",
    });
    expect(run?.tags["ops-rig:launched-by"]).toMatch(/^arn:aws:/);
  });

  it("refuses SSH ranges when the template's rig group decides access, and changes nothing", async () => {
    const { w, templates, go } = await world({ securityGroupIds: ["sg-0123456789abcdef0"] });
    await expect(go({ sshCidrs: ["10.8.0.0/16"] })).rejects.toThrow(UsageError);
    expect(templates.runs).toEqual([]);
    expect(w.aws.securityGroups(EU)).toEqual([]);
  });

  it("names a region without the template, and refuses a template that launches another parameter", async () => {
    const missing = await world({}, AP);
    await expect(missing.go()).rejects.toBeInstanceOf(LaunchTemplateNotFoundError);
    const { go, templates } = await world();
    await expect(go({ parameterPrefix: "/elsewhere" })).rejects.toThrow(
      /ImageId is "resolve:ssm:\/ops-rig\/light\/ami-id", not resolve:ssm:\/elsewhere/,
    );
    expect(templates.runs).toEqual([]);
  });

  it("removes the group it created when RunInstances fails", async () => {
    const { w, templates, go } = await world();
    templates.runFromTemplate = async () => {
      throw new Error("InsufficientInstanceCapacity");
    };
    await expect(go({ sshCidrs: ["10.8.0.0/16"] })).rejects.toThrow(/InsufficientInstanceCapacity/);
    expect(w.aws.securityGroups(EU)).toEqual([]);
  });
});
