import {
  CreateComponentCommand,
  CreateDistributionConfigurationCommand,
  CreateImageRecipeCommand,
  type CreateImageRecipeCommandInput,
  CreateInfrastructureConfigurationCommand,
  type Distribution,
  GetComponentCommand,
  ImagebuilderClient,
  ListComponentsCommand,
} from "@aws-sdk/client-imagebuilder";
import { loadProject } from "../../src/config/index.js";
import { type RecipeShape, type RenderedProject, renderProject } from "../../src/render/index.js";
import type { LocalAws } from "../emulators/local-aws.js";
import { REPO_ROOT } from "../helpers/project.js";

let project: Promise<RenderedProject> | undefined;

/** The shipped project, rendered: real component documents and recipe shapes. */
export function rendered(): Promise<RenderedProject> {
  project ??= loadProject(REPO_ROOT).then(renderProject);
  return project;
}

export async function recipeShape(toolset: string, base: string, arch: string): Promise<RecipeShape> {
  const found = (await rendered()).toolsets
    .find((t) => t.toolset.name === toolset)
    ?.recipes.find((r) => r.line.base === base && r.line.arch === arch);
  if (!found) throw new Error(`no rendered recipe for ${toolset} ${base} ${arch}`);
  return found;
}

export function imageBuilder(aws: LocalAws, region = "us-east-1", maxAttempts = 1): ImagebuilderClient {
  return new ImagebuilderClient(aws.clientConfig(region, { service: "imagebuilder", maxAttempts }));
}

/** A small valid AWSTOE document; `parameters` become document parameters (no default = required). */
export function smallDocument(
  options: { parameters?: Record<string, string | undefined>; phases?: string[] } = {},
): string {
  const parameters = Object.entries(options.parameters ?? {});
  const lines = ["name: small", "description: a small component", "schemaVersion: 1.0"];
  if (parameters.length > 0) {
    lines.push("parameters:");
    for (const [name, value] of parameters) {
      lines.push(`  - ${name}:`, "      type: string");
      if (value !== undefined) lines.push(`      default: "${value}"`);
    }
  }
  lines.push("phases:");
  for (const phase of options.phases ?? ["build"]) {
    lines.push(
      `  - name: ${phase}`,
      "    steps:",
      "      - name: Hello",
      "        action: ExecuteBash",
      "        inputs:",
      "          commands:",
      "            - echo hello",
    );
  }
  return `${lines.join("\n")}\n`;
}

/** Creates every component of the recipe at `version`; resource name → build version ARN. */
export async function createRecipeComponents(
  client: ImagebuilderClient,
  shape: RecipeShape,
  version = "1.0.0",
): Promise<Map<string, string>> {
  const project = await rendered();
  const arns = new Map<string, string>();
  for (const ref of shape.components) {
    const component = project.components.get(ref.name);
    if (!component) throw new Error(`component ${ref.name} not rendered`);
    // Two lines share components: reuse the version another line already created.
    const existing = await client.send(
      new ListComponentsCommand({
        filters: [
          { name: "name", values: [component.resourceName] },
          { name: "version", values: [version] },
        ],
      }),
    );
    const versionArn = existing.componentVersionList?.[0]?.arn;
    if (versionArn) {
      const got = await client.send(new GetComponentCommand({ componentBuildVersionArn: versionArn }));
      arns.set(component.resourceName, got.component?.arn ?? "");
      continue;
    }
    const out = await client.send(
      new CreateComponentCommand({
        name: component.resourceName,
        semanticVersion: version,
        platform: "Linux",
        data: component.document,
        description: `ops-rig ${component.name}`,
        tags: { "ops-rig:hash": component.hash.slice(0, 16) },
      }),
    );
    arns.set(component.resourceName, out.componentBuildVersionArn ?? "");
  }
  return arns;
}

export function recipeInput(
  shape: RecipeShape,
  componentArns: ReadonlyMap<string, string>,
  overrides: Partial<CreateImageRecipeCommandInput> = {},
): CreateImageRecipeCommandInput {
  return {
    name: shape.name,
    semanticVersion: "1.0.0",
    description: shape.description,
    parentImage: shape.parentImage,
    components: shape.components.map((c) => ({
      componentArn: componentArns.get(c.resourceName) ?? `missing:${c.resourceName}`,
      ...(c.parameters.length > 0
        ? { parameters: c.parameters.map((p) => ({ name: p.name, value: [...p.value] })) }
        : {}),
    })),
    blockDeviceMappings: shape.blockDeviceMappings.map((m) => ({
      deviceName: m.deviceName,
      ebs: { ...m.ebs },
    })),
    ...(shape.userDataOverride
      ? { additionalInstanceConfiguration: { userDataOverride: shape.userDataOverride } }
      : {}),
    tags: {
      "ops-rig:toolset": shape.line.toolset,
      "ops-rig:base": shape.line.base,
      "ops-rig:arch": shape.line.arch,
    },
    ...overrides,
  };
}

/** Components + recipe for a shipped toolset line; returns the recipe ARN. */
export async function createLineRecipe(
  client: ImagebuilderClient,
  toolset: string,
  base: string,
  arch: string,
  overrides: Partial<CreateImageRecipeCommandInput> = {},
): Promise<string> {
  const shape = await recipeShape(toolset, base, arch);
  const arns = await createRecipeComponents(client, shape);
  const out = await client.send(new CreateImageRecipeCommand(recipeInput(shape, arns, overrides)));
  return out.imageRecipeArn ?? "";
}

export async function createInfrastructure(
  client: ImagebuilderClient,
  snsTopicArn?: string,
  name = "ops-rig-build",
): Promise<string> {
  const out = await client.send(
    new CreateInfrastructureConfigurationCommand({
      name,
      instanceProfileName: "ops-rig-imagebuilder",
      instanceTypes: ["m7i.large"],
      terminateInstanceOnFailure: true,
      instanceMetadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 2 },
      ...(snsTopicArn ? { snsTopicArn } : {}),
    }),
  );
  return out.infrastructureConfigurationArn ?? "";
}

export async function createDistribution(
  client: ImagebuilderClient,
  distributions: Distribution[],
  name = "ops-rig-distribution",
): Promise<string> {
  const out = await client.send(new CreateDistributionConfigurationCommand({ name, distributions }));
  return out.distributionConfigurationArn ?? "";
}
