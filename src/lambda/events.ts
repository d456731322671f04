import { SLUG_PATTERN } from "../config/patterns.js";
import { UsageError } from "../errors.js";
import type { Trigger } from "../pipeline/report.js";
import { typeName } from "../text/type-name.js";

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

// Hand-written guards, not a schema library: the pipeline Lambda ships without zod (issue 11, cold
// starts). The manual request's messages are the ones zod gave (test/unit/lambda/events.test.ts).

type Fields = Record<string, unknown>;

const isObject = (value: unknown): value is Fields =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const isString = (value: unknown): value is string => typeof value === "string";
/** An optional field: absent (or undefined) or of the type. */
const optional = <T>(value: unknown, guard: (v: unknown) => v is T): value is T | undefined =>
  value === undefined || guard(value);

/** `{"kind":"nightly"|"tick"}` (other keys allowed). */
function scheduleKind(fields: Fields): "nightly" | "tick" | undefined {
  return fields.kind === "nightly" || fields.kind === "tick" ? fields.kind : undefined;
}

const MANUAL_KEYS = new Set(["action", "toolsets", "force"]);

/** The manual request `{"action":"bake","toolsets"?:[...],"force"?:boolean}`, strictly: its first problem names the field. */
function parseManual(
  fields: Fields,
):
  | { readonly toolsets?: string[]; readonly force?: boolean }
  | { readonly problem: string; readonly path: string } {
  const { toolsets, force } = fields;
  if (toolsets !== undefined) {
    if (!Array.isArray(toolsets))
      return { path: "toolsets", problem: `Invalid input: expected array, received ${typeName(toolsets)}` };
    for (const [index, name] of toolsets.entries()) {
      if (!isString(name))
        return {
          path: `toolsets.${index}`,
          problem: `Invalid input: expected string, received ${typeName(name)}`,
        };
      if (!SLUG_PATTERN.test(name)) return { path: `toolsets.${index}`, problem: "not a toolset name" };
    }
    if (toolsets.length === 0)
      return {
        path: "toolsets",
        problem: "name at least one toolset, or leave toolsets out to bake every toolset",
      };
  }
  if (force !== undefined && typeof force !== "boolean")
    return { path: "force", problem: `Invalid input: expected boolean, received ${typeName(force)}` };
  const unknown = Object.keys(fields).filter((key) => !MANUAL_KEYS.has(key));
  if (unknown.length > 0)
    return {
      path: "event",
      problem: `Unrecognized key${unknown.length > 1 ? "s" : ""}: ${unknown.map((k) => JSON.stringify(k)).join(", ")}`,
    };
  return {
    ...(toolsets !== undefined ? { toolsets: toolsets as string[] } : {}),
    ...(force !== undefined ? { force } : {}),
  };
}

/** An EventBridge rule's schedule, for a schedule created by hand. */
function isScheduledEvent(fields: Fields): boolean {
  return fields.source === "aws.events" && fields["detail-type"] === "Scheduled Event";
}

/** AWS user guide, "EventBridge events that Image Builder sends": EC2 Image Builder Image State Change. */
function imageStateChange(
  fields: Fields,
): { readonly resources: string[]; readonly status: string } | undefined {
  if (
    fields.source !== "aws.imagebuilder" ||
    fields["detail-type"] !== "EC2 Image Builder Image State Change"
  )
    return undefined;
  const { resources, detail } = fields;
  if (!Array.isArray(resources) || resources.length === 0 || !resources.every(isString)) return undefined;
  const state = isObject(detail) ? detail.state : undefined;
  if (!isObject(state) || !isString(state.status)) return undefined;
  return { resources, status: state.status };
}

interface SnsRecord {
  readonly Sns: { readonly TopicArn: string; readonly Message: string };
}

/** Lambda's SNS event: every record an SNS message with its topic and text. */
function snsRecords(fields: Fields): readonly SnsRecord[] | undefined {
  const records = fields.Records;
  if (!Array.isArray(records) || records.length === 0) return undefined;
  const valid = records.every(
    (r) =>
      isObject(r) &&
      r.EventSource === "aws:sns" &&
      isObject(r.Sns) &&
      isString(r.Sns.TopicArn) &&
      isString(r.Sns.Message),
  );
  return valid ? (records as SnsRecord[]) : undefined;
}

/** Image Builder's completion message: the Image object as JSON (only the fields used here). */
interface ImageMessage {
  readonly arn: string;
  readonly status: string;
  readonly amis: readonly { readonly region?: string; readonly image?: string }[];
}

function imageMessage(value: unknown): ImageMessage | undefined {
  if (!isObject(value) || !isString(value.arn)) return undefined;
  const { state, outputResources } = value;
  if (!isObject(state) || !isString(state.status) || !optional(state.reason, isString)) return undefined;
  if (!optional(outputResources, isObject)) return undefined;
  const amis = outputResources?.amis;
  if (
    !optional(amis, Array.isArray) ||
    !(amis ?? []).every((a) => isObject(a) && optional(a.region, isString) && optional(a.image, isString))
  )
    return undefined;
  return {
    arn: value.arn,
    status: state.status,
    amis: (amis ?? []) as { region?: string; image?: string }[],
  };
}

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

  const kind = scheduleKind(fields);
  if (kind) return run({ trigger: kind });

  if ("action" in fields) {
    if (fields.action !== "bake")
      return { kind: "ignored", reason: `unknown action ${JSON.stringify(fields.action)}` };
    const manual = parseManual(fields);
    if ("problem" in manual) return { kind: "refused", error: new UsageError(manual.problem, manual.path) };
    const { toolsets, force } = manual;
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

  if (isScheduledEvent(fields)) return run({ trigger: "tick" });

  const stateChange = imageStateChange(fields);
  if (stateChange) {
    const { status } = stateChange;
    const images = stateChange.resources.flatMap((arn) => {
      const toolset = toolsetOfImage(arn, scope);
      return toolset ? [{ arn, status, amis: [], toolset }] : [];
    });
    return fromImages(images, "an EventBridge Image State Change");
  }

  const records = snsRecords(fields);
  if (records) {
    const images: ImageSeen[] = [];
    const skipped: string[] = [];
    for (const record of records) {
      if (!topicMatches(record.Sns.TopicArn, scope)) {
        skipped.push(`a message from ${record.Sns.TopicArn}, not the build topic`);
        continue;
      }
      let parsed: ImageMessage | undefined;
      try {
        parsed = imageMessage(JSON.parse(record.Sns.Message));
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
        status: parsed.status,
        // Every AMI of the build, not just the first.
        amis: parsed.amis.map((a) => `${a.region ?? "?"}:${a.image ?? "?"}`),
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
