/**
 * Times `ops-rig local-build` the way a user runs it (the built command, a fresh process), from a
 * cold cache (no base tarball: mmdebstrap builds the base) and then warm, and prints the numbers
 * with the machine's load. Exits 1 when a cold build misses its budget.
 *
 *   npm run bench:local-build [-- light heavy --base debian-12 --runs 1]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { execa } from "execa";

const BUDGET_SECONDS: Readonly<Record<string, number>> = { light: 60, heavy: 120 };
const REPO = resolve(import.meta.dirname, "..", "..");

interface Measurement {
  toolset: string;
  cache: "cold" | "warm";
  seconds: number;
  loadBefore: string;
  ok: boolean;
}

function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
}

async function measure(
  toolset: string,
  base: string,
  cacheDir: string,
  cache: "cold" | "warm",
): Promise<Measurement> {
  const loadBefore = load();
  const started = performance.now();
  const run = await execa(
    "node",
    [join(REPO, "bin", "ops-rig.js"), "local-build", "--toolset", toolset, "--base", base],
    {
      env: { ...process.env, OPS_RIG_CACHE: cacheDir, NO_COLOR: "1" },
      reject: false,
      all: true,
    },
  );
  const seconds = (performance.now() - started) / 1000;
  if (run.exitCode !== 0) process.stderr.write(`${run.all ?? ""}\n`);
  const line = `${toolset} ${cache}: ${seconds.toFixed(1)} s (exit ${run.exitCode}, load before ${loadBefore}, after ${load()})`;
  process.stderr.write(`${line}\n`);
  return { toolset, cache, seconds, loadBefore, ok: run.exitCode === 0 };
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const flag = (name: string, fallback: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? (args.splice(i, 2)[1] ?? fallback) : fallback;
  };
  const base = flag("--base", "debian-12");
  const runs = Number(flag("--runs", "1"));
  const toolsets = args.length > 0 ? args : ["light", "heavy"];
  const results: Measurement[] = [];
  for (let i = 0; i < runs; i++) {
    for (const toolset of toolsets) {
      const cacheDir = await mkdtemp(join(tmpdir(), "ops-rig-bench-cache-"));
      try {
        results.push(await measure(toolset, base, cacheDir, "cold"));
        results.push(await measure(toolset, base, cacheDir, "warm"));
      } finally {
        await rm(cacheDir, { recursive: true, force: true });
      }
    }
  }
  process.stdout.write(`\nops-rig local-build on ${base}, ${(await execa("nproc")).stdout.trim()} cores\n`);
  process.stdout.write("toolset  cache  seconds  budget  load before (1/5/15 min)\n");
  let missed = false;
  for (const r of results) {
    const budget = BUDGET_SECONDS[r.toolset];
    const over = r.cache === "cold" && budget !== undefined && r.seconds > budget;
    missed ||= over || !r.ok;
    process.stdout.write(
      `${r.toolset.padEnd(7)}  ${r.cache.padEnd(5)}  ${r.seconds.toFixed(1).padStart(7)}  ${r.cache === "cold" && budget ? `${budget}`.padStart(6) : "      "}  ${r.loadBefore}${r.ok ? "" : "  FAILED"}${over ? "  OVER BUDGET" : ""}\n`,
    );
  }
  return missed ? 1 : 0;
}

process.exitCode = await main();
