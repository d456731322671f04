/**
 * `npm run bench:cold`: cold starts, measured against their floors in the same run.
 *
 * - The pipeline Lambda: the bundle's size, and the time a fresh Node takes to import it, next to
 *   the import of `@aws-sdk/client-ec2` alone bundled the same way (same esbuild options and plugins):
 *   the floor any Lambda calling EC2 pays. And its whole cold start: the import plus the first
 *   invocation's start (reading the shipped project.json, parsing the event; an event it ignores, so
 *   no AWS call), against the same floor.
 *   Beside them, to show where the handler's time goes: the SDK clients it creates, bundled alone,
 *   and what the first invocation did before issue 11 (loading and rendering the YAML project).
 * - The CLI: `ops-rig --version`, `render` and `validate` (built, `bin/ops-rig.js`) next to
 *   `node -e 0`; render and validate with their result cached (inputs unchanged since the last run)
 *   and not (a fresh `$OPS_RIG_CACHE`; for validate also with only shellcheck's findings cached).
 *
 * Fresh processes, interleaved, repeated; medians and ratios printed. A benchmark, not a test: the
 * numbers depend on the machine and its load.
 *
 *   npm run bench:cold -- [--reps 9]
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { build } from "esbuild";
import {
  BUNDLE_FILE,
  bundleLambda,
  lambdaBuildOptions,
  PROJECT_FILE,
  removeBundle,
  runEsbuild,
} from "../infra/lib/bundle.js";

console.log(
  `load average at start: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")} (${process.env.HOSTNAME ?? "this machine"})`,
);
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

/**
 * Milliseconds of a cold start of the handler in `file`: a fresh Node imports it and runs a first
 * invocation up to its answer, with an event it ignores (`{}`): the project is read and the event
 * parsed, and no AWS call is made. The handler's log goes to stdout; the time to stderr.
 */
function coldStartMs(file: string, project: string): number {
  const code = `const t = performance.now(); const { handler } = await import(${JSON.stringify(pathToFileURL(file).href)}); const r = await handler({}); if (r.outcome !== "ignored") throw new Error(JSON.stringify(r)); process.stderr.write(String(performance.now() - t));`;
  const result = spawnSync(process.execPath, ["--input-type=module", "-e", code], {
    encoding: "utf8",
    env: {
      ...process.env,
      AWS_REGION: "us-east-1",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      OPS_RIG_PROJECT: project,
    },
  });
  if (result.status !== 0) throw new Error(`cold start failed: ${result.stderr}`);
  return Number(result.stderr);
}

