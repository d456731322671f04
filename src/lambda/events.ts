// A namespace import, not `{ z }`: esbuild can then keep only the members used (not all of zod).
import * as z from "zod";
import { SLUG_PATTERN } from "../config/schema.js";
import { UsageError } from "../errors.js";
import type { Trigger } from "../pipeline/report.js";

/** What a Lambda invocation asks for, whatever delivered it. */
export interface RunRequest {
  readonly trigger: Trigger;
  readonly toolsets?: readonly string[];
  readonly force?: boolean;
  /** The Image Builder images whose state change triggered the run (for the log). */
  readonly images?: readonly {
    readonly arn: string;
    readonly status: string;
    readonly amis: readonly string[];
  }[];
}

/** What the handler does with an event: run, log and ignore it, or refuse it (a malformed manual request). */
export type ParsedEvent =
  | { readonly kind: "run"; readonly request: RunRequest }
  | { readonly kind: "ignored"; readonly reason: string }
  | { readonly kind: "refused"; readonly error: UsageError };

/** Who may trigger work: the deployment's build topic, and the deployment's own images. */
export interface EventScope {
  /** The build-completion topic (ARN, or a name in the home region of any account). */
  readonly buildTopic: string;
  readonly homeRegion: string;
  /** Image Builder image (recipe) names of ops-rig's lines → their toolset. */
  readonly images: ReadonlyMap<string, string>;
}

const schedule = z.object({ kind: z.enum(["nightly", "tick"]) });

const manual = z.strictObject({
  action: z.literal("bake"),
  toolsets: z
    .array(z.string().regex(SLUG_PATTERN, { message: "not a toolset name" }))
    .min(1, { message: "name at least one toolset, or leave toolsets out to bake every toolset" })
    .optional(),
  force: z.boolean().optional(),
});

/** An EventBridge rule's schedule, for a schedule created by hand. */
const scheduledEvent = z.object({
  source: z.literal("aws.events"),
  "detail-type": z.literal("Scheduled Event"),
});

/** AWS user guide, "EventBridge events that Image Builder sends": EC2 Image Builder Image State Change. */
const imageStateChange = z.object({
  source: z.literal("aws.imagebuilder"),
  "detail-type": z.literal("EC2 Image Builder Image State Change"),
  resources: z.array(z.string()).min(1),
  detail: z.object({ state: z.object({ status: z.string() }) }),
});

const snsRecords = z.object({
  Records: z
    .array(
      z.object({
        EventSource: z.literal("aws:sns"),
        Sns: z.object({ TopicArn: z.string(), Message: z.string() }),
      }),
    )
    .min(1),
});

/** Image Builder's completion message: the Image object as JSON (only the fields used here). */
const imageMessage = z.object({
  arn: z.string(),
  state: z.object({ status: z.string(), reason: z.string().optional() }),
  outputResources: z
    .object({
      amis: z.array(z.object({ region: z.string().optional(), image: z.string().optional() })).optional(),
    })
    .optional(),
});

/** Statuses that move a line: a finished build continues it, a failed one is reported. */
const ACTIONABLE = new Set(["AVAILABLE", "FAILED", "CANCELLED"]);

/**
 * Understands the schedules (`{"kind":"nightly"|"tick"}`, EventBridge's Scheduled Event), the manual
 * `{"action":"bake","toolsets"?:[...],"force"?:true}`, Image Builder's SNS completion messages and
 * EventBridge's Image State Change. Only the deployment's build topic and its own images trigger
 * work; anything else is ignored with a reason (never an error: a retry would not change it). A
 * malformed manual request is refused, never widened to "bake everything".
 */
