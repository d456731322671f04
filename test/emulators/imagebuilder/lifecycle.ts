import { ARCHES, type Arch, BASE_INFO, BASES, type Base } from "../../../src/config/bases.js";
import { ManualClock } from "../clock.js";
import type { ImageBuilderEmulator } from "./emulator.js";
import { ImageBuilderError, invalidValue } from "./errors.js";
import type { Fields } from "./input.js";
import { paginate, readFilters } from "./list.js";
import {
  arnName,
  buildDateText,
  type ComponentRecord,
  checkTags,
  compareVersions,
  type DistributionRecord,
  type ImageStatus,
  type InfrastructureRecord,
  isInFlight,
  type Json,
  makeArn,
  notFoundArn,
  notificationDate,
  type Phase,
  parseArn,
  type RecipeRecord,
  versionSelector,
} from "./model.js";
import type { EmulatorDeps, LocalBuildResult } from "./types.js";

/** Images: creation, the PENDING → … → AVAILABLE/FAILED walk on the injected clock, distribution. */

/** One EBS volume of an AMI, as EC2 describes it (the fields Image Builder and CopyImage decide). */
export interface BlockDevice {
  readonly deviceName: string;
  readonly volumeSize: number;
  readonly volumeType: string;
  readonly encrypted: boolean;
  readonly kmsKeyId?: string;
  readonly iops?: number;
  readonly throughput?: number;
  readonly deleteOnTermination: boolean;
}

export interface ParentInfo {
  readonly amiId: string;
  readonly name: string;
  readonly architecture: string;
  readonly rootDeviceName: string;
  /** The parent AMI's EBS volumes: what the image has where the recipe says nothing. */
  readonly blockDevices: readonly BlockDevice[];
  /** The publisher's base and arch, when the parent is one of the known base images. */
  readonly line?: { readonly base: Base; readonly arch: Arch };
}

export interface OutputAmi {
  readonly region: string;
  readonly image: string;
  readonly name: string;
  readonly description?: string;
  readonly accountId: string;
}

export interface ImageRecord {
  readonly arn: string;
  readonly region: string;
  readonly name: string;
  readonly version: string;
  readonly build: number;
  readonly recipe: RecipeRecord;
  readonly infrastructure: InfrastructureRecord;
  readonly distribution?: DistributionRecord;
  readonly tests: { readonly imageTestsEnabled: boolean; readonly timeoutMinutes: number };
  readonly enhancedImageMetadataEnabled: boolean;
  readonly extra: Json;
  readonly components: readonly {
    readonly record: ComponentRecord;
    readonly parameters: Record<string, string>;
  }[];
  readonly parent: ParentInfo | { readonly error: string };
  readonly dateCreatedMs: number;
  tags: Record<string, string>;
  status: ImageStatus;
  reason?: string;
  failedPhase?: Phase;
  phaseStartedAt: number;
  amis: OutputAmi[];
  localBuild?: { result?: LocalBuildResult; readonly promise: Promise<void> };
  /** A local build's TESTING failure, reported when the image's TESTING phase ends. */
  testFailure?: string;
}

export interface FailNextRule {
  readonly phase: "BUILDING" | "TESTING" | "DISTRIBUTING";
  readonly reason: string;
  readonly match?: (recipeName: string) => boolean;
}

const BASE_PATTERNS: readonly { base: Base; arch: Arch; pattern: RegExp }[] = BASES.flatMap((base) =>
  ARCHES.map((arch) => ({
    base,
    arch,
    pattern: new RegExp(
      `^${BASE_INFO[base]
        .namePattern(arch)
        .split("*")
        .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
        .join(".*")}$`,
    ),
  })),
);

/** The base and arch a publisher's AMI name belongs to, if any. */
export function lineOfImageName(name: string): { base: Base; arch: Arch } | undefined {
  const hit = BASE_PATTERNS.find((p) => p.pattern.test(name));
  return hit ? { base: hit.base, arch: hit.arch } : undefined;
}

