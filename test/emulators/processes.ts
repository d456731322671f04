import type { ChildProcess } from "node:child_process";

/**
 * Every child process the local AWS starts, so none outlives its owner: stopped by PID on request,
 * on process exit and on SIGINT/SIGTERM (after which the signal's default action still happens).
 */

const owned = new Set<ChildProcess>();
let handlersInstalled = false;

function killAllSync(): void {
  for (const child of owned) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  owned.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  // Someone else handles this signal (e.g. scripts/local-aws.ts stops gracefully): leave it to them;
  // the exit handler still kills whatever is left.
  if (process.listenerCount(signal) > 1) return;
  killAllSync();
  uninstall();
  // Re-raise so the process ends the way it would have without us.
  process.kill(process.pid, signal);
}

const onExit = (): void => killAllSync();
const onSigint = (): void => onSignal("SIGINT");
const onSigterm = (): void => onSignal("SIGTERM");

function install(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", onExit);
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onSigterm);
}

function uninstall(): void {
  if (!handlersInstalled) return;
  handlersInstalled = false;
  process.off("exit", onExit);
  process.off("SIGINT", onSigint);
  process.off("SIGTERM", onSigterm);
}

export function trackProcess(child: ChildProcess): void {
  owned.add(child);
  install();
  child.once("exit", () => {
    owned.delete(child);
    if (owned.size === 0) uninstall();
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

/** Whether a process with this PID still exists (a zombie counts as gone once reaped by its parent). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
