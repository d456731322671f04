import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import type { OpsRigEvent } from "../../src/events.js";
import { mountsUnder, processesUnder } from "../../src/local/cleanup.js";
import { countSteps } from "../../src/local/steps.js";
import type { LocalBuildResult, LocalComponentInput } from "../../src/local/types.js";
import { checkAwstoeDocument } from "../../src/render/awstoe.js";

export const FIXTURES = join(import.meta.dirname, "fixtures");

/** A test fixture component (not shipped) as the runner gets it. */
export async function fixture(
  name: string,
  parameters: Record<string, string> = {},
): Promise<LocalComponentInput> {
  return { name, document: await readFile(join(FIXTURES, `${name}.yaml`), "utf8"), parameters };
}

/** Every event, and the run's work folder once announced. */
export function recordEvents(): {
  events: OpsRigEvent[];
  onEvent: (e: OpsRigEvent) => void;
  work: () => string;
} {
  const events: OpsRigEvent[] = [];
  return {
    events,
    onEvent: (event) => events.push(event),
    work: () => {
      const start = events.find((e) => e.subject === "local-build" && e.type === "start");
      const work = start?.data?.work;
      if (typeof work !== "string") throw new Error("the run never announced its work folder");
      return work;
    },
  };
}

/** Nothing of a run may outlive it: no process inside its roots, no mount, no folder. */
export async function expectNoLeftovers(work: string): Promise<void> {
  expect(await processesUnder(work)).toEqual([]);
  expect(await mountsUnder(work)).toEqual([]);
  expect(existsSync(work)).toBe(false);
}

/** Every step of every locally runnable component ran and passed; skipped ones say why. */
export function expectAllStepsPassed(
  result: LocalBuildResult,
  components: readonly LocalComponentInput[],
): void {
  expect(result.failure).toBeUndefined();
  expect(result.ok).toBe(true);
  const expected = components.map((c) => {
    if (c.skipReason) return { name: c.name, stepsRun: 0, result: "skipped", skipReason: c.skipReason };
    const model = checkAwstoeDocument(c.name, c.document).document;
    if (!model) throw new Error(`${c.name} does not parse`);
    const skippedSteps = Object.keys(c.skipSteps ?? {}).length;
    return {
      name: c.name,
      stepsRun: countSteps(model, ["build", "validate", "test"]) - skippedSteps,
      result: "passed",
    };
  });
  expect(result.components.map(({ seconds: _, ...rest }) => rest)).toEqual(expected);
  const steps = expected.reduce((n, c) => n + c.stepsRun, 0);
  expect(steps).toBeGreaterThan(0);
}

export function report(what: string, result: LocalBuildResult): void {
  const steps = result.components.reduce((n, c) => n + c.stepsRun, 0);
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  process.stderr.write(
    `${what}: ${result.ok ? "passed" : "FAILED"}, ${steps} steps in ${result.seconds.toFixed(1)} s (load ${load})\n`,
  );
}

/**
 * The steps a build did not run are exactly the checked-in allowed list for the toolset and base
 * (test/local-build/allowed-skips/<toolset>-<base>.txt), each with a reason: a new skip fails the
 * suite, and so does a listed skip that no longer happens (the list stays true).
 */
export async function expectOnlyAllowedSkips(
  result: LocalBuildResult,
  toolset: string,
  base: string,
): Promise<void> {
  const file = join(import.meta.dirname, "allowed-skips", `${toolset}-${base}.txt`);
  const text = await readFile(file, "utf8").catch(() => {
    throw new Error(`no allowed-skips list for ${toolset} on ${base}: create ${file}`);
  });
  const allowed = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  const skipped = result.skipped.map((s) => `${s.component}/${s.phase}/${s.step}`);
  expect(skipped).toEqual(allowed);
  for (const s of result.skipped) expect(s.reason.length).toBeGreaterThan(10);
}
