// Runs esbuild with ops-rig's trimming plugins: build options (JSON) on stdin, the metafile (JSON)
// on stdout. A child process because CDK builds its app synchronously and esbuild's plugins need
// its asynchronous API. Plain JavaScript so it runs under plain Node.
import { readFileSync } from "node:fs";
import { build } from "esbuild";
import { OPS_RIG_PLUGINS } from "./esbuild-plugins.mjs";

const options = JSON.parse(readFileSync(0, "utf8"));
const result = await build({ ...options, plugins: OPS_RIG_PLUGINS });
if (result.errors.length > 0) {
  process.stderr.write(`esbuild failed: ${result.errors.map((e) => e.text).join("; ")}\n`);
  process.exit(1);
}
process.stdout.write(JSON.stringify(result.metafile));
