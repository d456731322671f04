import {
  DeregisterImageCommand,
  DescribeImagesCommand,
  EC2Client,
  RegisterImageCommand,
} from "@aws-sdk/client-ec2";
import {
  CancelImageCreationCommand,
  CreateComponentCommand,
  CreateImageCommand,
  type CreateImageCommandInput,
  CreateImageRecipeCommand,
  GetImageCommand,
  type Image,
  ListImageBuildVersionsCommand,
  ListImagesCommand,
} from "@aws-sdk/client-imagebuilder";
import { CreateTopicCommand, SNSClient, SubscribeCommand } from "@aws-sdk/client-sns";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { beforeEach, describe, expect, it } from "vitest";
import type { LocalBuilder } from "../emulators/local-aws.js";
import { REGIONS, rejection, useLocalAws } from "./helpers.js";
import {
  createDistribution,
  createInfrastructure,
  createLineRecipe,
  imageBuilder,
  recipeShape,
  rendered,
} from "./imagebuilder-fixtures.js";

type BuildRequest = Parameters<LocalBuilder>[0];
let builder: LocalBuilder | undefined;
const builds: BuildRequest[] = [];
const local = useLocalAws(import.meta.filename, {
  // One local AWS for the file: each test decides what the "real local build" does.
  localBuilder: async (request) => {
    builds.push(request);
    if (!builder) throw new Error("this test did not expect a local build");
    return builder(request);
  },
});
beforeEach(() => {
  builds.length = 0;
  builder = undefined;
});
const HOST_ARCH = process.arch === "arm64" ? "arm64" : "amd64";
const OTHER_ARCH = HOST_ARCH === "arm64" ? "amd64" : "arm64";

async function subscribedQueue(
  region = "us-east-1",
): Promise<{ topicArn: string; read: () => Promise<Record<string, unknown>[]> }> {
  const { aws } = local;
  const sns = new SNSClient(aws.clientConfig(region));
  const sqs = new SQSClient(aws.clientConfig(region));
  const topicArn =
    (await sns.send(new CreateTopicCommand({ Name: "ops-rig-imagebuilder-events" }))).TopicArn ?? "";
  const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: "ops-rig-events" }))).QueueUrl ?? "";
  const queueArn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }))
  ).Attributes?.QueueArn;
  await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: "sqs", Endpoint: queueArn }));
  return {
    topicArn,
    read: async () => {
      const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
      return (out.Messages ?? []).map((m) => {
        const envelope = JSON.parse(m.Body ?? "{}") as { Message?: string; TopicArn?: string };
        expect(envelope.TopicArn).toBe(topicArn);
        return JSON.parse(envelope.Message ?? "{}") as Record<string, unknown>;
      });
    },
  };
}

async function getImage(arn: string | undefined, region = "us-east-1"): Promise<Image> {
  const image = (
    await imageBuilder(local.aws, region).send(new GetImageCommand({ imageBuildVersionArn: arn }))
  ).image;
  if (!image) throw new Error(`GetImage ${arn} returned no image`);
  return image;
}

async function startBuild(
  toolset: string,
  base: string,
  arch: string,
  options: {
    topicArn?: string;
    distribution?: string;
    input?: Partial<CreateImageCommandInput>;
    recipe?: Parameters<typeof createLineRecipe>[4];
  } = {},
): Promise<string> {
  const client = imageBuilder(local.aws);
  const recipe = await createLineRecipe(client, toolset, base, arch, options.recipe);
  const infra = await createInfrastructure(
    client,
    options.topicArn,
    `ops-rig-${toolset}-${base.replace(".", "-")}-${arch}`,
  );
  const out = await client.send(
    new CreateImageCommand({
      imageRecipeArn: recipe,
      infrastructureConfigurationArn: infra,
      ...(options.distribution ? { distributionConfigurationArn: options.distribution } : {}),
      ...options.input,
    }),
  );
  return out.imageBuildVersionArn ?? "";
}

