import { applyEnvOverrides } from "../config/overrides.js";
import { UsageError } from "../errors.js";
import { ignoreServiceEvents, type ServiceEvents } from "../events.js";
import type { PipelineDeps, PipelineProject } from "../pipeline/run.js";
import type { CliClock, CommandContext } from "./context.js";

/**
 * The pipeline as this invocation sees it: the project's settings, the same environment overrides
 * the Lambda honours, and `--region` narrowing the target regions.
 */
export async function pipelineProject(ctx: CommandContext): Promise<PipelineProject> {
  const rendered = await ctx.rendered();
  let pipeline = applyEnvOverrides(rendered.config.pipeline, ctx.env);
  if (ctx.regions) pipeline = { ...pipeline, targetRegions: [...ctx.regions] };
  return { pipeline, toolsets: rendered.config.toolsets, components: rendered.components };
}

/** What a service needs from the CLI: ports bound to Ctrl-C, the clock, and where its events go. */
export function serviceDeps(
  ctx: CommandContext,
  project: PipelineProject,
  events: ServiceEvents = ignoreServiceEvents,
): PipelineDeps {
  const clock = realClock(ctx.env, ctx.clock);
  return {
    ports: ctx.aws.ports(project.pipeline.homeRegion),
    now: clock.now,
    sleep: (ms) => clock.sleep(ms, ctx.signal),
    events,
    signal: ctx.signal,
  };
}

/**
 * The CLI's clock. `OPS_RIG_NOW` (an ISO time) evaluates the time-based rules (maxAge, back-off,
 * retention's grace period) as of that moment, for what-if plans ("what does tomorrow's nightly do?").
 * `base` replaces the wall clock (tests drive `bake --wait` on the local AWS's clock).
 */
export function realClock(env: NodeJS.ProcessEnv = {}, base?: CliClock) {
  let offsetMs = 0;
  const wall = () => base?.now().getTime() ?? Date.now();
  if (env.OPS_RIG_NOW) {
    const at = Date.parse(env.OPS_RIG_NOW);
    if (Number.isNaN(at)) throw new UsageError(`"${env.OPS_RIG_NOW}" is not an ISO date-time`, "OPS_RIG_NOW");
    offsetMs = at - wall();
  }
  return {
    now: () => new Date(wall() + offsetMs),
    /** Resolves after `ms`, or at once when `signal` aborts. */
    sleep: (ms: number, signal?: AbortSignal): Promise<void> => {
      if (base) return signal?.aborted ? Promise.resolve() : base.sleep(ms);
      return new Promise<void>((resolve) => {
        if (signal?.aborted) return resolve();
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal?.addEventListener("abort", done, { once: true });
      });
    },
  };
}
