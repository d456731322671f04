import {
  CreateComponentCommand,
  type CreateComponentCommandInput,
  CreateDistributionConfigurationCommand,
  CreateImageRecipeCommand,
  CreateInfrastructureConfigurationCommand,
  GetComponentCommand,
  GetDistributionConfigurationCommand,
  GetImageRecipeCommand,
  GetInfrastructureConfigurationCommand,
  ImagebuilderClient,
  ListComponentBuildVersionsCommand,
  ListImagePipelinesCommand,
  ListImageRecipesCommand,
  ListInfrastructureConfigurationsCommand,
  ListTagsForResourceCommand,
  paginateListComponents,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateDistributionConfigurationCommand,
  UpdateInfrastructureConfigurationCommand,
} from "@aws-sdk/client-imagebuilder";
import { describe, expect, it } from "vitest";
import { BASE_INFO } from "../../src/config/bases.js";
import { ManualClock } from "../emulators/clock.js";
import { ImageBuilderEmulator } from "../emulators/imagebuilder/emulator.js";
import { Fields } from "../emulators/imagebuilder/input.js";
import type { MotoDirect } from "../emulators/moto-direct.js";
import { rejection, useLocalAws } from "./helpers.js";
import {
  createDistribution,
  createInfrastructure,
  createRecipeComponents,
  imageBuilder,
  recipeInput,
  recipeShape,
  rendered,
  smallDocument,
} from "./imagebuilder-fixtures.js";

const local = useLocalAws(import.meta.filename);

const component = (overrides: Partial<CreateComponentCommandInput> = {}): CreateComponentCommandInput => ({
  name: "ops-rig-small",
  semanticVersion: "1.0.0",
  platform: "Linux",
  data: smallDocument(),
  ...overrides,
});