export class ImageLifecycle {
  readonly images = new Map<string, ImageRecord>();
  private readonly buildNumbers = new Map<string, number>();
  private failures: FailNextRule[] = [];
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: EmulatorDeps,
    private readonly emulator: ImageBuilderEmulator,
  ) {}

  reset(): void {
    this.images.clear();
    this.buildNumbers.clear();
    this.failures = [];
  }

  failNext(rule: FailNextRule): void {
    this.failures.push(rule);
  }

  /** The real clock moves images on a timer; the manual clock only through advance/settle. */
  startTimer(): void {
    if (this.deps.clock.kind !== "real" || this.timer) return;
    this.timer = setInterval(() => {
      this.exclusive(() => this.run(this.deps.clock.now(), false)).catch((error: unknown) =>
        this.deps.log(`image lifecycle: ${(error as Error).stack ?? String(error)}`),
      );
    }, 100);
    this.timer.unref();
  }

  stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Serialises every walk over the images so the timer, advance() and settle() never interleave. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async advance(ms: number): Promise<void> {
    const clock = this.deps.clock;
    if (!(clock instanceof ManualClock))
      throw new Error('imageBuilder.advance() needs the manual clock (clock: "manual")');
    if (!(ms >= 0))
      throw new Error(`imageBuilder.advance(${ms}): the time must be a number of milliseconds ≥ 0`);
    await this.exclusive(async () => {
      const target = clock.now() + ms;
      await this.run(target, true);
      clock.set(target);
    });
  }

  async settle(): Promise<void> {
    await this.exclusive(() => this.run(Number.POSITIVE_INFINITY, true));
  }

  /**
   * Processes, in time order, every phase end up to `target`. Local builds hold their image in
   * BUILDING: awaited when `awaitBuilds`, otherwise (the real-clock timer) skipped until done.
   */
  private async run(target: number, awaitBuilds: boolean): Promise<void> {
    const clock = this.deps.clock;
    for (let guard = 0; guard < 100_000; guard += 1) {
      const candidates = [...this.images.values()]
        .filter((image) => isInFlight(image.status))
        .filter((image) => awaitBuilds || !this.waitingForBuild(image))
        .map((image) => ({ image, at: this.phaseEnd(image) }))
        .sort((a, b) => a.at - b.at);
      const next = candidates[0];
      if (!next || next.at > target) return;
      if (this.waitingForBuild(next.image)) await next.image.localBuild?.promise;
      if (clock instanceof ManualClock) clock.set(next.at);
      await this.step(next.image);
    }
    throw new Error("image lifecycle did not settle after 100000 steps");
  }

  private waitingForBuild(image: ImageRecord): boolean {
    return (
      image.status === "BUILDING" && image.localBuild !== undefined && image.localBuild.result === undefined
    );
  }

  private phaseEnd(image: ImageRecord): number {
    return image.phaseStartedAt + this.deps.phaseMs[image.status as Phase];
  }

  private takeFailure(image: ImageRecord, phase: Phase): string | undefined {
    const index = this.failures.findIndex(
      (r) => r.phase === phase && (!r.match || r.match(image.recipe.name)),
    );
    if (index < 0) return undefined;
    const [rule] = this.failures.splice(index, 1);
    return rule?.reason;
  }

  private async step(image: ImageRecord): Promise<void> {
    switch (image.status) {
      case "PENDING":
        await this.enter(image, "BUILDING");
        return;
      case "BUILDING": {
        const result = image.localBuild?.result;
        if (result && !result.ok) {
          if (result.phase === "TESTING" && image.tests.imageTestsEnabled) {
            image.testFailure = result.reason;
            await this.enter(image, "TESTING");
          } else await this.fail(image, "BUILDING", result.reason);
          return;
        }
        const injected = this.takeFailure(image, "BUILDING");
        if (injected !== undefined) await this.fail(image, "BUILDING", injected);
        else await this.enter(image, image.tests.imageTestsEnabled ? "TESTING" : "DISTRIBUTING");
        return;
      }
      case "TESTING": {
        const reason = image.testFailure ?? this.takeFailure(image, "TESTING");
        if (reason !== undefined) await this.fail(image, "TESTING", reason);
        else await this.enter(image, "DISTRIBUTING");
        return;
      }
      case "DISTRIBUTING": {
        const injected = this.takeFailure(image, "DISTRIBUTING");
        if (injected !== undefined) {
          await this.fail(image, "DISTRIBUTING", injected);
          return;
        }
        try {
          await this.distribute(image);
        } catch (error) {
          await this.fail(image, "DISTRIBUTING", `Distribution failed: ${(error as Error).message}`);
          return;
        }
        image.status = "AVAILABLE";
        image.phaseStartedAt = this.deps.clock.now();
        this.deps.log(`${image.arn} AVAILABLE: ${image.amis.map((a) => `${a.region}=${a.image}`).join(" ")}`);
        await this.notify(image);
        return;
      }
      default:
        return;
    }
  }

  private async enter(image: ImageRecord, status: Phase): Promise<void> {
    image.status = status;
    image.phaseStartedAt = this.deps.clock.now();
    this.deps.log(`${image.arn} ${status}`);
    if (status !== "BUILDING") return;
    if ("error" in image.parent) {
      await this.fail(image, "BUILDING", image.parent.error);
      return;
    }
    this.startLocalBuild(image, image.parent);
  }

  private startLocalBuild(image: ImageRecord, parent: ParentInfo): void {
    const builder = this.deps.localBuilder;
    const line = parent.line;
    if (!builder || !line || BASE_INFO[line.base].family !== "debian" || line.arch !== this.deps.hostArch)
      return;
    const request = {
      imageArn: image.arn,
      base: line.base,
      arch: line.arch,
      components: image.components.map((c) => ({
        name: c.record.name,
        document: c.record.data,
        parameters: { ...c.parameters },
      })),
    };
    this.deps.log(
      `${image.arn} local build of ${line.base} ${line.arch}: ${request.components.map((c) => c.name).join(", ")}`,
    );
    const state: { result?: LocalBuildResult; promise: Promise<void> } = {
      promise: Promise.resolve()
        .then(() => builder(request))
        .then(
          (result) => {
            state.result = result;
            this.deps.log(
              `${image.arn} local build ${result.ok ? "succeeded" : `failed in ${result.phase}: ${result.reason}`}`,
            );
          },
          (error: unknown) => {
            state.result = {
              ok: false,
              phase: "BUILDING",
              reason: `The local build could not run: ${(error as Error).message ?? String(error)}`,
            };
            this.deps.log(`${image.arn} local build crashed: ${(error as Error).stack ?? String(error)}`);
          },
        ),
    };
    image.localBuild = state;
  }

  private async fail(image: ImageRecord, phase: Phase, reason: string): Promise<void> {
    image.status = "FAILED";
    image.reason = reason;
    image.failedPhase = phase;
    image.phaseStartedAt = this.deps.clock.now();
    this.deps.log(`${image.arn} FAILED in ${phase}: ${reason}`);
    await this.notify(image);
  }

  /** Registers the output AMI in every distribution region (and the build region), as Image Builder does. */
  private async distribute(image: ImageRecord): Promise<void> {
    if ("error" in image.parent) throw new Error(image.parent.error);
    const parent = image.parent;
    const created = this.deps.clock.now();
    const buildDate = buildDateText(created);
    const substitute = (text: string) =>
      text
        .replace(/\{\{\s*imagebuilder:buildDate\s*\}\}/g, buildDate)
        .replace(/\{\{\s*imagebuilder:buildVersion\s*\}\}/g, String(image.build));
    const targets = [...(image.distribution?.distributions ?? [])] as Json[];
    if (!targets.some((t) => t.region === image.region)) targets.unshift({ region: image.region });
    const amis: OutputAmi[] = [];
    for (const target of targets) {
      const region = String(target.region);
      const ami = (target.amiDistributionConfiguration ?? {}) as {
        name?: string;
        description?: string;
        amiTags?: Record<string, string>;
      };
      const name = substitute(ami.name ?? `${image.recipe.name} {{ imagebuilder:buildDate }}`);
      const blockDevices = distributedDevices(
        imageDevices(parent.blockDevices, image.recipe.blockDeviceMappings),
        region === image.region,
        (target.amiDistributionConfiguration as { kmsKeyId?: string } | undefined)?.kmsKeyId,
      );
      if (await this.deps.direct.ownImageNamed(region, name))
        throw new Error(
          `an AMI named ${JSON.stringify(name)} already exists in ${region} (AMI names are unique per region)`,
        );
      // Only the build region's AMI falls back to the recipe's description; copies get none.
      const description = ami.description ?? (region === image.region ? image.recipe.description : undefined);
      const imageId = await this.deps.direct.registerImage({
        region,
        name,
        ...(description !== undefined ? { description } : {}),
        architecture: parent.architecture,
        rootDeviceName: parent.rootDeviceName,
        blockDevices,
        tags: {
          ...(image.recipe.amiTags ?? {}),
          ...(ami.amiTags ?? {}),
          CreatedBy: "EC2 Image Builder",
          Ec2ImageBuilderArn: image.arn,
        },
        creationDate: new Date(created).toISOString(),
      });
      amis.push({
        region,
        image: imageId,
        name,
        ...(description !== undefined ? { description } : {}),
        accountId: this.deps.accountId,
      });
      const parameters = (target.ssmParameterConfigurations ?? []) as {
        parameterName: string;
        amiAccountId?: string;
        dataType?: string;
      }[];
      for (const p of parameters) {
        if (p.amiAccountId === undefined || p.amiAccountId === this.deps.accountId)
          await this.deps.direct.putParameter(
            region,
            p.parameterName,
            imageId,
            p.dataType ?? "aws:ec2:image",
          );
      }
    }
    image.amis = amis;
  }

  private async notify(image: ImageRecord): Promise<void> {
    const topic = image.infrastructure.settings.snsTopicArn;
    if (typeof topic !== "string") return;
    try {
      await this.deps.direct.publish(topic, JSON.stringify(this.notification(image)));
      this.deps.log(`${image.arn} notification published to ${topic}`);
    } catch (error) {
      // Image Builder does not fail a build over its notification; neither do we, but we say so.
      this.deps.log(`${image.arn} notification to ${topic} failed: ${(error as Error).message}`);
    }
  }

  /** The SNS message: the Image object, with the notification's own date format and version fields. */
  notification(image: ImageRecord): Json {
    const out = this.imageOut(image);
    return {
      ...out,
      versionlessArn: makeArn(image.region, this.deps.accountId, "image", arnName(image.name)),
      version: image.version,
      buildVersion: image.build,
      accountId: this.deps.accountId,
      dateCreated: notificationDate(image.dateCreatedMs),
      outputResources: {
        amis: image.status === "AVAILABLE" ? image.amis.map((a) => ({ ...a })) : [],
      },
    };
  }

  // ---------------------------------------------------------------------------------- parents

  /** An `ami-…` id, an `ssm:<parameter>` holding one, or the ARN of one of our own available images. */
  async resolveParent(region: string, parentImage: string, field: string): Promise<ParentInfo> {
    let amiId: string;
    if (parentImage.startsWith("ssm:")) {
      const name = parentImage.slice(4);
      const parameter = await this.deps.direct.getParameter(region, name);
      if (!parameter)
        throw invalidValue(
          `The value supplied for parameter '${field}' is not valid: the SSM parameter ${name} does not exist in ${region}.`,
        );
      amiId = parameter.value;
    } else if (parentImage.startsWith("arn:")) {
      amiId = this.amiOfImageArn(region, parentImage, field);
    } else if (/^ami-[0-9a-f]+$/.test(parentImage)) {
      amiId = parentImage;
    } else {
      throw invalidValue(
        `The value supplied for parameter '${field}' is not valid: ${JSON.stringify(parentImage)} is not an AMI id, an Image Builder image ARN or ssm:<parameter>.`,
      );
    }
    const image = await this.deps.direct.describeImage(region, amiId);
    if (image?.State !== "available")
      throw invalidValue(
        `The value supplied for parameter '${field}' is not valid: the image ${amiId}${amiId === parentImage ? "" : ` (from ${parentImage})`} ${image ? `is ${image.State}` : "does not exist"} in ${region}.`,
      );
    const name = image.Name ?? "";
    const line = lineOfImageName(name);
    return {
      amiId,
      name,
      architecture: image.Architecture ?? "x86_64",
      rootDeviceName: image.RootDeviceName ?? "/dev/sda1",
      blockDevices: (image.BlockDeviceMappings ?? []).flatMap((m) =>
        m.Ebs && m.DeviceName
          ? [
              {
                deviceName: m.DeviceName,
                volumeSize: m.Ebs.VolumeSize ?? 8,
                volumeType: m.Ebs.VolumeType ?? "gp3",
                encrypted: m.Ebs.Encrypted ?? false,
                ...(m.Ebs.KmsKeyId ? { kmsKeyId: m.Ebs.KmsKeyId } : {}),
                ...(m.Ebs.Iops !== undefined ? { iops: m.Ebs.Iops } : {}),
                ...(m.Ebs.Throughput !== undefined ? { throughput: m.Ebs.Throughput } : {}),
                deleteOnTermination: m.Ebs.DeleteOnTermination ?? true,
              },
            ]
          : [],
      ),
      ...(line ? { line } : {}),
    };
  }

  private amiOfImageArn(region: string, arn: string, field: string): string {
    const parsed = parseArn(arn, field);
    if (parsed.kind !== "image")
      throw invalidValue(`'${field}' must be an image ARN, not ${JSON.stringify(arn)}.`);
    if (parsed.account === "aws")
      throw invalidValue(
        `The value supplied for parameter '${field}' is not valid here: ${arn} is an Amazon-managed image, which the local Image Builder emulator does not have.`,
      );
    const image = this.findImage(arn, region, field);
    const ami = image.status === "AVAILABLE" ? image.amis.find((a) => a.region === region) : undefined;
    if (!ami)
      throw invalidValue(
        `The value supplied for parameter '${field}' is not valid: ${arn} has no available AMI in ${region}.`,
      );
    return ami.image;
  }

  /** By build ARN, or by version ARN (`x` wildcards allowed): the newest build. */
  findImage(arn: string, region: string, field: string): ImageRecord {
    const parsed = parseArn(arn, field);
    if (parsed.kind !== "image")
      throw invalidValue(`'${field}' must be an image ARN, not ${JSON.stringify(arn)}.`);
    if (parsed.region !== region || parsed.account !== this.deps.accountId) throw notFoundArn(field, arn);
    const [name, version, build, ...extra] = parsed.parts;
    if (!name || !version || extra.length > 0)
      throw invalidValue(`'${field}' is not an image ARN: ${JSON.stringify(arn)}.`);
    if (build !== undefined) {
      const found = this.images.get(arn);
      if (!found) throw notFoundArn(field, arn);
      return found;
    }
    const matches = versionSelector(field, version);
    const newest = [...this.images.values()]
      .filter((i) => i.region === region && arnName(i.name) === name && matches(i.version))
      .sort((a, b) => compareVersions(a.version, b.version) || a.build - b.build)
      .at(-1);
    if (!newest) throw notFoundArn(field, arn);
    return newest;
  }

  inFlightUsing(predicate: (image: ImageRecord) => boolean): string | undefined {
    return [...this.images.values()].find((i) => isInFlight(i.status) && predicate(i))?.arn;
  }

  // ------------------------------------------------------------------------------- operations

  async createImage(input: Fields, region: string): Promise<Json> {
    const infraArn = input.str("infrastructureConfigurationArn", { required: true });
    if (input.has("containerRecipeArn"))
      throw invalidValue(
        "The local Image Builder emulator builds AMIs only: containerRecipeArn is not emulated.",
      );
    const recipeArn = input.str("imageRecipeArn");
    if (recipeArn === undefined)
      throw new ImageBuilderError(
        "InvalidRequestException",
        "The request is missing the required parameter 'imageRecipeArn'.",
      );
    const recipe = this.emulator.recipe("imageRecipeArn", recipeArn, region);
    const infrastructure = this.emulator.infrastructure("infrastructureConfigurationArn", infraArn, region);
    const distArn = input.str("distributionConfigurationArn");
    const distribution =
      distArn !== undefined
        ? this.emulator.distribution("distributionConfigurationArn", distArn, region)
        : undefined;
    const testsInput = input.obj("imageTestsConfiguration");
    const tests = {
      imageTestsEnabled: testsInput?.bool("imageTestsEnabled") ?? true,
      timeoutMinutes: testsInput?.int("timeoutMinutes", { min: 60, max: 1440 }) ?? 720,
    };
    const enhanced = input.bool("enhancedImageMetadataEnabled") ?? true;
    const tags = input.map("tags");
    checkTags("tags", tags);
    const extra: Record<string, unknown> = {};
    for (const key of ["imageScanningConfiguration", "workflows", "executionRole", "loggingConfiguration"]) {
      if (input.has(key)) extra[key] = input.value[key];
    }
    const components = recipe.components.map((ref, index) => {
      const record = this.emulator.resolveComponent(
        `imageRecipe.components[${index}].componentArn`,
        ref.componentArn,
        region,
      );
      const parameters: Record<string, string> = {};
      for (const p of record.parameters)
        if (p.defaultValue?.[0] !== undefined) parameters[p.name] = p.defaultValue[0];
      for (const p of ref.parameters ?? []) parameters[p.name] = p.value[0] ?? "";
      return { record, parameters };
    });
    let parent: ParentInfo | { error: string };
    try {
      parent = await this.resolveParent(region, recipe.parentImage, "imageRecipe.parentImage");
    } catch (error) {
      // Image Builder finds a vanished parent when it launches the build instance: the build fails.
      parent = { error: `Could not launch the build instance: ${(error as Error).message}` };
    }
    const build = (this.buildNumbers.get(recipe.arn) ?? 0) + 1;
    this.buildNumbers.set(recipe.arn, build);
    const arn = makeArn(region, this.deps.accountId, "image", arnName(recipe.name), recipe.version, build);
    const now = this.deps.clock.now();
    const image: ImageRecord = {
      arn,
      region,
      name: recipe.name,
      version: recipe.version,
      build,
      recipe,
      infrastructure: { ...infrastructure, tags: { ...infrastructure.tags } },
      ...(distribution ? { distribution: { ...distribution, tags: { ...distribution.tags } } } : {}),
      tests,
      enhancedImageMetadataEnabled: enhanced,
      extra,
      components,
      parent,
      dateCreatedMs: now,
      tags: { ...tags },
      status: "PENDING",
      phaseStartedAt: now,
      amis: [],
    };
    this.images.set(arn, image);
    this.deps.log(
      `CreateImage ${arn} from ${recipe.arn}${"error" in parent ? ` (parent problem: ${parent.error})` : ` (parent ${parent.amiId})`}`,
    );
    const versionArn = makeArn(region, this.deps.accountId, "image", arnName(recipe.name), recipe.version);
    return {
      imageBuildVersionArn: arn,
      latestVersionReferences: {
        latestVersionArn: versionArn,
        latestMajorVersionArn: versionArn,
        latestMinorVersionArn: versionArn,
        latestPatchVersionArn: versionArn,
      },
    };
  }

  private osVersion(image: ImageRecord): string {
    const line = "error" in image.parent ? undefined : image.parent.line;
    if (!line) return "Linux";
    const info = BASE_INFO[line.base];
    return info.family === "ubuntu" ? `Ubuntu ${info.version.split(".")[0]}` : `Debian ${info.version}`;
  }

  private state(image: ImageRecord): Json {
    return { status: image.status, ...(image.reason !== undefined ? { reason: image.reason } : {}) };
  }

  private outputResources(image: ImageRecord): Json {
    return { amis: image.amis.map((a) => ({ ...a, state: { status: "AVAILABLE" } })) };
  }

  imageOut(image: ImageRecord): Json {
    return {
      arn: image.arn,
      type: "AMI",
      name: image.name,
      version: `${image.version}/${image.build}`,
      platform: "Linux",
      enhancedImageMetadataEnabled: image.enhancedImageMetadataEnabled,
      osVersion: this.osVersion(image),
      state: this.state(image),
      imageRecipe: this.emulator.recipeOut(image.recipe),
      infrastructureConfiguration: this.emulator.infrastructureOut(image.infrastructure),
      ...(image.distribution
        ? { distributionConfiguration: this.emulator.distributionOut(image.distribution) }
        : {}),
      imageTestsConfiguration: image.tests,
      dateCreated: new Date(image.dateCreatedMs).toISOString(),
      outputResources: this.outputResources(image),
      tags: image.tags,
      buildType: "USER_INITIATED",
      imageSource: "CUSTOM",
      ...image.extra,
    };
  }

  async getImage(input: Fields, region: string): Promise<Json> {
    const arn = input.str("imageBuildVersionArn", { required: true });
    const image = this.findImage(arn, region, "imageBuildVersionArn");
    const versionArn = makeArn(region, this.deps.accountId, "image", arnName(image.name), image.version);
    return {
      image: this.imageOut(image),
      latestVersionReferences: {
        latestVersionArn: versionArn,
        latestMajorVersionArn: versionArn,
        latestMinorVersionArn: versionArn,
        latestPatchVersionArn: versionArn,
      },
    };
  }

  private imageFilter(input: Fields): (image: ImageRecord) => boolean {
    return readFilters(input, {
      name: (i: ImageRecord) => [i.name],
      osVersion: (i) => [this.osVersion(i)],
      platform: () => ["Linux"],
      type: () => ["AMI"],
      version: (i) => [i.version],
    });
  }

  async listImages(input: Fields, region: string): Promise<Json> {
    const owner = input.str("owner", { oneOf: ["Self", "Shared", "Amazon", "ThirdParty", "AWSMarketplace"] });
    input.bool("byName");
    input.bool("includeDeprecated");
    const filter = this.imageFilter(input);
    const versions = new Map<string, ImageRecord>();
    if (owner === undefined || owner === "Self") {
      for (const image of this.images.values()) {
        if (image.region !== region || !filter(image)) continue;
        const key = `${arnName(image.name)}/${image.version}`;
        const have = versions.get(key);
        if (!have || have.build > image.build) versions.set(key, image);
      }
    }
    const sorted = [...versions.values()].sort(
      (a, b) => a.name.localeCompare(b.name) || compareVersions(a.version, b.version),
    );
    const page = paginate(input, "ListImages", sorted);
    return {
      imageVersionList: page.items.map((i) => ({
        arn: makeArn(region, this.deps.accountId, "image", arnName(i.name), i.version),
        name: i.name,
        type: "AMI",
        version: i.version,
        platform: "Linux",
        osVersion: this.osVersion(i),
        owner: this.deps.accountId,
        dateCreated: new Date(i.dateCreatedMs).toISOString(),
        buildType: "USER_INITIATED",
        imageSource: "CUSTOM",
      })),
      ...page.next,
    };
  }

  async listImageBuildVersions(input: Fields, region: string): Promise<Json> {
    const versionArn = input.str("imageVersionArn");
    let selected = [...this.images.values()].filter((i) => i.region === region);
    if (versionArn !== undefined) {
      const parsed = parseArn(versionArn, "imageVersionArn");
      const [name, version, ...extra] = parsed.parts;
      if (parsed.kind !== "image" || !name || !version || extra.length > 0)
        throw invalidValue(
          `'imageVersionArn' must be an image version ARN (…/image/<name>/<version>), not ${JSON.stringify(versionArn)}.`,
        );
      if (parsed.region !== region || parsed.account !== this.deps.accountId)
        throw notFoundArn("imageVersionArn", versionArn);
      const matches = versionSelector("imageVersionArn", version);
      selected = selected.filter((i) => arnName(i.name) === name && matches(i.version));
    }
    const filter = this.imageFilter(input);
    const sorted = selected
      .filter(filter)
      .sort(
        (a, b) => a.name.localeCompare(b.name) || compareVersions(a.version, b.version) || a.build - b.build,
      );
    const page = paginate(input, "ListImageBuildVersions", sorted);
    return {
      imageSummaryList: page.items.map((i) => ({
        arn: i.arn,
        name: i.name,
        type: "AMI",
        version: `${i.version}/${i.build}`,
        platform: "Linux",
        osVersion: this.osVersion(i),
        state: this.state(i),
        owner: this.deps.accountId,
        dateCreated: new Date(i.dateCreatedMs).toISOString(),
        outputResources: this.outputResources(i),
        tags: i.tags,
        buildType: "USER_INITIATED",
        imageSource: "CUSTOM",
      })),
      ...page.next,
    };
  }

  async cancelImageCreation(input: Fields, region: string): Promise<Json> {
    const arn = input.str("imageBuildVersionArn", { required: true });
    const image = this.images.get(arn) ?? this.findImage(arn, region, "imageBuildVersionArn");
    if (image.region !== region) throw notFoundArn("imageBuildVersionArn", arn);
    if (!isInFlight(image.status))
      throw new ImageBuilderError(
        "InvalidRequestException",
        `The image ${image.arn} is ${image.status}; only an image that is still being built can be cancelled.`,
      );
    image.status = "CANCELLED";
    image.phaseStartedAt = this.deps.clock.now();
    this.deps.log(`${image.arn} CANCELLED`);
    return { imageBuildVersionArn: image.arn };
  }

  async deleteImage(input: Fields, region: string): Promise<Json> {
    const arn = input.str("imageBuildVersionArn", { required: true });
    const image = this.images.get(arn);
    if (!image || image.region !== region) {
      parseArn(arn, "imageBuildVersionArn");
      throw notFoundArn("imageBuildVersionArn", arn);
    }
    if (isInFlight(image.status))
      throw new ImageBuilderError(
        "ResourceDependencyException",
        `The image ${arn} is still being built (${image.status}); cancel it before deleting it.`,
      );
    // Like Image Builder: the image resource goes, its AMIs and snapshots stay.
    this.images.delete(arn);
    return { imageBuildVersionArn: arn };
  }

  /** What tests see: every image with its status, reason and AMI per region. */
  summaries(): readonly {
    arn: string;
    status: string;
    recipeName: string;
    reason?: string;
    failedPhase?: string;
    amiIds: Readonly<Record<string, string>>;
  }[] {
    return [...this.images.values()].map((i) => ({
      arn: i.arn,
      status: i.status,
      recipeName: i.recipe.name,
      ...(i.reason !== undefined ? { reason: i.reason } : {}),
      ...(i.failedPhase !== undefined ? { failedPhase: i.failedPhase } : {}),
      amiIds: Object.fromEntries(i.amis.map((a) => [a.region, a.image])),
    }));
  }
}

