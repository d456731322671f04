import { formatProblem } from "../../../src/errors.js";
import { checkAwstoeDocument } from "../../../src/render/awstoe.js";
import { canonicalJson } from "../../../src/render/hash.js";
import { ImageBuilderError, invalidValue, notFound } from "./errors.js";
import type { Fields } from "./input.js";
import { ImageLifecycle } from "./lifecycle.js";
import { paginate, readFilters } from "./list.js";
import {
  arnName,
  type ComponentParameterDetail,
  type ComponentRecord,
  checkSemanticVersion,
  checkTags,
  compareVersions,
  type DistributionRecord,
  type InfrastructureRecord,
  type Json,
  makeArn,
  NAME_PATTERN,
  notFoundArn,
  type ParsedArn,
  parseArn,
  type RecipeComponent,
  type RecipeRecord,
  versionSelector,
} from "./model.js";
import type { EmulatorDeps } from "./types.js";

/**
 * Image Builder's resources (components, image recipes, infrastructure and distribution
 * configurations, images) and the operations on them, with the service's validation and errors.
 * Transport-free: server.ts turns HTTP requests into `call(operation, region, input)`.
 */

export type Operation = (input: Fields, region: string) => Promise<Json>;

const PLATFORMS = ["Windows", "Linux", "macOS"] as const;
const VOLUME_TYPES = ["standard", "io1", "io2", "gp2", "gp3", "sc1", "st1"] as const;
const AMI_NAME = /^[-_A-Za-z0-9{][-_A-Za-z0-9\s:{}.]+[-_A-Za-z0-9}]$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
const SNS_TOPIC_ARN = /^arn:aws[^:]*:sns:[^:]+:[0-9]{12}:[a-zA-Z0-9_-]{1,256}(\.fifo)?$/;
const MAX_COMPONENTS_PER_RECIPE = 20;
const MAX_DOCUMENT_CHARS = 16_000;

interface TokenRecord {
  readonly fingerprint: string;
  readonly response: Json;
}

export class ImageBuilderEmulator {
  readonly components = new Map<string, ComponentRecord>();
  readonly recipes = new Map<string, RecipeRecord>();
  readonly infrastructures = new Map<string, InfrastructureRecord>();
  readonly distributions = new Map<string, DistributionRecord>();
  readonly lifecycle: ImageLifecycle;
  private readonly tokens = new Map<string, TokenRecord>();
  readonly operations: Readonly<Record<string, Operation>>;

  constructor(private readonly deps: EmulatorDeps) {
    this.lifecycle = new ImageLifecycle(deps, this);
    this.operations = {
      CreateComponent: (i, r) => this.idempotent("CreateComponent", i, r, () => this.createComponent(i, r)),
      GetComponent: (i, r) => this.getComponent(i, r),
      ListComponents: (i, r) => this.listComponents(i, r),
      ListComponentBuildVersions: (i, r) => this.listComponentBuildVersions(i, r),
      DeleteComponent: (i, r) => this.deleteComponent(i, r),
      CreateImageRecipe: (i, r) =>
        this.idempotent("CreateImageRecipe", i, r, () => this.createImageRecipe(i, r)),
      GetImageRecipe: (i, r) => this.getImageRecipe(i, r),
      ListImageRecipes: (i, r) => this.listImageRecipes(i, r),
      DeleteImageRecipe: (i, r) => this.deleteImageRecipe(i, r),
      CreateInfrastructureConfiguration: (i, r) =>
        this.idempotent("CreateInfrastructureConfiguration", i, r, () => this.createInfrastructure(i, r)),
      UpdateInfrastructureConfiguration: (i, r) =>
        this.idempotent("UpdateInfrastructureConfiguration", i, r, () => this.updateInfrastructure(i, r)),
      GetInfrastructureConfiguration: (i, r) => this.getInfrastructure(i, r),
      ListInfrastructureConfigurations: (i, r) => this.listInfrastructures(i, r),
      DeleteInfrastructureConfiguration: (i, r) => this.deleteInfrastructure(i, r),
      CreateDistributionConfiguration: (i, r) =>
        this.idempotent("CreateDistributionConfiguration", i, r, () => this.createDistribution(i, r)),
      UpdateDistributionConfiguration: (i, r) =>
        this.idempotent("UpdateDistributionConfiguration", i, r, () => this.updateDistribution(i, r)),
      GetDistributionConfiguration: (i, r) => this.getDistribution(i, r),
      ListDistributionConfigurations: (i, r) => this.listDistributions(i, r),
      DeleteDistributionConfiguration: (i, r) => this.deleteDistribution(i, r),
      CreateImage: (i, r) => this.idempotent("CreateImage", i, r, () => this.lifecycle.createImage(i, r)),
      GetImage: (i, r) => this.lifecycle.getImage(i, r),
      ListImages: (i, r) => this.lifecycle.listImages(i, r),
      ListImageBuildVersions: (i, r) => this.lifecycle.listImageBuildVersions(i, r),
      CancelImageCreation: (i, r) =>
        this.idempotent("CancelImageCreation", i, r, () => this.lifecycle.cancelImageCreation(i, r)),
      DeleteImage: (i, r) => this.lifecycle.deleteImage(i, r),
      TagResource: (i, r) => this.tagResource(i, r),
      UntagResource: (i, r) => this.untagResource(i, r),
      ListTagsForResource: (i, r) => this.listTags(i, r),
    };
  }

