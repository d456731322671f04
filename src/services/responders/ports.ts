/**
 * What the responder services need from AWS, in the instance's own region. One narrow port: the
 * adapter (src/aws/responders) implements it over the SDK, the tests over an in-memory account.
 */

export interface GroupRef {
  readonly groupId: string;
  readonly name: string;
}

export interface NetworkInterfaceInfo {
  readonly interfaceId: string;
  readonly subnetId: string;
  readonly vpcId: string;
  readonly privateIp?: string;
  readonly groups: readonly GroupRef[];
  readonly tags: Readonly<Record<string, string>>;
}

export interface AttachedVolume {
  readonly volumeId: string;
  readonly device: string;
}

export interface InstanceInfo {
  readonly instanceId: string;
  readonly region: string;
  readonly availabilityZone: string;
  /** pending | running | stopping | stopped | shutting-down | terminated */
  readonly state: string;
  readonly instanceType: string;
  readonly imageId: string;
  readonly vpcId?: string;
  readonly subnetId?: string;
  readonly privateIp?: string;
  readonly publicIp?: string;
  readonly keyName?: string;
  readonly launchTime?: string;
  readonly platform?: string;
  readonly instanceProfile?: { readonly arn: string; readonly associationId?: string };
  readonly tags: Readonly<Record<string, string>>;
  readonly interfaces: readonly NetworkInterfaceInfo[];
  readonly volumes: readonly AttachedVolume[];
}

export interface PermissionRule {
  readonly protocol: string;
  readonly fromPort?: number;
  readonly toPort?: number;
  /** CIDR, `sg-...` or `pl-...`. */
  readonly peer: string;
}

export interface GroupDetail extends GroupRef {
  readonly vpcId: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly ingress: readonly PermissionRule[];
  readonly egress: readonly PermissionRule[];
}

export interface VolumeInfo {
  readonly volumeId: string;
  readonly availabilityZone: string;
  readonly sizeGiB: number;
  readonly state: string;
  readonly encrypted: boolean;
  readonly kmsKeyId?: string;
  readonly snapshotId?: string;
  readonly volumeType?: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly attachments: readonly {
    readonly instanceId: string;
    readonly device: string;
    readonly state: string;
  }[];
}

export interface SnapshotInfo {
  readonly snapshotId: string;
  readonly volumeId: string;
  /** pending | completed | error | recoverable | recovering */
  readonly state: string;
  /** `"42%"` as EC2 reports it. */
  readonly progress: string;
  readonly startTime?: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface FlowLogInfo {
  readonly flowLogId: string;
  readonly resourceId: string;
  readonly trafficType: string;
  readonly status: string;
  readonly destinationType: string;
  readonly destination?: string;
  readonly logGroupName?: string;
  readonly logFormat?: string;
}

export interface TrailEvent {
  readonly eventId: string;
  readonly eventName: string;
  readonly eventTime: string;
  readonly eventSource?: string;
  readonly username?: string;
  readonly readOnly?: boolean;
}

export interface ProfilePolicies {
  readonly profileArn: string;
  readonly roles: readonly {
    readonly roleName: string;
    readonly attached: readonly string[];
    readonly inline: readonly string[];
  }[];
}

export interface ManagedInstance {
  readonly pingStatus: string;
  readonly platformName?: string;
  readonly agentVersion?: string;
}

export interface CommandInfo {
  readonly commandId: string;
  readonly comment: string;
  /** Pending | InProgress | Success | Cancelled | Failed | TimedOut | Cancelling */
  readonly status: string;
  readonly stdout?: string;
  readonly stderr?: string;
}

/** Mutating calls are marked: the crash tests count and interrupt exactly these. */
export interface ResponderPort {
  identity(
    region: string,
  ): Promise<{ readonly account: string; readonly arn: string; readonly partition: string }>;
  instance(region: string, instanceId: string): Promise<InstanceInfo | undefined>;
  /** Instances with `ops-rig:role=forensic` or an id; used for rigs. */
  volumes(region: string, volumeIds: readonly string[]): Promise<VolumeInfo[]>;
  /** Volumes carrying every one of these tags. */
  volumesTagged(region: string, tags: Readonly<Record<string, string>>): Promise<VolumeInfo[]>;
  groups(region: string, groupIds: readonly string[]): Promise<GroupDetail[]>;
  /** ops-rig's own group of a purpose (`quarantine`, `ssh-route`) in a VPC, by its tags. */
  managedGroup(
    region: string,
    vpcId: string,
    purpose: "quarantine" | "ssh-route",
  ): Promise<GroupRef | undefined>;
  flowLogs(region: string, resourceIds: readonly string[]): Promise<FlowLogInfo[]>;
  trailEvents(region: string, instanceId: string, since: Date, limit: number): Promise<TrailEvent[]>;
  profilePolicies(profileArn: string): Promise<ProfilePolicies | undefined>;
  snapshotsTagged(region: string, tags: Readonly<Record<string, string>>): Promise<SnapshotInfo[]>;
  snapshot(region: string, snapshotId: string): Promise<SnapshotInfo | undefined>;
  memoryMiB(region: string, instanceType: string): Promise<number | undefined>;
  managedInstance(region: string, instanceId: string): Promise<ManagedInstance | undefined>;
  /** Commands sent to the instance whose comment is exactly this. */
  commandsWithComment(region: string, instanceId: string, comment: string): Promise<CommandInfo[]>;

