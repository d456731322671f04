import type { Toolset } from "../config/types.js";
import { UsageError } from "../errors.js";

/** The toolsets `--toolset` names (all when none); an unknown name is a usage error listing the known ones. */
export function selectToolsetsByName<T extends Pick<Toolset, "name">>(
  toolsets: readonly T[],
  names: readonly string[] | undefined,
): T[] {
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
