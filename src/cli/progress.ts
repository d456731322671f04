import type { EventSink, OpsRigEvent } from "../events.js";
import type { LineStatus } from "../plan/types.js";
import { formatTable } from "../text/table.js";
import { type Output, paint } from "./output.js";

/**
 * Live progress for long commands. On a terminal: a status block (line × region) redrawn in place
 * under a scrolling log of what happened. Elsewhere (CI, pipes): plain timestamped lines.
 */
export interface Progress {
  readonly sink: EventSink;
  /** Shows where every line stands (after each pass). */
  update(lines: readonly LineStatus[], note: string): void;
  /** Removes the live block before the final summary. */
  stop(): void;
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
    const lines = [
      ...block,
      paint(output, "dim", `elapsed ${elapsed()}  (Ctrl-C stops after the current step)`),
    ];
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
  const style = (event: OpsRigEvent) =>
    event.type === "failed"
      ? paint(output, "red", "FAILED")
      : event.type === "done"
        ? paint(output, "green", "done")
        : event.type;
  if (output.interactive) ticker = setInterval(draw, 1000);
  ticker?.unref();

  return {
    sink: (event) => {
      if (output.json) return;
      // Outcomes are what people follow; starts, checks and observation steps only with --verbose.
      if (
        !output.verbose &&
        (event.type === "start" || event.type === "check" || event.subject === "observe")
      )
        return;
      log(`${style(event)} ${event.subject}${event.message ? `: ${event.message}` : ""}`);
    },
    update: (lines, note) => {
      if (output.json) return;
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
    },
    stop: () => {
      if (ticker) clearInterval(ticker);
      if (output.interactive) clear();
      block = [];
    },
  };
}

export function colorState(output: Output, state: string): string {
  if (state === "published") return paint(output, "green", state);
  if (state === "failed" || state === "skipped" || state === "missing" || state === "stale")
    return paint(output, "red", state);
  if (state === "backoff" || state === "withdrawn") return paint(output, "yellow", state);
  return state;
}