  reset(): void {
    this.components.clear();
    this.recipes.clear();
    this.infrastructures.clear();
    this.distributions.clear();
    this.tokens.clear();
    this.lifecycle.reset();
  }

  now(): string {
    return new Date(this.deps.clock.now()).toISOString();
  }

  // ------------------------------------------------------------------------------- idempotency

  /**
   * Same client token + same request → the first answer again; same token + anything else →
   * IdempotentParameterMismatchException. Only successful calls are remembered.
   */
  private async idempotent(
    op: string,
    input: Fields,
    region: string,
    run: () => Promise<Json>,
  ): Promise<Json> {
    const token = input.str("clientToken", { min: 1, max: 36 });
    if (token === undefined) return run();
    const { clientToken: _ignored, ...rest } = input.value;
    const fingerprint = canonicalJson(rest);
    const key = `${op}|${region}|${token}`;
    const seen = this.tokens.get(key);
    if (seen) {
      if (seen.fingerprint !== fingerprint)
        throw new ImageBuilderError(
          "IdempotentParameterMismatchException",
          `The client token ${JSON.stringify(token)} was already used for a ${op} request with different parameters.`,
        );
      return seen.response;
    }
    const response = { ...(await run()), clientToken: token };
    this.tokens.set(key, { fingerprint, response });
    return response;
  }

  // -------------------------------------------------------------------------------- ARN lookups

  private ownArn(field: string, arn: string, region: string, kind: string): ParsedArn {
    const parsed = parseArn(arn, field);
    if (parsed.kind !== kind)
      throw invalidValue(
        `The value supplied for parameter '${field}' must be a ${kind} ARN, not ${JSON.stringify(arn)}.`,
      );
    if (parsed.account === "aws")
      throw notFound(
        `${JSON.stringify(arn)} is an Amazon-managed resource; the local Image Builder emulator does not have those.`,
      );
    if (parsed.region !== region || parsed.account !== this.deps.accountId) throw notFoundArn(field, arn);
    return parsed;
  }

  /** A component build version by build ARN, version ARN (newest build) or `x` wildcard ARN. */
  resolveComponent(field: string, arn: string, region: string): ComponentRecord {
    const parsed = this.ownArn(field, arn, region, "component");
    const [name, version, build, ...extra] = parsed.parts;
    if (!name || !version || extra.length > 0)
      throw invalidValue(`'${field}' is not a component ARN: ${JSON.stringify(arn)}.`);
    if (build !== undefined) {
      const found = this.components.get(arn);
      if (!found) throw notFoundArn(field, arn);
      return found;
    }
    const matches = versionSelector(field, version);
    const candidates = [...this.components.values()]
      .filter((c) => c.region === region && arnName(c.name) === name && matches(c.version))
      .sort((a, b) => compareVersions(a.version, b.version) || a.build - b.build);
    const newest = candidates.at(-1);
    if (!newest) throw notFoundArn(field, arn);
    return newest;
  }

  private component(field: string, arn: string, region: string): ComponentRecord {
    this.ownArn(field, arn, region, "component");
    const found = this.components.get(arn);
    if (!found) throw notFoundArn(field, arn);
    return found;
  }

  recipe(field: string, arn: string, region: string): RecipeRecord {
    this.ownArn(field, arn, region, "image-recipe");
    const found = this.recipes.get(arn);
    if (!found) throw notFoundArn(field, arn);
    return found;
  }

  infrastructure(field: string, arn: string, region: string): InfrastructureRecord {
    this.ownArn(field, arn, region, "infrastructure-configuration");
    const found = this.infrastructures.get(arn);
    if (!found) throw notFoundArn(field, arn);
    return found;
  }

  distribution(field: string, arn: string, region: string): DistributionRecord {
    this.ownArn(field, arn, region, "distribution-configuration");
    const found = this.distributions.get(arn);
    if (!found) throw notFoundArn(field, arn);
    return found;
  }

  // --------------------------------------------------------------------------------- components

