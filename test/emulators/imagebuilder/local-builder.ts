import type { ProjectConfig } from "../../../src/config/types.js";
import { errorMessage } from "../../../src/errors.js";
import type { EventSink } from "../../../src/events.js";
import { type LocalBuildResult, runLocalBuild } from "../../../src/local/index.js";
import { RESOURCE_PREFIX, recipeResourceName } from "../../../src/render/index.js";
import type { LocalBuilder } from "./types.js";

/**
 * The emulator's "real local build": runs the recipe's component documents with the local AWSTOE
 * runner in an isolated Debian root, and fails the image exactly where a step fails. Builds run one
 * at a time (each one keeps both cores busy). Components the toolset marks as not locally runnable
 * are skipped with the toolset's reason (the runner reports them).
 */
export function createLocalRunnerBuilder(
  project: ProjectConfig,
  options: { onEvent?: EventSink; onResult?: (arn: string, result: LocalBuildResult) => void } = {},
): LocalBuilder {
  let queue: Promise<unknown> = Promise.resolve();
  return (request) => {
    const run = async (): Promise<Awaited<ReturnType<LocalBuilder>>> => {
      if (request.base !== "debian-12" && request.base !== "debian-13") {
        return {
          ok: false,
          phase: "BUILDING",
          reason: `local builds run Debian roots only, not ${request.base}`,
        };
      }
      const base = request.base;
      const toolset = project.toolsets.find((t) =>
        t.arches.some((arch) =>
          request.imageArn.includes(`/${recipeResourceName({ toolset: t.name, base, arch })}/`),
        ),
      );
      const components = request.components.map((c) => {
        const name = c.name.startsWith(`${RESOURCE_PREFIX}-`)
          ? c.name.slice(RESOURCE_PREFIX.length + 1)
          : c.name;
        const local = toolset?.components.find((ref) => ref.name === name)?.local;
        const applies = local && (!local.bases || local.bases.includes(base));
        return {
          name,
          document: c.document,
          parameters: c.parameters,
          ...(applies && !local.steps ? { skipReason: local.reason } : {}),
          // Only the steps the toolset names are not run locally, each with the toolset's reason.
          ...(applies && local.steps
            ? { skipSteps: Object.fromEntries(local.steps.map((step) => [step, local.reason])) }
            : {}),
        };
      });
      try {
        const result = await runLocalBuild({
          base,
          components,
          ...(options.onEvent ? { onEvent: options.onEvent } : {}),
        });
        options.onResult?.(request.imageArn, result);
        if (result.ok) return { ok: true };
        const failure = result.failure;
        const where = failure ? `${failure.component}/${failure.phase}/${failure.step}` : "unknown step";
        return {
          ok: false,
          phase: failure?.phase === "test" ? "TESTING" : "BUILDING",
          reason: `local build failed at ${where}: ${failure?.message ?? "no detail"}`,
        };
      } catch (error) {
        return { ok: false, phase: "BUILDING", reason: `local build could not run: ${errorMessage(error)}` };
      }
    };
    const result = queue.then(run, run);
    queue = result.catch(() => undefined);
    return result;
  };
}