describe("Image Builder emulator: building images", () => {
  it("walks a CreateImage to AVAILABLE, registers its AMIs in moto with Image Builder's tags, and notifies SNS → SQS", async () => {
    const { aws } = local;
    const queue = await subscribedQueue();
    const client = imageBuilder(aws);
    const distribution = await createDistribution(
      client,
      REGIONS.map((region) => ({
        region,
        amiDistributionConfiguration: {
          name: "ops-rig-light-ubuntu-24-04-amd64 {{ imagebuilder:buildDate }}",
          description: "ops-rig light",
          amiTags: { "ops-rig:toolset": "light", "ops-rig:base": "ubuntu-24.04" },
        },
        ssmParameterConfigurations: [
          { parameterName: "/ops-rig/imagebuilder/light/ami-id", dataType: "aws:ec2:image" },
        ],
      })),
    );
    const arn = await startBuild("light", "ubuntu-24.04", "amd64", {
      topicArn: queue.topicArn,
      distribution,
      input: { clientToken: "light-ubuntu-24.04-amd64-fp1", tags: { "ops-rig:fingerprint": "fp1" } },
    });
    expect(arn).toMatch(/:image\/ops-rig-light-ubuntu-24-04-amd64\/1\.0\.0\/1$/);

    const seen: string[] = [(await getImage(arn)).state?.status ?? ""];
    for (const ms of [1_000, 4_000, 2_000, 2_000]) {
      await aws.imageBuilder.advance(ms);
      seen.push((await getImage(arn)).state?.status ?? "");
    }
    expect(seen).toEqual(["PENDING", "BUILDING", "TESTING", "DISTRIBUTING", "AVAILABLE"]);

    const image = await getImage(arn);
    expect(image.version).toBe("1.0.0/1");
    expect(image.tags).toEqual({ "ops-rig:fingerprint": "fp1" });
    expect(image.imageRecipe?.parentImage).toMatch(/^ssm:\/aws\/service\/canonical\//);
    const amis = image.outputResources?.amis ?? [];
    expect(amis.map((a) => a.region)).toEqual([...REGIONS]);
    expect(aws.imageBuilder.images()).toEqual([
      {
        arn,
        status: "AVAILABLE",
        recipeName: "ops-rig-light-ubuntu-24-04-amd64",
        amiIds: Object.fromEntries(amis.map((a) => [a.region, a.image])),
      },
    ]);
    for (const ami of amis) {
      const ec2 = new EC2Client(aws.clientConfig(ami.region ?? ""));
      const found = (await ec2.send(new DescribeImagesCommand({ ImageIds: [ami.image ?? ""] }))).Images?.[0];
      expect(found?.State).toBe("available");
      expect(found?.OwnerId).toBe(aws.accountId);
      expect(found?.Architecture).toBe("x86_64");
      expect(found?.Name).toBe(ami.name);
      expect(found?.Name).toMatch(
        /^ops-rig-light-ubuntu-24-04-amd64 \d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z$/,
      );
      expect(new Map(found?.Tags?.map((t) => [t.Key, t.Value]))).toEqual(
        new Map([
          ["ops-rig:toolset", "light"],
          ["ops-rig:base", "ubuntu-24.04"],
          ["CreatedBy", "EC2 Image Builder"],
          ["Ec2ImageBuilderArn", arn],
        ]),
      );
      // Found the way the pipeline finds its AMIs: by owner and tag.
      const byTag = await ec2.send(
        new DescribeImagesCommand({
          Owners: ["self"],
          Filters: [{ Name: "tag:Ec2ImageBuilderArn", Values: [arn] }],
        }),
      );
      expect(byTag.Images?.map((i) => i.ImageId)).toEqual([ami.image]);
      const ssm = new SSMClient(aws.clientConfig(ami.region ?? ""));
      expect(
        (await ssm.send(new GetParameterCommand({ Name: "/ops-rig/imagebuilder/light/ami-id" }))).Parameter
          ?.Value,
      ).toBe(ami.image);
    }

    const [message, ...more] = await queue.read();
    expect(more).toEqual([]);
    expect(message?.arn).toBe(arn);
    expect(message?.state).toEqual({ status: "AVAILABLE" });
    expect(message?.version).toBe("1.0.0");
    expect(message?.buildVersion).toBe(1);
    expect(message?.dateCreated).toMatch(/^[A-Z][a-z]{2} \d{1,2}, \d{4} \d{1,2}:\d{2}:\d{2} [AP]M$/);
    expect((message?.outputResources as { amis: unknown[] } | undefined)?.amis).toEqual(
      amis.map((a) => ({
        region: a.region,
        image: a.image,
        name: a.name,
        description: a.description,
        accountId: aws.accountId,
      })),
    );
    expect((message?.imageRecipe as { parentImage: string } | undefined)?.parentImage).toBe(
      image.imageRecipe?.parentImage,
    );

    // The same client token again: the same build, not a second one.
    const again = await client.send(
      new CreateImageCommand({
        imageRecipeArn: image.imageRecipe?.arn,
        infrastructureConfigurationArn: image.infrastructureConfiguration?.arn,
        distributionConfigurationArn: distribution,
        clientToken: "light-ubuntu-24.04-amd64-fp1",
        tags: { "ops-rig:fingerprint": "fp1" },
      }),
    );
    expect(again.imageBuildVersionArn).toBe(arn);
  });

  it("fails the matching image at the injected phase, with the reason, and says so on SNS", async () => {
    const { aws } = local;
    const queue = await subscribedQueue();
    aws.imageBuilder.failNext({
      phase: "TESTING",
      reason: "Test component ops-rig-sleuthkit failed: fls not found",
      match: (recipe) => recipe.includes("heavy"),
    });
    const light = await startBuild("light", "ubuntu-22.04", "arm64", { topicArn: queue.topicArn });
    const heavy = await startBuild("heavy", "ubuntu-22.04", "arm64", { topicArn: queue.topicArn });
    await aws.imageBuilder.advance(4_999);
    expect((await getImage(heavy)).state?.status).toBe("BUILDING");
    await aws.imageBuilder.advance(1);
    expect((await getImage(heavy)).state?.status).toBe("TESTING");
    await aws.imageBuilder.settle();
    const failed = await getImage(heavy);
    expect(failed.state).toEqual({
      status: "FAILED",
      reason: "Test component ops-rig-sleuthkit failed: fls not found",
    });
    expect(failed.outputResources?.amis).toEqual([]);
    expect((await getImage(light)).state?.status).toBe("AVAILABLE");
    expect(aws.imageBuilder.images().find((i) => i.arn === heavy)).toMatchObject({
      status: "FAILED",
      failedPhase: "TESTING",
      amiIds: {},
    });

    const ec2 = new EC2Client(aws.clientConfig("us-east-1"));
    const heavyAmis = await ec2.send(
      new DescribeImagesCommand({
        Owners: ["self"],
        Filters: [{ Name: "tag:Ec2ImageBuilderArn", Values: [heavy] }],
      }),
    );
    expect(heavyAmis.Images).toEqual([]);

    const messages = await queue.read();
    const failure = messages.find((m) => m.arn === heavy);
    expect(failure?.state).toEqual({
      status: "FAILED",
      reason: "Test component ops-rig-sleuthkit failed: fls not found",
    });
    expect(failure?.outputResources).toEqual({ amis: [] });
    expect(messages.find((m) => m.arn === light)?.state).toEqual({ status: "AVAILABLE" });
  });

  it("fails a build whose parent image vanished, and one whose AMI name is already taken", async () => {
    const { aws } = local;
    const ec2 = new EC2Client(aws.clientConfig("us-east-1"));
    const parent = await ec2.send(
      new RegisterImageCommand({ Name: "ops-rig-parent", Architecture: "x86_64" }),
    );
    const first = await startBuild("light", "ubuntu-24.04", "amd64", {
      recipe: { parentImage: parent.ImageId },
    });
    await ec2.send(new DeregisterImageCommand({ ImageId: parent.ImageId }));
    const client = imageBuilder(aws);
    const image = await getImage(first);
    const second = await client.send(
      new CreateImageCommand({
        imageRecipeArn: image.imageRecipe?.arn,
        infrastructureConfigurationArn: image.infrastructureConfiguration?.arn,
      }),
    );
    await aws.imageBuilder.settle();
    expect((await getImage(first)).state?.status).toBe("AVAILABLE"); // it resolved its parent when it started
    const vanished = await getImage(second.imageBuildVersionArn);
    expect(vanished.state?.status).toBe("FAILED");
    expect(vanished.state?.reason).toMatch(
      /Could not launch the build instance: .*does not exist in us-east-1/,
    );

    // Without {{ imagebuilder:buildDate }} the second build's AMI name collides.
    const distribution = await createDistribution(client, [
      { region: "us-east-1", amiDistributionConfiguration: { name: "ops-rig-fixed-name" } },
    ]);
    const recipe = await createLineRecipe(client, "light", "debian-13", OTHER_ARCH);
    const infra = await createInfrastructure(client, undefined, "ops-rig-fixed");
    const create = () =>
      client.send(
        new CreateImageCommand({
          imageRecipeArn: recipe,
          infrastructureConfigurationArn: infra,
          distributionConfigurationArn: distribution,
        }),
      );
    const one = await create();
    await aws.imageBuilder.settle();
    const two = await create();
    await aws.imageBuilder.settle();
    expect((await getImage(one.imageBuildVersionArn)).state?.status).toBe("AVAILABLE");
    expect((await getImage(two.imageBuildVersionArn)).state).toEqual({
      status: "FAILED",
      reason:
        'Distribution failed: an AMI named "ops-rig-fixed-name" already exists in us-east-1 (AMI names are unique per region)',
    });
  });

  it("lists images and their build versions, cancels a build, and refuses to cancel a finished one", async () => {
    const { aws } = local;
    const client = imageBuilder(aws);
    const first = await startBuild("heavy", "debian-12", OTHER_ARCH, {
      input: { imageTestsConfiguration: { imageTestsEnabled: false } },
    });
    const image = await getImage(first);
    const second = await client.send(
      new CreateImageCommand({
        imageRecipeArn: image.imageRecipe?.arn,
        infrastructureConfigurationArn: image.infrastructureConfiguration?.arn,
      }),
    );
    expect(second.imageBuildVersionArn).toMatch(/\/1\.0\.0\/2$/);
    await aws.imageBuilder.advance(1_000);
    await client.send(new CancelImageCreationCommand({ imageBuildVersionArn: second.imageBuildVersionArn }));
    const seen: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      await aws.imageBuilder.advance(4_000);
      seen.push((await getImage(first)).state?.status ?? "");
    }
    expect(seen).toEqual(["DISTRIBUTING", "AVAILABLE", "AVAILABLE"]); // tests disabled: no TESTING
    expect((await getImage(second.imageBuildVersionArn)).state?.status).toBe("CANCELLED");
    const late = await rejection(
      client.send(new CancelImageCreationCommand({ imageBuildVersionArn: first })),
    );
    expect(late.name).toBe("InvalidRequestException");

    const versions = await client.send(new ListImagesCommand({}));
    expect(versions.imageVersionList?.map((v) => [v.name, v.version, v.osVersion])).toEqual([
      [`ops-rig-heavy-debian-12-${OTHER_ARCH}`, "1.0.0", "Debian 12"],
    ]);
    const buildVersions = await client.send(
      new ListImageBuildVersionsCommand({ imageVersionArn: versions.imageVersionList?.[0]?.arn }),
    );
    expect(buildVersions.imageSummaryList?.map((s) => [s.arn, s.state?.status])).toEqual([
      [first, "AVAILABLE"],
      [second.imageBuildVersionArn, "CANCELLED"],
    ]);
    // No local build: Debian, but not this host's architecture.
    expect(builds).toEqual([]);
  });

  it("answers a fraction of calls with 429, which the SDK retries; counts every attempt", async () => {
    const { aws } = local;
    aws.imageBuilder.throttle(1);
    const started = performance.now();
    const error = await rejection(imageBuilder(aws, "us-east-1", 3).send(new ListImagesCommand({})));
    expect(error.name).toBe("CallRateLimitExceededException");
    expect(error.$metadata?.httpStatusCode).toBe(429);
    expect(error.$metadata?.attempts).toBe(3);
    expect(aws.calls().map((c) => [c.service, c.action, c.status, c.injected])).toEqual([
      ["imagebuilder", "ListImages", 429, "throttle"],
      ["imagebuilder", "ListImages", 429, "throttle"],
      ["imagebuilder", "ListImages", 429, "throttle"],
    ]);

    aws.resetCalls();
    aws.imageBuilder.throttle(0.5);
    const ok = await imageBuilder(aws, "us-east-1", 3).send(new ListImagesCommand({}));
    expect(ok.$metadata.attempts).toBe(2);
    expect(aws.calls().map((c) => c.status)).toEqual([429, 200]);
    console.log(
      `[local-aws] throttled calls with SDK retries took ${Math.round(performance.now() - started)} ms`,
    );

    aws.imageBuilder.throttle(0);
    aws.imageBuilder.latency(150);
    const before = performance.now();
    await imageBuilder(aws).send(new ListImagesCommand({}));
    expect(performance.now() - before).toBeGreaterThanOrEqual(145);
  });
});

