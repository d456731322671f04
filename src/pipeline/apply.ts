import type { PipelineSettings, Toolset } from "../config/types.js";
import { asOpsRigError, InvariantError, type OpsRigError } from "../errors.js";
import type { ServiceEvents } from "../events.js";
import { buildClientToken, copyClientToken, shortFingerprint } from "../plan/fingerprint.js";
import { lineTags, TAG } from "../plan/index.js";
import type { Action } from "../plan/types.js";
import type { RenderedComponent } from "../render/index.js";
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
  readonly pipeline: PipelineSettings;
  readonly toolsets: readonly Toolset[];
  readonly components: ReadonlyMap<string, RenderedComponent>;
  readonly resources: ImageBuilderResources;
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  readonly events: ServiceEvents;
  readonly signal?: AbortSignal;
}

/** Actions running at once overall; copies are further bounded per destination region. */
const CONCURRENCY = 4;

/** Actions that call AWS; the others only say where a line stands. */
type PerformedAction = Exclude<Action, { kind: "wait" | "skip" | "notify" }>;

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
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
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
    default: {
      // A new action kind must be handled here: this line stops compiling until it is.
      const unhandled: never = action;
      throw new InvariantError(`no way to apply action ${JSON.stringify(unhandled)}`);
    }
  }
}