/**
 * The build instance's volumes, hence the image's: the parent AMI's mappings, each overridden field
 * by field by the recipe's mapping for the same device; recipe devices the parent lacks are added.
 * `encrypted` without `kmsKeyId` means the account's default EBS key (EC2 names it when it encrypts).
 */
export function imageDevices(
  parent: readonly BlockDevice[],
  recipe: readonly Json[] | undefined,
): BlockDevice[] {
  const devices = new Map(parent.map((d) => [d.deviceName, { ...d }] as [string, BlockDevice]));
  for (const mapping of recipe ?? []) {
    const deviceName = typeof mapping.deviceName === "string" ? mapping.deviceName : undefined;
    if (!deviceName) continue;
    if (mapping.noDevice !== undefined) {
      devices.delete(deviceName);
      continue;
    }
    const ebs = (mapping.ebs ?? undefined) as Json | undefined;
    if (!ebs) continue;
    const base: BlockDevice = devices.get(deviceName) ?? {
      deviceName,
      volumeSize: 8,
      volumeType: "gp3",
      encrypted: false,
      deleteOnTermination: true,
    };
    const encrypted = typeof ebs.encrypted === "boolean" ? ebs.encrypted || base.encrypted : base.encrypted;
    const kmsKeyId = typeof ebs.kmsKeyId === "string" ? ebs.kmsKeyId : base.kmsKeyId;
    devices.set(deviceName, {
      deviceName,
      volumeSize: typeof ebs.volumeSize === "number" ? ebs.volumeSize : base.volumeSize,
      volumeType: typeof ebs.volumeType === "string" ? ebs.volumeType : base.volumeType,
      encrypted: encrypted || kmsKeyId !== undefined,
      ...(kmsKeyId !== undefined ? { kmsKeyId } : {}),
      ...(typeof ebs.iops === "number"
        ? { iops: ebs.iops }
        : base.iops !== undefined
          ? { iops: base.iops }
          : {}),
      ...(typeof ebs.throughput === "number"
        ? { throughput: ebs.throughput }
        : base.throughput !== undefined
          ? { throughput: base.throughput }
          : {}),
      deleteOnTermination:
        typeof ebs.deleteOnTermination === "boolean" ? ebs.deleteOnTermination : base.deleteOnTermination,
    });
  }
  return [...devices.values()];
}

/**
 * The volumes of the AMI in one distribution region. The build region keeps the image's own
 * encryption; another region gets a copy: encrypted with the distribution's `kmsKeyId` when one is
 * set, otherwise encrypted (with that region's default key: a key never leaves its region) exactly
 * when the source was.
 */
export function distributedDevices(
  devices: readonly BlockDevice[],
  buildRegion: boolean,
  distributionKmsKeyId: string | undefined,
): BlockDevice[] {
  return devices.map(({ kmsKeyId, ...device }) => {
    if (distributionKmsKeyId !== undefined)
      return { ...device, encrypted: true, kmsKeyId: distributionKmsKeyId };
    if (buildRegion) return { ...device, ...(kmsKeyId !== undefined ? { kmsKeyId } : {}) };
    return { ...device };
  });
}