describe("Image Builder emulator: real local builds (with a recording fake builder)", () => {
  it("runs a Debian build of this host's arch with the recipe's documents and parameter values, holding BUILDING until it resolves", async () => {
    const { aws } = local;
    builds.length = 0;
    let finish: (value: Awaited<ReturnType<LocalBuilder>>) => void = () => undefined;
    builder = () => new Promise((resolve) => (finish = resolve));
    const shape = await recipeShape("light", "debian-12", HOST_ARCH);
    const client = imageBuilder(aws);
    const project = await rendered();
    const componentArns = new Map<string, string>();
    for (const ref of shape.components) {
      const component = project.components.get(ref.name);
      const out = await client.send(
        new CreateComponentCommand({
          name: component?.resourceName,
          semanticVersion: "1.0.0",
          platform: "Linux",
          data: component?.document,
        }),
      );
      componentArns.set(ref.name, out.componentBuildVersionArn ?? "");
    }
    // The recipe sets one parameter; the others keep their document defaults.
    const image = await startBuildWithComponents(shape.name, componentArns, shape, {
      "responder-base": { ExtraPackages: "jq" },
    });

    await aws.imageBuilder.advance(1_000);
    expect((await getImage(image)).state?.status).toBe("BUILDING");
    expect(builds).toHaveLength(1);
    const advancing = aws.imageBuilder.advance(60_000);
    for (let i = 0; i < 3; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect((await getImage(image)).state?.status).toBe("BUILDING");
    }
    finish({ ok: true });
    await advancing;
    expect((await getImage(image)).state?.status).toBe("AVAILABLE");

    const request = builds[0];
    expect(request?.imageArn).toBe(image);
    expect(request?.base).toBe("debian-12");
    expect(request?.arch).toBe(HOST_ARCH);
    expect(request?.components.map((c) => c.name)).toEqual(shape.components.map((c) => c.resourceName));
    for (const [index, ref] of shape.components.entries()) {
      const component = project.components.get(ref.name);
      expect(request?.components[index]?.document).toBe(component?.document);
      const defaults = Object.fromEntries(
        (component?.model.parameters ?? []).map((p) => [p.name, p.default ?? ""]),
      );
      const expected = ref.name === "responder-base" ? { ...defaults, ExtraPackages: "jq" } : defaults;
      expect(request?.components[index]?.parameters, ref.name).toEqual(expected);
    }
  });

  it("fails the image with the builder's reason, in the phase where the step failed", async () => {
    const { aws } = local;
    builds.length = 0;
    builder = async () => ({
      ok: false,
      phase: "BUILDING",
      reason: "Step InstallSleuthkit failed: apt-get exited 100",
    });
    const building = await startBuild("light", "debian-13", HOST_ARCH);
    await aws.imageBuilder.settle();
    expect((await getImage(building)).state).toEqual({
      status: "FAILED",
      reason: "Step InstallSleuthkit failed: apt-get exited 100",
    });
    expect(aws.imageBuilder.images().find((i) => i.arn === building)?.failedPhase).toBe("BUILDING");

    await aws.reset();
    builder = async () => ({ ok: false, phase: "TESTING", reason: "Test step FlsWorks failed" });
    const testing = await startBuild("light", "debian-12", HOST_ARCH);
    await aws.imageBuilder.advance(1_000 + 4_000);
    expect((await getImage(testing)).state?.status).toBe("TESTING");
    await aws.imageBuilder.settle();
    expect((await getImage(testing)).state).toEqual({
      status: "FAILED",
      reason: "Test step FlsWorks failed",
    });
    expect(aws.imageBuilder.images()[0]?.failedPhase).toBe("TESTING");

    await aws.reset();
    builder = async () => {
      throw new Error("mmdebstrap: not found");
    };
    const crashed = await startBuild("light", "debian-12", HOST_ARCH);
    await aws.imageBuilder.settle();
    expect((await getImage(crashed)).state?.reason).toBe(
      "The local build could not run: mmdebstrap: not found",
    );

    // Ubuntu parents are never built locally.
    await aws.reset();
    builds.length = 0;
    builder = undefined;
    const ubuntu = await startBuild("light", "ubuntu-24.04", HOST_ARCH);
    await aws.imageBuilder.settle();
    expect((await getImage(ubuntu)).state?.status).toBe("AVAILABLE");
    expect(builds).toEqual([]);
  });
});

async function startBuildWithComponents(
  name: string,
  componentArns: ReadonlyMap<string, string>,
  shape: Awaited<ReturnType<typeof recipeShape>>,
  parameters: Readonly<Record<string, Readonly<Record<string, string>>>>,
): Promise<string> {
  const client = imageBuilder(local.aws);
  const recipe = await client.send(
    new CreateImageRecipeCommand({
      name,
      semanticVersion: "1.0.0",
      parentImage: shape.parentImage,
      components: shape.components.map((c) => ({
        componentArn: componentArns.get(c.name),
        ...(parameters[c.name]
          ? {
              parameters: Object.entries(parameters[c.name] ?? {}).map(([key, value]) => ({
                name: key,
                value: [value],
              })),
            }
          : {}),
      })),
    }),
  );
  const infra = await createInfrastructure(client, undefined, `${name}-infra`);
  const out = await client.send(
    new CreateImageCommand({ imageRecipeArn: recipe.imageRecipeArn, infrastructureConfigurationArn: infra }),
  );
  return out.imageBuildVersionArn ?? "";
}
