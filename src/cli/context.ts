import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadProject } from "../config/load.js";
import type { ProjectConfig } from "../config/types.js";
import { UsageError } from "../errors.js";
import { type RenderedProject, type RenderedToolset, renderProject } from "../render/index.js";
import type { Output } from "./output.js";

/** The folder ops-rig ships its recipes/ and components/ in (two levels above src/cli or dist/cli). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface GlobalOptions {
  config?: string;
  json?: boolean;
  verbose?: boolean;
}

/** What every command gets: output, and lazy access to the validated project. */
export interface CommandContext {
  readonly output: Output;
  readonly projectRoot: string;
  project(): Promise<ProjectConfig>;
  rendered(): Promise<RenderedProject>;
}

export function projectRootFrom(options: GlobalOptions, env: NodeJS.ProcessEnv): string {
  return resolve(options.config ?? env.OPS_RIG_CONFIG ?? PACKAGE_ROOT);
}

export function createContext(output: Output, projectRoot: string): CommandContext {
  let project: Promise<ProjectConfig> | undefined;
  let rendered: Promise<RenderedProject> | undefined;
  const context: CommandContext = {
    output,
    projectRoot,
    project: () => {
      project ??= loadProject(projectRoot);
      return project;
    },
    rendered: () => {
      rendered ??= context.project().then(renderProject);
      return rendered;
    },
  };
  return context;
}

/** The toolsets a `--toolset` flag selects (all when absent); unknown names are a usage error. */
export function selectToolsets(
  rendered: RenderedProject,
  names: readonly string[] | undefined,
): RenderedToolset[] {
  if (!names || names.length === 0) return [...rendered.toolsets];
  const known = rendered.toolsets.map((t) => t.toolset.name);
  return names.map((name) => {
    const found = rendered.toolsets.find((t) => t.toolset.name === name);
    if (!found) throw new UsageError(`unknown toolset "${name}" (known: ${known.join(", ")})`, "--toolset");
    return found;
  });
}
