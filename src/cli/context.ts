import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { AwsClients } from "../aws/clients.js";
import { loadProject } from "../config/load.js";
import { REGION_PATTERN } from "../config/schema.js";
import type { ProjectConfig } from "../config/types.js";
import { UsageError } from "../errors.js";
import type { PipelinePorts } from "../pipeline/ports.js";
import { selectToolsetsByName } from "../pipeline/run.js";
import { type RenderedProject, type RenderedToolset, renderProject } from "../render/index.js";
import type { Output } from "./output.js";

/** The folder ops-rig ships its recipes/ and components/ in (two levels above src/cli or dist/cli). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface GlobalOptions {
  config?: string;
  json?: boolean;
  verbose?: boolean;
  region?: string[];
  regions?: string[];
}

/** What every command gets: output, and lazy access to the validated project. */
export interface CommandContext {
  readonly output: Output;
  readonly projectRoot: string;
  readonly env: NodeJS.ProcessEnv;
  /** Regions from the global `--region` flags (validated), or undefined when none were given. */
  readonly regions: readonly string[] | undefined;
  project(): Promise<ProjectConfig>;
  rendered(): Promise<RenderedProject>;
  /** SDK clients for this process (created on first use). */
  clients(): AwsClients;
  ports(homeRegion: string): PipelinePorts;
  /** Interrupt (Ctrl-C) of a long command. */
  readonly signal: AbortSignal;
}

export function projectRootFrom(options: GlobalOptions, env: NodeJS.ProcessEnv): string {
  return resolve(options.config ?? env.OPS_RIG_CONFIG ?? PACKAGE_ROOT);
}

export interface ContextInit {
  readonly output: Output;
  readonly projectRoot: string;
  readonly env: NodeJS.ProcessEnv;
  readonly regions: readonly string[] | undefined;
  readonly clients: () => AwsClients;
  readonly ports: (clients: AwsClients, homeRegion: string) => PipelinePorts;
  readonly signal: AbortSignal;
}

export function createContext(init: ContextInit): CommandContext {
  let project: Promise<ProjectConfig> | undefined;
  let rendered: Promise<RenderedProject> | undefined;
  let clients: AwsClients | undefined;
  const context: CommandContext = {
    output: init.output,
    projectRoot: init.projectRoot,
    env: init.env,
    regions: init.regions,
    signal: init.signal,
    clients: () => {
      clients ??= init.clients();
      return clients;
    },
    ports: (homeRegion) => init.ports(context.clients(), homeRegion),
    project: () => {
      project ??= loadProject(init.projectRoot);
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
  return selectToolsetsByName(
    rendered.toolsets.map((t) => t.toolset),
    names,
  ).flatMap((toolset) => rendered.toolsets.filter((t) => t.toolset === toolset));
}

/** `--region a --region b,c` → [a, b, c], each checked. */
export function parseRegions(values: readonly string[] | undefined, flag = "--region"): string[] | undefined {
  if (!values || values.length === 0) return undefined;
  const regions = values
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter(Boolean);
  for (const region of regions) {
    if (!REGION_PATTERN.test(region))
      throw new UsageError(`"${region}" is not an AWS region name (e.g. eu-west-1)`, flag);
  }
  return [...new Set(regions)];
}
