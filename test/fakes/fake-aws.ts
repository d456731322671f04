import { createHash } from "node:crypto";
import { type Arch, BASE_INFO, type Base, EC2_ARCHITECTURE } from "../../src/config/bases.js";
import { AwsCallError } from "../../src/errors.js";
import { publishBytes, SNS_PUBLISH_LIMIT_BYTES } from "../../src/pipeline/notification.js";
import type {
  ComponentVersionInfo,
  DistributionSettings,
  Ec2Port,
  ImageBuilderPort,
  ImageInfo,
  InfrastructureSettings,
  ParameterHistoryEntry,
  PipelinePorts,
  RecipeVersionInfo,
  SharePort,
  SnsPort,
  SsmPort,
  StsPort,
} from "../../src/pipeline/ports.js";
import { TAG } from "../../src/plan/names.js";
import type {
  AmiState,
  BuildRecord,
  BuildStatus,
  LaunchPermission,
  OurAmi,
  ParameterValue,
} from "../../src/plan/types.js";
import type {
  IngressRule,
  LambdaPort,
  LaunchedInstance,
  LaunchPort,
  RunInstanceInput,
  SecurityGroupInfo,
} from "../../src/services/ports.js";
import { initialCatalog, newerImage, type SeededImage } from "../emulators/seed.js";

/**
 * An in-memory AWS behind the ports (PipelinePorts, LaunchPort, LambdaPort) for fast unit and
 * service tests. What it models, and what it does not: FAKE-AWS.md beside this file. Failures are
 * the errors the real adapters throw (AwsCallError with the AWS error code), so services cannot
 * tell it from the adapters; its own test (test/unit/fakes/fake-aws.test.ts) holds it to the facts.
 */

export const FAKE_ACCOUNT = "123456789012";

export interface FakeImage {
  readonly imageId: string;
  readonly region: string;
  readonly name: string;
  readonly ownerId: string;
  readonly architecture: string;
  readonly rootDeviceName: string;
  readonly creationDate: string;
  state: AmiState;
  deprecationTime?: string;
  tags: Record<string, string>;
  snapshots: string[];
}

interface ParameterVersion {
  readonly version: number;
  readonly value: string;
  labels: string[];
  readonly description?: string;
}

interface FakeParameter {
  readonly name: string;
  history: ParameterVersion[];
  /** SSM's tier: only advanced parameters can be shared, and an advanced one never goes back. */
  tier?: "Standard" | "Advanced";
}

/** A customer managed key of the fake (one per region, named by alias, id or ARN). */
interface FakeKey {
  readonly arn: string;
  readonly names: readonly string[];
  policy: string;
  grants: { grantId: string; name?: string; grantee: string; operations: readonly string[] }[];
}

interface FakeResourceShare {
  readonly arn: string;
  readonly name: string;
  readonly region: string;
  readonly allowExternalPrincipals: boolean;
  principals: string[];
  resources: string[];
}

/** The organization the fake account belongs to: which OU each member account sits in. */
export interface FakeOrganization {
  readonly arn: string;
  /** Member account → the ARN of its OU. */
  readonly accounts: Readonly<Record<string, string>>;
}

interface FakeBuild {
  readonly arn: string;
  readonly recipeArn: string;
  readonly infrastructureArn: string;
  readonly distributionArn: string;
  readonly clientToken: string;
  readonly request: string;
  status: BuildStatus;
  reason?: string;
  readonly dateCreated: string;
  amis: Record<string, string>;
  tags: Record<string, string>;
}

interface FakeGroup {
  readonly groupId: string;
  readonly region: string;
  readonly name: string;
  readonly vpcId: string;
  readonly description: string;
  tags: Record<string, string>;
  ingress: IngressRule[];
}

export interface FakeInstance {
  readonly instanceId: string;
  readonly region: string;
  readonly input: RunInstanceInput;
  /** What `resolve:ssm:` resolved to at launch. */
  readonly imageId: string;
}

export interface CallRecord {
  readonly service: string;
  readonly operation: string;
  readonly region: string;
  readonly mutating: boolean;
}

export interface FaultRule {
  readonly operation: string;
  readonly region?: string;
  /** Only calls whose first argument (a name, an id) matches. */
  readonly match?: (subject: string) => boolean;
  /** How many calls fail (default: every one until cleared). */
  times?: number;
  readonly code: string;
  readonly message?: string;
  readonly retryable?: boolean;
}

/** Thrown by every call once the simulated process has "died" (crashAfter). Not an AWS error. */
export class FakeCrash extends Error {
  constructor() {
    super("the process crashed (FakeAws.crashAfter)");
  }
}

const MUTATING = new Set([
  "CopyImage",
  "CreateTags",
  "EnableImageDeprecation",
  "DeregisterImage",
  "PutParameter",
  "LabelParameterVersion",
  "UnlabelParameterVersion",
  "Publish",
  "CreateComponent",
  "CreateImageRecipe",
  "CreateInfrastructureConfiguration",
  "UpdateInfrastructureConfiguration",
  "CreateDistributionConfiguration",
  "UpdateDistributionConfiguration",
  "CreateImage",
  "TagResource",
  "CreateSecurityGroup",
  "AuthorizeSecurityGroupIngress",
  "RevokeSecurityGroupIngress",
  "DeleteSecurityGroup",
  "RunInstances",
  "Invoke",
  "ModifyImageAttribute",
  "CreateGrant",
  "RevokeGrant",
  "CreateResourceShare",
  "AssociateResourceShare",
  "DisassociateResourceShare",
]);

const SEMVER = /^[0-9]+\.[0-9]+\.[0-9]+$/;
const IB_NAME = /^[-_A-Za-z-0-9][-_A-Za-z0-9 ]{1,126}[-_A-Za-z-0-9]$/;
const LABEL = /^[a-zA-Z0-9_.-]{1,100}$/;
const V4_CIDR =
  /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\/(3[0-2]|[12]?\d)$/;
/** A few real instance types; RunInstances refuses others as EC2 refuses unknown ones. */
export const KNOWN_INSTANCE_TYPES = new Set([
  "t3.medium",
  "t3.large",
  "t4g.medium",
  "m7i.large",
  "m7i.xlarge",
  "m7g.large",
  "m7g.xlarge",
  "c7i.large",
  "c7g.large",
  "r7i.large",
  "r7g.large",
]);

export interface FakeAwsOptions {
  readonly regions: readonly string[];
  readonly homeRegion: string;
  /** AWS's own clock (creation dates, deprecation times). */
  readonly now?: () => Date;
  /** Seed Canonical's and Debian's base images and public parameters (the local AWS's catalog). */
  readonly seedBases?: boolean;
  /** Copies start `pending` (like EC2) and become available on settleCopies(); or at once. */
  readonly copies?: "pending" | "instant";
  /** Regions that exist but are opt-in and not enabled for the account. */
  readonly notOptedIn?: readonly string[];
}

export class FakeAws {
  readonly account = FAKE_ACCOUNT;
  readonly homeRegion: string;
  readonly regions: readonly string[];
  now: () => Date;
  private readonly copyMode: "pending" | "instant";
  private readonly notOptedIn: ReadonlySet<string>;
  private seq = 0;
  private readonly callLog: CallRecord[] = [];
  private faults: FaultRule[] = [];
  private crash: { limit: number; count: number; crashed: boolean } | undefined;
  /** Awaited before every call: lets a test interleave concurrent service calls deterministically. */
  onCall: ((call: CallRecord) => Promise<void> | void) | undefined;