  private async createComponent(input: Fields, region: string): Promise<Json> {
    const name = input.str("name", { required: true, pattern: NAME_PATTERN });
    const version = input.str("semanticVersion", { required: true });
    checkSemanticVersion("semanticVersion", version);
    const platform = input.str("platform", { required: true, oneOf: PLATFORMS });
    const description = input.str("description", { min: 1, max: 1024 });
    const changeDescription = input.str("changeDescription", { min: 1, max: 1024 });
    const supportedOsVersions = input.strList("supportedOsVersions", { min: 1, max: 25, item: { min: 1 } });
    const kmsKeyId = input.str("kmsKeyId", { min: 1, max: 1024 });
    const tags = input.map("tags");
    checkTags("tags", tags);
    input.bool("dryRun");
    const data = input.str("data");
    const uri = input.str("uri");
    if (data !== undefined && uri !== undefined)
      throw new ImageBuilderError(
        "InvalidParameterCombinationException",
        "You can specify either 'data' or 'uri' for a component, not both.",
      );
    if (data === undefined && uri === undefined)
      throw new ImageBuilderError(
        "InvalidRequestException",
        "A component needs its document: specify 'data' or 'uri'.",
      );
    if (data === undefined)
      throw invalidValue(
        "The local Image Builder emulator does not read component documents from S3: pass 'data'.",
      );
    if (data.length < 1 || data.length > MAX_DOCUMENT_CHARS)
      throw invalidValue(
        `The value supplied for parameter 'data' is not valid: the document is ${data.length} characters long; inline documents may have 1 to ${MAX_DOCUMENT_CHARS} (use an S3 'uri' for larger ones).`,
      );
    const checked = checkAwstoeDocument(`component ${name} ${version}`, data);
    if (!checked.document || checked.problems.length > 0)
      throw invalidValue(
        `The component document is not valid: ${checked.problems.map((p) => formatProblem(p)).join("; ")}`,
      );
    const document = checked.document;

    const existing = [...this.components.values()].filter(
      (c) => c.region === region && arnName(c.name) === arnName(name) && c.version === version,
    );
    if (existing.length > 0 && this.deps.componentVersionConflict === "reject")
      throw new ImageBuilderError(
        "ResourceAlreadyExistsException",
        `The component ${JSON.stringify(name)} already has version ${version} (${existing[0]?.arn}); component versions are immutable: create a new version.`,
      );
    const build = Math.max(0, ...existing.map((c) => c.build)) + 1;
    const arn = makeArn(region, this.deps.accountId, "component", arnName(name), version, build);
    if (input.bool("dryRun"))
      throw new ImageBuilderError(
        "DryRunOperationException",
        "The request would have succeeded, but dryRun was set: nothing was created.",
      );
    const parameters: ComponentParameterDetail[] = document.parameters.map((p) => ({
      name: p.name,
      type: p.type,
      ...(p.default !== undefined ? { defaultValue: [p.default] } : {}),
      ...(p.description !== undefined ? { description: p.description } : {}),
    }));
    const record: ComponentRecord = {
      arn,
      region,
      name,
      version,
      build,
      ...(description !== undefined ? { description } : {}),
      ...(changeDescription !== undefined ? { changeDescription } : {}),
      platform,
      ...(supportedOsVersions !== undefined ? { supportedOsVersions } : {}),
      type: document.phases.every((phase) => phase.name === "test") ? "TEST" : "BUILD",
      data,
      parameters,
      ...(kmsKeyId !== undefined ? { kmsKeyId } : {}),
      dateCreated: this.now(),
      tags: { ...tags },
    };
    this.components.set(arn, record);
    this.deps.log(`CreateComponent ${arn}`);
    return { componentBuildVersionArn: arn, latestVersionReferences: this.componentLatest(record) };
  }

  private componentLatest(record: ComponentRecord): Json {
    const same = [...this.components.values()].filter(
      (c) => c.region === record.region && arnName(c.name) === arnName(record.name),
    );
    const [major, minor] = record.version.split(".");
    const newest = (list: ComponentRecord[]) =>
      list.sort((a, b) => compareVersions(a.version, b.version)).at(-1)?.version ?? record.version;
    const ref = (version: string) =>
      makeArn(record.region, this.deps.accountId, "component", arnName(record.name), version);
    return {
      latestVersionArn: ref(newest([...same])),
      latestMajorVersionArn: ref(newest(same.filter((c) => c.version.split(".")[0] === major))),
      latestMinorVersionArn: ref(
        newest(same.filter((c) => c.version.split(".")[0] === major && c.version.split(".")[1] === minor)),
      ),
      latestPatchVersionArn: ref(record.version),
    };
  }

  private componentOut(c: ComponentRecord): Json {
    return {
      arn: c.arn,
      name: c.name,
      version: c.version,
      description: c.description,
      changeDescription: c.changeDescription,
      type: c.type,
      platform: c.platform,
      supportedOsVersions: c.supportedOsVersions,
      state: { status: "ACTIVE" },
      parameters: c.parameters,
      owner: this.deps.accountId,
      data: c.data,
      kmsKeyId: c.kmsKeyId,
      encrypted: true,
      dateCreated: c.dateCreated,
      tags: c.tags,
    };
  }

  private async getComponent(input: Fields, region: string): Promise<Json> {
    const arn = input.str("componentBuildVersionArn", { required: true });
    const component = this.resolveComponent("componentBuildVersionArn", arn, region);
    return {
      component: this.componentOut(component),
      latestVersionReferences: this.componentLatest(component),
    };
  }

