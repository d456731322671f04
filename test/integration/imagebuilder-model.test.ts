import { Readable } from "node:stream";
import * as model from "@aws-sdk/client-imagebuilder";
import {
  CancelImageCreationCommand,
  CreateDistributionConfigurationCommand,
  CreateImageCommand,
  DeleteComponentCommand,
  DeleteDistributionConfigurationCommand,
  DeleteImageCommand,
  DeleteImageRecipeCommand,
  DeleteInfrastructureConfigurationCommand,
  GetComponentCommand,
  GetDistributionConfigurationCommand,
  GetImageCommand,
  GetImageRecipeCommand,
  GetInfrastructureConfigurationCommand,
  ImagebuilderClient,
  ListComponentBuildVersionsCommand,
  ListComponentsCommand,
  ListDistributionConfigurationsCommand,
  ListImageBuildVersionsCommand,
  ListImageRecipesCommand,
  ListImagesCommand,
  ListInfrastructureConfigurationsCommand,
  ListTagsForResourceCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateDistributionConfigurationCommand,
  UpdateInfrastructureConfigurationCommand,
} from "@aws-sdk/client-imagebuilder";
import { NormalizedSchema } from "@smithy/core/schema";
import { describe, expect, it } from "vitest";
import { EMULATED_OPERATIONS } from "../emulators/imagebuilder/server.js";
import { rejection, useLocalAws } from "./helpers.js";
import { createInfrastructure, createLineRecipe, recipeShape } from "./imagebuilder-fixtures.js";

/**
 * Every answer of the Image Builder emulator, checked against the service model that ships in
 * @aws-sdk/client-imagebuilder (its schema): each member we return exists in the operation's
 * output shape (recursively, with the modelled type), required members are present, and each
 * error names an exception the model has, with only that exception's members.
 */
const local = useLocalAws(import.meta.filename);

interface Answer {
  readonly operation: string;
  readonly status: number;
  readonly errorType?: string;
  readonly body: string;
}
const answers: Answer[] = [];

interface RawRequest {
  headers: Record<string, string>;
}
interface RawResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: unknown;
}
interface Handler {
  handle(request: RawRequest, options?: unknown): Promise<{ response: RawResponse }>;
}

/**
 * A client whose HTTP handler buffers each raw answer before the SDK reads it, labelled with the
 * command that asked (a build-step middleware puts the name on the request).
 */
function recordingClient(): ImagebuilderClient {
  const client = new ImagebuilderClient({ ...local.aws.clientConfig("us-east-1"), maxAttempts: 1 });
  const config = client.config as unknown as { requestHandler: Handler };
  const inner = config.requestHandler;
  config.requestHandler = {
    async handle(request, options) {
      const result = await inner.handle(request, options);
      const chunks: Buffer[] = [];
      for await (const chunk of result.response.body as Readable) chunks.push(Buffer.from(chunk));
      const body = Buffer.concat(chunks);
      const errorType = result.response.headers["x-amzn-errortype"];
      answers.push({
        operation: request.headers["x-ops-rig-operation"] ?? "unknown",
        status: result.response.statusCode,
        ...(errorType ? { errorType: errorType.split(":")[0] } : {}),
        body: body.toString("utf8"),
      });
      result.response.body = Readable.from([body]);
      return result;
    },
  };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = (args as { request?: RawRequest }).request;
      // A header survives the request clones that signing makes.
      if (request)
        request.headers["x-ops-rig-operation"] = String(context.commandName).replace(/Command$/, "");
      return next(args);
    },
    { step: "build", name: "labelOperation" },
  );
  return client;
}

type Schema = Parameters<typeof NormalizedSchema.of>[0];

/** Checks `value` against a schema; returns every mismatch with its JSON path. */
function conform(value: unknown, schema: NormalizedSchema, path: string, out: string[]): void {
  if (schema.isStructSchema()) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      out.push(`${path}: expected a structure (${schema.getName()}), got ${JSON.stringify(value)}`);
      return;
    }
    const members = new Map<string, NormalizedSchema>();
    for (const [name, member] of schema.structIterator()) members.set(name, member);
    const raw = schema.getSchema() as unknown as unknown[];
    const required = typeof raw[6] === "number" ? (raw[4] as string[]).slice(0, raw[6]) : [];
    for (const name of required)
      if ((value as Record<string, unknown>)[name] === undefined)
        out.push(`${path}.${name}: required, missing`);
    for (const [key, item] of Object.entries(value)) {
      const member = members.get(key);
      if (!member) out.push(`${path}.${key}: not a member of ${schema.getName()}`);
      else conform(item, member, `${path}.${key}`, out);
    }
    return;
  }
  if (schema.isListSchema()) {
    if (!Array.isArray(value)) out.push(`${path}: expected a list, got ${JSON.stringify(value)}`);
    else
      for (const [i, item] of value.entries()) conform(item, schema.getValueSchema(), `${path}[${i}]`, out);
    return;
  }
  if (schema.isMapSchema()) {
    if (typeof value !== "object" || value === null || Array.isArray(value))
      out.push(`${path}: expected a map, got ${JSON.stringify(value)}`);
    else
      for (const [k, item] of Object.entries(value))
        conform(item, schema.getValueSchema(), `${path}.${k}`, out);
    return;
  }
  if (schema.isDocumentSchema()) return;
  const type = schema.isBooleanSchema()
    ? "boolean"
    : schema.isNumericSchema() || schema.isBigIntegerSchema()
      ? "number"
      : schema.isTimestampSchema()
        ? typeof value === "number"
          ? "number"
          : "string"
        : "string";
  if (typeof value !== type) out.push(`${path}: expected ${type}, got ${JSON.stringify(value)}`);
}

