import type { Writable } from "node:stream";

/** Where the CLI writes: stdout for results, stderr for progress and errors. */
export interface Output {
  readonly json: boolean;
  readonly verbose: boolean;
  /** True when stderr is a terminal (live progress may redraw lines). */
  readonly interactive: boolean;
  readonly color: boolean;
  out(text: string): void;
  err(text: string): void;
  writeJson(value: unknown): void;
}

export function createOutput(options: {
  json: boolean;
  verbose: boolean;
  stdout?: (Writable & { isTTY?: boolean }) | undefined;
  stderr?: (Writable & { isTTY?: boolean }) | undefined;
  env?: NodeJS.ProcessEnv;
}): Output {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const env = options.env ?? process.env;
  const interactive = Boolean(stderr.isTTY) && env.CI === undefined && env.TERM !== "dumb";
  return {
    json: options.json,
    verbose: options.verbose,
    interactive,
    color: interactive && env.NO_COLOR === undefined,
    out: (text) => stdout.write(text.endsWith("\n") ? text : `${text}\n`),
    err: (text) => stderr.write(text.endsWith("\n") ? text : `${text}\n`),
    writeJson: (value) => stdout.write(`${JSON.stringify(value, null, 2)}\n`),
  };
}

export { type Column, formatTable } from "../text/table.js";

export function paint(
  output: Pick<Output, "color">,
  style: "red" | "green" | "yellow" | "dim" | "bold",
  text: string,
): string {
  if (!output.color) return text;
  const codes = { red: [31, 39], green: [32, 39], yellow: [33, 39], dim: [2, 22], bold: [1, 22] } as const;
  const [open, close] = codes[style];
  return `\u001b[${open}m${text}\u001b[${close}m`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