/** Milliseconds a fresh Node takes to load and render the project with the bundled code in `file`. */
function firstLoadMs(file: string): number {
  const code = `const { load } = await import(${JSON.stringify(pathToFileURL(file).href)}); const t = performance.now(); await load(${JSON.stringify(ROOT)}); process.stdout.write(String(performance.now() - t));`;
  return Number(execFileSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8" }));
}

/** Milliseconds of a whole process, start to exit. */
function processMs(args: readonly string[], env: NodeJS.ProcessEnv = process.env): number {
  const t = performance.now();
  const result = spawnSync(process.execPath, args, { encoding: "utf8", cwd: ROOT, env });
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
  // Where the handler's time goes: the clients it creates at import, bundled alone; and, for
  // comparison, the YAML project its first invocation loaded and rendered before issue 11.
  const clientsEntry = join(floorDir, "clients.ts");
  writeFileSync(
    clientsEntry,
    `import { createAwsClients } from ${JSON.stringify(join(ROOT, "src/aws/index.js"))};\nexport const clients = createAwsClients({ retryMode: "adaptive", maxAttempts: 8 });\n`,
  );
  const clientsFile = join(floorDir, "clients.mjs");
  runEsbuild(lambdaBuildOptions(ROOT, clientsEntry, clientsFile));
  const configEntry = join(floorDir, "config.ts");
  writeFileSync(
    configEntry,
    `import { loadProject } from ${JSON.stringify(join(ROOT, "src/config/load.js"))};\nimport { renderProject } from ${JSON.stringify(join(ROOT, "src/render/index.js"))};\nexport const load = async (root) => renderProject(await loadProject(root));\n`,
  );
  const configFile = join(floorDir, "config.mjs");
  runEsbuild(lambdaBuildOptions(ROOT, configEntry, configFile));
  // For comparison only: the floor without the schema trimming (how client-ec2 bundled before).
  const untrimmedFile = join(floorDir, "untrimmed.mjs");
  await build(lambdaBuildOptions(ROOT, entry, untrimmedFile));
  const handlerFile = join(bundle.dir, BUNDLE_FILE);
  const floorFile = join(floorDir, BUNDLE_FILE);
  const projectFile = join(bundle.dir, PROJECT_FILE);
  const handlerMs: number[] = [];
  const coldMs: number[] = [];
  const floorMs: number[] = [];
  const untrimmedMs: number[] = [];
  const clientsMs: number[] = [];
  const projectMs: number[] = [];
  importMs(floorFile); // the first read from disk is not a cold start of Lambda's (warm page cache there too)
  importMs(handlerFile);
  for (let i = 0; i < REPS; i++) {
    handlerMs.push(importMs(handlerFile));
    coldMs.push(coldStartMs(handlerFile, projectFile));
    floorMs.push(importMs(floorFile));
    untrimmedMs.push(importMs(untrimmedFile));
    clientsMs.push(importMs(clientsFile));
    projectMs.push(firstLoadMs(configFile));
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
    `cold start: handler import + first invocation up to its answer (reads ${PROJECT_FILE}, ${statSync(projectFile).size} bytes; an ignored event, no AWS call) ` +
      `${median(coldMs).toFixed(0)} ms = ${(median(coldMs) / median(floorMs)).toFixed(2)}× the floor`,
  );
  console.log(
    `  for comparison: client-ec2 bundled without the schema trimming ${statSync(untrimmedFile).size} bytes, ` +
      `${median(untrimmedMs).toFixed(0)} ms: handler / untrimmed floor ${(median(handlerMs) / median(untrimmedMs)).toFixed(2)}`,
  );
  console.log(
    `  the handler's SDK clients alone (ec2, imagebuilder, s3, sns, ssm, sts; created as the handler does): ` +
      `${statSync(clientsFile).size} bytes, ${median(clientsMs).toFixed(0)} ms = ${(median(clientsMs) / median(floorMs)).toFixed(2)}× the floor`,
  );
  console.log(
    `  before issue 11 the first invocation loaded and rendered the YAML project (YAML, schemas, 13 components): ` +
      `${median(projectMs).toFixed(0)} ms in a fresh process, now done at bundle time`,
  );
} finally {
  rmSync(floorDir, { recursive: true, force: true });
  removeBundle(bundle);
}

// ---- The CLI against `node -e 0`.
execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });
const cli = join(ROOT, "bin", "ops-rig.js");
// Results and findings: warm (run once before timing), none (a fresh folder for every run), or
// shellcheck's findings only (the results folder emptied before every run).
const warm = mkdtempSync(join(tmpdir(), "ops-rig-bench-warm-"));
const findingsOnly = mkdtempSync(join(tmpdir(), "ops-rig-bench-findings-"));
const env = (cache: string) => ({ ...process.env, OPS_RIG_CACHE: cache });
const freshDirs: string[] = [];
const fresh = () => {
  freshDirs.push(mkdtempSync(join(tmpdir(), "ops-rig-bench-cold-")));
  return env(freshDirs.at(-1) as string);
};
const noResults = () => {
  rmSync(join(findingsOnly, "results"), { recursive: true, force: true });
  return env(findingsOnly);
};
for (const command of ["render", "validate"]) processMs([cli, command], env(warm));
processMs([cli, "validate"], env(findingsOnly));
const cases: [string, string[], () => NodeJS.ProcessEnv][] = [
  ["node -e 0", ["-e", "0"], () => process.env],
  ["ops-rig --version", [cli, "--version"], () => process.env],
  ["ops-rig render", [cli, "render"], () => env(warm)],
  ["  result not cached", [cli, "render"], fresh],
  ["ops-rig validate", [cli, "validate"], () => env(warm)],
  ["  findings cached", [cli, "validate"], noResults],
  ["  nothing cached", [cli, "validate"], fresh],
];
const times = new Map<string, number[]>(cases.map(([name]) => [name, []]));
for (let i = 0; i < REPS; i++)
  for (const [name, args, environment] of cases) times.get(name)?.push(processMs(args, environment()));
const floor = median(times.get("node -e 0") ?? []);
for (const [name] of cases) {
  const ms = median(times.get(name) ?? []);
  console.log(`${name.padEnd(20)} ${ms.toFixed(0).padStart(6)} ms  ${(ms / floor).toFixed(2)}× node -e 0`);
}
console.log(
  `load average at end: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
for (const dir of [warm, findingsOnly, ...freshDirs]) rmSync(dir, { recursive: true, force: true });