  // EC2 (images), SSM, SNS, Image Builder, launch resources.
  private readonly images = new Map<string, FakeImage>();
  private readonly copyTokens = new Map<string, { imageId: string; request: string }>();
  private readonly parameters = new Map<string, FakeParameter>();
  private readonly topics = new Set<string>();
  readonly published: { topicArn: string; subject: string; text: string; json: unknown; bytes: number }[] =
    [];
  private readonly components = new Map<
    string,
    ComponentVersionInfo & { data: string; token: string; request: string }
  >();
  private readonly recipes = new Map<
    string,
    RecipeVersionInfo & { name: string; token: string; request: string; parentImage: string }
  >();
  private readonly infrastructures = new Map<string, { arn: string; settings: InfrastructureSettings }>();
  private readonly distributions = new Map<string, { arn: string; settings: DistributionSettings }>();
  private readonly builds = new Map<string, FakeBuild>();
  private readonly vpcs = new Map<string, { vpcId: string; region: string; isDefault: boolean }>();
  private readonly subnets = new Map<
    string,
    { subnetId: string; vpcId: string; region: string; defaultForAz: boolean; az: string }
  >();
  private readonly groups = new Map<string, FakeGroup>();
  readonly instances: FakeInstance[] = [];
  readonly instanceProfiles = new Set(["ops-rig-forensic"]);
  readonly keyPairs = new Set(["responder"]);
  /** Deployed Lambda functions for `bake --remote`. */
  readonly functions = new Map<string, (payload: unknown) => Promise<unknown>>();

  constructor(options: FakeAwsOptions) {
    this.homeRegion = options.homeRegion;
    this.regions = [...new Set([options.homeRegion, ...options.regions])];
    const start = Date.parse("2026-11-29T12:00:00.000Z");
    this.now = options.now ?? (() => new Date(start));
    this.copyMode = options.copies ?? "pending";
    this.notOptedIn = new Set(options.notOptedIn ?? []);
    for (const region of this.regions) {
      const vpcId = this.id("vpc", region);
      this.vpcs.set(vpcId, { vpcId, region, isDefault: true });
      for (const [i, az] of ["a", "b"].entries()) {
        const subnetId = this.id("subnet", `${region}${az}`);
        this.subnets.set(subnetId, { subnetId, vpcId, region, defaultForAz: i === 0, az: `${region}${az}` });
      }
      const defaultGroup = this.id("sg", `${region}-default`);
      this.groups.set(defaultGroup, {
        groupId: defaultGroup,
        region,
        name: "default",
        vpcId,
        description: "default VPC security group",
        tags: {},
        ingress: [],
      });
    }
    if (options.seedBases) this.seedBases();
  }

  /* ------------------------------------------------------------------ test controls */

  calls(): readonly CallRecord[] {
    return [...this.callLog];
  }

  resetCalls(): void {
    this.callLog.length = 0;
  }

