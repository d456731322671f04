import type { Arch, Base } from "../config/bases.js";
import { baseKey, baseOwner, discoverBases } from "../pipeline/bases.js";
import type { PipelinePorts } from "../pipeline/ports.js";
import type { BaseLookup } from "../plan/types.js";

export interface BaseRow {
  readonly region: string;
  readonly base: Base;
  readonly arch: Arch;
  /** The publisher account the image must come from in this region's partition. */
  readonly owner: string;
  readonly lookup: BaseLookup;
}

/** `ops-rig bases`: the newest publisher image per base, arch and region. */
export async function findBases(
  ports: Pick<PipelinePorts, "ec2" | "ssm">,
  request: {
    readonly regions: readonly string[];
    readonly bases: readonly Base[];
    readonly arches: readonly Arch[];
  },
): Promise<{ readonly rows: readonly BaseRow[]; readonly missing: readonly BaseRow[] }> {
  const wanted = request.bases.flatMap((base) => request.arches.map((arch) => ({ base, arch })));
  const rows = (
    await Promise.all(
      request.regions.map(async (region) => {
        const found = await discoverBases(ports, region, wanted);
        return wanted.map(
          (w): BaseRow => ({
            region,
            ...w,
            owner: baseOwner(w.base, region),
            lookup: found.get(baseKey(w)) ?? { ok: false, error: "not looked up" },
          }),
        );
      }),
    )
  ).flat();
  return { rows, missing: rows.filter((r) => !r.lookup.ok) };
}
