import type { Dirent } from "node:fs";
import { readdir, readFile, readlink, stat } from "node:fs/promises";
import { join } from "node:path";
import { ConfigError, type Problem } from "../errors.js";
import type { Memo } from "../memo.js";
import { COMPONENTS_DIR, PIPELINE_FILE, PRELUDE_FILE, parseProject, RECIPES_DIR } from "./parse.js";
import type { ProjectConfig } from "./types.js";

/**
 * Reads `recipes/`, `components/` and the prelude from a project directory and validates them.
 * Anything unreadable (a folder named like a file, a dangling symlink, no permission) is a problem
 * naming the file, collected with every other problem: a user error, never a raw EISDIR/ENOENT.
 */
export async function loadProject(root: string, memo?: Memo): Promise<ProjectConfig> {
  const files = new Map<string, string>();
  const problems: Problem[] = [];
  for (const dir of [RECIPES_DIR, COMPONENTS_DIR]) {
    let entries: Dirent[];
    try {
      entries = await readdir(join(root, dir), { withFileTypes: true });
    } catch (error) {
      throw new ConfigError(
        [{ file: dir, message: `cannot read the folder in ${root}: ${(error as Error).message}` }],
        { cause: error },
      );
    }
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (!/\.ya?ml$/.test(entry.name)) continue;
      const file = `${dir}/${entry.name}`;
      const text = await readProjectFile(root, file, problems);
      if (text !== undefined) files.set(file, text);
    }
  }
  for (const file of [PRELUDE_FILE, PIPELINE_FILE]) {
    if (files.has(file)) continue;
    try {
      await stat(join(root, file));
    } catch {
      continue; // parseProject reports the missing file with its purpose.
    }
    const text = await readProjectFile(root, file, problems);
    if (text !== undefined) files.set(file, text);
  }
  if (problems.length > 0) {
    // Parse what could be read too, so one run lists every problem.
    try {
      parseProject(files);
    } catch (error) {
      if (error instanceof ConfigError)
        problems.push(...error.problems.filter((p) => !mentions(problems, p)));
    }
    throw new ConfigError(problems);
  }
  return parseProject(files, memo);
}

async function readProjectFile(root: string, file: string, problems: Problem[]): Promise<string | undefined> {
  const path = join(root, file);
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    let message = `cannot be read: ${(error as Error).message}`;
    if (code === "EISDIR") message = "is a folder, not a file: move it away or rename it";
    else if (code === "ENOENT") {
      const target = await readlink(path).catch(() => undefined);
      message =
        target === undefined
          ? "disappeared while the project was read"
          : `is a symbolic link to ${target}, which does not exist`;
    } else if (code === "ELOOP") message = "is a symbolic link that loops";
    else if (code === "EACCES") message = "cannot be read: permission denied";
    problems.push({ file, message });
    return undefined;
  }
}

/** Whether a problem about the same file (a missing component, say) is already explained. */
function mentions(problems: readonly Problem[], candidate: Problem): boolean {
  return problems.some(
    (p) =>
      p.file !== undefined && candidate.message.includes(p.file.replace(/^.*\//, "").replace(/\.ya?ml$/, "")),
  );
}
