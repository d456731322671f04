import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BuildOptions, Metafile } from "esbuild";

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
/** Folder inside the asset that holds `recipes/` and `components/` (the Lambda's `OPS_RIG_CONFIG`). */
export const CONFIG_FOLDER = "config";
/** Where Lambda unpacks a zip asset. */
export const LAMBDA_TASK_ROOT = "/var/task";

export interface LambdaBundle {
  /** Folder to hand to `lambda.Code.fromAsset`. */
  readonly dir: string;
  /** esbuild's record of every input file: the permission test reads which `src/` files ship. */
  readonly metafile: Metafile;
  /** Project-relative source files in the bundle (no node_modules), sorted. */
  readonly sourceFiles: readonly string[];
  readonly bytes: number;
  readonly millis: number;
}

/**
 * The most the pipeline Lambda's code may weigh (cold starts grow with it). 1 MB until sharing with
 * other accounts brought the KMS and RAM clients (about 57 KB after trimming): 1.05 MB.
 */
export const MAX_BUNDLE_BYTES = 1_050_000;

/** esbuild settings every ops-rig Lambda bundle uses (the cold-import floor is bundled the same way). */
export function lambdaBuildOptions(projectRoot: string, entry: string, outfile: string): BuildOptions {
  return {
    absWorkingDir: projectRoot,
    entryPoints: [entry],
    outfile,
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
 * Bundles the Lambda handler with esbuild into a fresh folder under `<projectRoot>/.cache/`, next to
 * a copy of the project's `recipes/` and `components/`.
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
  options: { readonly withConfig?: boolean } = {},
): LambdaBundle {
  const withConfig = options.withConfig ?? entry === HANDLER_ENTRY;
  const started = performance.now();
  const cacheDir = join(projectRoot, ".cache");
  mkdirSync(cacheDir, { recursive: true });
  const dir = mkdtempSync(join(cacheDir, "lambda-"));
  try {
    const metafile = runEsbuild(lambdaBuildOptions(projectRoot, entry, join(dir, BUNDLE_FILE)));
    for (const folder of withConfig ? ["recipes", "components"] : []) {
      cpSync(join(projectRoot, folder), join(dir, CONFIG_FOLDER, folder), {
        recursive: true,
        // Editor and OS droppings have no business in the Lambda.
        filter: (source) => !basename(source).startsWith("."),
      });
    }
    const sourceFiles = Object.keys(metafile.inputs)
      .filter((file) => !file.includes("node_modules/"))
      .sort();
    return { dir, metafile, sourceFiles, bytes: folderBytes(dir), millis: performance.now() - started };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

export function removeBundle(bundle: LambdaBundle): void {
  rmSync(bundle.dir, { recursive: true, force: true });
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).size;
  }
  return total;
}

/** `OPS_RIG_CONFIG` as the Lambda sees it. */
export const LAMBDA_CONFIG_PATH = `${LAMBDA_TASK_ROOT}/${CONFIG_FOLDER}`;
