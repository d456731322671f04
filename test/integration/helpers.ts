import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, beforeEach, expect } from "vitest";
import { type LocalAws, type StartLocalAwsOptions, startLocalAws } from "../emulators/local-aws.js";
import { lentMotoPid } from "../emulators/moto.js";
import { processExists } from "../emulators/processes.js";

export const REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"] as const;

/**
 * Child processes of this process still running a moto launcher (there must be none after stop).
 * A worker runs its files one after another (also with `isolate: false`), so these are this file's;
 * the worker's lent moto (lendMoto), which outlives every file on purpose, is left out.
 */
export function motoChildren(): number[] {
  const out = execFileSync("ps", ["-eo", "pid=,ppid=,args="], { encoding: "utf8" });
  return out
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => Number(cols[1]) === process.pid && cols.slice(2).join(" ").includes("moto_server.py"))
    .filter((cols) => Number(cols[0]) !== lentMotoPid())
    .map((cols) => Number(cols[0]));
}

/**
 * One local AWS per test file (starting moto costs ~1.5 s), reset before every test. After the
 * file: stopped, and proven gone. Prints how long the file's local AWS lived.
 */
export function useLocalAws(
  file: string,
  options: Partial<StartLocalAwsOptions> = {},
): { readonly aws: LocalAws } {
  let aws: LocalAws | undefined;
  let started = 0;
  let startMs = 0;
  const resets: number[] = [];
  let fresh = true;
  let failed = false;
  const logDir = mkdtempSync(join(tmpdir(), `ops-rig-${basename(file, ".test.ts")}-`));
  beforeAll(async () => {
    started = performance.now();
    try {
      aws = await startLocalAws({ regions: REGIONS, clock: "manual", logDir, moto: "lent", ...options });
    } catch (error) {
      failed = true;
      throw error;
    }
    startMs = performance.now() - started;
  });
  beforeEach(async (context) => {
    context.onTestFailed(() => {
      failed = true;
    });
    if (!aws) throw new Error("the local AWS did not start (see the beforeAll error)");
    if (fresh) {
      fresh = false;
      return;
    }
    const before = performance.now();
    await aws.reset();
    resets.push(performance.now() - before);
  });
  afterAll(async () => {
    // Logs are kept when something failed (that is when they are needed), removed otherwise.
    if (failed) console.log(`[local-aws] ${basename(file)}: logs kept in ${logDir}`);
    if (!aws) return;
    const pids = aws.pids;
    await aws.stop();
    for (const pid of pids)
      expect(processExists(pid), `moto (pid ${pid}) is still running after stop()`).toBe(false);
    expect(motoChildren(), "moto launchers still running as children of the test process").toEqual([]);
    if (!failed) rmSync(logDir, { recursive: true, force: true });
    const average = resets.length > 0 ? resets.reduce((a, b) => a + b, 0) / resets.length : 0;
    console.log(
      `[local-aws] ${basename(file)}: local AWS up ${((performance.now() - started) / 1000).toFixed(1)} s ` +
        `(start ${Math.round(startMs)} ms, ${resets.length} resets averaging ${Math.round(average)} ms)`,
    );
  });
  return {
    get aws(): LocalAws {
      if (!aws) throw new Error("the local AWS did not start (see the beforeAll error)");
      return aws;
    },
  };
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejection(
  promise: Promise<unknown>,
): Promise<Error & { $metadata?: { httpStatusCode?: number; attempts?: number } }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { $metadata?: { httpStatusCode?: number; attempts?: number } };
  }
  throw new Error("expected the call to fail, but it succeeded");
}
