import type { Toolset } from "../config/types.js";
import { UsageError } from "../errors.js";

/** The toolsets `--toolset` names (all when none); an unknown name is a usage error listing the known ones. */
export function selectToolsetsByName(
  toolsets: readonly Toolset[],
  names: readonly string[] | undefined,
): Toolset[] {
  if (!names || names.length === 0) return [...toolsets];
  return names.map((name) => {
    const found = toolsets.find((t) => t.name === name);
    if (!found)
      throw new UsageError(
        `unknown toolset "${name}" (known: ${toolsets.map((t) => t.name).join(", ")})`,
        "--toolset",
      );
    return found;
  });
}
