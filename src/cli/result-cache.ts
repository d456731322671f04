import { createHash } from "node:crypto";
import type { Dirent } from "node:fs";
import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Memo } from "../memo.js";

/**
 * Results of `render` and `validate` kept between runs. Both are a pure function of the project's
 * files, ops-rig's own code and (for validate) shellcheck's version: a key hashes all of those, so a
 * changed file, another ops-rig build or another shellcheck never reuses a result. Only successes are
 * stored; a run that finds problems always does the work again and reports it in full.
 */
export interface ResultCache {
  /** The key of `kind` for the project at `root` and the given extra parts (tool versions). */
  key(kind: string, root: string, extra?: readonly string[]): Promise<string>;
  get<T>(key: string): Promise<T | undefined>;
  put(key: string, value: unknown): Promise<void>;
  /**
   * The memo of this build's parsed YAML files and rendered components, read from disk: when one
   * file changed, `render` and `validate` redo only what depends on it.
   */
  memo(): Promise<StoredMemo>;
}

/** A memo read from a file: `save` writes back what this run used and added, when it added any. */
export interface StoredMemo extends Memo {
  save(): Promise<void>;
}

/** The folders whose every file is an input of rendering (`loadProject` reads from them). */
const INPUT_FOLDERS = ["recipes", "components"] as const;

/**
 * A cache in `dir`, for the ops-rig build `buildId`. Unreadable, corrupt or unwritable entries only
 * cost the work they would have saved: every failure of the cache itself is a miss.
 */
export function fileResultCache(dir: string, buildId: string, seedMemo?: string): ResultCache {
  return {
    async key(kind, root, extra = []) {
      const hash = createHash("sha256").update(`ops-rig ${kind}\0${buildId}\0${extra.join("\0")}\0`);
      for (const folder of INPUT_FOLDERS) {
        for (const file of await filesUnder(join(root, folder))) {
          // A file that cannot be read is hashed as such; loading the project then reports it.
          const bytes = await readFile(join(root, folder, file)).catch(() => undefined);
          hash.update(`${folder}/${file}\0${bytes === undefined ? "unreadable" : bytes.length}\0`);
          if (bytes) hash.update(bytes);
        }
      }
      return hash.digest("hex");
    },
    async get<T>(key: string) {
      try {
        return JSON.parse(await readFile(join(dir, `${key}.json`), "utf8")) as T;
      } catch {
        return undefined;
      }
    },
    async put(key, value) {
      try {
        await mkdir(dir, { recursive: true });
        // Written aside and renamed: a concurrent run never reads half a result.
        const part = join(dir, `${key}.${process.pid}.part`);
        await writeFile(part, JSON.stringify(value));
        await rename(part, join(dir, `${key}.json`));
      } catch {
        // A cache that cannot be written only costs the next run its speed.
      }
    },
    memo: () => fileMemo(join(dir, "memo", "project.json"), buildId, seedMemo),
  };
}

/**
 * A memo kept in one JSON file for the ops-rig build `buildId` (another build's file is ignored:
 * its entries were made by other code). `save` keeps the entries this run read or added and drops
 * the rest, so entries for files since changed do not pile up; it writes nothing when the run
 * added nothing. Like the results, a memo that cannot be read or written is only a slower run.
 * `seedPath`: a memo read only, for keys the file lacks (the build's memo of the shipped project).
 */
export async function fileMemo(path: string, buildId: string, seedPath?: string): Promise<StoredMemo> {
  const [stored, seed] = await Promise.all([
    readMemoEntries(path, buildId),
    seedPath === undefined ? ({} as Record<string, unknown>) : readMemoEntries(seedPath, buildId),
  ]);
  const used = new Map<string, unknown>();
  let added = false;
  return {
    get(key) {
      const from = Object.hasOwn(stored, key) ? stored : Object.hasOwn(seed, key) ? seed : undefined;
      if (!from) return undefined;
      const value = from[key];
      used.set(key, value);
      return value;
    },
    set(key, value) {
      used.set(key, value);
      added = true;
    },
    async save() {
      if (!added) return;
      added = false;
      try {
        await mkdir(join(path, ".."), { recursive: true });
        const part = `${path}.${process.pid}.part`;
        await writeFile(part, JSON.stringify({ build: buildId, entries: Object.fromEntries(used) }));
        await rename(part, path);
      } catch {
        // As with results: the next run is only slower.
      }
    },
  };
}

/** The entries of the memo file at `path` if it belongs to `buildId`; none if not, or unreadable. */
async function readMemoEntries(path: string, buildId: string): Promise<Record<string, unknown>> {
  try {
    const file = JSON.parse(await readFile(path, "utf8")) as { build?: unknown; entries?: unknown };
    if (file.build === buildId && isRecord(file.entries)) return file.entries;
  } catch {
    // No memo yet, or an unreadable one: start empty.
  }
  return {};
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Files under `dir`, relative and sorted (none when it cannot be read: loading reports that). */
async function filesUnder(dir: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((entry) => !entry.isDirectory())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort();
}

/**
 * The result cache of the compiled CLI: keyed by the build id written beside the bundle by
 * `npm run build`. Running from source (tsx) there is no build id, and no cache: the code may change
 * between runs without anything saying so. The build's memo of the shipped project (`memo.json`
 * beside the code) seeds the user's.
 */
export async function builtResultCache(codeUrl: string, cacheDir: string): Promise<ResultCache | undefined> {
  const buildId = await readFile(new URL("./build-id", codeUrl), "utf8").catch(() => undefined);
  if (!buildId?.trim()) return undefined;
  return fileResultCache(
    join(cacheDir, "results"),
    buildId.trim(),
    fileURLToPath(new URL("./memo.json", codeUrl)),
  );
}
