/**
 * `npm run bench:cold`: cold starts, measured against their floors in the same run.
 *
 * - The pipeline Lambda: the bundle's size, and the time a fresh Node takes to import it, next to
 *   the import of `@aws-sdk/client-ec2` alone bundled the same way (same esbuild options and plugins):
 *   the floor any Lambda calling EC2 pays.
 * - The CLI: `ops-rig --version`, `render` and `validate` (compiled, `bin/ops-rig.js`) next to
 *   `node -e 0`.
 *
 * Fresh processes, interleaved, repeated; medians and ratios printed. A benchmark, not a test: the
 * numbers depend on the machine and its load.
 *
 *   npm run bench:cold -- [--reps 9]
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { build } from "esbuild";
import {
  BUNDLE_FILE,
  bundleLambda,
  lambdaBuildOptions,
  removeBundle,
  runEsbuild,
} from "../infra/lib/bundle.js";

const { values } = parseArgs({ options: { reps: { type: "string", default: "9" } } });
const REPS = Number(values.reps);
const ROOT = process.cwd();

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

/** Milliseconds a fresh Node takes to import `file` (measured inside the process: no process start-up). */
function importMs(file: string): number {
  const code = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); process.stdout.write(String(performance.now() - t));`;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", code], {
    encoding: "utf8",
    env: {
      ...process.env,
      AWS_REGION: "us-east-1",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    },
  });
  return Number(out);
}

/** Milliseconds of a whole process, start to exit. */
function processMs(args: readonly string[]): number {
  const t = performance.now();
  const result = spawnSync(process.execPath, args, { encoding: "utf8", cwd: ROOT });
  if (result.status !== 0)
    throw new Error(`node ${args.join(" ")} exited ${result.status}: ${result.stderr}`);
  return performance.now() - t;
}

// ---- The Lambda bundle and its floor.
const bundle = bundleLambda(ROOT);
const cache = join(ROOT, ".cache");
mkdirSync(cache, { recursive: true });
const floorDir = mkdtempSync(join(cache, "floor-"));
try {
  const entry = join(floorDir, "entry.mjs");
  writeFileSync(entry, 'export { DescribeImagesCommand, EC2Client } from "@aws-sdk/client-ec2";\n');
  runEsbuild(lambdaBuildOptions(ROOT, entry, join(floorDir, BUNDLE_FILE)));
  // For comparison only: the floor without the schema trimming (how client-ec2 bundled before).
  const untrimmedFile = join(floorDir, "untrimmed.mjs");
  await build(lambdaBuildOptions(ROOT, entry, untrimmedFile));
  const handlerFile = join(bundle.dir, BUNDLE_FILE);
  const floorFile = join(floorDir, BUNDLE_FILE);
  const handlerMs: number[] = [];
  const floorMs: number[] = [];
  const untrimmedMs: number[] = [];
  importMs(floorFile); // the first read from disk is not a cold start of Lambda's (warm page cache there too)
  importMs(handlerFile);
  for (let i = 0; i < REPS; i++) {
    handlerMs.push(importMs(handlerFile));
    floorMs.push(importMs(floorFile));
    untrimmedMs.push(importMs(untrimmedFile));
  }
  const bytes = statSync(handlerFile).size;
  const floorBytes = statSync(floorFile).size;
  console.log(
    `Lambda bundle: ${bytes} bytes (${(bytes / 1024).toFixed(0)} KiB; goal ≤ 1 MB), source map beside it, not loaded`,
  );
  console.log(`floor (client-ec2 alone, bundled the same way): ${floorBytes} bytes`);
  console.log(
    `cold import: handler ${median(handlerMs).toFixed(0)} ms, floor ${median(floorMs).toFixed(0)} ms, ` +
      `ratio ${(median(handlerMs) / median(floorMs)).toFixed(2)} (goal ≤ 1.15; medians of ${REPS}, interleaved)`,
  );
  console.log(
    `  for comparison: client-ec2 bundled without the schema trimming ${statSync(untrimmedFile).size} bytes, ` +
      `${median(untrimmedMs).toFixed(0)} ms: handler / untrimmed floor ${(median(handlerMs) / median(untrimmedMs)).toFixed(2)}`,
  );
} finally {
  rmSync(floorDir, { recursive: true, force: true });
  removeBundle(bundle);
}

// ---- The CLI against `node -e 0`.
execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });
const cli = join(ROOT, "bin", "ops-rig.js");
const cases: [string, string[]][] = [
  ["node -e 0", ["-e", "0"]],
  ["ops-rig --version", [cli, "--version"]],
  ["ops-rig render", [cli, "render"]],
  ["ops-rig validate", [cli, "validate"]],
];
const times = new Map<string, number[]>(cases.map(([name]) => [name, []]));
for (let i = 0; i < REPS; i++) for (const [name, args] of cases) times.get(name)?.push(processMs(args));
const floor = median(times.get("node -e 0") ?? []);
for (const [name] of cases) {
  const ms = median(times.get(name) ?? []);
  console.log(`${name.padEnd(18)} ${ms.toFixed(0).padStart(6)} ms  ${(ms / floor).toFixed(2)}× node -e 0`);
}
