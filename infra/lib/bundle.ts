import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { BuildOptions, Metafile } from "esbuild";
import { ConfigError, type Problem } from "../../src/errors.js";
import { PROJECT_FILE, type ProjectData, shippedProjectText } from "../../src/lambda/project.js";
import { sha256Hex } from "../../src/render/hash.js";

/** Where the pipeline handler lives. */
export const HANDLER_ENTRY = "src/lambda/handler.ts";
/** The responders' API (a function URL in every region). */
export const API_ENTRY = "src/lambda/api.ts";
/** The case-session broker (rigs get responder sessions through it). */
export const CASE_SESSION_ENTRY = "src/lambda/case-session.ts";
/**
 * The oldest Node the bundles must import on: the Lambdas run nodejs24.x, but the tests import the
 * bundles on the developers' and CI's Node 20, so syntax is lowered for 20.
 */
export const BUNDLE_TARGET = "node20";
/** Output file name inside the asset; Lambda's handler setting is `index.handler`. */
export const BUNDLE_FILE = "index.mjs";
/**
 * Code in a bundle folder: the entry and its chunks beside it (`<name>-<hash>.mjs`). esbuild splits
 * the bundle at dynamic `import()`s (the pipeline's SDK clients, loaded at their first call, and the
 * SDK's credential providers); a chunk is read only when it is imported.
 */
export function isCodeFile(file: string): boolean {
  return file.endsWith(".mjs");
}
/** The rendered project inside the asset, beside the bundle (the Lambda's `OPS_RIG_PROJECT`). */
export { PROJECT_FILE } from "../../src/lambda/project.js";
/** The folders the project is rendered from (their files make the project's `inputs` hash). */
export const PROJECT_INPUTS = ["recipes", "components"] as const;
/** Where Lambda unpacks a zip asset. */
export const LAMBDA_TASK_ROOT = "/var/task";

export interface LambdaBundle {
  /** Folder to hand to `lambda.Code.fromAsset`. */
  readonly dir: string;
  /** esbuild's record of every input file: the permission test reads which `src/` files ship. */
  readonly metafile: Metafile;
  /** Project-relative source files in the bundle (no node_modules), sorted. */
  readonly sourceFiles: readonly string[];
  /** Every file in the folder (code, chunks, source maps, project.json). */
  readonly bytes: number;
  /** The code Lambda may load: the entry and its chunks (`.mjs`), the quantity MAX_BUNDLE_BYTES limits. */
  readonly codeBytes: number;
  readonly millis: number;
}

/**
 * The most the pipeline Lambda's code (entry and every chunk together) may weigh: 1 MB. It ships its
 * project rendered (project.json), so neither `yaml` nor `zod` is in it.
 */
export const MAX_BUNDLE_BYTES = 1_000_000;

/** esbuild settings every ops-rig Lambda bundle uses (the cold-import floor is bundled the same way). */
export function lambdaBuildOptions(projectRoot: string, entry: string, outdir: string): BuildOptions {
  return {
    absWorkingDir: projectRoot,
    entryPoints: [entry],
    outdir,
    // index.mjs and its chunks in one folder (the asset is the folder): a chunk is loaded at the
    // first import() that needs it, so code a cold start does not run is not even read.
    entryNames: BUNDLE_FILE.replace(/\.mjs$/, ""),
    chunkNames: "[name]-[hash]",
    outExtension: { ".js": ".mjs" },
    splitting: true,
    bundle: true,
    platform: "node",
    target: BUNDLE_TARGET,
    format: "esm",
    mainFields: ["module", "main"],
    banner: {
      js: "import { createRequire as __opsRigCreateRequire } from 'node:module'; const require = __opsRigCreateRequire(import.meta.url);",
    },
    minify: true,
    // Error classes are told apart by name (OpsRigError hierarchy, SDK exceptions).
    keepNames: true,
    // Beside the bundle for debugging; never loaded in production (no --enable-source-maps: Node
    // would parse the whole map at every cold start).
    sourcemap: "linked",
    sourcesContent: false,
    legalComments: "linked",
    metafile: true,
    logLevel: "silent",
  };
}

/** The child that runs esbuild with ops-rig's plugins (see bundle-child.mjs for what they trim). */
const CHILD = fileURLToPath(new URL("./bundle-child.mjs", import.meta.url));

/**
 * Runs esbuild with the trimming plugins and returns its metafile. esbuild's plugins need its
 * asynchronous API and CDK builds its app synchronously, so the build runs in a child process.
 */
