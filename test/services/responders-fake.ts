import { AwsCallError } from "../../src/errors.js";
import {
  type CommandInfo,
  type GroupDetail,
  type InstanceInfo,
  MUTATING_CALLS,
  type ResponderPort,
  type SnapshotInfo,
  type VolumeInfo,
} from "../../src/services/responders/index.js";

/**
 * An in-memory account for the responder services, with EC2's semantics that matter to them:
 * CreateVolume's client token returns the same volume, snapshots move pending → completed on the
 * test's clock, Run Command ends when the test says so. `crashAfter(n)` makes the n-th mutating call
 * take effect and then throw, like a process killed right after AWS answered.
 */
export class FakeResponderAws {
  readonly arn: string;
  /** `account`: a member account's fake for the commands across accounts (default: the caller's). */
  constructor(readonly account = "123456789012") {
    this.arn = `arn:aws:sts::${account}:assumed-role/responder/alice`;
  }
  readonly instances = new Map<string, InstanceInfo & { tags: Record<string, string> }>();
  readonly volumeMap = new Map<string, VolumeInfo & { tags: Record<string, string> }>();
  readonly groupMap = new Map<string, GroupDetail>();
  readonly snapshots = new Map<string, SnapshotInfo>();
  readonly tokens = new Map<string, string>();
  readonly commands: (CommandInfo & { instanceId: string; commands: readonly string[] })[] = [];
  readonly objects = new Map<string, string>();
  readonly uploads = new Map<string, { key: string; completed: boolean }>();
  readonly published: { topic: string; message: string }[] = [];
  readonly calls: { name: string; args: unknown[] }[] = [];
  /** Run Command result for the next command that finishes. */
  commandOutcome: "Success" | "Failed" = "Success";
  private crashAt = 0;
  private mutations = 0;
  private seq = 0;
  private uploadSeq = 0;

  id(prefix: string): string {
    this.seq++;
    return `${prefix}-${this.seq.toString(16).padStart(17, "0")}`;
  }

  /** The n-th mutating call from now (1 = the next) completes and then throws. 0 = never. */
  crashAfter(n: number): void {
    this.crashAt = n;
    this.mutations = 0;
  }

  mutatingCalls(): { name: string; args: unknown[] }[] {
    return this.calls.filter((c) => (MUTATING_CALLS as readonly string[]).includes(c.name));
  }

  addGroup(vpcId: string, name: string, tags: Record<string, string> = {}): string {
    const groupId = this.id("sg");
    this.groupMap.set(groupId, { groupId, name, vpcId, tags, ingress: [], egress: [] });
    return groupId;
  }

  addInstance(init: {
    vpcId: string;
    groups: string[];
    volumes: number;
    tags?: Record<string, string>;
    profile?: string;
    az?: string;
  }): string {
    const instanceId = this.id("i");
    const az = init.az ?? "eu-west-1a";
    const volumes = Array.from({ length: init.volumes }, (_, i) => {
      const volumeId = this.id("vol");
      const device = i === 0 ? "/dev/xvda" : `/dev/sd${"fgh"[i - 1]}`;
      this.volumeMap.set(volumeId, {
        volumeId,
        availabilityZone: az,
        sizeGiB: 8,
        state: "in-use",
        encrypted: true,
        tags: { app: "web" },
        attachments: [{ instanceId, device, state: "attached" }],
      });
      return { volumeId, device };
    });
    const interfaceId = this.id("eni");
    this.instances.set(instanceId, {
      instanceId,
      region: "eu-west-1",
      availabilityZone: az,
      state: "running",
      instanceType: "t3.medium",
      imageId: "ami-0123456789abcdef0",
      vpcId: init.vpcId,
      subnetId: "subnet-0aaa",
      privateIp: "10.0.0.10",
      ...(init.profile
        ? { instanceProfile: { arn: init.profile, associationId: this.id("iip-assoc") } }
        : {}),
      tags: { ...(init.tags ?? {}) },
      interfaces: [
        {
          interfaceId,
          subnetId: "subnet-0aaa",
          vpcId: init.vpcId,
          privateIp: "10.0.0.10",
          groups: init.groups.map((g) => ({ groupId: g, name: this.groupMap.get(g)?.name ?? g })),
          tags: {},
        },
      ],
      volumes,
    });
    return instanceId;
  }

  /** Every snapshot completes; every pending command finishes. */
  settle(): void {
    for (const [id, s] of this.snapshots)
      this.snapshots.set(id, { ...s, state: "completed", progress: "100%" });
    for (const c of this.commands) if (c.status === "Pending" || c.status === "InProgress") this.finish(c);
  }