  private async listComponents(input: Fields, region: string): Promise<Json> {
    const owner = input.str("owner", { oneOf: ["Self", "Shared", "Amazon", "ThirdParty", "AWSMarketplace"] });
    input.bool("byName");
    const filter = readFilters(input, {
      name: (c: ComponentRecord) => [c.name],
      platform: (c) => [c.platform],
      supportedOsVersion: (c) => [...(c.supportedOsVersions ?? [])],
      type: (c) => [c.type],
      version: (c) => [c.version],
      description: (c) => [c.description ?? ""],
    });
    // One entry per version (the newest build of each), as the service lists them.
    const versions = new Map<string, ComponentRecord>();
    if (owner === undefined || owner === "Self") {
      for (const c of this.components.values()) {
        if (c.region !== region || !filter(c)) continue;
        const key = `${arnName(c.name)}/${c.version}`;
        const have = versions.get(key);
        if (!have || have.build < c.build) versions.set(key, c);
      }
    }
    const sorted = [...versions.values()].sort(
      (a, b) => a.name.localeCompare(b.name) || compareVersions(a.version, b.version),
    );
    const page = paginate(input, "ListComponents", sorted);
    return {
      componentVersionList: page.items.map((c) => ({
        arn: makeArn(region, this.deps.accountId, "component", arnName(c.name), c.version),
        name: c.name,
        version: c.version,
        description: c.description,
        platform: c.platform,
        supportedOsVersions: c.supportedOsVersions,
        type: c.type,
        owner: this.deps.accountId,
        dateCreated: c.dateCreated,
        status: "ACTIVE",
      })),
      ...page.next,
    };
  }

  private async listComponentBuildVersions(input: Fields, region: string): Promise<Json> {
    const versionArn = input.str("componentVersionArn", { required: true });
    const parsed = this.ownArn("componentVersionArn", versionArn, region, "component");
    const [name, version, ...extra] = parsed.parts;
    if (!name || !version || extra.length > 0)
      throw invalidValue(
        `'componentVersionArn' must be a component version ARN (…/component/<name>/<version>), not ${JSON.stringify(versionArn)}.`,
      );
    const matches = versionSelector("componentVersionArn", version);
    const builds = [...this.components.values()]
      .filter((c) => c.region === region && arnName(c.name) === name && matches(c.version))
      .sort((a, b) => compareVersions(a.version, b.version) || a.build - b.build);
    const page = paginate(input, "ListComponentBuildVersions", builds);
    return {
      componentSummaryList: page.items.map((c) => ({
        arn: c.arn,
        name: c.name,
        version: c.version,
        platform: c.platform,
        supportedOsVersions: c.supportedOsVersions,
        state: { status: "ACTIVE" },
        type: c.type,
        owner: this.deps.accountId,
        description: c.description,
        changeDescription: c.changeDescription,
        dateCreated: c.dateCreated,
        tags: c.tags,
      })),
      ...page.next,
    };
  }

  private async deleteComponent(input: Fields, region: string): Promise<Json> {
    const arn = input.str("componentBuildVersionArn", { required: true });
    const component = this.component("componentBuildVersionArn", arn, region);
    for (const recipe of this.recipes.values()) {
      for (const ref of recipe.components) {
        let target: ComponentRecord | undefined;
        try {
          target = this.resolveComponent("componentArn", ref.componentArn, region);
        } catch {
          target = undefined;
        }
        if (target?.arn === component.arn)
          throw new ImageBuilderError(
            "ResourceDependencyException",
            `The component ${arn} is used by the image recipe ${recipe.arn}; delete the recipe first.`,
          );
      }
    }
    this.components.delete(arn);
    return { componentBuildVersionArn: arn };
  }

  // ------------------------------------------------------------------------------------ recipes

