import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { REGION_PATTERN } from "../config/patterns.js";
import type { ProjectConfig } from "../config/types.js";
import { UsageError } from "../errors.js";
import type { PipelinePorts } from "../pipeline/ports.js";
import { selectToolsetsByName } from "../pipeline/toolsets.js";
import type { RenderedProject, RenderedToolset } from "../render/index.js";
import type { ApiPort, LambdaPort, LaunchPort, LaunchTemplatePort } from "../services/ports.js";
import type { MemberAccessPort, SessionCredentials } from "../services/responders/accounts.js";
import type { ResponderPort } from "../services/responders/ports.js";
import type { Output } from "./output.js";
import type { ResultCache, StoredMemo } from "./result-cache.js";

/** The folder ops-rig ships its recipes/ and components/ in (two levels above src/cli or dist/cli). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface GlobalOptions {
  config?: string;
  api?: string;
  json?: boolean;
  verbose?: boolean;
}

/** What every command gets: output, and lazy access to the validated project. */
export interface CommandContext {
  readonly output: Output;
  readonly projectRoot: string;
  readonly env: NodeJS.ProcessEnv;
  /** Regions from the global `--region` flags (validated), or undefined when none were given. */
  readonly regions: readonly string[] | undefined;
  /** `--api URL` (or $OPS_RIG_API): the regional ops-rig API to call instead of AWS directly. */
  readonly api: string | undefined;
  project(): Promise<ProjectConfig>;
  /**
   * The rendered project. `memo`: reuse the memo in the cache folder (built CLI only) for what did
   * not change since the last run. Only for what `render` and `validate` report: what is baked,
   * launched or run locally is always rendered from the files, so nothing written to the cache
   * folder can change it.
   */
  rendered(options?: { readonly memo?: boolean }): Promise<RenderedProject>;
  /** The AWS the command talks to, through ports only (created on first use, bound to `signal`). */
  readonly aws: CommandAws;
  /** Interrupt (Ctrl-C) of a long command: aborts in-flight AWS calls. */
  readonly signal: AbortSignal;
  /** Replaces the wall clock (tests poll `bake --wait` on the local AWS's clock). */
  readonly clock?: CliClock;
  /** Results of `render` and `validate` by the content of their inputs (none when running from source). */
  readonly cache?: ResultCache;
}

/** Time as a command sees it: what time it is, and waiting. */
export interface CliClock {
  now(): Date;
  sleep(ms: number): Promise<void>;
}

/** Ports for the commands; the composition root (src/cli/aws.ts) builds them over SDK clients. */
export interface CommandAws {
  ports(homeRegion: string): PipelinePorts;
  launch(): LaunchPort;
  lambda(): LambdaPort;
  /**
   * The responder commands' port (in-memory AWS in tests may leave it out), with the caller's
   * credentials, or with a member-account session's.
   */
  responders?(credentials?: SessionCredentials): ResponderPort;
  /** Who the caller is, AssumeRole into member accounts, the organization's Config aggregator. */
  memberAccess?(): MemberAccessPort;
  /** The regional stacks' rig launch templates (`launch --template`, `status`). */
  templates(): LaunchTemplatePort;
  /** The ops-rig API at `url`, signed for `region` (or the URL's region). */
  api(url: string, region: string | undefined): ApiPort;
}

export function projectRootFrom(options: GlobalOptions, env: NodeJS.ProcessEnv): string {
  return resolve(options.config ?? env.OPS_RIG_CONFIG ?? PACKAGE_ROOT);
}

export interface ContextInit {
  readonly output: Output;
  readonly projectRoot: string;
  readonly env: NodeJS.ProcessEnv;
  readonly regions: readonly string[] | undefined;
  readonly api?: string | undefined;
  readonly aws: CommandAws;
  readonly signal: AbortSignal;
  readonly clock?: CliClock;
  readonly cache?: ResultCache;
}

export function createContext(init: ContextInit): CommandContext {
  const projects = new Map<boolean, Promise<ProjectConfig>>();
  const renderings = new Map<boolean, Promise<RenderedProject>>();
  let memo: Promise<StoredMemo | undefined> | undefined;
  const openMemo = (wanted: boolean) => {
    if (!wanted || !init.cache) return Promise.resolve(undefined);
    memo ??= init.cache.memo();
    return memo;
  };
  // Loaded on first use: `--version` and usage errors never pay for YAML, schemas or rendering. What
  // the memo's run added is saved even when the project has problems.
  const project = (withMemo: boolean) => {
    let loaded = projects.get(withMemo);
    if (!loaded) {
      loaded = (async () => {
        const [{ loadProject }, stored] = await Promise.all([
          import("../config/load.js"),
          openMemo(withMemo),
        ]);
        try {
          return await loadProject(init.projectRoot, stored);
        } finally {
          await stored?.save();
        }
      })();
      projects.set(withMemo, loaded);
    }
    return loaded;
  };
  const context: CommandContext = {
    output: init.output,
    projectRoot: init.projectRoot,
    env: init.env,
    regions: init.regions,
    api: init.api,
    signal: init.signal,
    aws: init.aws,
    ...(init.clock ? { clock: init.clock } : {}),
    ...(init.cache ? { cache: init.cache } : {}),
    project: () => project(false),
    rendered: (options) => {
      const withMemo = options?.memo === true;
      let rendering = renderings.get(withMemo);
      if (!rendering) {
        rendering = (async () => {
          const [config, { renderProject }, stored] = await Promise.all([
            project(withMemo),
            import("../render/index.js"),
            openMemo(withMemo),
          ]);
          try {
            return renderProject(config, stored);
          } finally {
            await stored?.save();
          }
        })();
        renderings.set(withMemo, rendering);
      }
      return rendering;
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

/**
 * `--region a --region b,c` → [a, b, c], each checked. An empty value (`--regions ''`, `a,,b`) is an
 * error, never "no regions": a command must not silently do nothing.
 */
export function parseRegions(values: readonly { flag: string; value: string }[]): string[] | undefined {
  if (values.length === 0) return undefined;
  const regions: string[] = [];
  for (const { flag, value } of values) {
    const items = value.split(",").map((v) => v.trim());
    for (const region of items) {
      if (region === "")
        throw new UsageError(`empty region name in "${value}" (give region names like eu-west-1)`, flag);
      if (!REGION_PATTERN.test(region))
        throw new UsageError(`"${region}" is not an AWS region name (e.g. eu-west-1)`, flag);
      regions.push(region);
    }
  }
  return [...new Set(regions)];
}
