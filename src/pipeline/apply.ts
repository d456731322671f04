import type { PipelineSettings, Toolset } from "../config/types.js";
import { errorMessage } from "../errors.js";
import type { EventSink } from "../events.js";
import { buildClientToken, copyClientToken, shortFingerprint } from "../plan/fingerprint.js";
import { describeAction, lineTags, TAG } from "../plan/index.js";
import type { Action } from "../plan/types.js";
import type { RenderedComponent } from "../render/index.js";
import type { ImageBuilderResources } from "./imagebuilder-resources.js";
import type { PipelinePorts } from "./ports.js";

export type OutcomeStatus = "done" | "failed" | "waiting" | "skipped";

export interface ActionOutcome {
  readonly action: Action;
  readonly status: OutcomeStatus;
  /** What the action made or found (AMI id, build ARN, parameter version). */
  readonly result?: string;
  readonly error?: string;
  readonly ms: number;
}

export interface ApplyContext {
  readonly ports: PipelinePorts;
  readonly pipeline: PipelineSettings;
  readonly toolsets: readonly Toolset[];
  readonly components: ReadonlyMap<string, RenderedComponent>;
  readonly resources: ImageBuilderResources;
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  readonly events: EventSink;
  readonly signal?: AbortSignal;
  /** Actions running at once overall; copies are further bounded per destination region. */
  readonly concurrency?: number;
}

/** SSM keeps 100 versions; labels on the one that would drop make PutParameter fail. */
const SSM_HISTORY_LIMIT = 100;
/** Reads after PutParameter until SSM's asynchronous aws:ec2:image validation shows its result. */
const READ_BACK_ATTEMPTS = 4;
const READ_BACK_DELAY_MS = 1500;

/**
 * Applies the plan with bounded concurrency. A failed action is recorded and the others go on: one
 * broken region never holds the rest back. `notify` actions are left to the report (the message is
 * sent first, then the builds are marked as notified).
 */
export async function apply(ctx: ApplyContext, actions: readonly Action[]): Promise<ActionOutcome[]> {
  const outcomes: ActionOutcome[] = new Array(actions.length);
  const copySlots = new Map<string, Semaphore>();
  const slot = (region: string) => {
    let semaphore = copySlots.get(region);
    if (!semaphore) {
      semaphore = new Semaphore(ctx.pipeline.copy.concurrencyPerRegion);
      copySlots.set(region, semaphore);
    }
    return semaphore;
  };

  const queue = actions.map((action, index) => ({ action, index }));
  const worker = async () => {
    for (let item = queue.shift(); item; item = queue.shift()) {
      const { action, index } = item;
      // Copies are bounded per destination region: AWS limits concurrent copies there.
      outcomes[index] =
        action.kind === "copy"
          ? await slot(action.region).run(() => runOne(ctx, action))
          : await runOne(ctx, action);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, ctx.concurrency ?? 4) }, worker));
  return outcomes;
}

class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly size: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

async function runOne(ctx: ApplyContext, action: Action): Promise<ActionOutcome> {
  const started = Date.now();
  const subject = describeAction(action);
  if (action.kind === "wait") return { action, status: "waiting", ms: 0 };
  if (action.kind === "skip" || action.kind === "notify") return { action, status: "skipped", ms: 0 };
  if (ctx.signal?.aborted)
    return { action, status: "skipped", error: "run aborted before this action", ms: 0 };
  ctx.events({ type: "start", subject, message: action.reason });
  try {
    const result = await perform(ctx, action);
    ctx.events({ type: "done", subject, message: result });
    return { action, status: "done", result, ms: Date.now() - started };
  } catch (error) {
    const message = errorMessage(error);
    ctx.events({ type: "failed", subject, message });
    return { action, status: "failed", error: message, ms: Date.now() - started };
  }
}

async function perform(ctx: ApplyContext, action: Action): Promise<string> {
  const { ports } = ctx;
  switch (action.kind) {
    case "build": {
      const toolset = ctx.toolsets.find((t) => t.name === action.line.toolset);
      if (!toolset) throw new Error(`toolset ${action.line.toolset} is not configured`);
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
    case "publish":
      return publish(ctx, action);
    case "deprecate": {
      // DeprecateAt may not be in the past and has minute precision: the next whole minute.
      const at = new Date(Math.ceil((ctx.now().getTime() + 1000) / 60_000) * 60_000);
      await ports.ec2.enableImageDeprecation(action.region, action.imageId, at);
      return `${action.imageId} deprecated at ${at.toISOString()}`;
    }
    case "deregister":
      await ports.ec2.deregisterImage(action.region, action.imageId);
      return `${action.imageId} deregistered with its snapshots`;
    default:
      return "nothing to do";
  }
}

async function publish(ctx: ApplyContext, action: Extract<Action, { kind: "publish" }>): Promise<string> {
  const { ssm, ec2 } = ctx.ports;
  // The published tag first: if the run dies after it, the AMI is merely kept longer.
  if (Object.keys(action.tags).length > 0) await ec2.createTags(action.region, action.imageId, action.tags);
  const results: string[] = [];
  for (const parameter of action.parameters) {
    if (parameter.version !== undefined && parameter.version >= SSM_HISTORY_LIMIT - 1) {
      await releaseOldestLabels(ctx, action.region, parameter.name, parameter.version);
    }
    const reported = await ssm.putImageParameter(
      action.region,
      parameter.name,
      action.imageId,
      `ops-rig ${action.line.toolset} ${action.line.base} ${action.line.arch} (published by ops-rig)`,
    );
    // aws:ec2:image is validated asynchronously: a 200 is not proof. Read it back.
    let stored = await ssm.getParameter(action.region, parameter.name);
    for (let attempt = 1; attempt < READ_BACK_ATTEMPTS && stored?.value !== action.imageId; attempt++) {
      await ctx.sleep(READ_BACK_DELAY_MS);
      stored = await ssm.getParameter(action.region, parameter.name);
    }
    if (stored?.value !== action.imageId) {
      throw new Error(
        `SSM did not store ${action.imageId} in ${parameter.name} (it holds ${stored?.value ?? "nothing"}): the aws:ec2:image validation rejected it`,
      );
    }
    await ssm.labelParameterVersion(action.region, parameter.name, stored.version, [action.label]);
    results.push(
      `${parameter.name} v${stored.version}${stored.version !== reported ? ` (reported v${reported})` : ""}`,
    );
  }
  return `${action.imageId} → ${results.join(", ")}`;
}

/** Frees the version SSM is about to drop from its labels, or the next PutParameter fails. */
async function releaseOldestLabels(
  ctx: ApplyContext,
  region: string,
  name: string,
  version: number,
): Promise<void> {
  const history = await ctx.ports.ssm.getParameterHistory(region, name);
  const dropping = history.filter((h) => h.version <= version + 1 - SSM_HISTORY_LIMIT && h.labels.length > 0);
  for (const entry of dropping)
    await ctx.ports.ssm.unlabelParameterVersion(region, name, entry.version, entry.labels);
}