  private async createImageRecipe(input: Fields, region: string): Promise<Json> {
    const name = input.str("name", { required: true, pattern: NAME_PATTERN });
    const version = input.str("semanticVersion", { required: true });
    checkSemanticVersion("semanticVersion", version);
    const parentImage = input.str("parentImage", { required: true, min: 1, max: 1024 });
    const description = input.str("description", { min: 1, max: 1024 });
    const workingDirectory = input.str("workingDirectory", { min: 1, max: 1024 });
    const tags = input.map("tags");
    checkTags("tags", tags);
    const amiTags = input.map("amiTags");
    checkTags("amiTags", amiTags);

    const componentFields = input.list("components") ?? [];
    // The SDK model lists `components` without the required trait, but with a minimum of one item;
    // an image needs at least one build component, so an empty recipe is refused either way.
    if (componentFields.length === 0)
      throw new ImageBuilderError(
        "InvalidParameterValueException",
        "The value supplied for parameter 'components' is not valid: an image recipe needs at least one component.",
      );
    if (componentFields.length > MAX_COMPONENTS_PER_RECIPE)
      throw new ImageBuilderError(
        "ServiceQuotaExceededException",
        `An image recipe can have at most ${MAX_COMPONENTS_PER_RECIPE} components; this one has ${componentFields.length}.`,
      );
    const components: RecipeComponent[] = componentFields.map((field, index) => {
      const path = `components[${index}].componentArn`;
      const componentArn = field.str("componentArn", { required: true });
      const component = this.resolveComponent(path, componentArn, region);
      const parameters = (field.list("parameters") ?? []).map((p) => ({
        name: p.str("name", { required: true, min: 1, max: 256, pattern: /^\S(.*\S)?$/ }),
        value: p.strList("value", { required: true }) ?? [],
      }));
      checkComponentParameters(`components[${index}]`, component, parameters);
      return { componentArn, ...(field.has("parameters") ? { parameters } : {}) };
    });

    const blockDeviceMappings = input.list("blockDeviceMappings")?.map((mapping) => {
      mapping.str("deviceName", { min: 1, max: 1024 });
      mapping.str("virtualName", { min: 1, max: 1024 });
      mapping.str("noDevice", { max: 0 });
      const ebs = mapping.obj("ebs");
      if (ebs) {
        ebs.bool("encrypted");
        ebs.bool("deleteOnTermination");
        ebs.int("iops", { min: 100, max: 100_000 });
        ebs.str("kmsKeyId", { min: 1, max: 1024 });
        ebs.str("snapshotId", { min: 1, max: 1024 });
        ebs.int("volumeSize", { min: 1, max: 16_384 });
        ebs.str("volumeType", { oneOf: VOLUME_TYPES });
        ebs.int("throughput", { min: 125, max: 1000 });
      }
      return mapping.value;
    });
    const additional = input.obj("additionalInstanceConfiguration");
    if (additional) {
      additional.str("userDataOverride", { min: 1, max: 21_847, pattern: /^[-A-Za-z0-9+/]+={0,2}$/ });
      additional.obj("systemsManagerAgent")?.bool("uninstallAfterBuild");
    }

    // The parent must exist where the recipe builds (an `ssm:` parent is resolved again per build).
    await this.lifecycle.resolveParent(region, parentImage, "parentImage");

    const arn = makeArn(region, this.deps.accountId, "image-recipe", arnName(name), version);
    if (this.recipes.has(arn))
      throw new ImageBuilderError(
        "ResourceAlreadyExistsException",
        `The image recipe ${arn} already exists; recipe versions are immutable: create a new version.`,
      );
    const record: RecipeRecord = {
      arn,
      region,
      name,
      version,
      ...(description !== undefined ? { description } : {}),
      components,
      parentImage,
      ...(blockDeviceMappings !== undefined ? { blockDeviceMappings } : {}),
      ...(workingDirectory !== undefined ? { workingDirectory } : {}),
      ...(additional !== undefined ? { additionalInstanceConfiguration: additional.value } : {}),
      ...(amiTags !== undefined ? { amiTags } : {}),
      dateCreated: this.now(),
      tags: { ...tags },
    };
    this.recipes.set(arn, record);
    this.deps.log(`CreateImageRecipe ${arn} (parent ${parentImage})`);
    return { imageRecipeArn: arn, latestVersionReferences: this.recipeLatest(record) };
  }

  private recipeLatest(record: RecipeRecord): Json {
    const same = [...this.recipes.values()].filter(
      (r) => r.region === record.region && arnName(r.name) === arnName(record.name),
    );
    const [major, minor] = record.version.split(".");
    const newest = (list: RecipeRecord[]) =>
      list.sort((a, b) => compareVersions(a.version, b.version)).at(-1)?.arn ?? record.arn;
    return {
      latestVersionArn: newest([...same]),
      latestMajorVersionArn: newest(same.filter((r) => r.version.split(".")[0] === major)),
      latestMinorVersionArn: newest(
        same.filter((r) => r.version.split(".")[0] === major && r.version.split(".")[1] === minor),
      ),
      latestPatchVersionArn: record.arn,
    };
  }

  recipeOut(r: RecipeRecord): Json {
    return {
      arn: r.arn,
      type: "AMI",
      name: r.name,
      description: r.description,
      platform: "Linux",
      owner: this.deps.accountId,
      version: r.version,
      components: r.components,
      parentImage: r.parentImage,
      blockDeviceMappings: r.blockDeviceMappings,
      dateCreated: r.dateCreated,
      tags: r.tags,
      workingDirectory: r.workingDirectory,
      additionalInstanceConfiguration: r.additionalInstanceConfiguration,
      amiTags: r.amiTags,
    };
  }

  private async getImageRecipe(input: Fields, region: string): Promise<Json> {
    const recipe = this.recipe("imageRecipeArn", input.str("imageRecipeArn", { required: true }), region);
    return { imageRecipe: this.recipeOut(recipe), latestVersionReferences: this.recipeLatest(recipe) };
  }