  // --- mutating ---
  tag(region: string, resourceIds: readonly string[], tags: Readonly<Record<string, string>>): Promise<void>;
  untag(region: string, resourceIds: readonly string[], keys: readonly string[]): Promise<void>;
  setInterfaceGroups(region: string, interfaceId: string, groupIds: readonly string[]): Promise<void>;
  disassociateProfile(region: string, associationId: string): Promise<void>;
  associateProfile(region: string, instanceId: string, profileArn: string): Promise<void>;
  /** Tagged at creation (TagSpecifications), so a snapshot never exists without its case. */
  createSnapshot(
    region: string,
    input: {
      readonly volumeId: string;
      readonly description: string;
      readonly tags: Readonly<Record<string, string>>;
    },
  ): Promise<SnapshotInfo>;
  /** Idempotent by `clientToken` (EC2 returns the same volume for the same token). */
  createVolume(
    region: string,
    input: {
      readonly snapshotId: string;
      readonly availabilityZone: string;
      readonly clientToken: string;
      readonly tags: Readonly<Record<string, string>>;
    },
  ): Promise<VolumeInfo>;
  attachVolume(region: string, volumeId: string, instanceId: string, device: string): Promise<void>;
  terminate(region: string, instanceId: string): Promise<void>;
  sendCommand(
    region: string,
    input: {
      readonly instanceId: string;
      readonly comment: string;
      readonly commands: readonly string[];
      readonly timeoutSeconds: number;
    },
  ): Promise<string>;
  putObject(
    region: string,
    input: {
      readonly bucket: string;
      readonly key: string;
      readonly body: string;
      readonly contentType: string;
    },
  ): Promise<void>;
  /** CreateMultipartUpload: the upload a capture streams into. */
  createUpload(region: string, input: { readonly bucket: string; readonly key: string }): Promise<string>;
  /** Presigned UploadPart URLs (parts 1..n) valid for `expiresSeconds`. Signs locally, calls nothing. */
  presignParts(
    region: string,
    input: {
      readonly bucket: string;
      readonly key: string;
      readonly uploadId: string;
      readonly parts: number;
      readonly expiresSeconds: number;
    },
  ): Promise<string[]>;
  /**
   * CompleteMultipartUpload with the parts the target reported (the bucket lets nobody but the
   * analyst list parts). Returns false when the upload is gone: completed by an earlier run.
   */
  completeUpload(
    region: string,
    input: {
      readonly bucket: string;
      readonly key: string;
      readonly uploadId: string;
      readonly parts: readonly { readonly partNumber: number; readonly etag: string }[];
    },
  ): Promise<boolean>;
  publish(topicArn: string, subject: string, message: string): Promise<void>;
}

/** The names of the mutating calls (crash injection, "nothing done twice" checks). */
export const MUTATING_CALLS = [
  "tag",
  "untag",
  "setInterfaceGroups",
  "disassociateProfile",
  "associateProfile",
  "createSnapshot",
  "createVolume",
  "attachVolume",
  "terminate",
  "sendCommand",
  "putObject",
  "createUpload",
  "completeUpload",
  "publish",
] as const satisfies readonly (keyof ResponderPort)[];