describe("Image Builder emulator: components", () => {
  it("creates components through the SDK that come back from Get and List", async () => {
    const client = imageBuilder(local.aws);
    const project = await rendered();
    const created = new Map<string, string>();
    for (const name of ["sleuthkit", "responder-access"]) {
      const rendered = project.components.get(name);
      if (!rendered) throw new Error(name);
      const out = await client.send(
        new CreateComponentCommand({
          name: rendered.resourceName,
          semanticVersion: "1.2.0",
          platform: "Linux",
          data: rendered.document,
          description: `ops-rig ${name}`,
          tags: { "ops-rig:component": name },
        }),
      );
      expect(out.componentBuildVersionArn).toBe(
        `arn:aws:imagebuilder:us-east-1:${local.aws.accountId}:component/${rendered.resourceName}/1.2.0/1`,
      );
      expect(out.latestVersionReferences?.latestVersionArn).toBe(
        out.componentBuildVersionArn?.replace(/\/1$/, ""),
      );
      created.set(name, out.componentBuildVersionArn ?? "");

      const got = (
        await client.send(new GetComponentCommand({ componentBuildVersionArn: out.componentBuildVersionArn }))
      ).component;
      expect(got?.data).toBe(rendered.document);
      expect(got?.name).toBe(rendered.resourceName);
      expect(got?.version).toBe("1.2.0");
      expect(got?.type).toBe("BUILD");
      expect(got?.platform).toBe("Linux");
      expect(got?.state?.status).toBe("ACTIVE");
      expect(got?.tags).toEqual({ "ops-rig:component": name });
      expect(got?.parameters?.map((p) => [p.name, p.defaultValue?.[0]])).toEqual(
        rendered.model.parameters.map((p) => [p.name, p.default]),
      );
    }
    // A version ARN (and an x wildcard) selects the newest build.
    const byWildcard = await client.send(
      new GetComponentCommand({
        componentBuildVersionArn: created.get("sleuthkit")?.replace(/1\.2\.0\/1$/, "1.x.x"),
      }),
    );
    expect(byWildcard.component?.arn).toBe(created.get("sleuthkit"));

    const listed = [];
    for await (const page of paginateListComponents({ client, pageSize: 1 }, { owner: "Self" })) {
      expect(page.componentVersionList?.length).toBeLessThanOrEqual(1);
      listed.push(...(page.componentVersionList ?? []));
    }
    expect(listed.map((c) => [c.name, c.version, c.type])).toEqual([
      ["ops-rig-responder-access", "1.2.0", "BUILD"],
      ["ops-rig-sleuthkit", "1.2.0", "BUILD"],
    ]);
    const builds = await client.send(
      new ListComponentBuildVersionsCommand({ componentVersionArn: listed[1]?.arn }),
    );
    expect(builds.componentSummaryList?.map((c) => c.arn)).toEqual([created.get("sleuthkit")]);
  });

  it("rejects a duplicate version, honours client tokens, and mismatched tokens get AWS's error", async () => {
    const client = imageBuilder(local.aws);
    const token = "light-sleuthkit-1.0.0-abcdef01234567"; // 36 characters
    expect(token).toHaveLength(36);
    const first = await client.send(new CreateComponentCommand(component({ clientToken: token })));
    // The same request with the same token (a retry): the first answer, nothing new created.
    const retry = await client.send(new CreateComponentCommand(component({ clientToken: token })));
    expect(retry.componentBuildVersionArn).toBe(first.componentBuildVersionArn);
    expect(retry.clientToken).toBe(token);

    const duplicate = await rejection(client.send(new CreateComponentCommand(component())));
    expect(duplicate.name).toBe("ResourceAlreadyExistsException");
    expect(duplicate.message).toMatch(/already has version 1\.0\.0/);
    expect(duplicate.$metadata?.httpStatusCode).toBe(400);

    const mismatch = await rejection(
      client.send(new CreateComponentCommand(component({ clientToken: token, semanticVersion: "1.0.1" }))),
    );
    expect(mismatch.name).toBe("IdempotentParameterMismatchException");

    const tooLong = await rejection(
      client.send(
        new CreateComponentCommand(component({ clientToken: `${token}x`, semanticVersion: "1.0.2" })),
      ),
    );
    expect(tooLong.name).toBe("InvalidParameterValueException");
    expect(tooLong.message).toMatch(/clientToken.*maximum is 36/);

    const builds = await client.send(
      new ListComponentBuildVersionsCommand({
        componentVersionArn: first.componentBuildVersionArn?.replace(/\/1$/, ""),
      }),
    );
    expect(builds.componentSummaryList).toHaveLength(1);
  });

  it.each([
    [
      "a 16,001-character document",
      { data: `${smallDocument()}#`.padEnd(16_001, "x") },
      "InvalidParameterValueException",
      /16001 characters long.*1 to 16000/,
    ],
    [
      "both data and uri",
      { uri: "s3://bucket/doc.yaml" },
      "InvalidParameterCombinationException",
      /either 'data' or 'uri'/,
    ],
    ["neither data nor uri", { data: undefined }, "InvalidRequestException", /specify 'data' or 'uri'/],
    [
      "a name with a slash",
      { name: "ops-rig/small" },
      "InvalidParameterValueException",
      /'name'.*does not match/,
    ],
    ["a two-node version", { semanticVersion: "1.0" }, "InvalidVersionNumberException", /'semanticVersion'/],
    [
      "a version node over 1073741823",
      { semanticVersion: "1.0.1073741824" },
      "InvalidVersionNumberException",
      /1073741823/,
    ],
    ["no platform", { platform: undefined }, "InvalidRequestException", /required parameter 'platform'/],
    ["an unknown platform", { platform: "Plan9" }, "InvalidParameterValueException", /'platform'.*Plan9/],
    [
      "an AWSTOE action that does not exist",
      { data: smallDocument().replace("ExecuteBash", "RunBash") },
      "InvalidParameterValueException",
      /document is not valid:.*RunBash/,
    ],
    [
      "a document without phases",
      { data: "schemaVersion: 1.0\n" },
      "InvalidParameterValueException",
      /document is not valid/,
    ],
    [
      "an aws: tag key",
      { tags: { "aws:owner": "me" } },
      "InvalidParameterValueException",
      /"aws:" are reserved/,
    ],
    [
      "51 tags",
      { tags: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, "v"])) },
      "InvalidParameterValueException",
      /51 tags; the maximum is 50/,
    ],
  ] as const)("rejects %s", async (_what, overrides, name, message) => {
    const client = imageBuilder(local.aws);
    const error = await rejection(
      client.send(new CreateComponentCommand(component(overrides as Partial<CreateComponentCommandInput>))),
    );
    expect(error.name).toBe(name);
    expect(error.message).toMatch(message);
  });

  it("can follow AWS's newer behaviour: the same version again gets a new build number", async () => {
    // Transport-free: the option is chosen at start, and components never touch moto.
    const emulator = new ImageBuilderEmulator({
      accountId: "123456789012",
      clock: new ManualClock(),
      direct: undefined as unknown as MotoDirect,
      phaseMs: { PENDING: 1, BUILDING: 1, TESTING: 1, DISTRIBUTING: 1 },
      localBuilder: undefined,
      componentVersionConflict: "newBuildVersion",
      hostArch: "amd64",
      log: () => undefined,
    });
    const create = emulator.operations.CreateComponent;
    if (!create) throw new Error("no CreateComponent");
    const input = {
      name: "ops-rig-small",
      semanticVersion: "2.0.0",
      platform: "Linux",
      data: smallDocument(),
    };
    const first = await create(Fields.root(input), "eu-west-1");
    const second = await create(Fields.root(input), "eu-west-1");
    expect([first.componentBuildVersionArn, second.componentBuildVersionArn]).toEqual([
      "arn:aws:imagebuilder:eu-west-1:123456789012:component/ops-rig-small/2.0.0/1",
      "arn:aws:imagebuilder:eu-west-1:123456789012:component/ops-rig-small/2.0.0/2",
    ]);
  });
});