  private async listImageRecipes(input: Fields, region: string): Promise<Json> {
    const owner = input.str("owner", { oneOf: ["Self", "Shared", "Amazon", "ThirdParty", "AWSMarketplace"] });
    const filter = readFilters(input, {
      name: (r: RecipeRecord) => [r.name],
      parentImage: (r) => [r.parentImage],
      platform: () => ["Linux"],
    });
    const recipes =
      owner === undefined || owner === "Self"
        ? [...this.recipes.values()]
            .filter((r) => r.region === region && filter(r))
            .sort((a, b) => a.name.localeCompare(b.name) || compareVersions(a.version, b.version))
        : [];
    const page = paginate(input, "ListImageRecipes", recipes);
    return {
      imageRecipeSummaryList: page.items.map((r) => ({
        arn: r.arn,
        name: r.name,
        platform: "Linux",
        owner: this.deps.accountId,
        parentImage: r.parentImage,
        dateCreated: r.dateCreated,
        tags: r.tags,
      })),
      ...page.next,
    };
  }

  private async deleteImageRecipe(input: Fields, region: string): Promise<Json> {
    const arn = input.str("imageRecipeArn", { required: true });
    this.recipe("imageRecipeArn", arn, region);
    const user = this.lifecycle.inFlightUsing((image) => image.recipe.arn === arn);
    if (user)
      throw new ImageBuilderError(
        "ResourceDependencyException",
        `The image recipe ${arn} is used by the image build ${user} that is still in progress.`,
      );
    this.recipes.delete(arn);
    return { imageRecipeArn: arn };
  }

  // ----------------------------------------------------------------- infrastructure configurations

  private readInfrastructureSettings(input: Fields): Json {
    const settings: Record<string, unknown> = {};
    const keep = (key: string, value: unknown) => {
      if (value !== undefined) settings[key] = value;
    };
    keep(
      "instanceProfileName",
      input.str("instanceProfileName", { required: true, min: 1, max: 256, pattern: /^[\w+=,.@-]+$/ }),
    );
    keep("description", input.str("description", { min: 1, max: 1024 }));
    keep("instanceTypes", input.strList("instanceTypes", { item: { min: 1 } }));
    keep(
      "securityGroupIds",
      input.strList("securityGroupIds", { item: { pattern: /^sg-[a-z0-9-_]{1,128}$/ } }),
    );
    keep("subnetId", input.str("subnetId", { pattern: /^subnet-[a-z0-9-_]{1,128}$/ }));
    const logging = input.obj("logging");
    if (logging) {
      const s3 = logging.obj("s3Logs");
      s3?.str("s3BucketName", { min: 1, max: 1024 });
      s3?.str("s3KeyPrefix", { min: 1, max: 1024 });
      keep("logging", logging.value);
    }
    keep("keyPair", input.str("keyPair", { min: 1, max: 1024 }));
    keep("terminateInstanceOnFailure", input.bool("terminateInstanceOnFailure"));
    keep("snsTopicArn", input.str("snsTopicArn", { pattern: SNS_TOPIC_ARN }));
    const resourceTags = input.map("resourceTags");
    checkTags("resourceTags", resourceTags);
    keep("resourceTags", resourceTags);
    const metadata = input.obj("instanceMetadataOptions");
    if (metadata) {
      metadata.str("httpTokens", { oneOf: ["required", "optional"] });
      metadata.int("httpPutResponseHopLimit", { min: 1, max: 64 });
      keep("instanceMetadataOptions", metadata.value);
    }
    const placement = input.obj("placement");
    if (placement) {
      placement.str("tenancy", { oneOf: ["default", "dedicated", "host"] });
      keep("placement", placement.value);
    }
    return settings;
  }

  private async createInfrastructure(input: Fields, region: string): Promise<Json> {
    const name = input.str("name", { required: true, pattern: NAME_PATTERN });
    const settings = this.readInfrastructureSettings(input);
    const tags = input.map("tags");
    checkTags("tags", tags);
    const arn = makeArn(region, this.deps.accountId, "infrastructure-configuration", arnName(name));
    if (this.infrastructures.has(arn))
      throw new ImageBuilderError(
        "ResourceAlreadyExistsException",
        `The infrastructure configuration ${arn} already exists.`,
      );
    this.infrastructures.set(arn, {
      arn,
      region,
      name,
      settings,
      dateCreated: this.now(),
      tags: { ...tags },
    });
    return { infrastructureConfigurationArn: arn };
  }

  private async updateInfrastructure(input: Fields, region: string): Promise<Json> {
    const arn = input.str("infrastructureConfigurationArn", { required: true });
    const record = this.infrastructure("infrastructureConfigurationArn", arn, region);
    record.settings = this.readInfrastructureSettings(input);
    record.dateUpdated = this.now();
    return { infrastructureConfigurationArn: arn };
  }

  infrastructureOut(r: InfrastructureRecord): Json {
    return {
      arn: r.arn,
      name: r.name,
      ...r.settings,
      dateCreated: r.dateCreated,
      dateUpdated: r.dateUpdated,
      tags: r.tags,
    };
  }

