import { applyEnvOverrides } from "../config/overrides.js";
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

export function realClock() {
  return {
    now: () => new Date(),
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
