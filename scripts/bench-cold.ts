/**
 * `npm run bench:cold`: cold starts, measured against their floors in the same run.
 *
 * - The pipeline Lambda: the bundle's size, and the time a fresh Node takes to import it, next to
 *   the import of `@aws-sdk/client-ec2` alone bundled the same way (same esbuild options and plugins,
 *   split into chunks the same way): the floor any Lambda calling EC2 pays. The handler loads each
 *   SDK client at its service's first call (src/aws/index.ts), so its import carries none; what that
 *   moves to the first invocation is measured too: the import plus the first invocation's start
 *   (reading project.json, parsing an event it ignores: no AWS call), and a run's whole cold start
 *   before its first AWS call (that, plus loading the chunks of the clients every run calls: STS,
 *   EC2, SSM, Image Builder), both against the same floor.
 *   Beside them, to show where the handler's time goes: the SDK clients it creates, bundled alone,
 *   and what the first invocation did before issue 11 (loading and rendering the YAML project).
 * - The CLI: `ops-rig --version`, `render` and `validate` (built, `bin/ops-rig.js`) next to
 *   `node -e 0`; render and validate with their result cached (inputs unchanged since the last run);
 *   after one component was edited (in a copy of the project, before every run: its description,
 *   which changes no script, or one of its scripts, which shellcheck checks again), when only what
 *   the edit touched is parsed and rendered again (the memo beside the results); and with nothing
 *   cached (a fresh `$OPS_RIG_CACHE`; for validate also with only shellcheck's findings cached).
 *
 * Fresh processes, interleaved, repeated; medians and ratios printed. A benchmark, not a test: the
 * numbers depend on the machine and its load.
 *
 *   npm run bench:cold -- [--reps 9] [--lambda-only | --cli-only]
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { Metafile } from "esbuild";
import { build } from "esbuild";
import {
  BUNDLE_FILE,
  bundleLambda,
  codeBytes,
  lambdaBuildOptions,
  PROJECT_FILE,
  removeBundle,
  runEsbuild,
  staticImports,
} from "../infra/lib/bundle.js";

console.log(
  `load average at start: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")} (${process.env.HOSTNAME ?? "this machine"})`,
);
const { values } = parseArgs({
  options: {
    reps: { type: "string", default: "9" },
    "lambda-only": { type: "boolean", default: false },
    "cli-only": { type: "boolean", default: false },
  },
});
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

/** Milliseconds a fresh Node takes to load and render the project with the bundled code in `file`. */
function firstLoadMs(file: string): number {
  const code = `const { load } = await import(${JSON.stringify(pathToFileURL(file).href)}); const t = performance.now(); await load(${JSON.stringify(ROOT)}); process.stdout.write(String(performance.now() - t));`;
  return Number(execFileSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8" }));
}

/**
 * Milliseconds of a cold start of the handler in `file`: a fresh Node imports it and runs a first
 * invocation up to its answer, with an event it ignores (`{}`): the project is read and the event
 * parsed, and no AWS call is made. With `chunks`, also loads them after that answer: for a no-op
 * run's cold start before its first AWS call, the chunks a run's first calls load (the adapters and
 * SDK clients of STS, EC2, SSM and Image Builder), short of constructing the clients. The handler's
 * log goes to stdout; the time to stderr.
 */
function coldStartMs(file: string, project: string, chunks: readonly string[] = []): number {
  const urls = JSON.stringify(chunks.map((c) => pathToFileURL(c).href));
  const code = `const t = performance.now(); const { handler } = await import(${JSON.stringify(pathToFileURL(file).href)}); const r = await handler({}); if (r.outcome !== "ignored") throw new Error(JSON.stringify(r)); await Promise.all(${urls}.map((u) => import(u))); process.stderr.write(String(performance.now() - t));`;
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

/** The output files (absolute) the entry `output` loads with its static imports, itself included. */
function staticClosure(metafile: Metafile, output: string): string[] {
  return staticImports(metafile, output).map((file) => join(ROOT, file));
}

const bytesOf = (files: readonly string[]) => files.reduce((total, f) => total + statSync(f).size, 0);

/** The output (metafile key) whose entry point is `source`: the entry, or a dynamically imported module. */
function outputOf(metafile: Metafile, source: string): string {
  const found = Object.entries(metafile.outputs).find(([, o]) => o.entryPoint === source)?.[0];
  if (!found) throw new Error(`no output for ${source} in the bundle`);
  return found;
}

/** Milliseconds of a whole process, start to exit. */
function processMs(args: readonly string[], env: NodeJS.ProcessEnv = process.env): number {
  const t = performance.now();
  const result = spawnSync(process.execPath, args, { encoding: "utf8", cwd: ROOT, env });
  if (result.status !== 0)
    throw new Error(`node ${args.join(" ")} exited ${result.status}: ${result.stderr}`);
  return performance.now() - t;
}

if (!values["cli-only"]) {
  // ---- The Lambda bundle and its floor.
  const bundle = bundleLambda(ROOT);
  const cache = join(ROOT, ".cache");
  mkdirSync(cache, { recursive: true });
  const floorDir = mkdtempSync(join(cache, "floor-"));
  try {
    // Every build in a folder of its own: the entry is index.mjs, its chunks beside it.
    const out = (name: string) => join(floorDir, name);
    const entry = join(floorDir, "entry.mjs");
    writeFileSync(entry, 'export { DescribeImagesCommand, EC2Client } from "@aws-sdk/client-ec2";\n');
    const floorMeta = runEsbuild(lambdaBuildOptions(ROOT, entry, out("floor")));
    // Where the handler's time goes: the clients it creates at import, bundled alone; and, for
    // comparison, the YAML project its first invocation loaded and rendered before issue 11.
    const clientsEntry = join(floorDir, "clients.ts");
    writeFileSync(
      clientsEntry,
      `import { createAwsClients } from ${JSON.stringify(join(ROOT, "src/aws/clients.js"))};\nexport const clients = createAwsClients({ retryMode: "adaptive", maxAttempts: 8 });\n`,
    );
    const clientsFile = join(out("clients"), BUNDLE_FILE);
    const clientsMeta = runEsbuild(lambdaBuildOptions(ROOT, clientsEntry, out("clients")));
    const configEntry = join(floorDir, "config.ts");
    writeFileSync(
      configEntry,
      `import { loadProject } from ${JSON.stringify(join(ROOT, "src/config/load.js"))};\nimport { renderProject } from ${JSON.stringify(join(ROOT, "src/render/index.js"))};\nexport const load = async (root) => renderProject(await loadProject(root));\n`,
    );
    const configFile = join(out("config"), BUNDLE_FILE);
    runEsbuild(lambdaBuildOptions(ROOT, configEntry, out("config")));
    // For comparison only: the floor without the schema trimming (how client-ec2 bundled before).
    const untrimmedFile = join(out("untrimmed"), BUNDLE_FILE);
    await build(lambdaBuildOptions(ROOT, entry, out("untrimmed")));
    const handlerFile = join(bundle.dir, BUNDLE_FILE);
    const floorFile = join(out("floor"), BUNDLE_FILE);
    const projectFile = join(bundle.dir, PROJECT_FILE);
    // What a cold import reads (the entry and its static imports), and what a run's first calls load.
    const handlerOutput = outputOf(bundle.metafile, "src/lambda/handler.ts");
    const importFiles = staticClosure(bundle.metafile, handlerOutput);
    const floorFiles = staticClosure(floorMeta, outputOf(floorMeta, entry.slice(ROOT.length + 1)));
    const RUN_PORTS = ["sts", "ec2", "ssm", "imagebuilder"];
    const runChunks = RUN_PORTS.map((p) => join(ROOT, outputOf(bundle.metafile, `src/aws/${p}.ts`)));
    const runFiles = [
      ...new Set([
        ...importFiles,
        ...runChunks.flatMap((c) => staticClosure(bundle.metafile, c.slice(ROOT.length + 1))),
      ]),
    ];
    const handlerMs: number[] = [];
    const coldMs: number[] = [];
    const runMs: number[] = [];
    const floorMs: number[] = [];
    const untrimmedMs: number[] = [];
    const clientsMs: number[] = [];
    const projectMs: number[] = [];
    importMs(floorFile); // the first read from disk is not a cold start of Lambda's (warm page cache there too)
    importMs(handlerFile);
    for (let i = 0; i < REPS; i++) {
      handlerMs.push(importMs(handlerFile));
      coldMs.push(coldStartMs(handlerFile, projectFile));
      runMs.push(coldStartMs(handlerFile, projectFile, runChunks));
      floorMs.push(importMs(floorFile));
      untrimmedMs.push(importMs(untrimmedFile));
      clientsMs.push(importMs(clientsFile));
      projectMs.push(firstLoadMs(configFile));
    }
    const floor = median(floorMs);
    console.log(
      `Lambda bundle: ${codeBytes(bundle.dir)} bytes of code (index.mjs and its chunks; goal ≤ 1 MB): a cold import reads ` +
        `${bytesOf(importFiles)} (${importFiles.length} files), a no-op run ${bytesOf(runFiles)} (${runFiles.length} files); source maps beside them, not loaded`,
    );
    console.log(
      `floor (client-ec2 alone, bundled the same way): ${codeBytes(out("floor"))} bytes, a cold import reads ${bytesOf(floorFiles)}`,
    );
    console.log(
      `cold import: handler ${median(handlerMs).toFixed(0)} ms, floor ${floor.toFixed(0)} ms, ` +
        `ratio ${(median(handlerMs) / floor).toFixed(2)} (goal ≤ 1.15; medians of ${REPS}, interleaved; the handler loads no SDK client at import)`,
    );
    console.log(
      `cold start: handler import + first invocation up to its answer (reads ${PROJECT_FILE}, ${statSync(projectFile).size} bytes; an ignored event, no AWS call) ` +
        `${median(coldMs).toFixed(0)} ms = ${(median(coldMs) / floor).toFixed(2)}× the floor`,
    );
    console.log(
      `a run's cold start before its first AWS call: that + loading the clients every run calls (${RUN_PORTS.join(", ")}) ` +
        `${median(runMs).toFixed(0)} ms = ${(median(runMs) / floor).toFixed(2)}× the floor`,
    );
    console.log(
      `  for comparison: client-ec2 bundled without the schema trimming ${codeBytes(out("untrimmed"))} bytes, ` +
        `${median(untrimmedMs).toFixed(0)} ms: handler / untrimmed floor ${(median(handlerMs) / median(untrimmedMs)).toFixed(2)}`,
    );
    console.log(
      `  the handler's SDK clients alone (ec2, imagebuilder, s3, sns, ssm, sts; created as the handler does): ` +
        `${bytesOf(staticClosure(clientsMeta, outputOf(clientsMeta, clientsEntry.slice(ROOT.length + 1))))} bytes, ${median(clientsMs).toFixed(0)} ms = ${(median(clientsMs) / floor).toFixed(2)}× the floor`,
    );
    console.log(
      `  before issue 11 the first invocation loaded and rendered the YAML project (YAML, schemas, 13 components): ` +
        `${median(projectMs).toFixed(0)} ms in a fresh process, now done at bundle time`,
    );
  } finally {
    rmSync(floorDir, { recursive: true, force: true });
    removeBundle(bundle);
  }
}

// ---- The CLI against `node -e 0`.
if (!values["lambda-only"]) {
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
  // A copy of the project whose sleuthkit component is edited before every run that uses it.
  const edited = mkdtempSync(join(tmpdir(), "ops-rig-bench-edited-"));
  for (const folder of ["recipes", "components"])
    cpSync(join(ROOT, folder), join(edited, folder), { recursive: true });
  const editedFile = join(edited, "components", "sleuthkit.yaml");
  const original = readFileSync(editedFile, "utf8");
  let edits = 0;
  const edit = (from: string, to: (n: number) => string) => () => {
    if (!original.includes(from))
      throw new Error(`${editedFile} no longer holds "${from}": update the benchmark`);
    writeFileSync(editedFile, original.replace(from, to(++edits)));
    return env(warm);
  };
  const description = edit("for file system analysis", (n) => `for file system analysis (edit ${n})`);
  const script = edit("fls -V\n", (n) => `fls -V # edit ${n}\n`);
  for (const command of ["render", "validate"]) {
    processMs([cli, command], env(warm));
    processMs([cli, "--config", edited, command], env(warm));
  }
  processMs([cli, "validate"], env(findingsOnly));
  const cases: [string, string[], () => NodeJS.ProcessEnv][] = [
    ["node -e 0", ["-e", "0"], () => process.env],
    ["ops-rig --version", [cli, "--version"], () => process.env],
    ["ops-rig render", [cli, "render"], () => env(warm)],
    ["  a description edited", [cli, "--config", edited, "render"], description],
    ["  result not cached", [cli, "render"], fresh],
    ["ops-rig validate", [cli, "validate"], () => env(warm)],
    ["  a description edited", [cli, "--config", edited, "validate"], description],
    ["  a script edited", [cli, "--config", edited, "validate"], script],
    ["  findings cached", [cli, "validate"], noResults],
    ["  nothing cached", [cli, "validate"], fresh],
  ];
  // Two cases share a label: keyed by position.
  const times = cases.map((): number[] => []);
  for (let i = 0; i < REPS; i++)
    cases.forEach(([, args, environment], index) => {
      times[index]?.push(processMs(args, environment()));
    });
  const floor = median(times[0] ?? []);
  cases.forEach(([name], index) => {
    const ms = median(times[index] ?? []);
    console.log(`${name.padEnd(24)} ${ms.toFixed(0).padStart(6)} ms  ${(ms / floor).toFixed(2)}× node -e 0`);
  });
  for (const dir of [warm, findingsOnly, edited, ...freshDirs]) rmSync(dir, { recursive: true, force: true });
}
console.log(
  `load average at end: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