  private async getInfrastructure(input: Fields, region: string): Promise<Json> {
    const arn = input.str("infrastructureConfigurationArn", { required: true });
    return {
      infrastructureConfiguration: this.infrastructureOut(
        this.infrastructure("infrastructureConfigurationArn", arn, region),
      ),
    };
  }

  private async listInfrastructures(input: Fields, region: string): Promise<Json> {
    const filter = readFilters(input, { name: (r: InfrastructureRecord) => [r.name] });
    const list = [...this.infrastructures.values()]
      .filter((r) => r.region === region && filter(r))
      .sort((a, b) => a.name.localeCompare(b.name));
    const page = paginate(input, "ListInfrastructureConfigurations", list);
    return {
      infrastructureConfigurationSummaryList: page.items.map((r) => ({
        arn: r.arn,
        name: r.name,
        description: r.settings.description,
        dateCreated: r.dateCreated,
        dateUpdated: r.dateUpdated,
        resourceTags: r.settings.resourceTags,
        tags: r.tags,
        instanceTypes: r.settings.instanceTypes,
        instanceProfileName: r.settings.instanceProfileName,
        placement: r.settings.placement,
      })),
      ...page.next,
    };
  }

  private async deleteInfrastructure(input: Fields, region: string): Promise<Json> {
    const arn = input.str("infrastructureConfigurationArn", { required: true });
    this.infrastructure("infrastructureConfigurationArn", arn, region);
    const user = this.lifecycle.inFlightUsing((image) => image.infrastructure.arn === arn);
    if (user)
      throw new ImageBuilderError(
        "ResourceDependencyException",
        `The infrastructure configuration ${arn} is used by the image build ${user} that is still in progress.`,
      );
    this.infrastructures.delete(arn);
    return { infrastructureConfigurationArn: arn };
  }

  // ------------------------------------------------------------------- distribution configurations

  private readDistributions(input: Fields): Json[] {
    const list = input.list("distributions", { required: true, min: 1 }) ?? [];
    const regions = new Set<string>();
    return list.map((d, index) => {
      const region = d.str("region", { required: true, min: 1, max: 1024, pattern: REGION });
      if (regions.has(region))
        throw new ImageBuilderError(
          "InvalidParameterCombinationException",
          `The region ${region} appears twice in 'distributions' (again at distributions[${index}]).`,
        );
      regions.add(region);
      const ami = d.obj("amiDistributionConfiguration");
      if (ami) {
        ami.str("name", { min: 1, max: 127, pattern: AMI_NAME });
        ami.str("description", { min: 1, max: 1024 });
        ami.strList("targetAccountIds", { min: 1, max: 1536, item: { pattern: /^[0-9]{12}$/ } });
        const amiTags = ami.map("amiTags");
        checkTags(`${ami.path("amiTags")}`, amiTags);
        ami.str("kmsKeyId", { min: 1, max: 1024 });
        const permission = ami.obj("launchPermission");
        permission?.strList("userIds", { min: 1, max: 1536, item: { pattern: /^[0-9]{12}$/ } });
        permission?.strList("userGroups", { item: { oneOf: ["all"] } });
        permission?.strList("organizationArns");
        permission?.strList("organizationalUnitArns");
      }
      if (d.has("containerDistributionConfiguration"))
        throw invalidValue(
          "The local Image Builder emulator builds AMIs only: containerDistributionConfiguration is not emulated.",
        );
      for (const [i, ssm] of (d.list("ssmParameterConfigurations") ?? []).entries()) {
        ssm.str("parameterName", { required: true, min: 1, max: 1011, pattern: /^[^\s]+$/ });
        ssm.str("amiAccountId", { pattern: /^[0-9]{12}$/ });
        ssm.str("dataType", { oneOf: ["text", "aws:ec2:image"] });
        const name = ssm.str("parameterName", { required: true });
        if (/^\/?(aws|ssm)/i.test(name))
          throw invalidValue(
            `The value supplied for parameter 'distributions[${index}].ssmParameterConfigurations[${i}].parameterName' is not valid: names may not start with "aws" or "ssm".`,
          );
      }
      return d.value;
    });
  }

  private async createDistribution(input: Fields, region: string): Promise<Json> {
    const name = input.str("name", { required: true, pattern: NAME_PATTERN });
    const description = input.str("description", { min: 1, max: 1024 });
    const distributions = this.readDistributions(input);
    const tags = input.map("tags");
    checkTags("tags", tags);
    const arn = makeArn(region, this.deps.accountId, "distribution-configuration", arnName(name));
    if (this.distributions.has(arn))
      throw new ImageBuilderError(
        "ResourceAlreadyExistsException",
        `The distribution configuration ${arn} already exists.`,
      );
    this.distributions.set(arn, {
      arn,
      region,
      name,
      ...(description !== undefined ? { description } : {}),
      distributions,
      dateCreated: this.now(),
      tags: { ...tags },
    });
    return { distributionConfigurationArn: arn };
  }

