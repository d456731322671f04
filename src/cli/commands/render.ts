import { constants } from "node:fs";
import { access, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { type RenderedComponent, shortHash } from "../../render/index.js";
import { type CommandContext, selectToolsets } from "../context.js";
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
      const rendered = await ctx.rendered();
      const toolsets = selectToolsets(rendered, options.toolset);
      const components = new Map<string, RenderedComponent>();
      for (const t of toolsets) for (const c of t.components) components.set(c.name, c);

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
      for (const { toolset, recipes, cloudInit } of toolsets) {
        const entry: RenderManifest["toolsets"][string] = {
          components: toolset.components.map((c) => c.name),
          recipes: {},
        };
        for (const recipe of recipes) {
          const file = `recipes/${recipe.name}.json`;
          files.set(file, `${JSON.stringify(recipe, null, 2)}\n`);
          entry.recipes[recipe.name] = recipe.hash;
        }
        if (cloudInit) {
          const file = `cloud-init/${toolset.name}.yaml`;
          files.set(file, cloudInit.userData);
          entry.cloudInit = { file, bytes: cloudInit.bytes, sha256: cloudInit.hash };
        }
        manifest.toolsets[toolset.name] = entry;
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
      for (const { toolset, recipes, cloudInit } of toolsets) {
        output.out(
          `${toolset.name}: ${toolset.components.length} components, ${recipes.length} recipes (${toolset.bases.join(", ")} × ${toolset.arches.join(", ")})` +
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
