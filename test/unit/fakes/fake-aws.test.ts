import { describe, expect, it } from "vitest";
import { BASE_INFO, CANONICAL_OWNER } from "../../../src/config/bases.js";
import { AwsCallError } from "../../../src/errors.js";
import type { SnsPublishBody } from "../../../src/pipeline/notification.js";
import { FAKE_ACCOUNT, FakeAws, FakeCrash } from "../../fakes/fake-aws.js";

const HOME = "us-east-1";
const EU = "eu-west-1";
const fresh = (options: Partial<ConstructorParameters<typeof FakeAws>[0]> = {}) =>
  new FakeAws({ regions: [HOME, EU], homeRegion: HOME, seedBases: true, ...options });

/** The AWS error code a call failed with. */
async function code(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AwsCallError) return error.awsCode;
    throw error;
  }
  return undefined;
}

/** An available AMI of ours in a region (a copy of a base image), for the SSM and launch checks. */
async function ownImage(
  fake: FakeAws,
  region = HOME,
  name = "ops-rig-light-debian-12-amd64-x",
): Promise<string> {
  const [base] = await fake.ec2.searchImages(region, {
    owners: [BASE_INFO["debian-12"].owner],
    namePattern: BASE_INFO["debian-12"].namePattern("amd64"),
    architecture: "x86_64",
  });
  if (!base) throw new Error("no seeded base");
  const id = await fake.ec2.copyImage(region, {
    sourceRegion: region,
    sourceImageId: base.imageId,
    name,
    description: "d",
    clientToken: name,
    tags: { "ops-rig:toolset": "light" },
  });
  fake.settleCopies();
  return id;
}