  private finish(c: CommandInfo & { commands: readonly string[]; status: string; stdout?: string }): void {
    const upload = /upload_id='([^']+)'/.exec(c.commands.join("\n"))?.[1] ?? "";
    Object.assign(c, {
      status: this.commandOutcome,
      stdout:
        this.commandOutcome === "Success"
          ? `OPS_RIG_KERNEL=6.8.0-1015-aws\nOPS_RIG_PART=1 "etag-1"\nOPS_RIG_PART=2 "etag-2"\nOPS_RIG_UPLOAD_ID=${upload}\nOPS_RIG_PARTS=2\nOPS_RIG_BYTES=4362076160\nOPS_RIG_SHA256=${"ab".repeat(32)}\n`
          : "",
      stderr: this.commandOutcome === "Success" ? "" : "insmod: ERROR: could not insert module",
    });
  }

  private interfaceOf(interfaceId: string) {
    for (const i of this.instances.values()) {
      const eni = i.interfaces.find((e) => e.interfaceId === interfaceId);
      if (eni) return { instance: i, eni };
    }
    throw new AwsCallError({
      service: "ec2",
      operation: "ModifyNetworkInterfaceAttribute",
      region: "eu-west-1",
      awsCode: "InvalidNetworkInterfaceID.NotFound",
      message: interfaceId,
    });
  }

  private tagsOf(id: string): Record<string, string> {
    const instance = this.instances.get(id);
    if (instance) return instance.tags;
    const volume = this.volumeMap.get(id);
    if (volume) return volume.tags;
    if (id.startsWith("eni-")) return this.interfaceOf(id).eni.tags as Record<string, string>;
    const snap = this.snapshots.get(id);
    if (snap) return snap.tags as Record<string, string>;
    throw new AwsCallError({
      service: "ec2",
      operation: "CreateTags",
      region: "eu-west-1",
      awsCode: "InvalidID",
      message: id,
    });
  }

  private refreshAttachments(): void {
    for (const i of this.instances.values()) {
      (i as { volumes: unknown }).volumes = [...this.volumeMap.values()].flatMap((v) =>
        v.attachments
          .filter((a) => a.instanceId === i.instanceId)
          .map((a) => ({ volumeId: v.volumeId, device: a.device })),
      );
    }
  }

  readonly port: ResponderPort = this.wrap({
    identity: async () => ({ account: this.account, arn: this.arn, partition: "aws" }),
    instance: async (_r, id) => structuredClone(this.instances.get(id)),
    volumes: async (_r, ids) =>
      ids.flatMap((id) =>
        this.volumeMap.get(id) ? [structuredClone(this.volumeMap.get(id) as VolumeInfo)] : [],
      ),
    volumesTagged: async (_r, tags) =>
      [...this.volumeMap.values()]
        .filter((v) => Object.entries(tags).every(([k, val]) => v.tags[k] === val))
        .map((v) => structuredClone(v)),
    groups: async (_r, ids) =>
      ids.flatMap((id) =>
        this.groupMap.get(id) ? [structuredClone(this.groupMap.get(id) as GroupDetail)] : [],
      ),
    managedGroup: async (_r, vpcId, purpose) => {
      const g = [...this.groupMap.values()].find(
        (g) =>
          g.vpcId === vpcId &&
          g.tags["ops-rig:purpose"] === purpose &&
          g.tags["ops-rig:managed-by"] === "ops-rig",
      );
      return g ? { groupId: g.groupId, name: g.name } : undefined;
    },
    flowLogs: async (_r, ids) =>
      ids.includes("vpc-1")
        ? [
            {
              flowLogId: "fl-1",
              resourceId: "vpc-1",
              trafficType: "ALL",
              status: "ACTIVE",
              destinationType: "cloud-watch-logs",
              logGroupName: "/vpc/flow",
            },
          ]
        : [],
    trailEvents: async (_r, id) =>
      [
        {
          eventId: "e1",
          eventName: "RunInstances",
          eventTime: "2026-11-29T10:00:00.000Z",
          eventSource: "ec2.amazonaws.com",
          username: "deploy",
          readOnly: false,
          resource: id,
        },
      ].map(({ resource: _, ...e }) => e),
    profilePolicies: async (arn) => ({
      profileArn: arn,
      roles: [{ roleName: "web", attached: ["AmazonS3ReadOnlyAccess"], inline: ["app"] }],
    }),
    snapshotsTagged: async (_r, tags) =>
      [...this.snapshots.values()]
        .filter((s) => Object.entries(tags).every(([k, v]) => s.tags[k] === v))
        .map((s) => structuredClone(s)),
    snapshot: async (_r, id) => structuredClone(this.snapshots.get(id)),
    memoryMiB: async () => 4096,
    managedInstance: async (_r, id) =>
      this.instances.get(id)?.tags.ssm === "no"
        ? undefined
        : { pingStatus: "Online", platformName: "Ubuntu" },
    commandsWithComment: async (_r, id, comment) =>
      this.commands
        .filter((c) => c.instanceId === id && c.comment === comment)
        .map(({ instanceId: _, commands: __, ...c }) => ({ ...c })),
    tag: async (_r, ids, tags) => {
      for (const id of ids) Object.assign(this.tagsOf(id), tags);
    },
    untag: async (_r, ids, keys) => {
      for (const id of ids) {
        const t = this.tagsOf(id);
        for (const k of keys) delete t[k];
      }
    },
    setInterfaceGroups: async (_r, interfaceId, groupIds) => {
      const { eni } = this.interfaceOf(interfaceId);
      (eni as { groups: unknown }).groups = groupIds.map((g) => ({
        groupId: g,
        name: this.groupMap.get(g)?.name ?? g,
      }));
    },
    disassociateProfile: async (_r, associationId) => {
      for (const i of this.instances.values())
        if (i.instanceProfile?.associationId === associationId)
          delete (i as { instanceProfile?: unknown }).instanceProfile;
    },
    associateProfile: async (_r, instanceId, arn) => {
      const i = this.instances.get(instanceId);
      if (!i) throw new Error(instanceId);
      if (i.instanceProfile)
        throw new AwsCallError({
          service: "ec2",
          operation: "AssociateIamInstanceProfile",
          region: "eu-west-1",
          awsCode: "IncorrectState",
          message: "already associated",
        });
      (i as { instanceProfile?: unknown }).instanceProfile = { arn, associationId: this.id("iip-assoc") };
    },
    createSnapshot: async (_r, input) => {
      const snapshotId = this.id("snap");
      const snap = {
        snapshotId,
        volumeId: input.volumeId,
        state: "pending",
        progress: "0%",
        startTime: `2026-11-29T12:00:${String(this.seq % 60).padStart(2, "0")}.000Z`,
        tags: { ...input.tags },
      };
      this.snapshots.set(snapshotId, snap);
      return structuredClone(snap);
    },
    createVolume: async (_r, input) => {
      const existing = this.tokens.get(input.clientToken);
      if (existing) return structuredClone(this.volumeMap.get(existing) as VolumeInfo);
      const volumeId = this.id("vol");
      this.tokens.set(input.clientToken, volumeId);
      const volume = {
        volumeId,
        availabilityZone: input.availabilityZone,
        sizeGiB: 8,
        state: "available",
        encrypted: true,
        snapshotId: input.snapshotId,
        tags: { ...input.tags },
        attachments: [],
      };
      this.volumeMap.set(volumeId, volume);
      return structuredClone(volume);
    },
    attachVolume: async (_r, volumeId, instanceId, device) => {
      const v = this.volumeMap.get(volumeId);
      if (!v || v.attachments.length > 0)
        throw new AwsCallError({
          service: "ec2",
          operation: "AttachVolume",
          region: "eu-west-1",
          awsCode: "VolumeInUse",
          message: volumeId,
        });
      (v as { attachments: unknown; state: string }).attachments = [
        { instanceId, device, state: "attached" },
      ];
      (v as { state: string }).state = "in-use";
      this.refreshAttachments();
    },
    terminate: async (_r, id) => {
      const i = this.instances.get(id);
      if (i) (i as { state: string }).state = "shutting-down";
    },
    sendCommand: async (_r, input) => {
      const commandId = this.id("cmd");
      this.commands.push({
        commandId,
        comment: input.comment,
        status: "Pending",
        instanceId: input.instanceId,
        commands: input.commands,
      });
      return commandId;
    },
    putObject: async (_r, input) => {
      this.objects.set(`${input.bucket}/${input.key}`, input.body);
    },
    createUpload: async (_r, input) => {
      // Own numbering: an abandoned upload (a crash before its id is tagged) shifts no other id.
      const uploadId = `upload-${++this.uploadSeq}`;
      this.uploads.set(uploadId, { key: input.key, completed: false });
      return uploadId;
    },
    presignParts: async (_r, input) =>
      Array.from(
        { length: input.parts },
        (_, i) =>
          `https://${input.bucket}.s3.amazonaws.com/${input.key}?partNumber=${i + 1}&uploadId=${input.uploadId}&X-Amz-Signature=x`,
      ),
    completeUpload: async (_r, input) => {
      const u = this.uploads.get(input.uploadId);
      if (!u || u.completed) return false;
      if (input.parts.length === 0) throw new Error("no parts");
      u.completed = true;
      this.objects.set(`${input.bucket}/${input.key}`, "<lime capture>");
      return true;
    },
    publish: async (topic, _s, message) => {
      this.published.push({ topic, message });
    },
  });

  private wrap(impl: ResponderPort): ResponderPort {
    const out = {} as Record<string, unknown>;
    for (const [name, fn] of Object.entries(impl) as [string, (...a: unknown[]) => Promise<unknown>][]) {
      out[name] = async (...args: unknown[]) => {
        this.calls.push({ name, args });
        const result = await fn(...args);
        if (
          (MUTATING_CALLS as readonly string[]).includes(name) &&
          this.crashAt > 0 &&
          ++this.mutations === this.crashAt
        ) {
          this.crashAt = 0;
          throw new Error(`injected crash after ${name}`);
        }
        // Snapshots finish while the service sleeps: the next read sees them done.
        return result;
      };
    }
    return out as unknown as ResponderPort;
  }
}
