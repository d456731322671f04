// `npm run build` (and `prepare`, so after `npm ci`): bundles the CLI into dist/cli/ for bin/ops-rig.js.
//
// One ESM entry (dist/cli/main.js) and shared chunks beside it, split at the CLI's dynamic imports:
// a command loads its own chunks and nothing else (render and validate never load the AWS SDK), and
// the modules it loads come as a few files instead of hundreds to resolve one by one. The same
// esbuild settings and trimming plugins as the Lambdas. Plain JavaScript: runs under plain Node.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { OPS_RIG_PLUGINS } from "../infra/lib/esbuild-plugins.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = join(ROOT, "dist", "cli");
/** Written beside the bundle: identifies this build in cache keys (see src/cli/result-cache.ts). */
const BUILD_ID_FILE = "build-id";

rmSync(join(ROOT, "dist"), { recursive: true, force: true });
const result = await build({
  absWorkingDir: ROOT,
  entryPoints: { main: "src/cli/main.ts" },
  outdir: OUT,
  // Every chunk in the entry's folder: PACKAGE_ROOT is found two levels above the code's own file.
  chunkNames: "[name]-[hash]",
  bundle: true,
  splitting: true,
  platform: "node",
  target: "node20",
  format: "esm",
  mainFields: ["module", "main"],
  banner: {
    js: "import { createRequire as __opsRigCreateRequire } from 'node:module'; const require = __opsRigCreateRequire(import.meta.url);",
  },
  minify: true,
  // Error classes are told apart by name (OpsRigError hierarchy, SDK exceptions).
  keepNames: true,
  // Beside the code for `node --enable-source-maps` when debugging; not loaded otherwise.
  sourcemap: "linked",
  sourcesContent: false,
  legalComments: "linked",
  plugins: OPS_RIG_PLUGINS,
  logLevel: "warning",
});
if (result.errors.length > 0) process.exit(1);

// The build's identity: a hash of every file it wrote. Cached results are keyed by it, so a new
// ops-rig (other rules, other rendering) never reuses an older one's results.
const hash = createHash("sha256");
for (const file of readdirSync(OUT).sort()) {
  if (!file.endsWith(".js")) continue;
  hash
    .update(file)
    .update("\0")
    .update(readFileSync(join(OUT, file)))
    .update("\0");
}
writeFileSync(join(OUT, BUILD_ID_FILE), `${hash.digest("hex")}\n`);