  private async updateDistribution(input: Fields, region: string): Promise<Json> {
    const arn = input.str("distributionConfigurationArn", { required: true });
    const record = this.distribution("distributionConfigurationArn", arn, region);
    const description = input.str("description", { min: 1, max: 1024 });
    record.distributions = this.readDistributions(input);
    if (description !== undefined) record.description = description;
    else delete record.description;
    record.dateUpdated = this.now();
    return { distributionConfigurationArn: arn };
  }

  distributionOut(r: DistributionRecord): Json {
    return {
      timeoutMinutes: 720,
      arn: r.arn,
      name: r.name,
      description: r.description,
      distributions: r.distributions,
      dateCreated: r.dateCreated,
      dateUpdated: r.dateUpdated,
      tags: r.tags,
    };
  }

  private async getDistribution(input: Fields, region: string): Promise<Json> {
    const arn = input.str("distributionConfigurationArn", { required: true });
    return {
      distributionConfiguration: this.distributionOut(
        this.distribution("distributionConfigurationArn", arn, region),
      ),
    };
  }

  private async listDistributions(input: Fields, region: string): Promise<Json> {
    const filter = readFilters(input, { name: (r: DistributionRecord) => [r.name] });
    const list = [...this.distributions.values()]
      .filter((r) => r.region === region && filter(r))
      .sort((a, b) => a.name.localeCompare(b.name));
    const page = paginate(input, "ListDistributionConfigurations", list);
    return {
      distributionConfigurationSummaryList: page.items.map((r) => ({
        arn: r.arn,
        name: r.name,
        description: r.description,
        dateCreated: r.dateCreated,
        dateUpdated: r.dateUpdated,
        tags: r.tags,
        regions: r.distributions.map((d) => d.region),
      })),
      ...page.next,
    };
  }

  private async deleteDistribution(input: Fields, region: string): Promise<Json> {
    const arn = input.str("distributionConfigurationArn", { required: true });
    this.distribution("distributionConfigurationArn", arn, region);
    const user = this.lifecycle.inFlightUsing((image) => image.distribution?.arn === arn);
    if (user)
      throw new ImageBuilderError(
        "ResourceDependencyException",
        `The distribution configuration ${arn} is used by the image build ${user} that is still in progress.`,
      );
    this.distributions.delete(arn);
    return { distributionConfigurationArn: arn };
  }

  // -------------------------------------------------------------------------------------- tags

  private taggable(arn: string, region: string): { tags: Record<string, string> } {
    const parsed = parseArn(arn, "resourceArn");
    if (parsed.region !== region || parsed.account !== this.deps.accountId)
      throw notFoundArn("resourceArn", arn);
    const found =
      this.components.get(arn) ??
      this.recipes.get(arn) ??
      this.infrastructures.get(arn) ??
      this.distributions.get(arn) ??
      this.lifecycle.images.get(arn);
    if (!found) throw notFoundArn("resourceArn", arn);
    return found;
  }

  private async tagResource(input: Fields, region: string): Promise<Json> {
    const resource = this.taggable(input.str("resourceArn", { required: true }), region);
    const tags = input.map("tags", { required: true }) ?? {};
    checkTags("tags", { ...resource.tags, ...tags });
    Object.assign(resource.tags, tags);
    return {};
  }

  private async untagResource(input: Fields, region: string): Promise<Json> {
    const resource = this.taggable(input.str("resourceArn", { required: true }), region);
    const keys = input.strList("tagKeys", { required: true, min: 1, max: 50 }) ?? [];
    for (const key of keys) delete resource.tags[key];
    return {};
  }

  private async listTags(input: Fields, region: string): Promise<Json> {
    const resource = this.taggable(input.str("resourceArn", { required: true }), region);
    return { tags: { ...resource.tags } };
  }
}

/** Recipe parameter values against the component document's parameters (names, required ones, one value each). */
function checkComponentParameters(
  path: string,
  component: ComponentRecord,
  parameters: readonly { name: string; value: readonly string[] }[],
): void {
  const declared = new Map(component.parameters.map((p) => [p.name, p]));
  const given = new Set<string>();
  for (const p of parameters) {
    if (!declared.has(p.name))
      throw invalidValue(
        `${path}: the component ${component.arn} has no parameter ${JSON.stringify(p.name)} (it has: ${[...declared.keys()].join(", ") || "none"}).`,
      );
    if (given.has(p.name))
      throw invalidValue(`${path}: the parameter ${JSON.stringify(p.name)} is given twice.`);
    given.add(p.name);
    if (p.value.length !== 1)
      throw invalidValue(
        `${path}: the parameter ${JSON.stringify(p.name)} is a string and takes exactly one value, not ${p.value.length}.`,
      );
  }
  for (const p of component.parameters) {
    if (p.defaultValue === undefined && !given.has(p.name))
      throw invalidValue(
        `${path}: the component ${component.arn} requires the parameter ${JSON.stringify(p.name)} (it has no default).`,
      );
  }
}
