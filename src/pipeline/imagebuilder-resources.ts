import { topicArn } from "../config/overrides.js";
import type { PipelineData, ToolsetData } from "../config/types.js";
import { AwsCallError, InvariantError, OpsRigError } from "../errors.js";
import {
  amiNameTemplate,
  baseDescription,
  distributionName,
  infrastructureName,
  lineTags,
  TAG,
} from "../plan/names.js";
import { sha256Hex } from "../render/hash.js";
import type { LineKey, PipelineComponent, RecipeShape } from "../render/index.js";
import type { DistributionSettings, ImageBuilderPort, InfrastructureSettings } from "./ports.js";

/**
 * Image Builder resources are versioned by content: an unchanged component or recipe reuses its
 * version, a changed one gets the next patch version, and "already exists" is never a failure (a
 * crashed run may have created it; the next run finds and uses it). Within a run each resource is
 * ensured once, however many lines share it.
 */
export class ImageBuilderResources {
  private readonly components = new Map<string, Promise<string>>();
  private readonly recipes = new Map<string, Promise<string>>();
  private readonly infrastructures = new Map<string, Promise<string>>();
  private readonly distributions = new Map<string, Promise<string>>();

  constructor(
    private readonly ib: ImageBuilderPort,
    private readonly pipeline: PipelineData,
    private readonly accountId: string,
  ) {}

  component(component: PipelineComponent): Promise<string> {
    return memo(this.components, component.resourceName, () => this.ensureComponent(component));
  }

  recipe(recipe: RecipeShape, components: ReadonlyMap<string, PipelineComponent>): Promise<string> {
    return memo(this.recipes, `${recipe.name}:${recipe.hash}`, () => this.ensureRecipe(recipe, components));
  }

  infrastructure(toolset: ToolsetData, arch: string): Promise<string> {
    const name = infrastructureName(toolset.name, arch);
    return memo(this.infrastructures, name, () => this.ensureInfrastructure(toolset, arch));
  }

  distribution(line: LineKey): Promise<string> {
    return memo(this.distributions, distributionName(line), () => this.ensureDistribution(line));
  }

  private async ensureComponent(component: PipelineComponent): Promise<string> {
    const marker = `[sha256:${component.hash}]`;
    for (let attempt = 0; attempt < 3; attempt++) {
      const versions = await this.ib.listComponentVersions(component.resourceName);
      const same = versions.find((v) => v.description?.endsWith(marker));
      if (same) return same.arn;
      const version = nextPatch(versions.map((v) => v.version));
      try {
        return await this.ib.createComponent({
          name: component.resourceName,
          version,
          // The content hash rides in the description: ListComponents returns descriptions, not tags.
          description: `${component.description.slice(0, 1024 - marker.length - 1)} ${marker}`,
          changeDescription: `ops-rig content ${component.hash.slice(0, 12)}`,
          data: component.document,
          tags: { "ops-rig:component": component.name, "ops-rig:content-hash": component.hash },
          clientToken: token("component", component.resourceName, version, component.hash),
        });
      } catch (error) {
        if (!isAlreadyExists(error)) throw error;
        // Someone (a crashed run, a parallel one) created this version meanwhile: look again.
      }
    }
    throw versionConflict("component", component.resourceName);
  }

  private async ensureRecipe(
    recipe: RecipeShape,
    components: ReadonlyMap<string, PipelineComponent>,
  ): Promise<string> {
    const componentArns = await Promise.all(
      recipe.components.map(async (c) => {
        const rendered = components.get(c.name);
        if (!rendered) throw new InvariantError(`component ${c.name} was not rendered`);
        return { arn: await this.component(rendered), parameters: c.parameters };
      }),
    );
    for (let attempt = 0; attempt < 3; attempt++) {
      const versions = await this.ib.listRecipeVersions(recipe.name);
      const same = versions.find((v) => v.tags[TAG.recipeHash] === recipe.hash);
      if (same) return same.arn;
      const version = nextPatch(versions.map((v) => v.version));
      try {
        return await this.ib.createRecipe({
          name: recipe.name,
          version,
          description: recipe.description,
          parentImage: recipe.parentImage,
          components: componentArns,
          blockDeviceMappings: recipe.blockDeviceMappings,
          ...(recipe.userDataOverride ? { userDataOverride: recipe.userDataOverride } : {}),
          tags: { ...lineTags(recipe.line), [TAG.recipeHash]: recipe.hash },
          clientToken: token("recipe", recipe.name, version, recipe.hash),
        });
      } catch (error) {
        if (!isAlreadyExists(error)) throw error;
      }
    }
    throw versionConflict("recipe", recipe.name);
  }

