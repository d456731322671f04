import { applyEnvOverrides } from "../config/overrides.js";
import { UsageError } from "../errors.js";
import type { PipelineProject } from "../pipeline/run.js";
import type { CommandContext } from "./context.js";

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

/**
 * The CLI's clock. `OPS_RIG_NOW` (an ISO time) evaluates the time-based rules (maxAge, back-off,
 * retention's grace period) as of that moment, for what-if plans ("what does tomorrow's nightly do?").
 */
export function realClock(env: NodeJS.ProcessEnv = {}) {
  let offsetMs = 0;
  if (env.OPS_RIG_NOW) {
    const at = Date.parse(env.OPS_RIG_NOW);
    if (Number.isNaN(at)) throw new UsageError(`"${env.OPS_RIG_NOW}" is not an ISO date-time`, "OPS_RIG_NOW");
    offsetMs = at - Date.now();
  }
  return {
    now: () => new Date(Date.now() + offsetMs),
    sleep: (ms: number, signal?: AbortSignal) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        signal?.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