describe("FakeAws, held to AWS's documented behaviour", () => {
  it("regions: opt-in regions that are not enabled answer AuthFailure", async () => {
    const fake = fresh({ regions: [HOME, "ap-east-1"], notOptedIn: ["ap-east-1"] });
    expect(await fake.ec2.describeRegions(HOME)).toContainEqual({
      name: "ap-east-1",
      optInStatus: "not-opted-in",
    });
    expect(await code(fake.ec2.listOwnImages("ap-east-1", "ops-rig-*"))).toBe("AuthFailure");
  });

  it("base images: owner-pinned search by name and architecture hides deprecated images and decoys", async () => {
    const fake = fresh();
    const query = {
      owners: [CANONICAL_OWNER],
      namePattern: BASE_INFO["ubuntu-24.04"].namePattern("amd64"),
      architecture: "x86_64",
    };
    const found = await fake.ec2.searchImages(HOME, query);
    // Three current images; the deprecated one and another owner's look-alike are not among them.
    expect(found).toHaveLength(3);
    expect(found.every((i) => i.ownerId === CANONICAL_OWNER && !i.deprecationTime?.startsWith("2024"))).toBe(
      true,
    );
    const parameter = BASE_INFO["ubuntu-24.04"].publicParameter("amd64");
    const { found: values } = await fake.ssm.getParameters(HOME, [parameter, "/nope"]);
    expect(found.map((i) => i.imageId)).toContain(values[0]?.value);
    // By id with the wrong owner pinned: nothing (never trust an unpinned id).
    expect(await fake.ec2.describeImages(HOME, [values[0]?.value ?? ""], ["136693071363"])).toEqual([]);
  });

  it("CopyImage: pending until settled, idempotent by client token, refuses reuse with other parameters", async () => {
    const fake = fresh();
    const [base] = await fake.ec2.searchImages(HOME, {
      owners: [BASE_INFO["debian-12"].owner],
      namePattern: BASE_INFO["debian-12"].namePattern("arm64"),
      architecture: "arm64",
    });
    const input = {
      sourceRegion: HOME,
      sourceImageId: base?.imageId ?? "",
      name: "ops-rig-copy",
      description: "d",
      clientToken: "t1",
      tags: { "ops-rig:toolset": "light" },
    };
    const id = await fake.ec2.copyImage(EU, input);
    expect(await fake.ec2.copyImage(EU, input)).toBe(id);
    expect((await fake.ec2.listOwnImages(EU, "ops-rig-*")).map((i) => [i.imageId, i.state, i.tags])).toEqual([
      [id, "pending", { "ops-rig:toolset": "light" }],
    ]);
    expect(await code(fake.ec2.copyImage(EU, { ...input, name: "other" }))).toBe(
      "IdempotentParameterMismatch",
    );
    expect(await code(fake.ec2.copyImage(EU, { ...input, clientToken: "t2" }))).toBe(
      "InvalidAMIName.Duplicate",
    );
    fake.settleCopies();
    expect((await fake.ec2.listOwnImages(EU, "ops-rig-*"))[0]?.state).toBe("available");
  });

  it("deprecation refuses the past; deregistration removes the AMI", async () => {
    const fake = fresh();
    const id = await ownImage(fake);
    expect(
      await code(fake.ec2.enableImageDeprecation(HOME, id, new Date(fake.now().getTime() - 60_000))),
    ).toBe("InvalidParameterValue");
    await fake.ec2.enableImageDeprecation(HOME, id, new Date(fake.now().getTime() + 90_000));
    expect((await fake.ec2.listOwnImages(HOME, "ops-rig-*"))[0]?.deprecationTime).toBe(
      new Date(Math.floor((fake.now().getTime() + 90_000) / 60_000) * 60_000).toISOString(),
    );
    await fake.ec2.deregisterImage(HOME, id);
    expect(await fake.ec2.listOwnImages(HOME, "ops-rig-*")).toEqual([]);
  });

  it("SSM: aws:ec2:image is validated after PutParameter answers; history, selectors and moving labels", async () => {
    const fake = fresh();
    const good = await ownImage(fake);
    const name = "/ops-rig/light/ami-id";
    expect(await fake.ssm.putImageParameter(HOME, name, good, "first")).toBe(1);
    // An AMI that is not available here: the write is answered, then dropped.
    expect(await fake.ssm.putImageParameter(HOME, name, "ami-0123456789abcdef0", "bad")).toBe(2);
    expect(await fake.ssm.getParameter(HOME, name)).toEqual({ name, value: good, version: 1 });
    await fake.ssm.labelParameterVersion(HOME, name, 1, ["build-20261129-030000"]);
    expect(await fake.ssm.getParameter(HOME, `${name}:build-20261129-030000`)).toMatchObject({ version: 1 });
    expect(await fake.ssm.getParameter(HOME, `${name}:1`)).toMatchObject({ value: good });
    expect(await code(fake.ssm.getParameter(HOME, `${name}:7`))).toBe("ParameterVersionNotFound");
    expect(await code(fake.ssm.labelParameterVersion(HOME, name, 1, ["1abc"]))).toBe("ValidationException");
    expect(await code(fake.ssm.putImageParameter(HOME, "/aws/service/x", good, "d"))).toBe(
      "ValidationException",
    );
    await fake.ssm.putImageParameter(HOME, name, good, "second");
    await fake.ssm.labelParameterVersion(HOME, name, 2, ["build-20261129-030000"]);
    expect(fake.history(HOME, name).map((h) => [h.version, h.labels, h.description])).toEqual([
      [1, [], "first"],
      [2, ["build-20261129-030000"], "second"],
    ]);
    expect(await fake.ssm.getParameter(HOME, "/ops-rig/none")).toBeUndefined();
    expect(await fake.ssm.getParameterHistory(HOME, "/ops-rig/none")).toEqual([]);
  });

  it("SSM keeps 100 versions and refuses to drop a labelled one", async () => {
    const fake = fresh();
    const image = await ownImage(fake);
    const name = "/ops-rig/light/ami-id";
    await fake.ssm.putImageParameter(HOME, name, image, "d");
    await fake.ssm.labelParameterVersion(HOME, name, 1, ["keep-me"]);
    for (let i = 2; i <= 100; i++) await fake.ssm.putImageParameter(HOME, name, image, "d");
    expect(await code(fake.ssm.putImageParameter(HOME, name, image, "d"))).toBe(
      "ParameterMaxVersionLimitExceeded",
    );
    await fake.ssm.unlabelParameterVersion(HOME, name, 1, ["keep-me"]);
    expect(await fake.ssm.putImageParameter(HOME, name, image, "d")).toBe(101);
    expect(fake.history(HOME, name).map((h) => h.version)[0]).toBe(2);
  });

  it("SNS: publishing to a topic that does not exist fails with NotFound", async () => {
    const fake = fresh();
    expect(await code(fake.sns.publish(HOME, `arn:aws:sns:${HOME}:${FAKE_ACCOUNT}:none`, msg()))).toBe(
      "NotFound",
    );
    const arn = fake.createTopic("ops-rig-notifications");
    expect(await fake.sns.publish(HOME, arn, msg())).toMatch(/^msg-/);
    expect(fake.published).toHaveLength(1);
    // SNS's limit counts the whole Publish: one byte over is refused as SNS refuses it.
    const over = msg();
    const big = { ...over, message: JSON.stringify({ default: "{}", email: "é".repeat(131_072) }) };
    expect(await code(fake.sns.publish(HOME, arn, big))).toBe("InvalidParameter");
  });

  it("Image Builder: immutable versions, idempotent client tokens, builds that finish with a tagged AMI", async () => {
    const fake = fresh();
    const ib = fake.imageBuilder;
    const component = {
      name: "ops-rig-sleuthkit",
      version: "1.0.0",
      description: "d",
      changeDescription: "c",
      data: "name: x\nschemaVersion: 1.0\nphases: []\n",
      tags: {},
      clientToken: "c1",
    };
    const arn = await ib.createComponent(component);
    expect(await ib.createComponent(component)).toBe(arn);
    expect(await code(ib.createComponent({ ...component, clientToken: "c2" }))).toBe(
      "ResourceAlreadyExistsException",
    );
    expect(
      await code(
        ib.createComponent({ ...component, data: "x".repeat(16_001), version: "1.0.1", clientToken: "c3" }),
      ),
    ).toBe("InvalidParameterValueException");
    const base = (
      await fake.ec2.searchImages(HOME, {
        owners: [BASE_INFO["debian-12"].owner],
        namePattern: BASE_INFO["debian-12"].namePattern("amd64"),
        architecture: "x86_64",
      })
    )[0];
    const recipe = await ib.createRecipe({
      name: "ops-rig-light-debian-12-amd64",
      version: "1.0.0",
      description: "d",
      parentImage: base?.imageId ?? "",
      components: [{ arn, parameters: [] }],
      blockDeviceMappings: [],
      tags: { "ops-rig:recipe-hash": "h" },
      clientToken: "r1",
    });
    const distribution = await ib.createDistribution(
      {
        name: "ops-rig-light-debian-12-amd64",
        description: "d",
        region: HOME,
        amiName: "ops-rig-light-debian-12-amd64-{{ imagebuilder:buildDate }}",
        amiDescription: "d",
        amiTags: { "ops-rig:toolset": "light" },
        tags: {},
      },
      "d1",
    );
    const image = {
      recipeArn: recipe,
      infrastructureArn: "i",
      distributionArn: distribution,
      tags: { "ops-rig:fingerprint": "f" },
      clientToken: "b1",
    };
    const build = await ib.createImage(image);
    expect(await ib.createImage(image)).toBe(build);
    expect(await code(ib.createImage({ ...image, tags: {} }))).toBe("IdempotentParameterMismatchException");
    const versionArn = recipe.replace(":image-recipe/", ":image/");
    expect((await ib.listImageBuilds(versionArn)).map((b) => b.status)).toEqual(["PENDING"]);
    fake.finishBuilds();
    const [done] = await ib.listImageBuilds(versionArn);
    expect(done?.status).toBe("AVAILABLE");
    const ami = fake.image(done?.amis[HOME] ?? "");
    expect(ami?.name).toMatch(/^ops-rig-light-debian-12-amd64-2026-11-29T12-00-00\.000Z$/);
    expect(ami?.tags).toMatchObject({
      "ops-rig:toolset": "light",
      Ec2ImageBuilderArn: build,
      CreatedBy: "EC2 Image Builder",
    });
  });

  it("security groups: unique names per VPC, duplicate and malformed rules refused, in-use groups kept", async () => {
    const fake = fresh();
    const vpcId = (await fake.launch.defaultVpc(EU)) ?? "";
    const group = { vpcId, name: "ops-rig-ssh-x", description: "d", tags: {} };
    const groupId = await fake.launch.createSecurityGroup(EU, group);
    expect(await code(fake.launch.createSecurityGroup(EU, group))).toBe("InvalidGroup.Duplicate");
    expect(await code(fake.launch.authorizeSsh(EU, groupId, ["10.8.0.0/016"]))).toBe("InvalidParameterValue");
    await fake.launch.authorizeSsh(EU, groupId, ["10.8.0.0/16"]);
    expect(await code(fake.launch.authorizeSsh(EU, groupId, ["10.9.0.0/16", "10.8.0.0/16"]))).toBe(
      "InvalidPermission.Duplicate",
    );
    expect((await fake.launch.findSecurityGroup(EU, vpcId, "ops-rig-ssh-x"))?.ingress).toEqual([
      { protocol: "tcp", fromPort: 22, toPort: 22, source: "10.8.0.0/16" },
    ]);
    expect(
      await code(
        fake.launch.revokeIngress(EU, groupId, [
          { protocol: "tcp", fromPort: 22, toPort: 22, source: "1.2.3.0/24" },
        ]),
      ),
    ).toBe("InvalidPermission.NotFound");
    const image = await ownImage(fake, EU);
    const subnetId = (await fake.launch.defaultSubnet(EU, vpcId)) ?? "";
    const run = {
      imageId: image,
      instanceType: "m7i.large",
      subnetId,
      securityGroupIds: [groupId],
      rootDeviceName: "/dev/xvda",
      tags: {},
    };
    await fake.launch.runInstance(EU, run);
    expect(await code(fake.launch.deleteSecurityGroup(EU, groupId))).toBe("DependencyViolation");
    expect(
      await code(fake.launch.checkRunInstance(EU, { ...run, instanceType: "m7i.large; rm -rf /" })),
    ).toBe("InvalidParameterValue");
    expect(await code(fake.launch.checkRunInstance(EU, { ...run, instanceProfile: "nope" }))).toBe(
      "InvalidParameterValue",
    );
    expect(fake.instances).toHaveLength(1);
  });

  it("RunInstances resolves resolve:ssm: names, versions and labels in its region", async () => {
    const fake = fresh();
    const image = await ownImage(fake, EU);
    await fake.ssm.putImageParameter(EU, "/ops-rig/light/ami-id", image, "d");
    const vpcId = (await fake.launch.defaultVpc(EU)) ?? "";
    const subnetId = (await fake.launch.defaultSubnet(EU, vpcId)) ?? "";
    const run = (imageId: string) =>
      fake.launch.runInstance(EU, {
        imageId,
        instanceType: "m7i.large",
        subnetId,
        securityGroupIds: [],
        rootDeviceName: "/dev/xvda",
        tags: {},
      });
    await run("resolve:ssm:/ops-rig/light/ami-id:1");
    expect(fake.instances[0]?.imageId).toBe(image);
    expect(await code(run("resolve:ssm:/ops-rig/light/ami-id:9"))).toBe("InvalidParameterValue");
    expect(await code(run("resolve:ssm:/ops-rig/heavy/ami-id"))).toBe("InvalidParameterValue");
  });

  it("faults, crashes and the call log", async () => {
    const fake = fresh();
    fake.fail({
      operation: "GetParameter",
      region: EU,
      times: 1,
      code: "ThrottlingException",
      retryable: true,
    });
    const throttled = await fake.ssm.getParameter(EU, "/x").catch((e: unknown) => e);
    expect(throttled).toBeInstanceOf(AwsCallError);
    expect((throttled as AwsCallError).retryable).toBe(true);
    expect(await fake.ssm.getParameter(EU, "/x")).toBeUndefined();
    const image = await ownImage(fake);
    fake.crashAfter(2);
    await fake.ec2.createTags(HOME, image, { a: "1" });
    // The second mutating call takes effect, but the process dies before it learns so.
    await expect(fake.ec2.createTags(HOME, image, { b: "2" })).rejects.toBeInstanceOf(FakeCrash);
    expect(fake.image(image)?.tags).toMatchObject({ a: "1", b: "2" });
    await expect(fake.ssm.getParameter(HOME, "/x")).rejects.toBeInstanceOf(FakeCrash);
    fake.recover();
    expect(
      fake
        .calls()
        .filter((c) => c.mutating)
        .map((c) => c.operation),
    ).toEqual(["CopyImage", "CreateTags", "CreateTags"]);
  });
});

function msg(): SnsPublishBody {
  return {
    subject: "s",
    messageStructure: "json",
    message: JSON.stringify({ default: "{}", email: "t" }),
    attributes: {},
  };
}
