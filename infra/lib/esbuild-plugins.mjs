// esbuild plugins every ops-rig bundle uses (the Lambdas' and the CLI's). Plain JavaScript so the
// CLI's build (`npm run build`, run by `prepare` after `npm ci`) needs nothing but Node and esbuild.
import { readFileSync } from "node:fs";

/**
 * The SDK's schemas key their traits with computed properties (`{ [_xN]: _m }`, `_xN` a string
 * constant). esbuild cannot prove a computed key free of side effects, so it keeps every schema of
 * the service (EC2's alone are ~500 KB). Writing the constant's value in place of the key makes the
 * schemas plain data, and those no bundled command reaches are dropped. Same values, same code.
 */
export const sdkSchemaKeys = {
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
export const zodEnglishOnly = {
  name: "ops-rig-zod-english-only",
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, () => ({
      contents: 'export { default as en } from "./en.js";',
      loader: "js",
    }));
  },
};

/** Both, in the order they apply. */
export const OPS_RIG_PLUGINS = [sdkSchemaKeys, zodEnglishOnly];
