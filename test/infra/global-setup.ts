import { readdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

/**
 * The infra tier's workers keep their Lambda bundles for the whole run (see `cleanup` in
 * helpers.ts) and vitest ends them without an exit event: remove the bundles this run made.
 */
export default function setup(): () => void {
  const started = Date.now();
  const cacheDir = resolve(import.meta.dirname, "..", "..", ".cache");
  return () => {
    let names: string[];
    try {
      names = readdirSync(cacheDir);
    } catch {
      return;
    }
    for (const name of names) {
      const dir = join(cacheDir, name);
      if (name.startsWith("lambda-") && statSync(dir).ctimeMs >= started - 1000) {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  };
}
