import { UsageError } from "../errors.js";

/** What a Lambda invocation asks for, whatever delivered it. */
export interface RunRequest {
  readonly trigger: "nightly" | "tick" | "manual" | "image-builder";
  readonly toolsets?: readonly string[];
  readonly force?: boolean;
  /** Image Builder notifications that triggered the run (for the log). */
  readonly images?: readonly {
    readonly arn: string;
    readonly status: string;
    readonly amis: readonly string[];
  }[];
}

interface SnsRecord {
  EventSource?: string;
  Sns?: { Message?: string; TopicArn?: string };
}

/**
 * Understands the schedule's `{"kind":"nightly"|"tick"}`, the manual `{"action":"bake",
 * "toolsets"?:[...],"force"?:true}` and Image Builder's SNS completion messages. Returns undefined
 * when there is nothing to do (every notification was for a status that needs no action).
 */
export function parseEvent(event: unknown): RunRequest | undefined {
  if (typeof event !== "object" || event === null) throw new UsageError("event must be a JSON object");
  const e = event as Record<string, unknown>;
  if (Array.isArray(e.Records)) return parseSns(e.Records as SnsRecord[]);
  if (e.kind === "nightly" || e.kind === "tick") return { trigger: e.kind };
  if (e.action === "bake") {
    const toolsets = e.toolsets;
    if (
      toolsets !== undefined &&
      !(Array.isArray(toolsets) && toolsets.every((t) => typeof t === "string"))
    ) {
      throw new UsageError("toolsets must be a list of toolset names", "toolsets");
    }
    if (e.force !== undefined && typeof e.force !== "boolean")
      throw new UsageError("force must be true or false", "force");
    return {
      trigger: "manual",
      ...(toolsets ? { toolsets: toolsets as string[] } : {}),
      ...(e.force ? { force: true } : {}),
    };
  }
  // EventBridge's scheduled event shape without input, for a schedule created by hand.
  if (e.source === "aws.events" || e["detail-type"] === "Scheduled Event") return { trigger: "tick" };
  throw new UsageError(
    'unknown event: expected {"kind":"nightly"|"tick"}, {"action":"bake"} or an Image Builder SNS notification',
  );
}

function parseSns(records: readonly SnsRecord[]): RunRequest | undefined {
  const images: { arn: string; status: string; amis: string[]; toolset?: string }[] = [];
  for (const record of records) {
    const raw = record.Sns?.Message;
    if (record.EventSource !== "aws:sns" || !raw) continue;
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      continue; // Not an Image Builder message: nothing to act on.
    }
    const state = (message.state ?? {}) as { status?: string };
    const outputs = (message.outputResources ?? {}) as { amis?: { image?: string; region?: string }[] };
    const tags = (message.tags ?? {}) as Record<string, string>;
    images.push({
      arn: String(message.arn ?? ""),
      status: String(state.status ?? ""),
      // Every AMI of the build, not just the first.
      amis: (outputs.amis ?? []).map((a) => `${a.region ?? "?"}:${a.image ?? "?"}`),
      ...(tags["ops-rig:toolset"] ? { toolset: tags["ops-rig:toolset"] } : {}),
    });
  }
  const relevant = images.filter((i) => i.status === "AVAILABLE" || i.status === "FAILED");
  if (relevant.length === 0) return undefined;
  const toolsets = [...new Set(relevant.map((i) => i.toolset))];
  return {
    trigger: "image-builder",
    ...(toolsets.every((t): t is string => t !== undefined) ? { toolsets } : {}),
    images: relevant.map(({ arn, status, amis }) => ({ arn, status, amis })),
  };
}
