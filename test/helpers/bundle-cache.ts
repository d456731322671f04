import { createHash, randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import type { BuildOptions, Metafile } from "esbuild";
import { runEsbuild } from "../../infra/lib/bundle.js";
import { REPO_ROOT } from "./paths.js";

/**
 * The tests' Lambda bundles, cached across test workers and runs (`bundleLambda`'s `esbuild`
 * option). Each of the slow tier's two workers bundled the three Lambdas itself: ~3.5 s of CPU per
 * worker, the same output every time. An entry is keyed by the build options (output folder aside),
 * esbuild's version, the build child and its plugins, package-lock.json and tsconfig.json; it is
 * used only while every input esbuild read for it (its metafile's inputs, ~2,400 files) still hashes
 * the same. Otherwise esbuild runs and the entry is replaced. Tests only: `cdk synth` and deploys
 * always bundle afresh.
 */
const CACHE_ROOT = join(REPO_ROOT, "node_modules", ".cache", "ops-rig-test-bundles");
/** Stands for the output folder (relative to the working directory) in a stored metafile. */
const OUTDIR = "<outdir>";
const FORMAT = 1;

interface Manifest {
  readonly format: number;
  /** Input path (as in the metafile) → sha256 of its content. */
  readonly inputs: Record<string, string>;
  /** The metafile with every mention of the output folder replaced by OUTDIR. */
  readonly metafile: string;
}

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

function keyOf(options: BuildOptions, outdir: string): string {
  const require = createRequire(import.meta.url);
  const esbuildVersion = (require("esbuild/package.json") as { version: string }).version;
  const lib = join(REPO_ROOT, "infra", "lib");
  return sha256(
    JSON.stringify({
      format: FORMAT,
      // The folder sits at a fixed depth (bundle.ts), so its name is the only thing that differs.
      options: { ...options, outdir: join(dirname(outdir), OUTDIR) },
      esbuildVersion,
      child: sha256(readFileSync(join(lib, "bundle-child.mjs"))),
      plugins: sha256(readFileSync(join(lib, "esbuild-plugins.mjs"))),
      lock: sha256(readFileSync(join(REPO_ROOT, "package-lock.json"))),
      tsconfig: sha256(readFileSync(join(REPO_ROOT, "tsconfig.json"))),
    }),
  );
}

function inputHashes(workingDir: string, metafile: Metafile): Record<string, string> | undefined {
  const hashes: Record<string, string> = {};
  for (const input of Object.keys(metafile.inputs)) {
    try {
      hashes[input] = sha256(readFileSync(resolve(workingDir, input)));
    } catch {
      return undefined; // not a file (a virtual module): this build is not cached
    }
  }
  return hashes;
}

function readManifest(entry: string): Manifest | undefined {
  try {
    const manifest = JSON.parse(readFileSync(join(entry, "manifest.json"), "utf8")) as Manifest;
    return manifest.format === FORMAT ? manifest : undefined;
  } catch {
    return undefined;
  }
}

function stillValid(workingDir: string, manifest: Manifest): boolean {
  for (const [input, hash] of Object.entries(manifest.inputs)) {
    try {
      if (sha256(readFileSync(resolve(workingDir, input))) !== hash) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** `runEsbuild`, answered from the cache when nothing it would read has changed. */
export function cachedEsbuild(options: BuildOptions): Metafile {
  const workingDir = options.absWorkingDir ?? process.cwd();
  const outdir = options.outdir;
  if (!outdir) return runEsbuild(options);
  const outdirRel = relative(workingDir, outdir);
  const placeholder = join(dirname(outdirRel), OUTDIR);
  const entry = join(CACHE_ROOT, keyOf(options, outdir));
  const manifest = readManifest(entry);
  if (manifest && stillValid(workingDir, manifest)) {
    cpSync(join(entry, "out"), outdir, { recursive: true });
    return JSON.parse(manifest.metafile.replaceAll(placeholder, outdirRel)) as Metafile;
  }
  const metafile = runEsbuild(options);
  const inputs = inputHashes(workingDir, metafile);
  if (inputs)
    store(entry, outdir, {
      format: FORMAT,
      inputs,
      metafile: JSON.stringify(metafile).replaceAll(outdirRel, placeholder),
    });
  return metafile;
}

/** Written beside the entry, then renamed into place: a concurrent reader sees a whole entry or none. */
function store(entry: string, outdir: string, manifest: Manifest): void {
  mkdirSync(dirname(entry), { recursive: true });
  const temp = `${entry}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    cpSync(outdir, join(temp, "out"), { recursive: true });
    writeFileSync(join(temp, "manifest.json"), JSON.stringify(manifest));
    if (existsSync(entry)) rmSync(entry, { recursive: true, force: true });
    renameSync(temp, entry);
  } catch {
    // Another worker stored the same entry first: theirs is as good.
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}
