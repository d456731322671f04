// Runs esbuild with ops-rig's trimming plugins: build options (JSON) on stdin, the metafile (JSON)
// on stdout. A child process because CDK builds its app synchronously and esbuild's plugins need
// its asynchronous API. Plain JavaScript so it runs under plain Node.
import { readFileSync } from "node:fs";
import { build } from "esbuild";

/**
 * The SDK's schemas key their traits with computed properties (`{ [_xN]: _m }`, `_xN` a string
 * constant). esbuild cannot prove a computed key free of side effects, so it keeps every schema of
 * the service (EC2's alone are ~500 KB). Writing the constant's value in place of the key makes the
 * schemas plain data, and those no bundled command reaches are dropped. Same values, same code.
 */
const sdkSchemaKeys = {
  name: "ops-rig-sdk-schema-keys",
  setup(b) {
    b.onLoad(
      { filter: /@aws-sdk[\\/]client-[^\\/]+[\\/]dist-es[\\/]schemas[\\/]schemas_\d+\.js$/ },
      (args) => {
        const text = readFileSync(args.path, "utf8");
        const constants = new Map(
          [...text.matchAll(/^const (_[A-Za-z0-9_]+) = ("[^"\\\n]*");$/gm)].map((m) => [m[1], m[2]]),
        );
        const contents = text.replace(/\[(_[A-Za-z0-9_]+)\]:/g, (all, id) => {
          const value = constants.get(id);
          return value === undefined ? all : `${value}:`;
        });
        return { contents, loader: "js" };
      },
    );
  },
};

/** zod ships messages in ~50 languages behind `z.locales`; ops-rig's are English (zod's default). */
const zodEnglishOnly = {
  name: "ops-rig-zod-english-only",
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, () => ({
      contents: 'export { default as en } from "./en.js";',
      loader: "js",
    }));
  },
};

const options = JSON.parse(readFileSync(0, "utf8"));
const result = await build({ ...options, plugins: [sdkSchemaKeys, zodEnglishOnly] });
if (result.errors.length > 0) {
  process.stderr.write(`esbuild failed: ${result.errors.map((e) => e.text).join("; ")}\n`);
  process.exit(1);
}
process.stdout.write(JSON.stringify(result.metafile));
