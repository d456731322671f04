import { execa } from "execa";
import { LocalRunError } from "../errors.js";
import { shellQuote } from "../render/bash.js";

/**
 * Every process of a local build runs inside private mount, PID, UTS and IPC namespaces:
 * `setpriv --pdeathsig KILL unshare --kill-child ...`. Mounts made for a command exist only inside
 * its namespace and vanish with it; when the command ends, times out, is aborted, or ops-rig itself
 * dies, the kernel kills every process left in the namespace. Nothing is mounted on the host.
 */

/** Exit code of a namespace whose own mount setup failed (not the step's fault). */
export const SETUP_FAILED_EXIT_CODE = 218;
const SETUP_FAILED_MARKER = "ops-rig: setting up the namespace failed";

export interface NamespaceRun {
  readonly exitCode: number;
  readonly stdout: string;
  readonly output: string;
  readonly timedOut: boolean;
  /** Signal that ended the command, when a signal did. */
  readonly signal?: string;
}

export interface NamespaceOptions {
  /** Shell commands run (by the host's /bin/sh, inside the new namespaces) before `command`. */
  readonly setup: readonly string[];
  /** argv run after the setup, usually `chroot ROOT ...`. */
  readonly command: readonly string[];
  /** Milliseconds; 0 or absent for none. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Receives output as it arrives (stdout and stderr). */
  readonly onOutput?: (chunk: string) => void;
  /** Environment of the setup commands (the host's by default). */
  readonly env?: NodeJS.ProcessEnv;
}

/** The /bin/sh program that performs the setup, then execs the command ("$@"). */
export function namespaceScript(setup: readonly string[]): string {
  const body = setup.length > 0 ? setup.join(" &&\n") : "true";
  return `{\n${body}\n} || { echo ${shellQuote(SETUP_FAILED_MARKER)} >&2; exit ${SETUP_FAILED_EXIT_CODE}; }\nexec "$@"`;
}

export function namespaceArgv(setup: readonly string[], command: readonly string[]): string[] {
  return [
    "--pdeathsig",
    "KILL",
    "--",
    "unshare",
    "--mount",
    "--pid",
    "--fork",
    "--uts",
    "--ipc",
    "--kill-child=SIGKILL",
    "--propagation",
    "private",
    "--",
    "/bin/sh",
    "-c",
    namespaceScript(setup),
    "ops-rig-namespace",
    ...command,
  ];
}

/**
 * Runs a command in fresh namespaces. Resolves with its exit code and output (a failing command is
 * a result); rejects with the abort reason when aborted and with LocalRunError when the namespace
 * itself cannot be set up.
 */
export async function runInNamespace(options: NamespaceOptions): Promise<NamespaceRun> {
  options.signal?.throwIfAborted();
  const subprocess = execa("setpriv", namespaceArgv(options.setup, options.command), {
    stdin: "ignore",
    all: true,
    reject: false,
    stripFinalNewline: false,
    // Its own process group: a terminal's Ctrl-C reaches ops-rig, which then kills the whole
    // namespace at once instead of leaving half-interrupted apt runs behind.
    detached: true,
    killSignal: "SIGKILL",
    forceKillAfterDelay: false,
    maxBuffer: 256 * 1024 * 1024,
    ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
    ...(options.signal ? { cancelSignal: options.signal } : {}),
    ...(options.env ? { env: options.env, extendEnv: false } : {}),
  });
  if (options.onOutput) {
    const forward = options.onOutput;
    subprocess.all?.on("data", (chunk: Buffer | string) => forward(chunk.toString()));
  }
  const result = await subprocess;
  if (options.signal?.aborted) throw options.signal.reason;
  const output = typeof result.all === "string" ? result.all : "";
  const stdout = typeof result.stdout === "string" ? result.stdout : "";
  if (result.failed && result.exitCode === undefined && !result.timedOut && !result.signal) {
    throw new LocalRunError("SPAWN_FAILED", `cannot start setpriv/unshare: ${result.shortMessage}`, {
      cause: result,
    });
  }
  if (result.exitCode === SETUP_FAILED_EXIT_CODE && output.includes(SETUP_FAILED_MARKER)) {
    throw new LocalRunError(
      "NAMESPACE_SETUP_FAILED",
      `setting up the root's namespace failed:\n${output.trim()}`,
    );
  }
  const signal = result.signal;
  return {
    exitCode: result.exitCode ?? 128 + signalNumber(signal),
    stdout,
    output,
    timedOut: Boolean(result.timedOut),
    ...(signal ? { signal } : {}),
  };
}

function signalNumber(signal: string | undefined): number {
  const numbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
  return (signal && numbers[signal]) || 9;
}
