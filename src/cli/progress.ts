import type { ServiceEvent, ServiceEvents } from "../events.js";
import { describeAction } from "../plan/plan.js";
import type { LineStatus } from "../plan/types.js";
import { formatTable } from "../text/table.js";
import { type Output, paint } from "./output.js";

/**
 * The CLI's one progress renderer, for every service. On a terminal: a status block (line × region)
 * redrawn in place under a scrolling log of what happened. Elsewhere (CI, pipes): plain timestamped
 * lines. With --json, nothing (stdout carries the result, stderr stays quiet).
 */
export interface Progress {
  readonly sink: ServiceEvents;
  /** Removes the live block before the final summary. */
  stop(): void;
}

/** What one event says, and whether it shows without --verbose; undefined when it shows nothing. */
function describeEvent(
  event: ServiceEvent,
  output: Pick<Output, "color">,
): { readonly text: string; readonly always: boolean } | undefined {
  const ok = (text: string) => `${paint(output, "green", "done")} ${text}`;
  const bad = (text: string) => `${paint(output, "red", "FAILED")} ${text}`;
  switch (event.type) {
    case "observe-started":
      return {
        text: `observing ${event.regions.length} region(s): ${event.regions.join(", ")}`,
        always: false,
      };
    case "region-unobservable":
      return { text: bad(`observe ${event.region}: ${event.error.message}`), always: true };
    case "line-unobservable":
      return {
        text: bad(
          `observe ${event.line.toolset}/${event.line.base}/${event.line.arch}: ${event.error.message}`,
        ),
        always: true,
      };
    case "observed":
      return { text: `observed ${event.lines} line(s) in ${event.regions} region(s)`, always: false };
    case "planned":
      return {
        text: `planned ${event.actions} action(s), ${event.mutating} changing something`,
        always: false,
      };
    case "action-started":
      return { text: `start ${describeAction(event.action)}: ${event.action.reason}`, always: false };
    case "action-done":
      return { text: ok(`${describeAction(event.action)}: ${event.result}`), always: true };
    case "action-failed":
      return { text: bad(`${describeAction(event.action)}: ${event.error.message}`), always: true };
    case "pass-finished":
      return undefined;
    case "waiting":
      return {
        text: `waiting ${Math.round(event.ms / 100) / 10} s for builds and copies in flight`,
        always: false,
      };
    case "notification-sent":
      return { text: ok(`notify ${event.topicArn}: ${event.messageId}`), always: true };
    case "notification-failed":
      return { text: bad(`notify ${event.topicArn}: ${event.error.message}`), always: true };
    case "report-stored":
      return { text: ok(`report ${event.location} (${event.bytes} bytes)`), always: false };
    case "report-not-stored":
      return { text: bad(`report ${event.location}: ${event.error.message}`), always: true };
    case "build-not-marked":
      return { text: bad(`cannot mark ${event.build} notified: ${event.error.message}`), always: true };
    case "parameter-published":
      return {
        text: ok(`publish ${event.region} ${event.parameter} → ${event.imageId} (v${event.version})`),
        always: true,
      };
    case "image-withdrawn":
      return { text: ok(`withdraw ${event.region} ${event.imageId}`), always: true };
    case "rollback-region-failed":
      return { text: bad(`rollback ${event.region}: ${event.error.message}`), always: true };
    case "security-group-created":
      return {
        text: ok(`created security group ${event.groupId} (${event.name}) in ${event.region}`),
        always: true,
      };
    case "security-group-changed":
      return {
        text: ok(`security group ${event.groupId} in ${event.region}: ${event.change}`),
        always: true,
      };
    case "security-group-removed":
      return {
        text: ok(`removed security group ${event.groupId} in ${event.region}: ${event.reason}`),
        always: true,
      };
    case "instance-launched":
      return { text: ok(`launched ${event.instanceId} in ${event.region}`), always: true };
    default: {
      // A new event type must be rendered here: this line stops compiling until it is.
      const unhandled: never = event;
      return unhandled;
    }
  }
}

export function createProgress(output: Output, now: () => Date = () => new Date()): Progress {
  const started = now().getTime();
  const elapsed = () => {
    const s = Math.round((now().getTime() - started) / 1000);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  };
  let drawn = 0;
  let block: string[] = [];
  let ticker: NodeJS.Timeout | undefined;
  const clear = () => {
    if (drawn > 0) output.err(`\u001b[${drawn}A\u001b[0J`.replace(/\n$/, ""));
    drawn = 0;
  };
  const draw = () => {
    if (!output.interactive || block.length === 0) return;
    clear();
    const lines = [...block, paint(output, "dim", `elapsed ${elapsed()}  (Ctrl-C stops)`)];
    output.err(lines.join("\n"));
    drawn = lines.join("\n").split("\n").length;
  };
  const log = (text: string) => {
    if (output.interactive) {
      clear();
      output.err(text);
      draw();
    } else {
      output.err(`[${elapsed()}] ${text}`);
    }
  };
  const update = (lines: readonly LineStatus[], note: string) => {
    if (!output.interactive) {
      const counts = new Map<string, number>();
      for (const l of lines) counts.set(l.state, (counts.get(l.state) ?? 0) + 1);
      log(`${note}: ${[...counts].map(([state, n]) => `${n} ${state}`).join(", ")}`);
      return;
    }
    block = [
      paint(output, "bold", note),
      formatTable(lines, [
        { header: "line", value: (l) => `${l.line.toolset}/${l.line.base}/${l.line.arch}` },
        { header: "region", value: (l) => l.region },
        { header: "state", value: (l) => colorState(output, l.state) },
        { header: "AMI", value: (l) => l.imageId ?? "" },
      ]),
    ];
    draw();
  };
  if (output.interactive && !output.json) ticker = setInterval(draw, 1000);
  ticker?.unref();

  return {
    sink: (event) => {
      if (output.json) return;
      if (event.type === "pass-finished") {
        update(event.lines, `pass ${event.pass}: ${event.actions} actions`);
        return;
      }
      const shown = describeEvent(event, output);
      if (shown && (shown.always || output.verbose)) log(shown.text);
    },
    stop: () => {
      if (ticker) clearInterval(ticker);
      if (output.interactive) clear();
      block = [];
    },
  };
}

export function colorState(output: Pick<Output, "color">, state: string): string {
  if (state === "published") return paint(output, "green", state);
  if (state === "failed" || state === "skipped" || state === "missing" || state === "stale")
    return paint(output, "red", state);
  if (state === "backoff" || state === "withdrawn") return paint(output, "yellow", state);
  return state;
}