describe("Image Builder emulator: image recipes", () => {
  it("creates a shipped toolset's recipe through the SDK that comes back from Get and List", async () => {
    const client = imageBuilder(local.aws);
    const shape = await recipeShape("light", "debian-12", "amd64");
    const arns = await createRecipeComponents(client, shape);
    const input = recipeInput(shape, arns);
    const out = await client.send(new CreateImageRecipeCommand(input));
    expect(out.imageRecipeArn).toBe(
      `arn:aws:imagebuilder:us-east-1:${local.aws.accountId}:image-recipe/${shape.name}/1.0.0`,
    );

    const got = (await client.send(new GetImageRecipeCommand({ imageRecipeArn: out.imageRecipeArn })))
      .imageRecipe;
    expect(got?.parentImage).toBe(`ssm:${BASE_INFO["debian-12"].publicParameter("amd64")}`);
    expect(got?.components).toEqual(input.components);
    expect(got?.blockDeviceMappings).toEqual(input.blockDeviceMappings);
    expect(got?.additionalInstanceConfiguration?.userDataOverride).toBe(shape.userDataOverride);
    expect(got?.tags).toEqual(input.tags);
    expect(got?.platform).toBe("Linux");

    const listed = await client.send(
      new ListImageRecipesCommand({ filters: [{ name: "name", values: [shape.name] }] }),
    );
    expect(listed.imageRecipeSummaryList?.map((r) => r.arn)).toEqual([out.imageRecipeArn]);

    const duplicate = await rejection(client.send(new CreateImageRecipeCommand(input)));
    expect(duplicate.name).toBe("ResourceAlreadyExistsException");
    expect(duplicate.message).toMatch(/recipe versions are immutable/);
  });

  it("rejects unknown components, missing parents, too many components and wrong parameters", async () => {
    const { aws } = local;
    const client = imageBuilder(aws);
    const shape = await recipeShape("light", "ubuntu-24.04", "amd64");
    const arns = await createRecipeComponents(client, shape);
    const base = recipeInput(shape, arns);
    const account = aws.accountId;

    const unknown = await rejection(
      client.send(
        new CreateImageRecipeCommand({
          ...base,
          components: [
            { componentArn: `arn:aws:imagebuilder:us-east-1:${account}:component/ops-rig-nothing/1.0.0/1` },
          ],
        }),
      ),
    );
    expect(unknown.name).toBe("ResourceNotFoundException");
    expect(unknown.$metadata?.httpStatusCode).toBe(404);

    const noAmi = await rejection(
      client.send(new CreateImageRecipeCommand({ ...base, parentImage: "ami-0123456789abcdef0" })),
    );
    expect(noAmi.name).toBe("InvalidParameterValueException");
    expect(noAmi.message).toMatch(/ami-0123456789abcdef0 does not exist in us-east-1/);

    // A base AMI of another region is not a parent here.
    const euImage = (await aws.bases.list("eu-west-1")).at(-1)?.imageId ?? "";
    const otherRegion = await rejection(
      client.send(new CreateImageRecipeCommand({ ...base, parentImage: euImage })),
    );
    expect(otherRegion.message).toMatch(/does not exist in us-east-1/);

    const noParameter = await rejection(
      client.send(new CreateImageRecipeCommand({ ...base, parentImage: "ssm:/aws/service/nothing/here" })),
    );
    expect(noParameter.name).toBe("InvalidParameterValueException");
    expect(noParameter.message).toMatch(/SSM parameter \/aws\/service\/nothing\/here does not exist/);

    const first = [...arns.values()][0] ?? "";
    const tooMany = await rejection(
      client.send(
        new CreateImageRecipeCommand({
          ...base,
          components: Array.from({ length: 21 }, () => ({ componentArn: first })),
        }),
      ),
    );
    expect(tooMany.name).toBe("ServiceQuotaExceededException");
    expect(tooMany.message).toMatch(/at most 20 components; this one has 21/);

    const badParameter = await rejection(
      client.send(
        new CreateImageRecipeCommand({
          ...base,
          components: [{ componentArn: first, parameters: [{ name: "Nope", value: ["1"] }] }],
        }),
      ),
    );
    expect(badParameter.name).toBe("InvalidParameterValueException");
    expect(badParameter.message).toMatch(/has no parameter "Nope"/);

    const needs = await client.send(
      new CreateComponentCommand(
        component({ name: "ops-rig-needs", data: smallDocument({ parameters: { Target: undefined } }) }),
      ),
    );
    const missing = await rejection(
      client.send(
        new CreateImageRecipeCommand({
          ...base,
          components: [{ componentArn: needs.componentBuildVersionArn }],
        }),
      ),
    );
    expect(missing.message).toMatch(/requires the parameter "Target"/);

    const badName = await rejection(client.send(new CreateImageRecipeCommand({ ...base, name: "x" })));
    expect(badName.name).toBe("InvalidParameterValueException");
  });
});