export function parseEvent(event: unknown, scope: EventScope): ParsedEvent {
  if (typeof event !== "object" || event === null || Array.isArray(event))
    return { kind: "ignored", reason: "the event is not a JSON object" };
  const fields = event as Record<string, unknown>;

  const asSchedule = schedule.safeParse(event);
  if (asSchedule.success) return run({ trigger: asSchedule.data.kind });

  if ("action" in fields) {
    if (fields.action !== "bake")
      return { kind: "ignored", reason: `unknown action ${JSON.stringify(fields.action)}` };
    const asManual = manual.safeParse(event);
    if (!asManual.success) {
      const issue = asManual.error.issues[0];
      const path = issue?.path.join(".") || "event";
      return { kind: "refused", error: new UsageError(issue?.message ?? "invalid manual event", path) };
    }
    const { toolsets, force } = asManual.data;
    const unknown = toolsets?.filter((t) => ![...scope.images.values()].includes(t)) ?? [];
    if (unknown.length > 0)
      return {
        kind: "refused",
        error: new UsageError(
          `unknown toolset ${unknown.map((t) => JSON.stringify(t)).join(", ")} (known: ${[...new Set(scope.images.values())].sort().join(", ")})`,
          "toolsets",
        ),
      };
    return run({ trigger: "manual", ...(toolsets ? { toolsets } : {}), ...(force ? { force: true } : {}) });
  }

  if (scheduledEvent.safeParse(event).success) return run({ trigger: "tick" });

  const asStateChange = imageStateChange.safeParse(event);
  if (asStateChange.success) {
    const status = asStateChange.data.detail.state.status;
    const images = asStateChange.data.resources.flatMap((arn) => {
      const toolset = toolsetOfImage(arn, scope);
      return toolset ? [{ arn, status, amis: [], toolset }] : [];
    });
    return fromImages(images, "an EventBridge Image State Change");
  }

  const asSns = snsRecords.safeParse(event);
  if (asSns.success) {
    const images: ImageSeen[] = [];
    const skipped: string[] = [];
    for (const record of asSns.data.Records) {
      if (!topicMatches(record.Sns.TopicArn, scope)) {
        skipped.push(`a message from ${record.Sns.TopicArn}, not the build topic`);
        continue;
      }
      let parsed: z.infer<typeof imageMessage> | undefined;
      try {
        parsed = imageMessage.safeParse(JSON.parse(record.Sns.Message)).data;
      } catch {
        parsed = undefined;
      }
      if (!parsed) {
        skipped.push("a message that is not an Image Builder image");
        continue;
      }
      const toolset = toolsetOfImage(parsed.arn, scope);
      if (!toolset) {
        skipped.push(`image ${parsed.arn}, not one of ops-rig's`);
        continue;
      }
      images.push({
        arn: parsed.arn,
        status: parsed.state.status,
        // Every AMI of the build, not just the first.
        amis: (parsed.outputResources?.amis ?? []).map((a) => `${a.region ?? "?"}:${a.image ?? "?"}`),
        toolset,
      });
    }
    return fromImages(images, "an SNS notification", skipped);
  }

  return {
    kind: "ignored",
    reason: `not an event this function handles (${describeShape(fields)}); expected a schedule, {"action":"bake"}, or an Image Builder notification`,
  };
}

interface ImageSeen {
  readonly arn: string;
  readonly status: string;
  readonly amis: readonly string[];
  readonly toolset: string;
}

function run(request: RunRequest): ParsedEvent {
  return { kind: "run", request };
}

function fromImages(
  images: readonly ImageSeen[],
  what: string,
  skipped: readonly string[] = [],
): ParsedEvent {
  const relevant = images.filter((i) => ACTIONABLE.has(i.status));
  if (relevant.length === 0) {
    const reasons = [...skipped, ...images.map((i) => `image ${i.arn} is ${i.status}, which needs nothing`)];
    return {
      kind: "ignored",
      reason: `${what} with nothing to act on: ${reasons.join("; ") || "no images"}`,
    };
  }
  return run({
    trigger: "image-builder",
    toolsets: [...new Set(relevant.map((i) => i.toolset))].sort(),
    images: relevant.map(({ arn, status, amis }) => ({ arn, status, amis })),
  });
}

/** `arn:<partition>:imagebuilder:<home>:<account>:image/<name>/<version>/<build>` of one of our lines. */
function toolsetOfImage(arn: string, scope: EventScope): string | undefined {
  const match = /^arn:aws[a-z-]*:imagebuilder:([a-z0-9-]+):\d{12}:image\/([^/]+)\/[^/]+\/[^/]+$/.exec(arn);
  if (!match || match[1] !== scope.homeRegion) return undefined;
  return scope.images.get(match[2] ?? "");
}

function topicMatches(topicArn: string, scope: EventScope): boolean {
  if (scope.buildTopic.startsWith("arn:")) return topicArn === scope.buildTopic;
  const match = /^arn:aws[a-z-]*:sns:([a-z0-9-]+):\d{12}:(.+)$/.exec(topicArn);
  return match?.[1] === scope.homeRegion && match[2] === scope.buildTopic;
}

/** The top-level keys of an unknown event, for the log (never its values: they may be large or secret). */
function describeShape(fields: Record<string, unknown>): string {
  const keys = Object.keys(fields);
  return keys.length === 0 ? "an empty object" : `keys ${keys.slice(0, 8).join(", ")}`;
}
