import type {
  AmiState,
  BuildRecord,
  KeyGrant,
  LaunchPermission,
  OurAmi,
  ParameterShare,
  ParameterValue,
} from "../plan/types.js";
import type { BlockDeviceMapping } from "../render/recipe.js";
import type { SnsPublishBody } from "./notification.js";

/**
 * What the pipeline needs from AWS, in its own terms. The adapters in src/aws implement these with
 * the SDK (and test/fakes/fake-aws.ts in memory); every method names its region so a failure can say
 * where it happened. Failures are AwsCallError (InterruptedError once the run's signal aborted).
 */

export interface ImageInfo {
  readonly imageId: string;
  readonly name: string;
  readonly ownerId: string;
  readonly creationDate: string;
  readonly architecture: string;
  readonly state: AmiState;
  readonly rootDeviceName: string;
  readonly deprecationTime?: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface RegionInfo {
  readonly name: string;
  /** `opt-in-not-required`, `opted-in` or `not-opted-in`. */
  readonly optInStatus: string;
}

export interface Ec2Port {
  describeRegions(region: string): Promise<readonly RegionInfo[]>;
  /** Images by id, owners pinned (a base is only trusted from its publisher). */
  describeImages(
    region: string,
    imageIds: readonly string[],
    owners: readonly string[],
  ): Promise<readonly ImageInfo[]>;
  /** Owner-pinned search by name and architecture; all pages; deprecated images excluded. */
  searchImages(
    region: string,
    query: {
      readonly owners: readonly string[];
      readonly namePattern: string;
      readonly architecture: string;
    },
  ): Promise<readonly ImageInfo[]>;
  /** Our own AMIs whose names match (deprecated included: retention needs them). */
  listOwnImages(region: string, namePattern: string): Promise<readonly OurAmi[]>;
  copyImage(
    region: string,
    input: {
      readonly sourceRegion: string;
      readonly sourceImageId: string;
      readonly name: string;
      readonly description: string;
      readonly clientToken: string;
      readonly tags: Readonly<Record<string, string>>;
      readonly kmsKeyId?: string;
    },
  ): Promise<string>;
  createTags(region: string, resourceId: string, tags: Readonly<Record<string, string>>): Promise<void>;
  enableImageDeprecation(region: string, imageId: string, at: Date): Promise<void>;
  /** Deregisters and deletes the AMI's snapshots. */
  deregisterImage(region: string, imageId: string): Promise<void>;
}

export interface ParameterHistoryEntry {
  readonly version: number;
  readonly value: string;
  readonly labels: readonly string[];
  /** The description written with this version (a rollback records what it rolled back from). */
  readonly description?: string;
}

export interface SsmPort {
  /** Any number of names (batched by 10). Unknown names are listed in `invalid`. */
  getParameters(
    region: string,
    names: readonly string[],
  ): Promise<{ found: readonly ParameterValue[]; invalid: readonly string[] }>;
  /** Every parameter under a path, recursively, all pages. */
  getParametersByPath(region: string, path: string): Promise<readonly ParameterValue[]>;
  getParameter(region: string, name: string): Promise<ParameterValue | undefined>;
  /**
   * PutParameter as `String` with `DataType: aws:ec2:image`, overwriting; returns the version AWS
   * reported. `Advanced` where the parameter is shared through RAM (only advanced ones can be).
   */
  putImageParameter(
    region: string,
    name: string,
    value: string,
    description: string,
    tier?: "Advanced",
  ): Promise<number>;
  labelParameterVersion(
    region: string,
    name: string,
    version: number,
    labels: readonly string[],
  ): Promise<void>;
  unlabelParameterVersion(
    region: string,
    name: string,
    version: number,
    labels: readonly string[],
  ): Promise<void>;
  getParameterHistory(region: string, name: string): Promise<readonly ParameterHistoryEntry[]>;
}

export interface SnsPort {
  /** Publish exactly this body (built and measured by `snsPublishBody`); returns the message id. */
  publish(region: string, topicArn: string, body: SnsPublishBody): Promise<string>;
}

/** Where full run reports go (S3: the logs bucket), where size is no issue. */
export interface ReportStorePort {
  /** Stores `body` (JSON) at `key` in `bucket`; returns the object's `s3://` location. */
  putReport(region: string, bucket: string, key: string, body: string): Promise<string>;
}

export interface StsPort {
  accountId(region: string): Promise<string>;
  /** The caller's account and ARN (who launched, who rolled back). */
  identity(region: string): Promise<{ readonly accountId: string; readonly arn: string }>;
}

export interface ComponentVersionInfo {
  readonly arn: string;
  readonly version: string;
  readonly description?: string;
}

export interface RecipeVersionInfo {
  readonly arn: string;
  readonly version: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface InfrastructureSettings {
  readonly name: string;
  readonly description: string;
  readonly instanceProfileName: string;
  readonly instanceTypes: readonly string[];
  readonly securityGroupIds: readonly string[];
  readonly subnetId?: string;
  readonly snsTopicArn: string;
  readonly terminateInstanceOnFailure: boolean;
  readonly logsBucket?: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface DistributionSettings {
  readonly name: string;
  readonly description: string;
  readonly region: string;
  readonly amiName: string;
  readonly amiDescription: string;
  readonly amiTags: Readonly<Record<string, string>>;
  readonly kmsKeyId?: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface ImageBuilderPort {
  readonly region: string;
  listComponentVersions(name: string): Promise<readonly ComponentVersionInfo[]>;
  createComponent(input: {
    readonly name: string;
    readonly version: string;
    readonly description: string;
    readonly changeDescription: string;
    readonly data: string;
    readonly tags: Readonly<Record<string, string>>;
    readonly clientToken: string;
  }): Promise<string>;
  listRecipeVersions(name: string): Promise<readonly RecipeVersionInfo[]>;
  createRecipe(input: {
    readonly name: string;
    readonly version: string;
    readonly description: string;
    readonly parentImage: string;
    readonly components: readonly {
      readonly arn: string;
      readonly parameters: readonly { readonly name: string; readonly value: readonly string[] }[];
    }[];
    readonly blockDeviceMappings: readonly BlockDeviceMapping[];
    readonly userDataOverride?: string;
    readonly tags: Readonly<Record<string, string>>;
    readonly clientToken: string;
  }): Promise<string>;
  /** The configuration with this name and what it says now, if it exists. */
  findInfrastructure(
    name: string,
  ): Promise<{ readonly arn: string; readonly current: InfrastructureSettings } | undefined>;
  createInfrastructure(settings: InfrastructureSettings, clientToken: string): Promise<string>;
  updateInfrastructure(arn: string, settings: InfrastructureSettings, clientToken: string): Promise<void>;
  findDistribution(
    name: string,
  ): Promise<{ readonly arn: string; readonly current: DistributionSettings } | undefined>;
  createDistribution(settings: DistributionSettings, clientToken: string): Promise<string>;
  updateDistribution(arn: string, settings: DistributionSettings, clientToken: string): Promise<void>;
  createImage(input: {
    readonly recipeArn: string;
    readonly infrastructureArn: string;
    readonly distributionArn: string;
    readonly tags: Readonly<Record<string, string>>;
    readonly clientToken: string;
  }): Promise<string>;
  /** Build versions of an image version (`.../image/<recipe>/<x.y.z>`), with their tags. */
  listImageBuilds(imageVersionArn: string): Promise<readonly BuildRecord[]>;
  tagResource(arn: string, tags: Readonly<Record<string, string>>): Promise<void>;
}

/** Sharing images and parameters with other accounts: EC2 launch permissions, KMS grants, AWS RAM. */
export interface SharePort {
  /** DescribeImageAttribute launchPermission. */
  launchPermissions(region: string, imageId: string): Promise<readonly LaunchPermission[]>;
  /** ModifyImageAttribute LaunchPermission Add/Remove (adding what is there, removing what is not: no-ops). */
  modifyLaunchPermissions(
    region: string,
    imageId: string,
    add: readonly LaunchPermission[],
    remove: readonly LaunchPermission[],
  ): Promise<void>;
  /** The key (id, ARN or alias) resolved to its ARN, ops-rig's grants on it, and its policy. */
  describeKey(
    region: string,
    key: string,
  ): Promise<{ readonly arn: string; readonly grants: readonly KeyGrant[]; readonly policy?: string }>;
  /** CreateGrant named `ops-rig-share-<account>` (the name makes a retry return the same grant). */
  createKeyGrant(region: string, keyArn: string, accountId: string): Promise<string>;
  revokeKeyGrant(region: string, keyArn: string, grantId: string): Promise<void>;
  /** This account's active resource share of that name, with its principals and resources. */
  findParameterShare(region: string, name: string): Promise<ParameterShare | undefined>;
  createParameterShare(
    region: string,
    input: {
      readonly name: string;
      readonly principals: readonly string[];
      readonly resources: readonly string[];
      readonly clientToken: string;
    },
  ): Promise<string>;
  associateParameterShare(
    region: string,
    shareArn: string,
    change: { readonly principals: readonly string[]; readonly resources: readonly string[] },
    clientToken: string,
  ): Promise<void>;
  disassociateParameterShare(
    region: string,
    shareArn: string,
    change: { readonly principals: readonly string[]; readonly resources: readonly string[] },
    clientToken: string,
  ): Promise<void>;
}

/** Everything the pipeline talks to. */
export interface PipelinePorts {
  readonly ec2: Ec2Port;
  readonly ssm: SsmPort;
  readonly sns: SnsPort;
  readonly sts: StsPort;
  readonly imageBuilder: ImageBuilderPort;
  /** Absent in tests that share nothing; a run with `share:` configured then fails to observe it. */
  readonly share?: SharePort;
  /** Absent where no bucket can be written (the report then lives in the run's log only). */
  readonly reports?: ReportStorePort;
}
