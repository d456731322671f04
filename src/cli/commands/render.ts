import { constants } from "node:fs";
import { access, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { selectToolsetsByName } from "../../pipeline/toolsets.js";
import { shortHash } from "../../render/hash.js";
import type { RecipeShape, RenderedProject } from "../../render/index.js";
import type { CommandContext } from "../context.js";
import { formatBytes, formatTable } from "../output.js";

interface RenderOptions {
  toolset?: string[];
  out?: string;
}

export interface RenderManifest {
  readonly toolsets: Record<
    string,
    {
      components: string[];
      recipes: Record<string, string>;
      cloudInit?: { file: string; bytes: number; sha256: string };
    }
  >;
  readonly components: Record<
    string,
    { file: string; type: string; phases: string[]; chars: number; sha256: string }
  >;
  readonly files: string[];
}

/** What `render` prints and writes, as plain data: computed from the project, or read from the cache. */
export interface RenderOutput {
  /** Every component, in the project's order. */
  readonly components: readonly {
    readonly name: string;
    readonly resourceName: string;
    readonly type: string;
    readonly phases: readonly string[];
    readonly size: number;
    readonly hash: string;
    readonly document: string;
  }[];
  readonly toolsets: readonly {
    readonly name: string;
    /** Component names in recipe order. */
    readonly components: readonly string[];
    readonly bases: readonly string[];
    readonly arches: readonly string[];
    readonly recipes: readonly RecipeShape[];
    readonly cloudInit?: {
      readonly userData: string;
      readonly bytes: number;
      readonly hash: string;
      readonly compressed: boolean;
    };
  }[];
}

export function renderOutput(rendered: RenderedProject): RenderOutput {
  return {
    components: [...rendered.components.values()].map((c) => ({
      name: c.name,
      resourceName: c.resourceName,
      type: c.type,
      phases: c.phases,
      size: c.size,
      hash: c.hash,
      document: c.document,
    })),
    toolsets: rendered.toolsets.map(({ toolset, components, recipes, cloudInit }) => ({
      name: toolset.name,
      components: components.map((c) => c.name),
      bases: toolset.bases,
      arches: toolset.arches,
      recipes,
      ...(cloudInit
        ? {
            cloudInit: {
              userData: cloudInit.userData,
              bytes: cloudInit.bytes,
              hash: cloudInit.hash,
              compressed: cloudInit.compressed,
            },
          }
        : {}),
    })),
  };
}

/**
 * The project's render output: from the result cache when nothing it depends on changed (no YAML
 * parsed, nothing rendered), else rendered and stored.
 */
async function cachedRenderOutput(ctx: CommandContext): Promise<RenderOutput> {
  const key = ctx.cache ? await ctx.cache.key("render", ctx.projectRoot) : undefined;
  const cached = key ? await ctx.cache?.get<RenderOutput>(key) : undefined;
  if (cached) return cached;
  const output = renderOutput(await ctx.rendered({ memo: true }));
  if (key) await ctx.cache?.put(key, output);
  return output;
}

export function registerRender(program: Command, context: () => CommandContext): void {
  program
    .command("render")
    .description("render the AWSTOE component documents, image recipes and cloud-init user data")
    .option("-t, --toolset <name...>", "only these toolsets (default: all)")
    .option(
      "-o, --out <dir>",
      "write the documents to this folder (components/, recipes/, cloud-init/, manifest.json)",
    )
    .action(async (options: RenderOptions) => {
      const ctx = context();
      if (options.out !== undefined && options.out.trim() === "")
        throw new UsageError("the folder name is empty (omit --out to print a summary only)", "--out");
      const rendered = await cachedRenderOutput(ctx);
      const toolsets = selectToolsetsByName(rendered.toolsets, options.toolset);
      const byName = new Map(rendered.components.map((c) => [c.name, c]));
      const components = new Map<string, RenderOutput["components"][number]>();
      for (const t of toolsets) {
        for (const name of t.components) {
          const component = byName.get(name);
          if (component) components.set(name, component);
        }
      }

      const files = new Map<string, string>();
      const manifest: RenderManifest = { toolsets: {}, components: {}, files: [] };
      for (const component of [...components.values()].sort((a, b) => a.name.localeCompare(b.name))) {
        const file = `components/${component.resourceName}.yaml`;
        files.set(file, component.document);
        manifest.components[component.name] = {
          file,
          type: component.type,
          phases: [...component.phases],
          chars: component.size,
          sha256: component.hash,
        };
      }
      for (const { name, components: members, recipes, cloudInit } of toolsets) {
        const entry: RenderManifest["toolsets"][string] = { components: [...members], recipes: {} };
        for (const recipe of recipes) {
          const file = `recipes/${recipe.name}.json`;
          files.set(file, `${JSON.stringify(recipe, null, 2)}\n`);
          entry.recipes[recipe.name] = recipe.hash;
        }
        if (cloudInit) {
          const file = `cloud-init/${name}.yaml`;
          files.set(file, cloudInit.userData);
          entry.cloudInit = { file, bytes: cloudInit.bytes, sha256: cloudInit.hash };
        }
        manifest.toolsets[name] = entry;
      }
      manifest.files.push(...[...files.keys()].sort());

      if (options.out) await writeRendered(resolve(options.out), files, manifest);

      const { output } = ctx;
      if (output.json) {
        output.writeJson(manifest);
        return;
      }
      output.out(
        formatTable(
          [...components.values()],
          [
            { header: "component", value: (c) => c.name },
            { header: "type", value: (c) => c.type },
            { header: "phases", value: (c) => c.phases.join(",") },
            { header: "chars", value: (c) => String(c.size), align: "right" },
            { header: "sha256", value: (c) => shortHash(c.hash) },
          ],
        ),
      );
      output.out("");
      for (const { name, components: members, recipes, bases, arches, cloudInit } of toolsets) {
        output.out(
          `${name}: ${members.length} components, ${recipes.length} recipes (${bases.join(", ")} × ${arches.join(", ")})` +
            (cloudInit
              ? `, cloud-init ${formatBytes(cloudInit.bytes)}${cloudInit.compressed ? " (gzip)" : ""} of 16 KiB`
              : ""),
        );
      }
      if (options.out) output.out(`\nwrote ${files.size + 1} files to ${resolve(options.out)}`);
    });
}

/**
 * Writes the rendered files and the manifest. Files an earlier render wrote that this one no longer
 * produces (a removed component) are deleted, so the folder always matches the manifest.
 */
async function writeRendered(
  dir: string,
  files: ReadonlyMap<string, string>,
  manifest: RenderManifest,
): Promise<void> {
  await ensureFolder(dir, "--out");
  const manifestPath = join(dir, "manifest.json");
  let previous: string[] = [];
  try {
    previous = (JSON.parse(await readFile(manifestPath, "utf8")) as RenderManifest).files ?? [];
  } catch {
    // No earlier render in this folder.
  }
  for (const [file, text] of files) {
    const path = join(dir, file);
    await ensureFolder(dirname(path), "--out");
    await writeOut(path, text);
  }
  for (const stale of previous.filter((file) => !files.has(file))) {
    if (!stale.includes("..")) await rm(join(dir, stale), { force: true });
  }
  await writeOut(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
}

async function writeOut(path: string, text: string): Promise<void> {
  try {
    await writeFile(path, text);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new UsageError(`cannot write ${path}: ${e.code ?? e.message}`, "--out");
  }
}

/**
 * Creates a folder and its missing parents one level at a time. Node's recursive mkdir spins forever
 * under /proc (it retries ENOENT), and its errors name no flag: every failure here is a usage error.
 */
async function ensureFolder(dir: string, flag: string): Promise<void> {
  const missing: string[] = [];
  let current = dir;
  for (;;) {
    const info = await stat(current).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT" || error.code === "ENOTDIR") return undefined;
      throw new UsageError(`cannot use ${current}: ${error.message}`, flag);
    });
    if (info) {
      if (!info.isDirectory()) throw new UsageError(`${current} exists and is not a folder`, flag);
      break;
    }
    missing.unshift(current);
    const parent = dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const folder of missing) {
    try {
      await mkdir(folder);
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      if (e.code === "EEXIST" && (await stat(folder)).isDirectory()) continue;
      throw new UsageError(`cannot create ${folder}: ${e.code ?? e.message}`, flag);
    }
  }
  await access(dir, constants.W_OK).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot write in ${dir}: ${error.code ?? error.message}`, flag);
  });
}
