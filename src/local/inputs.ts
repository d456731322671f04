import { componentOnLine, type ProjectConfig } from "../config/types.js";
import { UsageError } from "../errors.js";
import { type RenderedProject, renderProject } from "../render/index.js";
import type { LocalBase, LocalComponentInput } from "./types.js";

/**
 * The components a local build of `toolset` on `base` runs, in recipe order: each rendered document
 * with the toolset's parameter values, and the toolset's reason where it marks a component as not
 * locally runnable (on every base, or on the bases it lists).
 */
export function localComponentInputs(
  project: ProjectConfig | RenderedProject,
  toolset: string,
  base: LocalBase,
): LocalComponentInput[] {
  const rendered = "config" in project ? project : renderProject(project);
  const found = rendered.toolsets.find((t) => t.toolset.name === toolset);
  if (!found) {
    const known = rendered.toolsets.map((t) => t.toolset.name).join(", ");
    throw new UsageError(`unknown toolset "${toolset}" (known: ${known})`, "--toolset");
  }
  if (!found.toolset.bases.includes(base))
    throw new UsageError(
      `toolset "${toolset}" is not built for ${base} (its bases: ${found.toolset.bases.join(", ")})`,
      "--base",
    );
  const inputs: LocalComponentInput[] = [];
  found.toolset.components.forEach((ref, index) => {
    const component = found.components[index];
    if (!component || component.name !== ref.name)
      throw new Error(`rendered toolset ${toolset} does not match its recipe at ${ref.name}`);
    // The local root has the build host's architecture; only the base decides what the recipe holds.
    if (!componentOnLine(ref, base)) return;
    const local = ref.local;
    const applies = local && local.runnable === false && (!local.bases || local.bases.includes(base));
    const skipSteps =
      applies && local.steps ? Object.fromEntries(local.steps.map((s) => [s, local.reason])) : undefined;
    inputs.push({
      name: ref.name,
      document: component.document,
      parameters: { ...ref.parameters },
      ...(applies && !local.steps ? { skipReason: local.reason } : {}),
      ...(skipSteps ? { skipSteps } : {}),
    });
  });
  return inputs;
}
