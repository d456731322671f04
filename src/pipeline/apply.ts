import type { PipelineData, ToolsetData } from "../config/types.js";
import { asOpsRigError, InvariantError, type OpsRigError, UsageError } from "../errors.js";
import type { ServiceEvents } from "../events.js";
import {
  buildClientToken,
  copyClientToken,
  shareClientToken,
  shortFingerprint,
} from "../plan/fingerprint.js";
import { lineTags, TAG } from "../plan/index.js";
import type { Action } from "../plan/types.js";
import type { PipelineComponent } from "../render/index.js";
import type { ImageBuilderResources } from "./imagebuilder-resources.js";
import type { PipelinePorts } from "./ports.js";
import { pipelineDescription, publishImage } from "./publish.js";

/** What happened to one action. A failure keeps its error object; it becomes text only in reports. */
export type ActionOutcome =
  | { readonly action: Action; readonly status: "done"; readonly result: string; readonly ms: number }
  | { readonly action: Action; readonly status: "failed"; readonly error: OpsRigError; readonly ms: number }
  | { readonly action: Action; readonly status: "waiting"; readonly ms: number }
  | { readonly action: Action; readonly status: "skipped"; readonly note?: string; readonly ms: number };

export type OutcomeStatus = ActionOutcome["status"];

export interface ApplyContext {
  readonly ports: PipelinePorts;
  readonly pipeline: PipelineData;
  readonly toolsets: readonly ToolsetData[];
  readonly components: ReadonlyMap<string, PipelineComponent>;
  readonly resources: ImageBuilderResources;
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  readonly events: ServiceEvents;
  readonly signal?: AbortSignal;
  /** Actions in flight at once over all regions and services (default `DEFAULT_CONCURRENCY`). */
  readonly concurrency?: number;
}

/**
 * Actions in flight at once overall. Each action's AWS calls are few and short, and each region and
 * service has its own lane below, so the overall bound is about sockets and memory, not AWS's limits.
 */
export const DEFAULT_CONCURRENCY = 64;
/**
 * Per-service lanes. Image Builder throttles early (a handful of creates per second per account);
 * SSM's PutParameter is limited per region and account (a few TPS standard); the other EC2 calls
 * (tags, deprecation, deregistration) have higher mutating rate buckets. Copies use the pipeline's
 * `copy.concurrencyPerRegion` (AWS limits concurrent copies into a region). Adaptive retries absorb
 * the occasional throttle; the lanes keep a 17-region fleet from causing a storm of them.
 */
export const LANES = { builds: 4, publishesPerRegion: 4, ec2PerRegion: 8 } as const;

/** Most actions a run may have in flight (sockets and memory; AWS's limits are the lanes'). */
export const MAX_CONCURRENCY = 1024;

/**
 * `--concurrency` or `OPS_RIG_CONCURRENCY`: a whole number from 1 to MAX_CONCURRENCY; undefined
 * when not given. A bad value is a usage error naming where it came from.
 */
export function parseConcurrency(value: string | undefined, source: string): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const n = /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_CONCURRENCY)
    throw new UsageError(`"${value}" is not a whole number from 1 to ${MAX_CONCURRENCY}`, source);
  return n;
}

/** Actions that call AWS; the others only say where a line stands. */
type PerformedAction = Exclude<Action, { kind: "wait" | "skip" | "notify" }>;

/** Which lane an action waits in, and how wide that lane is. */
export function laneOf(action: Action, pipeline: PipelineData): { key: string; size: number } | undefined {
  switch (action.kind) {
    case "build":
      return { key: "imagebuilder", size: LANES.builds };
    case "copy":
      return { key: `copy:${action.region}`, size: pipeline.copy.concurrencyPerRegion };
    case "publish":
      return { key: `ssm:${action.region}`, size: LANES.publishesPerRegion };
    case "tag":
    case "deprecate":
    case "deregister":
    case "share":
      return { key: `ec2:${action.region}`, size: LANES.ec2PerRegion };
    case "share-region":
      return { key: `ssm:${action.region}`, size: LANES.publishesPerRegion };
    default:
      return undefined;
  }
}

/**
 * Applies the plan: every region and service in its own lane, all lanes at once under one overall
 * bound. A failed action is recorded and the others go on: one broken region never holds the rest
 * back. `notify` actions are left to the report (the message is sent first, then the builds are
 * marked as notified).
 */
