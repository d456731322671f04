import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { ConfigError } from "../errors.js";
import { COMPONENTS_DIR, PIPELINE_FILE, PRELUDE_FILE, parseProject, RECIPES_DIR } from "./parse.js";
import type { ProjectConfig } from "./types.js";

/** Reads `recipes/`, `components/` and the prelude from a project directory and validates them. */
export async function loadProject(root: string): Promise<ProjectConfig> {
  const files = new Map<string, string>();
  for (const dir of [RECIPES_DIR, COMPONENTS_DIR]) {
    let entries: string[];
    try {
      entries = await readdir(join(root, dir));
    } catch (error) {
      throw new ConfigError(
        [{ file: dir, message: `cannot read the folder in ${root}: ${(error as Error).message}` }],
        {
          cause: error,
        },
      );
    }
    for (const entry of entries.sort()) {
      if (/\.ya?ml$/.test(entry))
        files.set(`${dir}/${entry}`, await readFile(join(root, dir, entry), "utf8"));
    }
  }
  for (const file of [PRELUDE_FILE, PIPELINE_FILE]) {
    if (files.has(file)) continue;
    try {
      files.set(file, await readFile(join(root, file), "utf8"));
    } catch {
      // parseProject reports the missing file with its purpose.
    }
  }
  return parseProject(files);
}