  private async ensureInfrastructure(toolset: ToolsetData, arch: string): Promise<string> {
    const { build } = this.pipeline;
    const wanted: InfrastructureSettings = {
      name: infrastructureName(toolset.name, arch),
      description: `ops-rig ${toolset.name} builds on ${arch}`,
      instanceProfileName: build.instanceProfileName,
      instanceTypes: toolset.instanceTypes[arch as "amd64" | "arm64"] ?? [],
      securityGroupIds: build.securityGroupIds ?? [],
      ...(build.subnetId ? { subnetId: build.subnetId } : {}),
      snsTopicArn: topicArn(build.notificationTopic, this.pipeline.homeRegion, this.accountId),
      terminateInstanceOnFailure: build.terminateInstanceOnFailure,
      ...(build.logsBucket ? { logsBucket: build.logsBucket } : {}),
      tags: { [TAG.toolset]: toolset.name, [TAG.arch]: arch },
    };
    const found = await this.ib.findInfrastructure(wanted.name);
    if (!found)
      return this.ib.createInfrastructure(
        wanted,
        token("infrastructure", wanted.name, JSON.stringify(comparable(wanted))),
      );
    if (JSON.stringify(comparable(found.current)) !== JSON.stringify(comparable(wanted))) {
      await this.ib.updateInfrastructure(
        found.arn,
        wanted,
        token("infrastructure-update", wanted.name, JSON.stringify(comparable(wanted))),
      );
    }
    return found.arn;
  }

  private async ensureDistribution(line: LineKey): Promise<string> {
    const home = this.pipeline.homeRegion;
    const kmsKeyId = this.pipeline.copy.kmsKeys[home];
    // Only the line's tags: the build's identity (fingerprint, build ARN) is tagged from the immutable
    // build record once the AMI exists, so this configuration never changes between builds.
    const wanted: DistributionSettings = {
      name: distributionName(line),
      description: `ops-rig ${line.toolset} on ${line.base} ${line.arch}: AMI in ${home}`,
      region: home,
      amiName: amiNameTemplate(line),
      amiDescription: `ops-rig ${line.toolset} toolset on ${baseDescription(line)}`,
      amiTags: lineTags(line),
      ...(kmsKeyId ? { kmsKeyId } : {}),
      tags: lineTags(line),
    };
    const found = await this.ib.findDistribution(wanted.name);
    const same = (current: DistributionSettings) =>
      JSON.stringify([
        current.region,
        current.amiName,
        current.amiDescription,
        sorted(current.amiTags),
        current.kmsKeyId,
      ]) ===
      JSON.stringify([
        wanted.region,
        wanted.amiName,
        wanted.amiDescription,
        sorted(wanted.amiTags),
        wanted.kmsKeyId,
      ]);
    if (!found)
      return this.ib.createDistribution(wanted, token("distribution", wanted.name, JSON.stringify(wanted)));
    if (!same(found.current))
      await this.ib.updateDistribution(
        found.arn,
        wanted,
        token("distribution-update", wanted.name, JSON.stringify(wanted)),
      );
    return found.arn;
  }
}

function comparable(s: InfrastructureSettings) {
  return [
    s.instanceProfileName,
    [...s.instanceTypes],
    [...s.securityGroupIds].sort(),
    s.subnetId ?? null,
    s.snsTopicArn,
    s.terminateInstanceOnFailure,
    s.logsBucket ?? null,
    s.description,
  ];
}

function sorted(tags: Readonly<Record<string, string>>): [string, string][] {
  return Object.entries(tags).sort(([a], [b]) => a.localeCompare(b));
}

/** Next patch version after the highest existing one (`1.0.0` when there is none). */
export function nextPatch(versions: readonly string[]): string {
  const parsed = versions
    .map((v) => v.split("/")[0]?.split(".").map(Number) ?? [])
    .filter((parts) => parts.length === 3 && parts.every((n) => Number.isInteger(n) && n >= 0)) as [
    number,
    number,
    number,
  ][];
  if (parsed.length === 0) return "1.0.0";
  parsed.sort((a, b) => b[0] - a[0] || b[1] - a[1] || b[2] - a[2]);
  const [major, minor, patch] = parsed[0] as [number, number, number];
  return `${major}.${minor}.${patch + 1}`;
}

/** Another writer kept creating the version this run wanted: the next run settles it. */
function versionConflict(kind: string, name: string): OpsRigError {
  return new OpsRigError(
    "VERSION_CONFLICT",
    "system",
    `could not settle a version for ${kind} ${name}: another run kept creating the same version`,
    { retryable: true },
  );
}

/** Deterministic Image Builder client token (≤ 36 characters). */
function token(...parts: string[]): string {
  return sha256Hex(parts.join("\n")).slice(0, 36);
}

function isAlreadyExists(error: unknown): boolean {
  return (
    error instanceof AwsCallError &&
    (error.awsCode === "ResourceAlreadyExistsException" || /already exists/i.test(error.message))
  );
}

function memo<T>(cache: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let promise = cache.get(key);
  if (!promise) {
    promise = make();
    // A failure must not stick: a later action in the same run may try again.
    promise.catch(() => cache.delete(key));
    cache.set(key, promise);
  }
  return promise;
}