export async function apply(ctx: ApplyContext, actions: readonly Action[]): Promise<ActionOutcome[]> {
  const overall = new Semaphore(Math.max(1, ctx.concurrency ?? DEFAULT_CONCURRENCY));
  const lanes = new Map<string, Semaphore>();
  const laneFor = (action: Action) => {
    const lane = laneOf(action, ctx.pipeline);
    if (!lane) return undefined;
    let semaphore = lanes.get(lane.key);
    if (!semaphore) {
      semaphore = new Semaphore(lane.size);
      lanes.set(lane.key, semaphore);
    }
    return semaphore;
  };
  return Promise.all(
    actions.map((action) => {
      const lane = laneFor(action);
      // The lane first, then an overall slot: a slot is never held by an action waiting on its lane.
      const run = () => overall.run(() => runOne(ctx, action));
      return lane ? lane.run(run) : runOne(ctx, action);
    }),
  );
}

/** At most `size` tasks at once; the others wait in order. */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly size: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter (no gap another caller could jump into).
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

async function runOne(ctx: ApplyContext, action: Action): Promise<ActionOutcome> {
  if (action.kind === "wait") return { action, status: "waiting", ms: 0 };
  if (action.kind === "skip" || action.kind === "notify") return { action, status: "skipped", ms: 0 };
  if (ctx.signal?.aborted)
    return { action, status: "skipped", note: "interrupted before this action", ms: 0 };
  const started = Date.now();
  ctx.events({ type: "action-started", action });
  try {
    const result = await perform(ctx, action);
    ctx.events({ type: "action-done", action, result });
    return { action, status: "done", result, ms: Date.now() - started };
  } catch (thrown) {
    const error = asOpsRigError(thrown);
    ctx.events({ type: "action-failed", action, error });
    return { action, status: "failed", error, ms: Date.now() - started };
  }
}

async function perform(ctx: ApplyContext, action: PerformedAction): Promise<string> {
  const { ports } = ctx;
  switch (action.kind) {
    case "build": {
      const toolset = ctx.toolsets.find((t) => t.name === action.line.toolset);
      if (!toolset)
        throw new InvariantError(`planned a build of toolset ${action.line.toolset}, which is not selected`);
      const [recipeArn, infrastructureArn, distributionArn] = await Promise.all([
        ctx.resources.recipe(action.recipe, ctx.components),
        ctx.resources.infrastructure(toolset, action.line.arch),
        ctx.resources.distribution(action.line),
      ]);
      const arn = await ports.imageBuilder.createImage({
        recipeArn,
        infrastructureArn,
        distributionArn,
        tags: {
          ...lineTags(action.line),
          [TAG.fingerprint]: action.fingerprint,
          [TAG.content]: action.content,
          [TAG.baseAmi]: action.baseImage.imageId,
        },
        // Same fingerprint and attempt → same token: a re-run never starts a second build.
        clientToken: buildClientToken(action.fingerprint, action.attempt),
      });
      return `started ${arn} (fingerprint ${shortFingerprint(action.fingerprint)}, attempt ${action.attempt})`;
    }
    case "copy": {
      const imageId = await ports.ec2.copyImage(action.region, {
        sourceRegion: action.sourceRegion,
        sourceImageId: action.sourceImageId,
        name: action.name,
        description: `ops-rig ${action.line.toolset} ${action.line.base} ${action.line.arch}, copy of ${action.sourceImageId} from ${action.sourceRegion}`,
        clientToken: copyClientToken(action.fingerprint, action.region, action.attempt),
        tags: action.tags,
        ...(action.kmsKeyId ? { kmsKeyId: action.kmsKeyId } : {}),
      });
      if (action.replaces) await ports.ec2.deregisterImage(action.region, action.replaces);
      return `copy ${imageId} started${action.replaces ? `, failed copy ${action.replaces} deregistered` : ""}`;
    }
    case "tag":
      await ports.ec2.createTags(action.region, action.imageId, action.tags);
      return `tagged ${action.imageId}`;
    case "publish": {
      const published = await publishImage(ctx.ports, ctx.sleep, {
        region: action.region,
        imageId: action.imageId,
        parameters: action.parameters,
        tags: action.tags,
        label: action.label,
        description: pipelineDescription(action.line),
        ...(action.tier ? { tier: action.tier } : {}),
      });
      return `${action.imageId} → ${published
        .map((p) => `${p.name} v${p.version}${p.version !== p.reported ? ` (reported v${p.reported})` : ""}`)
        .join(", ")}`;
    }
    case "deprecate": {
      // DeprecateAt may not be in the past and has minute precision: the next whole minute.
      const at = new Date(Math.ceil((ctx.now().getTime() + 1000) / 60_000) * 60_000);
      await ports.ec2.enableImageDeprecation(action.region, action.imageId, at);
      return `${action.imageId} deprecated at ${at.toISOString()}`;
    }
    case "deregister":
      await ports.ec2.deregisterImage(action.region, action.imageId);
      return `${action.imageId} deregistered with its snapshots`;
    case "share":
      return shareImages(ctx, action);
    case "share-region":
      return shareRegion(ctx, action);
    default: {
      // A new action kind must be handled here: this line stops compiling until it is.
      const unhandled: never = action;
      throw new InvariantError(`no way to apply action ${JSON.stringify(unhandled)}`);
    }
  }
}