export function runEsbuild(options: BuildOptions): Metafile {
  const stdout = execFileSync(process.execPath, [CHILD], {
    input: JSON.stringify(options),
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  return JSON.parse(stdout) as Metafile;
}

/**
 * Bundles a Lambda with esbuild into a fresh folder under `<projectRoot>/.cache/`, next to the
 * project rendered as `project.json` (for the pipeline handler and the API: see src/lambda/project.ts).
 *
 * ESM, because the code base is ESM and uses `import.meta`; the banner gives bundled CommonJS
 * dependencies a `require` for Node built-ins. Everything (the pinned AWS SDK included) is bundled
 * rather than relying on the runtime's SDK, so the Lambda runs the versions the tests ran. The folder
 * sits at a fixed depth under the project so source-map paths, and with them the asset hash, are the
 * same on every machine.
 */
export function bundleLambda(
  projectRoot: string,
  entry: string = HANDLER_ENTRY,
  options: {
    readonly withProject?: boolean;
    /** Runs the build (default `runEsbuild`); the tests' cache stands in here (test/helpers/bundle-cache.ts). */
    readonly esbuild?: (options: BuildOptions) => Metafile;
  } = {},
): LambdaBundle {
  const withProject = options.withProject ?? (entry === HANDLER_ENTRY || entry === API_ENTRY);
  const started = performance.now();
  const cacheDir = join(projectRoot, ".cache");
  mkdirSync(cacheDir, { recursive: true });
  const dir = mkdtempSync(join(cacheDir, "lambda-"));
  try {
    const metafile = (options.esbuild ?? runEsbuild)(lambdaBuildOptions(projectRoot, entry, dir));
    if (withProject) writeFileSync(join(dir, PROJECT_FILE), shippedProject(projectRoot));
    const sourceFiles = Object.keys(metafile.inputs)
      .filter((file) => !file.includes("node_modules/"))
      .sort();
    return {
      dir,
      metafile,
      sourceFiles,
      bytes: folderBytes(dir),
      codeBytes: codeBytes(dir),
      millis: performance.now() - started,
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * sha256 over the project's input files (recipes/, components/; path and content, hidden files left
 * out): the `inputs` of project.json, which says what a deployment was rendered from.
 */
export function projectInputsHash(projectRoot: string): string {
  const parts: string[] = [];
  for (const folder of PROJECT_INPUTS) {
    const root = join(projectRoot, folder);
    const files = readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => relative(projectRoot, join(e.parentPath, e.name)))
      .filter((file) => !file.split(/[\\/]/).some((part) => part.startsWith(".")))
      .sort();
    for (const file of files)
      parts.push(`${file}\0${sha256Hex(readFileSync(join(projectRoot, file), "utf8"))}`);
  }
  return sha256Hex(parts.join("\n"));
}

/** Renders once per process and inputs: a test file's bundles (handler, API) share one rendering. */
const rendered = new Map<string, string>();

/**
 * `project.json` for the project in `projectRoot`: loaded, validated and rendered in a child process
 * (see project-child.ts). Invalid configuration throws the ConfigError it would throw anywhere else.
 */
export function shippedProject(projectRoot: string): string {
  const inputs = projectInputsHash(projectRoot);
  const key = `${projectRoot}\0${inputs}`;
  let text = rendered.get(key);
  if (text === undefined) {
    text = shippedProjectText(renderInChild(projectRoot), inputs);
    rendered.set(key, text);
  }
  return text;
}

const PROJECT_CHILD = fileURLToPath(new URL("./project-child.ts", import.meta.url));

function renderInChild(projectRoot: string): ProjectData {
  // tsx runs the TypeScript sources, as it runs the CDK app (cdk.json).
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
  let stdout: string;
  try {
    stdout = execFileSync(process.execPath, ["--import", tsx, PROJECT_CHILD, projectRoot], {
      encoding: "utf8",
      maxBuffer: 256 * 1024 * 1024,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (error) {
    const failed = error as { status?: number; stdout?: string; stderr?: string };
    if (failed.status === 2 && failed.stdout) {
      const { problems } = JSON.parse(failed.stdout) as { problems: Problem[] };
      throw new ConfigError(problems);
    }
    throw new Error(`rendering the project in ${projectRoot} failed: ${failed.stderr ?? String(error)}`, {
      cause: error,
    });
  }
  return JSON.parse(stdout) as ProjectData;
}

export function removeBundle(bundle: LambdaBundle): void {
  rmSync(bundle.dir, { recursive: true, force: true });
}

/**
 * The outputs (metafile keys) that loading `output` reads: itself and what it imports statically,
 * transitively. Chunks behind a dynamic `import()` are left out: they load at their first call.
 */
export function staticImports(metafile: Metafile, output: string): string[] {
  const seen = new Set<string>();
  const stack = [output];
  while (stack.length > 0) {
    const file = stack.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const i of metafile.outputs[file]?.imports ?? [])
      if (i.kind === "import-statement" && !i.external) stack.push(i.path);
  }
  return [...seen];
}

/** Bytes of the code in a bundle folder: the entry and its chunks. */
export function codeBytes(dir: string): number {
  return readdirSync(dir)
    .filter(isCodeFile)
    .reduce((total, file) => total + statSync(join(dir, file)).size, 0);
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).size;
  }
  return total;
}

/** `OPS_RIG_PROJECT` as the Lambdas see it. */
export const LAMBDA_PROJECT_PATH = `${LAMBDA_TASK_ROOT}/${PROJECT_FILE}`;