function outputSchema(operation: string): NormalizedSchema {
  const op = (model as unknown as Record<string, unknown[]>)[`${operation}$`];
  if (!op) throw new Error(`the SDK model has no operation ${operation}`);
  return NormalizedSchema.of((op[5] as () => Schema)());
}

function errorSchema(type: string): NormalizedSchema | undefined {
  const error = (model as unknown as Record<string, Schema | undefined>)[`${type}$`];
  return error ? NormalizedSchema.of(error) : undefined;
}

async function advance(ms: number): Promise<void> {
  await local.aws.imageBuilder.advance(ms);
}

describe("every emulator answer matches the SDK's service model", () => {
  it("exercises every emulated operation, answers and errors, and each conforms", async () => {
    const client = recordingClient();
    const region = "us-east-1";
    // Components, recipe (CreateComponent, CreateImageRecipe), infrastructure.
    const recipeArn = await createLineRecipe(client, "light", "ubuntu-24.04", "amd64");
    const shape = await recipeShape("light", "ubuntu-24.04", "amd64");
    const infrastructureArn = await createInfrastructure(client, undefined, "model-check");
    const distributionArn =
      (
        await client.send(
          new CreateDistributionConfigurationCommand({
            name: "model-check",
            distributions: [
              { region, amiDistributionConfiguration: { name: "model-check {{ imagebuilder:buildDate }}" } },
            ],
          }),
        )
      ).distributionConfigurationArn ?? "";
    await client.send(
      new UpdateDistributionConfigurationCommand({
        distributionConfigurationArn: distributionArn,
        distributions: [
          { region, amiDistributionConfiguration: { name: "model-check2 {{ imagebuilder:buildDate }}" } },
        ],
      }),
    );
    await client.send(
      new UpdateInfrastructureConfigurationCommand({
        infrastructureConfigurationArn: infrastructureArn,
        instanceProfileName: "ops-rig-imagebuilder",
        instanceTypes: ["m7i.large"],
        terminateInstanceOnFailure: true,
      }),
    );
    const components =
      (await client.send(new ListComponentsCommand({ owner: "Self" }))).componentVersionList ?? [];
    const componentVersionArn = components[0]?.arn ?? "";
    const builds = await client.send(new ListComponentBuildVersionsCommand({ componentVersionArn }));
    const componentArn = builds.componentSummaryList?.[0]?.arn ?? "";
    await client.send(new GetComponentCommand({ componentBuildVersionArn: componentArn }));
    await client.send(new GetImageRecipeCommand({ imageRecipeArn: recipeArn }));
    await client.send(new ListImageRecipesCommand({ owner: "Self" }));
    await client.send(
      new GetInfrastructureConfigurationCommand({ infrastructureConfigurationArn: infrastructureArn }),
    );
    await client.send(new ListInfrastructureConfigurationsCommand({}));
    await client.send(
      new GetDistributionConfigurationCommand({ distributionConfigurationArn: distributionArn }),
    );
    await client.send(new ListDistributionConfigurationsCommand({}));

    // Images in every state: a build walked to AVAILABLE, one cancelled.
    const image = await client.send(
      new CreateImageCommand({
        imageRecipeArn: recipeArn,
        infrastructureConfigurationArn: infrastructureArn,
        distributionConfigurationArn: distributionArn,
        tags: { "ops-rig:fingerprint": "model" },
      }),
    );
    const imageArn = image.imageBuildVersionArn ?? "";
    for (const ms of [0, 1_000, 4_000, 2_000, 2_000]) {
      await advance(ms);
      await client.send(new GetImageCommand({ imageBuildVersionArn: imageArn }));
    }
    const second = await client.send(
      new CreateImageCommand({
        imageRecipeArn: recipeArn,
        infrastructureConfigurationArn: infrastructureArn,
      }),
    );
    await client.send(new CancelImageCreationCommand({ imageBuildVersionArn: second.imageBuildVersionArn }));
    await client.send(new GetImageCommand({ imageBuildVersionArn: second.imageBuildVersionArn }));
    const versions = (await client.send(new ListImagesCommand({ owner: "Self" }))).imageVersionList ?? [];
    await client.send(new ListImageBuildVersionsCommand({ imageVersionArn: versions[0]?.arn }));

    // Tags.
    await client.send(new TagResourceCommand({ resourceArn: imageArn, tags: { team: "sirt" } }));
    await client.send(new ListTagsForResourceCommand({ resourceArn: imageArn }));
    await client.send(new UntagResourceCommand({ resourceArn: imageArn, tagKeys: ["team"] }));

    // Errors: not found, already exists, invalid value, throttled.
    await rejection(client.send(new GetImageCommand({ imageBuildVersionArn: `${imageArn}9` })));
    await rejection(
      client.send(
        new CreateDistributionConfigurationCommand({
          name: "model-check",
          distributions: [
            { region, amiDistributionConfiguration: { name: "x {{ imagebuilder:buildDate }}" } },
          ],
        }),
      ),
    );
    await rejection(client.send(new GetImageRecipeCommand({ imageRecipeArn: "not-an-arn" })));
    local.aws.imageBuilder.throttle(1);
    await rejection(client.send(new ListImagesCommand({})));
    local.aws.imageBuilder.throttle(0);

    // Deletes, last.
    await client.send(new DeleteImageCommand({ imageBuildVersionArn: imageArn }));
    await client.send(new DeleteImageCommand({ imageBuildVersionArn: second.imageBuildVersionArn }));
    await client.send(new DeleteImageRecipeCommand({ imageRecipeArn: recipeArn }));
    for (const component of shape.components) {
      const arn = (
        await client.send(new ListComponentsCommand({ owner: "Self" }))
      ).componentVersionList?.find((c) => c.name === component.resourceName)?.arn;
      const build = (await client.send(new ListComponentBuildVersionsCommand({ componentVersionArn: arn })))
        .componentSummaryList?.[0]?.arn;
      await client.send(new DeleteComponentCommand({ componentBuildVersionArn: build }));
    }
    await client.send(
      new DeleteInfrastructureConfigurationCommand({ infrastructureConfigurationArn: infrastructureArn }),
    );
    await client.send(
      new DeleteDistributionConfigurationCommand({ distributionConfigurationArn: distributionArn }),
    );
    client.destroy();

    // Every operation the emulator implements answered at least once, successfully.
    const answered = new Set(answers.filter((a) => a.status === 200).map((a) => a.operation));
    expect([...EMULATED_OPERATIONS].filter((op) => !answered.has(op))).toEqual([]);
    expect(answers.filter((a) => a.status !== 200).map((a) => a.errorType)).toEqual(
      expect.arrayContaining([
        "ResourceNotFoundException",
        "ResourceAlreadyExistsException",
        "CallRateLimitExceededException",
      ]),
    );

    const mismatches: string[] = [];
    for (const answer of answers) {
      const body = answer.body.trim() === "" ? {} : (JSON.parse(answer.body) as unknown);
      if (answer.status === 200) {
        conform(body, outputSchema(answer.operation), answer.operation, mismatches);
        continue;
      }
      const schema = answer.errorType ? errorSchema(answer.errorType) : undefined;
      if (!schema) {
        mismatches.push(
          `${answer.operation} ${answer.status}: error type ${answer.errorType} is not in the model`,
        );
        continue;
      }
      conform(body, schema, `${answer.operation} ${answer.errorType}`, mismatches);
      const status = (schema.getMergedTraits() as { httpError?: number }).httpError;
      if (status !== undefined && status !== answer.status)
        mismatches.push(
          `${answer.operation} ${answer.errorType}: HTTP ${answer.status}, the model says ${status}`,
        );
    }
    expect(mismatches).toEqual([]);
    expect(answers.length).toBeGreaterThan(EMULATED_OPERATIONS.length);
  });

  it("the check itself catches a member that is not in the shape, a missing required one, a wrong type", () => {
    const out: string[] = [];
    conform({ requestId: "x" }, outputSchema("TagResource"), "TagResource", out);
    conform({ image: { arn: 5 } }, outputSchema("GetImage"), "GetImage", out);
    const required = NormalizedSchema.of(
      (model as unknown as Record<string, Schema>).TagResourceRequest$ as Schema,
    );
    conform({ tags: {} }, required, "TagResourceRequest", out);
    expect(out).toEqual([
      "TagResource.requestId: not a member of TagResourceResponse",
      "GetImage.image.arn: expected string, got 5",
      "TagResourceRequest.resourceArn: required, missing",
    ]);
  });
});