function sharePort(ctx: ApplyContext) {
  if (!ctx.ports.share) throw new InvariantError("planned sharing without a share port");
  return ctx.ports.share;
}

/**
 * Tag first (`ops-rig:shared`: from then on every run reads the AMI's permissions, so a crash after
 * the next call is still seen and unsharing finds it), then one ModifyImageAttribute per AMI.
 */
async function shareImages(ctx: ApplyContext, action: Extract<Action, { kind: "share" }>): Promise<string> {
  const share = sharePort(ctx);
  const done: string[] = [];
  for (const image of action.images) {
    if (image.tag)
      await ctx.ports.ec2.createTags(action.region, image.imageId, { [TAG.shared]: ctx.now().toISOString() });
    await share.modifyLaunchPermissions(action.region, image.imageId, image.add, image.remove);
    done.push(`${image.imageId} (+${image.add.length} -${image.remove.length})`);
  }
  return `launch permissions of ${done.join(", ")}`;
}

/**
 * Parameters are promoted to the advanced tier (same value) before they join the RAM share: only
 * advanced parameters can be shared. Then the share is created or its associations changed, each
 * call with a token derived from its content, so a re-run after a crash repeats it harmlessly.
 */
async function shareRegion(
  ctx: ApplyContext,
  action: Extract<Action, { kind: "share-region" }>,
): Promise<string> {
  const share = sharePort(ctx);
  const { region } = action;
  const done: string[] = [];
  const parameters = action.parameters;
  if (parameters) {
    for (const p of parameters.promote)
      await ctx.ports.ssm.putImageParameter(
        region,
        p.name,
        p.value,
        `${pipelineDescription(action.line).split(";")[0]}; advanced tier for sharing`,
        "Advanced",
      );
    if (!parameters.shareArn) {
      const arn = await share.createParameterShare(region, {
        name: parameters.name,
        principals: parameters.addPrincipals,
        resources: parameters.addResources,
        clientToken: shareClientToken(region, "create", [
          ...parameters.addPrincipals,
          ...parameters.addResources,
        ]),
      });
      done.push(`created ${arn}`);
    } else {
      const add = { principals: parameters.addPrincipals, resources: parameters.addResources };
      const remove = { principals: parameters.removePrincipals, resources: parameters.removeResources };
      if (add.principals.length || add.resources.length)
        await share.associateParameterShare(
          region,
          parameters.shareArn,
          add,
          shareClientToken(region, "associate", [...add.principals, ...add.resources]),
        );
      if (remove.principals.length || remove.resources.length)
        await share.disassociateParameterShare(
          region,
          parameters.shareArn,
          remove,
          shareClientToken(region, "disassociate", [...remove.principals, ...remove.resources]),
        );
      done.push(`updated ${parameters.shareArn}`);
    }
  }
  if (action.key) {
    for (const account of action.key.grantAccounts)
      await share.createKeyGrant(region, action.key.arn, account);
    for (const grant of action.key.revokeGrants)
      await share.revokeKeyGrant(region, action.key.arn, grant.grantId);
    done.push(`key grants +${action.key.grantAccounts.length} -${action.key.revokeGrants.length}`);
  }
  return done.join("; ");
}