describe("Image Builder emulator: configurations and tags", () => {
  it("creates, gets, lists and updates infrastructure and distribution configurations", async () => {
    const { aws } = local;
    const client = imageBuilder(aws, "eu-west-1");
    const topic = `arn:aws:sns:eu-west-1:${aws.accountId}:ops-rig-imagebuilder-events`;
    const infra = await createInfrastructure(client, topic);
    const got = (
      await client.send(new GetInfrastructureConfigurationCommand({ infrastructureConfigurationArn: infra }))
    ).infrastructureConfiguration;
    expect(got?.instanceProfileName).toBe("ops-rig-imagebuilder");
    expect(got?.snsTopicArn).toBe(topic);
    expect(got?.instanceMetadataOptions).toEqual({ httpTokens: "required", httpPutResponseHopLimit: 2 });

    await client.send(
      new UpdateInfrastructureConfigurationCommand({
        infrastructureConfigurationArn: infra,
        instanceProfileName: "ops-rig-imagebuilder-v2",
        snsTopicArn: topic,
      }),
    );
    const updated = (
      await client.send(new GetInfrastructureConfigurationCommand({ infrastructureConfigurationArn: infra }))
    ).infrastructureConfiguration;
    expect(updated?.instanceProfileName).toBe("ops-rig-imagebuilder-v2");
    expect(updated?.instanceTypes).toBeUndefined(); // Update replaces every setting
    expect(updated?.dateUpdated).toBeDefined();
    const listed = await client.send(new ListInfrastructureConfigurationsCommand({}));
    expect(listed.infrastructureConfigurationSummaryList?.map((i) => i.arn)).toEqual([infra]);

    const duplicate = await rejection(
      client.send(
        new CreateInfrastructureConfigurationCommand({ name: "ops-rig-build", instanceProfileName: "p" }),
      ),
    );
    expect(duplicate.name).toBe("ResourceAlreadyExistsException");
    const badTopic = await rejection(
      client.send(
        new CreateInfrastructureConfigurationCommand({
          name: "other",
          instanceProfileName: "p",
          snsTopicArn: "ops-rig-topic",
        }),
      ),
    );
    expect(badTopic.message).toMatch(/'snsTopicArn'/);

    const dist = await createDistribution(client, [
      {
        region: "eu-west-1",
        amiDistributionConfiguration: {
          name: "ops-rig-light {{ imagebuilder:buildDate }}",
          amiTags: { "ops-rig:toolset": "light" },
        },
      },
      { region: "us-east-1" },
    ]);
    const distribution = (
      await client.send(new GetDistributionConfigurationCommand({ distributionConfigurationArn: dist }))
    ).distributionConfiguration;
    expect(distribution?.distributions?.map((d) => d.region)).toEqual(["eu-west-1", "us-east-1"]);
    expect(distribution?.timeoutMinutes).toBe(720);
    await client.send(
      new UpdateDistributionConfigurationCommand({
        distributionConfigurationArn: dist,
        distributions: [{ region: "ap-southeast-2" }],
      }),
    );
    const after = (
      await client.send(new GetDistributionConfigurationCommand({ distributionConfigurationArn: dist }))
    ).distributionConfiguration;
    expect(after?.distributions).toEqual([{ region: "ap-southeast-2" }]);

    const twice = await rejection(
      client.send(
        new CreateDistributionConfigurationCommand({
          name: "twice",
          distributions: [{ region: "us-east-1" }, { region: "us-east-1" }],
        }),
      ),
    );
    expect(twice.name).toBe("InvalidParameterCombinationException");
    const slash = await rejection(
      client.send(
        new CreateDistributionConfigurationCommand({
          name: "slash",
          distributions: [{ region: "us-east-1", amiDistributionConfiguration: { name: "ops-rig/light" } }],
        }),
      ),
    );
    expect(slash.message).toMatch(/amiDistributionConfiguration\.name/);

    const unknown = await rejection(
      client.send(
        new GetInfrastructureConfigurationCommand({
          infrastructureConfigurationArn: `arn:aws:imagebuilder:eu-west-1:${aws.accountId}:infrastructure-configuration/nothing`,
        }),
      ),
    );
    expect(unknown.name).toBe("ResourceNotFoundException");
    const malformed = await rejection(
      client.send(new GetInfrastructureConfigurationCommand({ infrastructureConfigurationArn: "nothing" })),
    );
    expect(malformed.name).toBe("InvalidParameterValueException");
    // Resources are regional: the same ARN asked in another region is not found.
    const elsewhere = await rejection(
      imageBuilder(aws, "us-east-1").send(
        new GetInfrastructureConfigurationCommand({ infrastructureConfigurationArn: infra }),
      ),
    );
    expect(elsewhere.name).toBe("ResourceNotFoundException");
  });

  it("tags and untags resources, with AWS's tag rules", async () => {
    const client = imageBuilder(local.aws);
    const created = await client.send(new CreateComponentCommand(component({ tags: { a: "1" } })));
    const resourceArn = created.componentBuildVersionArn;
    await client.send(
      new TagResourceCommand({ resourceArn, tags: { "ops-rig:fingerprint": "abc", b: "2" } }),
    );
    expect((await client.send(new ListTagsForResourceCommand({ resourceArn }))).tags).toEqual({
      a: "1",
      b: "2",
      "ops-rig:fingerprint": "abc",
    });
    await client.send(new UntagResourceCommand({ resourceArn, tagKeys: ["a", "b"] }));
    expect((await client.send(new ListTagsForResourceCommand({ resourceArn }))).tags).toEqual({
      "ops-rig:fingerprint": "abc",
    });
    const reserved = await rejection(
      client.send(new TagResourceCommand({ resourceArn, tags: { "aws:x": "y" } })),
    );
    expect(reserved.name).toBe("InvalidParameterValueException");
    const unknown = await rejection(
      client.send(new ListTagsForResourceCommand({ resourceArn: `${resourceArn?.replace(/\/1$/, "/9")}` })),
    );
    expect(unknown.name).toBe("ResourceNotFoundException");
  });

  it("is reached through the generic endpoint too, and recorded once", async () => {
    const { aws } = local;
    const viaProxy = new ImagebuilderClient(aws.clientConfig("ap-southeast-2"));
    const out = await viaProxy.send(new CreateComponentCommand(component()));
    expect(out.componentBuildVersionArn).toMatch(/^arn:aws:imagebuilder:ap-southeast-2:/);
    expect(aws.calls().map((c) => [c.service, c.action, c.region, c.mutating, c.status])).toEqual([
      ["imagebuilder", "CreateComponent", "ap-southeast-2", true, 200],
    ]);
  });

  it("says clearly which operations it does not emulate", async () => {
    const error = await rejection(imageBuilder(local.aws).send(new ListImagePipelinesCommand({})));
    expect(error.name).toBe("InvalidRequestException");
    expect(error.message).toMatch(/does not implement POST \/ListImagePipelines/);
  });
});
