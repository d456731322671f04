import { ARCHES, type Arch, BASES, type Base, isArch, isBase } from "../config/bases.js";
import type { ToolsetData } from "../config/types.js";
import { UsageError } from "../errors.js";
import { selectToolsetsByName } from "../pipeline/run.js";
import type { LineKey } from "../render/index.js";

export function parseBase(value: string, flag = "--base"): Base {
  if (!isBase(value)) throw new UsageError(`unknown base "${value}" (known: ${BASES.join(", ")})`, flag);
  return value;
}

export function parseArch(value: string, flag = "--arch"): Arch {
  if (!isArch(value)) throw new UsageError(`unknown arch "${value}" (known: ${ARCHES.join(", ")})`, flag);
  return value;
}

/**
 * The line `--toolset T [--base B] [--arch A]` names: the toolset's default base and arch where not
 * given. `usesDefault` tells whether the short alias parameter applies.
 */
export function resolveLine(
  toolsets: readonly ToolsetData[],
  options: { toolset: string; base?: string | undefined; arch?: string | undefined },
): { toolset: ToolsetData; line: LineKey; usesDefault: boolean } {
  const [toolset] = selectToolsetsByName(toolsets, [options.toolset]) as [ToolsetData];
  const base = options.base === undefined ? toolset.default.base : parseBase(options.base);
  const arch = options.arch === undefined ? toolset.default.arch : parseArch(options.arch);
  if (!toolset.bases.includes(base)) {
    throw new UsageError(
      `toolset ${toolset.name} is not built on ${base} (it has ${toolset.bases.join(", ")})`,
      "--base",
    );
  }
  if (!toolset.arches.includes(arch))
    throw new UsageError(`toolset ${toolset.name} is not built for ${arch}`, "--arch");
  return {
    toolset,
    line: { toolset: toolset.name, base, arch },
    usesDefault: options.base === undefined && options.arch === undefined,
  };
}
