import { readdir, readFile, readlink, rm } from "node:fs/promises";

/**
 * Leftover checks, used after every run and by the tests: which processes run inside a folder
 * (their root is under it) and which mounts of this mount namespace lie under it.
 */

function under(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

/** PIDs whose root directory is `dir` or below it. */
export async function processesUnder(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const root = await readlink(`/proc/${entry}/root`);
      if (under(root, dir)) pids.push(Number(entry));
    } catch {
      // Gone already, or a kernel thread.
    }
  }
  return pids;
}

/** Mount points (of this process's mount namespace) at or below `dir`. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile("/proc/self/mountinfo", "utf8");
  return text
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .map((path) =>
      path.replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8))),
    )
    .filter((path) => path !== "" && under(path, dir));
}

/**
 * Waits until no process runs inside `dir` (a killed namespace takes a moment to die); kills any
 * that linger past `graceMs`. Returns the PIDs that had to be killed.
 */
export async function reapProcessesUnder(dir: string, graceMs = 5000): Promise<number[]> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const pids = await processesUnder(dir);
    if (pids.length === 0) return [];
    if (Date.now() >= deadline) {
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // Exited meanwhile.
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      return pids;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Marks a run's work folder with its owner, so a later run can tell an abandoned one. */
export const OWNER_FILE = ".ops-rig-owner";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes work folders (`ops-rig-*` under `base`) of runs that died without cleaning up (killed
 * with SIGKILL, machine out of memory): their owner is gone and nothing runs inside them. Kept
 * roots (--keep) have no owner file and are left alone. Returns the folders removed.
 */
export async function sweepAbandonedWork(base: string): Promise<string[]> {
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = await readdir(base);
  } catch {
    return removed;
  }
  for (const entry of entries) {
    if (!entry.startsWith("ops-rig-")) continue;
    const dir = `${base}/${entry}`;
    let owner: number;
    try {
      owner = Number.parseInt(await readFile(`${dir}/${OWNER_FILE}`, "utf8"), 10);
    } catch {
      continue;
    }
    if (!Number.isInteger(owner) || owner <= 0 || alive(owner)) continue;
    if ((await processesUnder(dir)).length > 0) continue;
    await rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}