  fail(rule: FaultRule): void {
    this.faults.push({ ...rule });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /**
   * The process "dies" right after the `n`-th mutating call from now took effect: that call and every
   * later one throw FakeCrash (the caller never learns the call succeeded).
   */
  crashAfter(n: number): void {
    this.crash = { limit: n, count: 0, crashed: false };
  }

  /** The process is back (a new run): calls work again. */
  recover(): void {
    this.crash = undefined;
  }

  get crashed(): boolean {
    return this.crash?.crashed ?? false;
  }

  /** Mutating calls made since crashAfter() (or since recover(), when counting with crashAfter(Infinity)). */
  get mutatingCalls(): number {
    return this.crash?.count ?? 0;
  }

  createTopic(name: string, region = this.homeRegion): string {
    const arn = `arn:aws:sns:${region}:${this.account}:${name}`;
    this.topics.add(arn);
    return arn;
  }

  /** Publisher base images and public parameters, as the local AWS seeds them. */
  seedBases(): void {
    const catalog = initialCatalog(this.regions, this.now().getTime());
    for (const image of catalog.images) this.addSeeded(image);
    for (const p of catalog.parameters) this.writeParameter(p.region, p.name, p.value, undefined, false);
  }

  /** The publisher releases a newer base image in every region (and points its parameter at it). */
  publishNewerBase(base: Base, arch: Arch): void {
    for (const region of this.regions) {
      const existing = [...this.images.values()]
        .filter((i) => i.region === region)
        .map((i) => seededView(i, base, arch));
      const { image, parameter } = newerImage(
        existing.filter((i): i is SeededImage => i !== undefined),
        region,
        base,
        arch,
        this.now().getTime(),
      );
      this.addSeeded(image);
      this.writeParameter(region, parameter.name, parameter.value, undefined, false);
    }
  }

  /** Every pending copy becomes available (or failed, in `failIn` regions). */
  settleCopies(options: { failIn?: readonly string[] } = {}): void {
    for (const image of this.images.values()) {
      if (image.state !== "pending") continue;
      image.state = options.failIn?.includes(image.region) ? "failed" : "available";
    }
  }

  /** Every build in flight finishes: AVAILABLE with its AMI, or FAILED where `fail` gives a reason. */
  finishBuilds(fail: (build: { arn: string; recipe: string }) => string | undefined = () => undefined): void {
    for (const build of this.builds.values()) {
      if (
        !["PENDING", "CREATING", "BUILDING", "TESTING", "DISTRIBUTING", "INTEGRATING"].includes(build.status)
      )
        continue;
      const recipe = [...this.recipes.values()].find((r) => r.arn === build.recipeArn);
      const reason = fail({ arn: build.arn, recipe: recipe?.name ?? "" });
      if (reason) {
        build.status = "FAILED";
        build.reason = reason;
        continue;
      }
      const distribution = [...this.distributions.values()].find((d) => d.arn === build.distributionArn);
      const parent = recipe ? this.images.get(recipe.parentImage) : undefined;
      const created = this.now();
      const name = (distribution?.settings.amiName ?? `${recipe?.name} {{ imagebuilder:buildDate }}`).replace(
        /\{\{\s*imagebuilder:buildDate\s*\}\}/g,
        created.toISOString().replace(/:/g, "-"),
      );
      const imageId = this.register({
        region: this.homeRegion,
        name,
        ownerId: this.account,
        architecture: parent?.architecture ?? "x86_64",
        rootDeviceName: parent?.rootDeviceName ?? "/dev/xvda",
        creationDate: created.toISOString(),
        state: "available",
        tags: {
          ...(distribution?.settings.amiTags ?? {}),
          CreatedBy: "EC2 Image Builder",
          Ec2ImageBuilderArn: build.arn,
        },
      });
      build.status = "AVAILABLE";
      build.amis = { [this.homeRegion]: imageId };
    }
  }

  image(imageId: string): FakeImage | undefined {
    return this.images.get(imageId);
  }

  /** Our images in a region (deregistered ones are gone). */
  ownImages(region: string): FakeImage[] {
    return [...this.images.values()].filter((i) => i.region === region && i.ownerId === this.account);
  }

  parameter(
    region: string,
    name: string,
  ): { value: string; version: number; labels: string[]; description?: string } | undefined {
    const entry = this.parameters.get(`${region}|${name}`)?.history.at(-1);
    return entry ? { ...entry, labels: [...entry.labels] } : undefined;
  }

  history(region: string, name: string): ParameterHistoryEntry[] {
    return (this.parameters.get(`${region}|${name}`)?.history ?? []).map((h) => ({
      version: h.version,
      value: h.value,
      labels: [...h.labels],
      ...(h.description !== undefined ? { description: h.description } : {}),
    }));
  }

  securityGroups(region: string): SecurityGroupInfo[] {
    return [...this.groups.values()]
      .filter((g) => g.region === region && g.name !== "default")
      .map((g) => ({
        groupId: g.groupId,
        name: g.name,
        vpcId: g.vpcId,
        tags: { ...g.tags },
        ingress: [...g.ingress],
      }));
  }

  /** Adds a security group as someone else would have (any name, any rules). */
  addSecurityGroup(
    region: string,
    input: { name: string; tags?: Record<string, string>; ingress?: IngressRule[] },
  ): string {
    const vpc = [...this.vpcs.values()].find((v) => v.region === region && v.isDefault);
    if (!vpc) throw new Error(`no default VPC in ${region}`);
    const groupId = this.id("sg", `${region}-${input.name}-${this.seq}`);
    this.groups.set(groupId, {
      groupId,
      region,
      name: input.name,
      vpcId: vpc.vpcId,
      description: "made by hand",
      tags: { ...(input.tags ?? {}) },
      ingress: [...(input.ingress ?? [])],
    });
    return groupId;
  }

  buildList(): readonly {
    arn: string;
    status: BuildStatus;
    reason?: string;
    tags: Record<string, string>;
  }[] {
    return [...this.builds.values()].map((b) => ({
      arn: b.arn,
      status: b.status,
      ...(b.reason ? { reason: b.reason } : {}),
      tags: { ...b.tags },
    }));
  }

  /* ------------------------------------------------------------------ ports */

  readonly ec2: Ec2Port = {
    describeRegions: (region) =>
      this.call("ec2", "DescribeRegions", region, async () =>
        this.regions.map((name) => ({
          name,
          optInStatus: this.notOptedIn.has(name) ? "not-opted-in" : "opt-in-not-required",
        })),
      ),
    describeImages: (region, imageIds, owners) =>
      this.call("ec2", "DescribeImages", region, async () => {
        for (const id of imageIds)
          if (!/^ami-[0-9a-f]{8,17}$/.test(id))
            throw this.error(
              "ec2",
              "DescribeImages",
              region,
              "InvalidAMIID.Malformed",
              `Invalid id: "${id}"`,
            );
        const wanted = new Set(owners.map((o) => (o === "self" ? this.account : o)));
        return imageIds.flatMap((id) => {
          const image = this.images.get(id);
          return image && image.region === region && wanted.has(image.ownerId) ? [info(image)] : [];
        });
      }),
    searchImages: (region, query) =>
      this.call("ec2", "DescribeImages", region, async () => {
        const now = this.now().getTime();
        const pattern = glob(query.namePattern);
        return [...this.images.values()]
          .filter(
            (i) =>
              i.region === region &&
              query.owners.includes(i.ownerId) &&
              pattern.test(i.name) &&
              i.architecture === query.architecture &&
              i.state === "available" &&
              // Deprecated images are hidden unless IncludeDeprecated (the search leaves it out).
              !(i.deprecationTime && Date.parse(i.deprecationTime) <= now),
          )
          .map(info);
      }),
    listOwnImages: (region, namePattern) =>
      this.call("ec2", "DescribeImages", region, async () => {
        const pattern = glob(namePattern);
        return this.ownImages(region)
          .filter((i) => pattern.test(i.name))
          .map(
            (i): OurAmi => ({
              imageId: i.imageId,
              region,
              name: i.name,
              state: i.state,
              creationDate: i.creationDate,
              ...(i.deprecationTime ? { deprecationTime: i.deprecationTime } : {}),
              tags: { ...i.tags },
            }),
          );
      }),
    copyImage: (region, input) =>
      this.call("ec2", "CopyImage", region, async () => {
        const request = JSON.stringify([
          input.sourceRegion,
          input.sourceImageId,
          input.name,
          input.kmsKeyId ?? null,
        ]);
        const token = this.copyTokens.get(`${region}|${input.clientToken}`);
        if (token) {
          if (token.request !== request)
            throw this.error(
              "ec2",
              "CopyImage",
              region,
              "IdempotentParameterMismatch",
              "client token reused with other parameters",
            );
          return token.imageId;
        }
        const source = this.images.get(input.sourceImageId);
        if (!source || source.region !== input.sourceRegion)
          throw this.error(
            "ec2",
            "CopyImage",
            region,
            "InvalidAMIID.NotFound",
            `The image id '[${input.sourceImageId}]' does not exist`,
          );
        if (source.state !== "available")
          throw this.error(
            "ec2",
            "CopyImage",
            region,
            "IncorrectState",
            `Image ${source.imageId} is ${source.state}`,
          );
        if (this.ownImages(region).some((i) => i.name === input.name && i.state !== "failed"))
          throw this.error(
            "ec2",
            "CopyImage",
            region,
            "InvalidAMIName.Duplicate",
            `AMI name ${input.name} is already in use`,
          );
        const imageId = this.register({
          region,
          name: input.name,
          ownerId: this.account,
          architecture: source.architecture,
          rootDeviceName: source.rootDeviceName,
          creationDate: this.now().toISOString(),
          state: this.copyMode === "instant" ? "available" : "pending",
          tags: { ...input.tags },
        });
        this.copyTokens.set(`${region}|${input.clientToken}`, { imageId, request });
        return imageId;
      }),
    createTags: (region, resourceId, tags) =>
      this.call("ec2", "CreateTags", region, async () => {
        const image = this.images.get(resourceId);
        if (!image || image.region !== region)
          throw this.error(
            "ec2",
            "CreateTags",
            region,
            "InvalidAMIID.NotFound",
            `The image id '[${resourceId}]' does not exist`,
          );
        checkTags(this, "ec2", "CreateTags", region, { ...image.tags, ...tags });
        image.tags = { ...image.tags, ...tags };
      }),
    enableImageDeprecation: (region, imageId, at) =>
      this.call("ec2", "EnableImageDeprecation", region, async () => {
        const image = this.images.get(imageId);
        if (!image || image.region !== region)
          throw this.error(
            "ec2",
            "EnableImageDeprecation",
            region,
            "InvalidAMIID.NotFound",
            `The image id '[${imageId}]' does not exist`,
          );
        if (at.getTime() < this.now().getTime())
          throw this.error(
            "ec2",
            "EnableImageDeprecation",
            region,
            "InvalidParameterValue",
            "DeprecateAt must be in the future",
          );
        image.deprecationTime = new Date(Math.floor(at.getTime() / 60_000) * 60_000).toISOString();
      }),
    deregisterImage: (region, imageId) =>
      this.call("ec2", "DeregisterImage", region, async () => {
        const image = this.images.get(imageId);
        if (!image || image.region !== region)
          throw this.error(
            "ec2",
            "DeregisterImage",
            region,
            "InvalidAMIID.NotFound",
            `The image id '[${imageId}]' does not exist`,
          );
        // DeleteAssociatedSnapshots: the snapshots go with it.
        this.images.delete(imageId);
      }),
  };

  readonly ssm: SsmPort = {
    getParameters: (region, names) =>
      this.call("ssm", "GetParameters", region, async () => {
        const found: ParameterValue[] = [];
        const invalid: string[] = [];
        for (const name of names) {
          const current = this.parameters.get(`${region}|${name}`)?.history.at(-1);
          if (current) found.push({ name, value: current.value, version: current.version });
          else invalid.push(name);
        }
        return { found, invalid };
      }),
    getParametersByPath: (region, path) =>
      this.call("ssm", "GetParametersByPath", region, async () =>
        [...this.parameters.entries()]
          .filter(([key, p]) => key === `${region}|${p.name}` && p.name.startsWith(`${path}/`))
          .flatMap(([, p]) => {
            const current = p.history.at(-1);
            return current ? [{ name: p.name, value: current.value, version: current.version }] : [];
          }),
      ),
    getParameter: (region, selector) =>
      this.call("ssm", "GetParameter", region, async () => {
        const [name = "", which] = selector.split(":");
        const parameter = this.parameters.get(`${region}|${name}`);
        if (!parameter || parameter.history.length === 0) return undefined;
        if (which === undefined) {
          const current = parameter.history.at(-1) as ParameterVersion;
          return { name, value: current.value, version: current.version };
        }
        const entry = /^\d+$/.test(which)
          ? parameter.history.find((h) => h.version === Number(which))
          : parameter.history.find((h) => h.labels.includes(which));
        if (!entry)
          throw this.error(
            "ssm",
            "GetParameter",
            region,
            "ParameterVersionNotFound",
            `Systems Manager could not find version ${which} of ${name}`,
          );
        return { name, value: entry.value, version: entry.version };
      }),
    putImageParameter: (region, name, value, description, tier) =>
      this.call("ssm", "PutParameter", region, async () => {
        const existing = this.parameters.get(`${region}|${name}`);
        if (existing?.tier === "Advanced" && tier !== "Advanced")
          throw this.error(
            "ssm",
            "PutParameter",
            region,
            "ValidationException",
            "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier.",
          );
        if (!name.startsWith("/") || /^\/?(aws|ssm)/i.test(name) || name.split("/").length - 1 > 15)
          throw this.error(
            "ssm",
            "PutParameter",
            region,
            "ValidationException",
            `invalid parameter name ${name}`,
          );
        if (description.length > 1024)
          throw this.error(
            "ssm",
            "PutParameter",
            region,
            "ValidationException",
            "Description longer than 1024",
          );
        const version = this.writeParameter(region, name, value, description, true);
        const written = this.parameters.get(`${region}|${name}`);
        if (written && tier === "Advanced") written.tier = "Advanced";
        return version;
      }),
    labelParameterVersion: (region, name, version, labels) =>
      this.call("ssm", "LabelParameterVersion", region, async () => {
        const parameter = this.parameters.get(`${region}|${name}`);
        if (!parameter) throw this.error("ssm", "LabelParameterVersion", region, "ParameterNotFound", name);
        const entry = parameter.history.find((h) => h.version === version);
        if (!entry)
          throw this.error(
            "ssm",
            "LabelParameterVersion",
            region,
            "ParameterVersionNotFound",
            `${name} has no version ${version}`,
          );
        for (const label of labels)
          if (!LABEL.test(label) || /^(\d|aws|ssm)/i.test(label))
            throw this.error(
              "ssm",
              "LabelParameterVersion",
              region,
              "ValidationException",
              `invalid label ${label}`,
            );
        const next = [...new Set([...entry.labels, ...labels])];
        if (next.length > 10)
          throw this.error(
            "ssm",
            "LabelParameterVersion",
            region,
            "ParameterVersionLabelLimitExceeded",
            "10 labels a version",
          );
        // A label moves: applied to this version, it leaves every other.
        for (const other of parameter.history) other.labels = other.labels.filter((l) => !labels.includes(l));
        entry.labels = next;
      }),
    unlabelParameterVersion: (region, name, version, labels) =>
      this.call("ssm", "UnlabelParameterVersion", region, async () => {
        const entry = this.parameters.get(`${region}|${name}`)?.history.find((h) => h.version === version);
        if (!entry)
          throw this.error(
            "ssm",
            "UnlabelParameterVersion",
            region,
            "ParameterVersionNotFound",
            `${name} has no version ${version}`,
          );
        entry.labels = entry.labels.filter((l) => !labels.includes(l));
      }),
    getParameterHistory: (region, name) =>
      this.call("ssm", "GetParameterHistory", region, async () => this.history(region, name)),
  };

  readonly sns: SnsPort = {
    publish: (region, topicArn, body) =>
      this.call("sns", "Publish", region, async () => {
        if (!this.topics.has(topicArn) || !topicArn.includes(`:${region}:`))
          throw this.error("sns", "Publish", region, "NotFound", "Topic does not exist");
        // SNS's limit on the whole Publish (message and attributes), in UTF-8 bytes.
        if (publishBytes(body) > SNS_PUBLISH_LIMIT_BYTES)
          throw this.error(
            "sns",
            "Publish",
            region,
            "InvalidParameter",
            "Invalid parameter: Message too long",
          );
        const forms = JSON.parse(body.message) as { default: string; email: string };
        this.published.push({
          topicArn,
          subject: body.subject,
          text: forms.email,
          json: JSON.parse(forms.default),
          bytes: publishBytes(body),
        });
        return `msg-${++this.seq}`;
      }),
  };

  readonly sts: StsPort = {
    accountId: (region) => this.call("sts", "GetCallerIdentity", region, async () => this.account),
    identity: (region) =>
      this.call("sts", "GetCallerIdentity", region, async () => ({
        accountId: this.account,
        arn: `arn:aws:iam::${this.account}:user/responder`,
      })),
  };

  get imageBuilder(): ImageBuilderPort {
    const region = this.homeRegion;
    const ib = <T>(operation: string, fn: () => Promise<T>, subject = "") =>
      this.call("imagebuilder", operation, region, fn, subject);
    const arnOf = (type: string, name: string, version?: string) =>
      `arn:aws:imagebuilder:${region}:${this.account}:${type}/${name.toLowerCase()}${version ? `/${version}` : ""}`;
    return {
      region,
      listComponentVersions: (name) =>
        ib("ListComponents", async () =>
          [...this.components.values()]
            .filter((c) => c.arn.includes(`:component/${name.toLowerCase()}/`))
            .map((c) => ({
              arn: c.arn,
              version: c.version,
              ...(c.description ? { description: c.description } : {}),
            })),
        ),
      createComponent: (input) =>
        ib("CreateComponent", async () => {
          const request = JSON.stringify([input.name, input.version, input.data, input.description]);
          const sameToken = [...this.components.values()].find((c) => c.token === input.clientToken);
          if (sameToken) {
            if (sameToken.request !== request)
              throw this.error(
                "imagebuilder",
                "CreateComponent",
                region,
                "IdempotentParameterMismatchException",
                "token reused",
              );
            return sameToken.arn;
          }
          if (!IB_NAME.test(input.name) || !SEMVER.test(input.version))
            throw this.error(
              "imagebuilder",
              "CreateComponent",
              region,
              "InvalidParameterValueException",
              "bad name or version",
            );
          if (input.data.length < 1 || input.data.length > 16_000)
            throw this.error(
              "imagebuilder",
              "CreateComponent",
              region,
              "InvalidParameterValueException",
              "data is 1-16000 characters",
            );
          const arn = `${arnOf("component", input.name, input.version)}/1`;
          if (this.components.has(arn))
            throw this.error(
              "imagebuilder",
              "CreateComponent",
              region,
              "ResourceAlreadyExistsException",
              `${arn} already exists`,
            );
          this.components.set(arn, {
            arn,
            version: input.version,
            description: input.description,
            data: input.data,
            token: input.clientToken,
            request,
          });
          return arn;
        }),
      listRecipeVersions: (name) =>
        ib("ListImageRecipes", async () =>
          [...this.recipes.values()]
            .filter((r) => r.name === name)
            .map((r) => ({ arn: r.arn, version: r.version, tags: { ...r.tags } })),
        ),
      createRecipe: (input) =>
        ib("CreateImageRecipe", async () => {
          const request = JSON.stringify([input.name, input.version, input.parentImage, input.components]);
          const sameToken = [...this.recipes.values()].find((r) => r.token === input.clientToken);
          if (sameToken) {
            if (sameToken.request !== request)
              throw this.error(
                "imagebuilder",
                "CreateImageRecipe",
                region,
                "IdempotentParameterMismatchException",
                "token reused",
              );
            return sameToken.arn;
          }
          if (input.components.length < 1 || input.components.length > 20)
            throw this.error(
              "imagebuilder",
              "CreateImageRecipe",
              region,
              "InvalidParameterValueException",
              "1-20 components",
            );
          for (const c of input.components)
            if (!this.components.has(c.arn))
              throw this.error(
                "imagebuilder",
                "CreateImageRecipe",
                region,
                "ResourceNotFoundException",
                `${c.arn} not found`,
              );
          const arn = arnOf("image-recipe", input.name, input.version);
          if (this.recipes.has(arn))
            throw this.error(
              "imagebuilder",
              "CreateImageRecipe",
              region,
              "ResourceAlreadyExistsException",
              `${arn} already exists`,
            );
          this.recipes.set(arn, {
            arn,
            name: input.name,
            version: input.version,
            tags: { ...input.tags },
            token: input.clientToken,
            request,
            parentImage: input.parentImage,
          });
          return arn;
        }),
      findInfrastructure: (name) =>
        ib("GetInfrastructureConfiguration", async () => {
          const found = this.infrastructures.get(name);
          return found ? { arn: found.arn, current: found.settings } : undefined;
        }),
      createInfrastructure: (settings) =>
        ib("CreateInfrastructureConfiguration", async () => {
          if (this.infrastructures.has(settings.name))
            throw this.error(
              "imagebuilder",
              "CreateInfrastructureConfiguration",
              region,
              "ResourceAlreadyExistsException",
              settings.name,
            );
          const arn = arnOf("infrastructure-configuration", settings.name);
          this.infrastructures.set(settings.name, { arn, settings });
          return arn;
        }),
      updateInfrastructure: (arn, settings) =>
        ib("UpdateInfrastructureConfiguration", async () => {
          const found = [...this.infrastructures.values()].find((i) => i.arn === arn);
          if (!found)
            throw this.error(
              "imagebuilder",
              "UpdateInfrastructureConfiguration",
              region,
              "ResourceNotFoundException",
              arn,
            );
          found.settings = settings;
        }),
      findDistribution: (name) =>
        ib("GetDistributionConfiguration", async () => {
          const found = this.distributions.get(name);
          return found ? { arn: found.arn, current: found.settings } : undefined;
        }),
      createDistribution: (settings) =>
        ib("CreateDistributionConfiguration", async () => {
          if (this.distributions.has(settings.name))
            throw this.error(
              "imagebuilder",
              "CreateDistributionConfiguration",
              region,
              "ResourceAlreadyExistsException",
              settings.name,
            );
          const arn = arnOf("distribution-configuration", settings.name);
          this.distributions.set(settings.name, { arn, settings });
          return arn;
        }),
      updateDistribution: (arn, settings) =>
        ib("UpdateDistributionConfiguration", async () => {
          const found = [...this.distributions.values()].find((d) => d.arn === arn);
          if (!found)
            throw this.error(
              "imagebuilder",
              "UpdateDistributionConfiguration",
              region,
              "ResourceNotFoundException",
              arn,
            );
          found.settings = settings;
        }),
      createImage: (input) =>
        ib("CreateImage", async () => {
          const request = JSON.stringify([
            input.recipeArn,
            input.infrastructureArn,
            input.distributionArn,
            input.tags,
          ]);
          const sameToken = [...this.builds.values()].find((b) => b.clientToken === input.clientToken);
          if (sameToken) {
            if (sameToken.request !== request)
              throw this.error(
                "imagebuilder",
                "CreateImage",
                region,
                "IdempotentParameterMismatchException",
                "token reused",
              );
            return sameToken.arn;
          }
          const recipe = this.recipes.get(input.recipeArn);
          if (!recipe)
            throw this.error(
              "imagebuilder",
              "CreateImage",
              region,
              "ResourceNotFoundException",
              input.recipeArn,
            );
          const versionArn = recipe.arn.replace(":image-recipe/", ":image/");
          const n = [...this.builds.values()].filter((b) => b.arn.startsWith(`${versionArn}/`)).length + 1;
          const arn = `${versionArn}/${n}`;
          this.builds.set(arn, {
            arn,
            recipeArn: recipe.arn,
            infrastructureArn: input.infrastructureArn,
            distributionArn: input.distributionArn,
            clientToken: input.clientToken,
            request,
            status: "PENDING",
            dateCreated: this.now().toISOString(),
            amis: {},
            tags: { ...input.tags },
          });
          return arn;
        }),
      listImageBuilds: (imageVersionArn) =>
        ib("ListImageBuildVersions", async () =>
          [...this.builds.values()]
            .filter((b) => b.arn.startsWith(`${imageVersionArn}/`))
            .map(
              (b): BuildRecord => ({
                arn: b.arn,
                status: b.status,
                ...(b.reason ? { reason: b.reason } : {}),
                dateCreated: b.dateCreated,
                fingerprint: b.tags[TAG.fingerprint] ?? "",
                amis: { ...b.amis },
                tags: { ...b.tags },
              }),
            ),
        ),
      tagResource: (arn, tags) =>
        ib("TagResource", async () => {
          const build = this.builds.get(arn);
          if (!build)
            throw this.error("imagebuilder", "TagResource", region, "ResourceNotFoundException", arn);
          build.tags = { ...build.tags, ...tags };
        }),
    };
  }

  get ports(): PipelinePorts {
    return {
      ec2: this.ec2,
      ssm: this.ssm,
      sns: this.sns,
      sts: this.sts,
      imageBuilder: this.imageBuilder,
      share: this.share,
    };
  }

  /* ------------------------------------------------------------------ sharing (many accounts) */

  private readonly launchPermissionsOf = new Map<string, LaunchPermission[]>();
  private readonly keys = new Map<string, FakeKey>();
  private readonly resourceShares = new Map<string, FakeResourceShare>();
  private readonly shareTokens = new Map<string, string>();
  organization: FakeOrganization | undefined;

  /** A customer managed key in a region, known by the names given (alias, id); its ARN is made up. */
  createKey(
    region: string,
    names: readonly string[],
    policy: object = { Version: "2012-10-17", Statement: [] },
  ): string {
    const arn = `arn:aws:kms:${region}:${this.account}:key/${this.id("key", region).slice(4)}`;
    this.keys.set(arn, { arn, names: [...names, arn], policy: JSON.stringify(policy), grants: [] });
    return arn;
  }

  /** The key's policy, as a test or an operator changes it (PutKeyPolicy is not the pipeline's). */
  setKeyPolicy(arn: string, policy: object): void {
    const key = this.keys.get(arn);
    if (key) key.policy = JSON.stringify(policy);
  }

  keyGrants(arn: string): readonly { grantee: string; name?: string; operations: readonly string[] }[] {
    return this.keys.get(arn)?.grants ?? [];
  }

  imageLaunchPermissions(imageId: string): readonly LaunchPermission[] {
    return this.launchPermissionsOf.get(imageId) ?? [];
  }

  parameterTier(region: string, name: string): string {
    return this.parameters.get(`${region}|${name}`)?.tier ?? "Standard";
  }

  private findKey(region: string, name: string): FakeKey | undefined {
    return [...this.keys.values()].find((k) => k.arn.split(":")[3] === region && k.names.includes(name));
  }

  private inOrganization(account: string): boolean {
    return this.organization?.accounts[account] !== undefined;
  }

  /** Whether a RAM principal or launch permission covers an account (organization, its OU, itself). */
  private covers(principal: string, account: string): boolean {
    if (principal === account) return true;
    const org = this.organization;
    if (!org || org.accounts[account] === undefined) return false;
    if (principal === org.arn) return true;
    return principal === org.accounts[account];
  }

  /** Whether an account may use a key: a grant to its root, or a policy statement for its org/OU. */
  private keyUsableBy(key: FakeKey, account: string): boolean {
    if (
      key.grants.some((g) => g.grantee === `arn:aws:iam::${account}:root` && g.operations.includes("Decrypt"))
    )
      return true;
    const org = this.organization;
    const ou = org?.accounts[account];
    if (!org || !ou) return false;
    const orgId = org.arn.split("/").pop() ?? "";
    const ouId = ou.split("/").pop() ?? "";
    const text = key.policy;
    return (
      text.includes(`"aws:PrincipalOrgID":"${orgId}"`) ||
      (text.includes("aws:PrincipalOrgPaths") && text.includes(`${ouId}/`))
    );
  }

  /**
   * What another account of the organization sees: the AMIs shared with it (and whether it can
   * decrypt them), the parameters shared with it through RAM (by full ARN only, as AWS has it),
   * and RunInstances with `resolve:ssm:<arn>` (which AWS resolves; moto does not).
   */
  member(account: string) {
    const visible = (region: string, imageId: string): FakeImage | undefined => {
      const image = this.images.get(imageId);
      if (!image || image.region !== region || image.state !== "available") return undefined;
      const perms = this.launchPermissionsOf.get(imageId) ?? [];
      return perms.some((p) => p.kind === "public" || this.covers(p.id, account)) ? image : undefined;
    };
    const getParameter = (region: string, name: string): ParameterValue | undefined => {
      // A shared parameter is reachable by its full ARN only.
      const match = /^arn:aws:ssm:([^:]+):(\d{12}):parameter(\/.+)$/.exec(name);
      if (!match || match[1] !== region || match[2] !== this.account) return undefined;
      const parameterName = match[3] ?? "";
      const shared = [...this.resourceShares.values()].some(
        (share) =>
          share.region === region &&
          share.resources.includes(name) &&
          share.principals.some((p) => this.covers(p, account)),
      );
      const parameter = this.parameters.get(`${region}|${parameterName}`);
      const current = parameter?.history.at(-1);
      if (!shared || !current || parameter?.tier !== "Advanced") return undefined;
      return { name, value: current.value, version: current.version };
    };
    const canDecrypt = (region: string): boolean => {
      const key = [...this.keys.values()].find((k) => k.arn.split(":")[3] === region);
      return key !== undefined && this.keyUsableBy(key, account);
    };
    return {
      describeImage: visible,
      getParameter,
      canDecrypt,
      /** RunInstances as the member account: resolves the parameter, checks launch permission and key. */
      runInstance: (region: string, imageIdOrResolve: string): string => {
        const name = imageIdOrResolve.replace(/^resolve:ssm:/, "");
        const imageId = imageIdOrResolve.startsWith("resolve:ssm:")
          ? getParameter(region, name)?.value
          : imageIdOrResolve;
        if (!imageId)
          throw new Error(`InvalidParameter: ${imageIdOrResolve} does not resolve in account ${account}`);
        if (!visible(region, imageId))
          throw new Error(`InvalidAMIID.NotFound: ${imageId} for account ${account}`);
        if (!canDecrypt(region))
          throw new Error(`Client.InternalError: account ${account} cannot use the key of ${imageId}`);
        return `i-${createHash("sha256")
          .update(`${account}${imageId}${this.seq++}`)
          .digest("hex")
          .slice(0, 17)}`;
      },
    };
  }

  readonly share: SharePort = {
    launchPermissions: (region, imageId) =>
      this.call("ec2", "DescribeImageAttribute", region, async () => {
        const image = this.images.get(imageId);
        if (!image || image.region !== region)
          throw this.error("ec2", "DescribeImageAttribute", region, "InvalidAMIID.NotFound", imageId);
        return [...(this.launchPermissionsOf.get(imageId) ?? [])];
      }),
    modifyLaunchPermissions: (region, imageId, add, remove) =>
      this.call("ec2", "ModifyImageAttribute", region, async () => {
        const image = this.images.get(imageId);
        if (!image || image.region !== region)
          throw this.error("ec2", "ModifyImageAttribute", region, "InvalidAMIID.NotFound", imageId);
        const key = (p: LaunchPermission) => `${p.kind}:${p.id}`;
        const removing = new Set(remove.map(key));
        const current = (this.launchPermissionsOf.get(imageId) ?? []).filter((p) => !removing.has(key(p)));
        for (const p of add) if (!current.some((c) => key(c) === key(p))) current.push(p);
        this.launchPermissionsOf.set(imageId, current);
      }),
    describeKey: (region, name) =>
      this.call("kms", "DescribeKey", region, async () => {
        const key = this.findKey(region, name);
        if (!key)
          throw this.error("kms", "DescribeKey", region, "NotFoundException", `Key '${name}' does not exist`);
        const grants = key.grants
          .filter((g) => g.name?.startsWith("ops-rig-share-"))
          .map((g) => ({ grantId: g.grantId, accountId: (g.name ?? "").slice("ops-rig-share-".length) }));
        return { arn: key.arn, grants, policy: key.policy };
      }),
    createKeyGrant: (region, keyArn, accountId) =>
      this.call("kms", "CreateGrant", region, async () => {
        const key = this.keys.get(keyArn);
        if (!key) throw this.error("kms", "CreateGrant", region, "NotFoundException", keyArn);
        const name = `ops-rig-share-${accountId}`;
        // A named grant with the same fields is returned, not duplicated (CreateGrant's Name).
        const existing = key.grants.find((g) => g.name === name);
        if (existing) return existing.grantId;
        const grantId = this.id("grant", `${keyArn}${accountId}`);
        key.grants.push({
          grantId,
          name,
          grantee: `arn:aws:iam::${accountId}:root`,
          operations: [
            "Decrypt",
            "DescribeKey",
            "CreateGrant",
            "GenerateDataKeyWithoutPlaintext",
            "ReEncryptFrom",
            "ReEncryptTo",
          ],
        });
        return grantId;
      }),
    revokeKeyGrant: (region, keyArn, grantId) =>
      this.call("kms", "RevokeGrant", region, async () => {
        const key = this.keys.get(keyArn);
        if (!key) throw this.error("kms", "RevokeGrant", region, "NotFoundException", keyArn);
        key.grants = key.grants.filter((g) => g.grantId !== grantId);
      }),
    findParameterShare: (region, name) =>
      this.call("ram", "GetResourceShares", region, async () => {
        const share = [...this.resourceShares.values()].find((s) => s.region === region && s.name === name);
        return share
          ? { arn: share.arn, principals: [...share.principals], resources: [...share.resources] }
          : undefined;
      }),
    createParameterShare: (region, input) =>
      this.call("ram", "CreateResourceShare", region, async () => {
        const tokenKey = `${region}|${input.clientToken}`;
        const known = this.shareTokens.get(tokenKey);
        if (known) return known;
        this.checkShareChange(region, "CreateResourceShare", input.principals, input.resources, false);
        const arn = `arn:aws:ram:${region}:${this.account}:resource-share/${this.id("rs", tokenKey).slice(3)}`;
        this.resourceShares.set(arn, {
          arn,
          name: input.name,
          region,
          allowExternalPrincipals: false,
          principals: [...input.principals],
          resources: [...input.resources],
        });
        this.shareTokens.set(tokenKey, arn);
        return arn;
      }),
    associateParameterShare: (region, shareArn, change) =>
      this.call("ram", "AssociateResourceShare", region, async () => {
        const share = this.resourceShares.get(shareArn);
        if (!share)
          throw this.error("ram", "AssociateResourceShare", region, "UnknownResourceException", shareArn);
        this.checkShareChange(
          region,
          "AssociateResourceShare",
          change.principals,
          change.resources,
          share.allowExternalPrincipals,
        );
        share.principals = [...new Set([...share.principals, ...change.principals])];
        share.resources = [...new Set([...share.resources, ...change.resources])];
      }),
    disassociateParameterShare: (region, shareArn, change) =>
      this.call("ram", "DisassociateResourceShare", region, async () => {
        const share = this.resourceShares.get(shareArn);
        if (!share)
          throw this.error("ram", "DisassociateResourceShare", region, "UnknownResourceException", shareArn);
        share.principals = share.principals.filter((p) => !change.principals.includes(p));
        share.resources = share.resources.filter((r) => !change.resources.includes(r));
      }),
  };

  /** RAM's rules for parameters: advanced tier only, and no principal outside the organization. */
  private checkShareChange(
    region: string,
    operation: string,
    principals: readonly string[],
    resources: readonly string[],
    allowExternal: boolean,
  ): void {
    for (const arn of resources) {
      const name = /:parameter(\/.+)$/.exec(arn)?.[1] ?? "";
      const parameter = this.parameters.get(`${region}|${name}`);
      if (!parameter)
        throw this.error("ram", operation, region, "UnknownResourceException", `${arn} not found`);
      if (parameter.tier !== "Advanced")
        throw this.error(
          "ram",
          operation,
          region,
          "InvalidParameterException",
          `${arn}: only advanced parameters can be shared`,
        );
    }
    for (const principal of principals) {
      const outside = /^\d{12}$/.test(principal)
        ? !this.inOrganization(principal)
        : !this.organization ||
          !(
            principal === this.organization.arn ||
            Object.values(this.organization.accounts).includes(principal)
          );
      if (outside && !allowExternal)
        throw this.error(
          "ram",
          operation,
          region,
          "OperationNotPermittedException",
          `${principal} is not in your organization`,
        );
    }
  }

  readonly launch: LaunchPort = {
    defaultVpc: (region) =>
      this.call(
        "ec2",
        "DescribeVpcs",
        region,
        async () => [...this.vpcs.values()].find((v) => v.region === region && v.isDefault)?.vpcId,
      ),
    subnetOf: (region, subnetId) =>
      this.call("ec2", "DescribeSubnets", region, async () => {
        const subnet = this.subnets.get(subnetId);
        return subnet && subnet.region === region ? { subnetId, vpcId: subnet.vpcId } : undefined;
      }),
    defaultSubnet: (region, vpcId) =>
      this.call(
        "ec2",
        "DescribeSubnets",
        region,
        async () =>
          [...this.subnets.values()]
            .filter((s) => s.region === region && s.vpcId === vpcId)
            .sort((a, b) => Number(b.defaultForAz) - Number(a.defaultForAz) || a.az.localeCompare(b.az))[0]
            ?.subnetId,
      ),
    findSecurityGroup: (region, vpcId, name) =>
      this.call("ec2", "DescribeSecurityGroups", region, async () => {
        const g = [...this.groups.values()].find(
          (x) => x.region === region && x.vpcId === vpcId && x.name === name,
        );
        return g
          ? { groupId: g.groupId, name: g.name, vpcId: g.vpcId, tags: { ...g.tags }, ingress: [...g.ingress] }
          : undefined;
      }),
    createSecurityGroup: (region, input) =>
      this.call(
        "ec2",
        "CreateSecurityGroup",
        region,
        async () => {
          this.checkGroupRequest(region, input);
          const groupId = this.id("sg", `${region}-${input.name}-${this.seq}`);
          this.groups.set(groupId, {
            groupId,
            region,
            name: input.name,
            vpcId: input.vpcId,
            description: input.description,
            tags: { ...input.tags },
            ingress: [],
          });
          return groupId;
        },
        input.name,
      ),
    checkCreateSecurityGroup: (region, input) =>
      this.call(
        "ec2",
        "CreateSecurityGroup",
        region,
        async () => {
          this.checkGroupRequest(region, input);
        },
        input.name,
        false,
      ),
    authorizeSsh: (region, groupId, cidrs) =>
      this.call(
        "ec2",
        "AuthorizeSecurityGroupIngress",
        region,
        async () => {
          const group = this.group(region, groupId, "AuthorizeSecurityGroupIngress");
          const rules = cidrs.map(
            (source): IngressRule => ({ protocol: "tcp", fromPort: 22, toPort: 22, source }),
          );
          for (const rule of rules) {
            if (
              !(
                V4_CIDR.test(rule.source) ||
                (rule.source.includes(":") && /^[0-9a-f:]+\/\d{1,3}$/.test(rule.source))
              )
            )
              throw this.error(
                "ec2",
                "AuthorizeSecurityGroupIngress",
                region,
                "InvalidParameterValue",
                `CIDR block ${rule.source} is malformed`,
              );
            if (group.ingress.some((r) => sameRule(r, rule)))
              throw this.error(
                "ec2",
                "AuthorizeSecurityGroupIngress",
                region,
                "InvalidPermission.Duplicate",
                `the specified rule "peer: ${rule.source}, TCP, from port: 22, to port: 22, ALLOW" already exists`,
              );
          }
          group.ingress.push(...rules);
        },
        groupId,
      ),
    revokeIngress: (region, groupId, rules) =>
      this.call(
        "ec2",
        "RevokeSecurityGroupIngress",
        region,
        async () => {
          const group = this.group(region, groupId, "RevokeSecurityGroupIngress");
          for (const rule of rules)
            if (!group.ingress.some((r) => sameRule(r, rule)))
              throw this.error(
                "ec2",
                "RevokeSecurityGroupIngress",
                region,
                "InvalidPermission.NotFound",
                `no rule ${rule.source}`,
              );
          group.ingress = group.ingress.filter((r) => !rules.some((x) => sameRule(r, x)));
        },
        groupId,
      ),
    tagSecurityGroup: (region, groupId, tags) =>
      this.call(
        "ec2",
        "CreateTags",
        region,
        async () => {
          const group = this.group(region, groupId, "CreateTags");
          group.tags = { ...group.tags, ...tags };
        },
        groupId,
      ),
    deleteSecurityGroup: (region, groupId) =>
      this.call(
        "ec2",
        "DeleteSecurityGroup",
        region,
        async () => {
          this.group(region, groupId, "DeleteSecurityGroup");
          if (this.instances.some((i) => i.region === region && i.input.securityGroupIds.includes(groupId)))
            throw this.error(
              "ec2",
              "DeleteSecurityGroup",
              region,
              "DependencyViolation",
              `resource ${groupId} has a dependent object`,
            );
          this.groups.delete(groupId);
        },
        groupId,
      ),
    image: (region, imageId) =>
      this.call("ec2", "DescribeImages", region, async () => {
        const image = this.images.get(imageId);
        return image && image.region === region
          ? { imageId, name: image.name, state: image.state, rootDeviceName: image.rootDeviceName }
          : undefined;
      }),
    runInstance: (region, input) =>
      this.call("ec2", "RunInstances", region, async (): Promise<LaunchedInstance> => {
        const imageId = this.checkRun(region, input);
        const instanceId = this.id("i", `${region}-${this.seq}`);
        this.instances.push({ instanceId, region, input, imageId });
        return { instanceId, privateIp: `10.0.0.${this.instances.length + 10}` };
      }),
    checkRunInstance: (region, input) =>
      this.call(
        "ec2",
        "RunInstances",
        region,
        async () => {
          this.checkRun(region, input);
        },
        "",
        false,
      ),
  };

  readonly lambda: LambdaPort = {
    invoke: (region, functionName, payload) =>
      this.call("lambda", "Invoke", region, async () => {
        const fn = this.functions.get(functionName);
        if (!fn)
          throw this.error(
            "lambda",
            "Invoke",
            region,
            "ResourceNotFoundException",
            `Function not found: ${functionName}`,
          );
        try {
          return { body: JSON.stringify(await fn(JSON.parse(JSON.stringify(payload)))) };
        } catch (error) {
          return {
            body: JSON.stringify({
              errorType: (error as Error).name,
              errorMessage: (error as Error).message,
            }),
            functionError: "Unhandled",
          };
        }
      }),
  };

  /* ------------------------------------------------------------------ internals */

  private async call<T>(
    service: string,
    operation: string,
    region: string,
    fn: () => Promise<T>,
    subject = "",
    mutating = MUTATING.has(operation),
  ): Promise<T> {
    if (this.crash?.crashed) throw new FakeCrash();
    const record = { service, operation, region, mutating };
    this.callLog.push(record);
    await this.onCall?.(record);
    if (this.crash?.crashed) throw new FakeCrash();
    if (!this.regions.includes(region) || this.notOptedIn.has(region))
      throw this.error(
        service,
        operation,
        region,
        "AuthFailure",
        "AWS was not able to validate the provided access credentials",
      );
    const fault = this.faults.find(
      (f) =>
        f.operation === operation &&
        (f.region === undefined || f.region === region) &&
        (f.match === undefined || f.match(subject)) &&
        (f.times === undefined || f.times > 0),
    );
    if (fault) {
      if (fault.times !== undefined) fault.times--;
      throw this.error(
        service,
        operation,
        region,
        fault.code,
        fault.message ?? `injected ${fault.code}`,
        fault.retryable,
      );
    }
    const result = await fn();
    if (mutating && this.crash) {
      this.crash.count++;
      if (this.crash.count >= this.crash.limit) {
        this.crash.crashed = true;
        throw new FakeCrash();
      }
    }
    return result;
  }

  error(
    service: string,
    operation: string,
    region: string,
    code: string,
    message: string,
    retryable = false,
  ): AwsCallError {
    return new AwsCallError({ service, operation, region, awsCode: code, message, retryable });
  }

  private id(prefix: string, seed: string): string {
    this.seq++;
    return `${prefix}-0${createHash("sha256").update(`${prefix}|${seed}|${this.seq}`).digest("hex").slice(0, 16)}`;
  }

  private register(input: Omit<FakeImage, "imageId" | "snapshots">): string {
    const imageId = this.id("ami", `${input.region}|${input.name}`);
    this.images.set(imageId, { ...input, imageId, snapshots: [this.id("snap", imageId)] });
    return imageId;
  }

  private addSeeded(image: SeededImage): void {
    this.images.set(image.imageId, {
      imageId: image.imageId,
      region: image.region,
      name: image.name,
      ownerId: image.ownerId,
      architecture: image.architecture,
      rootDeviceName: image.rootDeviceName,
      creationDate: image.creationDate,
      deprecationTime: image.deprecationTime,
      state: "available",
      tags: {},
      snapshots: [],
    });
  }

  /**
   * One PutParameter. `aws:ec2:image` is validated after the answer: a value that is not an available
   * image in the region is dropped (the version is reported, never stored). 100 versions are kept;
   * dropping a labelled one fails the write.
   */
  private writeParameter(
    region: string,
    name: string,
    value: string,
    description: string | undefined,
    validateImage: boolean,
  ): number {
    const key = `${region}|${name}`;
    const parameter = this.parameters.get(key) ?? { name, history: [] };
    const version = (parameter.history.at(-1)?.version ?? 0) + 1;
    if (validateImage) {
      const image = this.images.get(value);
      if (!image || image.region !== region || image.state !== "available") return version;
    }
    if (parameter.history.length >= 100) {
      const oldest = parameter.history[0] as ParameterVersion;
      if (oldest.labels.length > 0)
        throw this.error(
          "ssm",
          "PutParameter",
          region,
          "ParameterMaxVersionLimitExceeded",
          `version ${oldest.version} of ${name} has labels and would be dropped`,
        );
      parameter.history.shift();
    }
    parameter.history.push({
      version,
      value,
      labels: [],
      ...(description !== undefined ? { description } : {}),
    });
    this.parameters.set(key, parameter);
    return version;
  }

  private group(region: string, groupId: string, operation: string): FakeGroup {
    const group = this.groups.get(groupId);
    if (!group || group.region !== region)
      throw this.error(
        "ec2",
        operation,
        region,
        "InvalidGroup.NotFound",
        `The security group '${groupId}' does not exist`,
      );
    return group;
  }

  private checkGroupRequest(
    region: string,
    input: { vpcId: string; name: string; description: string },
  ): void {
    const vpc = this.vpcs.get(input.vpcId);
    if (!vpc || vpc.region !== region)
      throw this.error(
        "ec2",
        "CreateSecurityGroup",
        region,
        "InvalidVpcID.NotFound",
        `The vpc ID '${input.vpcId}' does not exist`,
      );
    if (input.name.startsWith("sg-") || input.name.length > 255 || !/^[\x20-\x7e]+$/.test(input.description))
      throw this.error(
        "ec2",
        "CreateSecurityGroup",
        region,
        "InvalidParameterValue",
        "invalid group name or description",
      );
    if ([...this.groups.values()].some((g) => g.vpcId === input.vpcId && g.name === input.name))
      throw this.error(
        "ec2",
        "CreateSecurityGroup",
        region,
        "InvalidGroup.Duplicate",
        `The security group '${input.name}' already exists for VPC '${input.vpcId}'`,
      );
  }

  /** What EC2 checks on RunInstances (and its DryRun); returns the image the request resolves to. */
  private checkRun(region: string, input: RunInstanceInput): string {
    const fail = (code: string, message: string) => this.error("ec2", "RunInstances", region, code, message);
    if (!KNOWN_INSTANCE_TYPES.has(input.instanceType))
      throw fail("InvalidParameterValue", `Invalid value '${input.instanceType}' for InstanceType.`);
    let imageId = input.imageId;
    const ssm = /^resolve:ssm:(.+)$/.exec(input.imageId);
    if (ssm) {
      const [name = "", which] = (ssm[1] ?? "").split(":");
      const history = this.parameters.get(`${region}|${name}`)?.history ?? [];
      const entry =
        which === undefined
          ? history.at(-1)
          : /^\d+$/.test(which)
            ? history.find((h) => h.version === Number(which))
            : history.find((h) => h.labels.includes(which));
      if (!entry) throw fail("InvalidParameterValue", `cannot resolve ${input.imageId}`);
      imageId = entry.value;
    }
    const image = this.images.get(imageId);
    if (!image || image.region !== region || image.state !== "available")
      throw fail("InvalidAMIID.NotFound", `The image id '[${imageId}]' does not exist`);
    const subnet = this.subnets.get(input.subnetId);
    if (!subnet || subnet.region !== region)
      throw fail("InvalidSubnetID.NotFound", `The subnet ID '${input.subnetId}' does not exist`);
    for (const groupId of input.securityGroupIds) {
      const group = this.groups.get(groupId);
      if (!group || group.region !== region)
        throw fail("InvalidGroup.NotFound", `The security group '${groupId}' does not exist`);
      if (group.vpcId !== subnet.vpcId)
        throw fail("InvalidParameter", "Security group and subnet belong to different networks.");
    }
    if (input.instanceProfile && !this.instanceProfiles.has(input.instanceProfile))
      throw fail(
        "InvalidParameterValue",
        `Value (${input.instanceProfile}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name`,
      );
    if (input.keyName && !this.keyPairs.has(input.keyName))
      throw fail("InvalidKeyPair.NotFound", `The key pair '${input.keyName}' does not exist`);
    return imageId;
  }
}

function info(image: FakeImage): ImageInfo {
  return {
    imageId: image.imageId,
    name: image.name,
    ownerId: image.ownerId,
    creationDate: image.creationDate,
    architecture: image.architecture,
    state: image.state,
    rootDeviceName: image.rootDeviceName,
    ...(image.deprecationTime ? { deprecationTime: image.deprecationTime } : {}),
    tags: { ...image.tags },
  };
}

/** DescribeImages' name filter: `*` and `?` wildcards. */
function glob(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .split("")
      .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\/]/g, "\\$&")))
      .join("")}$`,
  );
}

function sameRule(a: IngressRule, b: IngressRule): boolean {
  return (
    a.protocol === b.protocol && a.fromPort === b.fromPort && a.toPort === b.toPort && a.source === b.source
  );
}

function checkTags(
  fake: FakeAws,
  service: string,
  operation: string,
  region: string,
  tags: Record<string, string>,
) {
  if (Object.keys(tags).length > 50)
    throw fake.error(service, operation, region, "TagLimitExceeded", "50 tags a resource");
  for (const [key, value] of Object.entries(tags)) {
    if (key.startsWith("aws:"))
      throw fake.error(service, operation, region, "InvalidParameterValue", `tag key ${key}`);
    if (Array.from(key).length > 128 || Array.from(value).length > 256)
      throw fake.error(service, operation, region, "InvalidParameterValue", `tag ${key} too long`);
  }
}

/** A fake image as the seed's record (for newerImage's naming), when it is a publisher's base image. */
function seededView(image: FakeImage, base: Base, arch: Arch): SeededImage | undefined {
  const info = BASE_INFO[base];
  if (image.ownerId !== info.owner || image.architecture !== EC2_ARCHITECTURE[arch]) return undefined;
  if (!glob(info.namePattern(arch)).test(image.name)) return undefined;
  return {
    region: image.region,
    imageId: image.imageId,
    name: image.name,
    description: "",
    base,
    arch,
    ownerId: image.ownerId,
    architecture: EC2_ARCHITECTURE[arch],
    rootDeviceName: image.rootDeviceName,
    creationDate: image.creationDate,
    deprecationTime: image.deprecationTime ?? "",
    deprecated: false,
    decoy: false,
  };
}
