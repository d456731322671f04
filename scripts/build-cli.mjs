// `npm run build` (and `prepare`, so after `npm ci`): bundles the CLI into dist/cli/ for bin/ops-rig.js.
//
// One ESM entry (dist/cli/main.js) and shared chunks beside it, split at the CLI's dynamic imports:
// a command loads its own chunks and nothing else (render and validate never load the AWS SDK), and
// the modules it loads come as a few files instead of hundreds to resolve one by one. The same
// esbuild settings and trimming plugins as the Lambdas. Plain JavaScript: runs under plain Node.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { OPS_RIG_PLUGINS } from "../infra/lib/esbuild-plugins.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = join(ROOT, "dist", "cli");
/** Written beside the bundle: identifies this build in cache keys (see src/cli/result-cache.ts). */
const BUILD_ID_FILE = "build-id";
/** Written beside the bundle: the shipped project's memo, read when the user's memo lacks an entry. */
const SEED_MEMO_FILE = "memo.json";

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

// The memo of the shipped project (src/cli/result-cache.ts): the first `render` or `validate` after
// an install parses and renders only the files the user changed, like any later run. Made by the
// build's own CLI, so its entries are exactly what this build would compute.
const seedCache = mkdtempSync(join(tmpdir(), "ops-rig-build-"));
try {
  const render = spawnSync(process.execPath, [join(ROOT, "bin", "ops-rig.js"), "--config", ROOT, "render"], {
    env: { ...process.env, OPS_RIG_CACHE: seedCache },
    encoding: "utf8",
  });
  const memo = join(seedCache, "results", "memo", "project.json");
  if (render.status === 0 && existsSync(memo)) renameSync(memo, join(OUT, SEED_MEMO_FILE));
  else
    console.warn(
      `build: no memo of the shipped project (render exited ${render.status}): the first render will parse everything\n${render.stderr}`,
    );
} finally {
  rmSync(seedCache, { recursive: true, force: true });
}
