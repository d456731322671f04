import type { Command } from "commander";
import { ARCHES, BASES } from "../../config/bases.js";
import { OpsRigError } from "../../errors.js";
import { type BaseWanted, baseKey, baseOwner, discoverBases } from "../../pipeline/bases.js";
import { regionsOf } from "../../plan/plan.js";
import type { CommandContext } from "../context.js";
import { parseArch, parseBase } from "../lines.js";
import { formatTable, paint } from "../output.js";
import { pipelineProject } from "../project.js";

interface BasesOptions {
  base?: string[];
  arch?: string[];
}

export function registerBases(program: Command, context: () => CommandContext): void {
  program
    .command("bases")
    .description(
      "the newest Ubuntu/Debian base AMI per base, arch and region (public parameter first, then an owner-pinned search)",
    )
    .option("-b, --base <base...>", `only these bases (${BASES.join(", ")})`)
    .option("-a, --arch <arch...>", `only these arches (${ARCHES.join(", ")})`)
    .action(async (options: BasesOptions) => {
      const ctx = context();
      const bases = (options.base ?? [...BASES]).map((b) => parseBase(b));
      const arches = (options.arch ?? [...ARCHES]).map((a) => parseArch(a));
      const project = await pipelineProject(ctx);
      const regions = ctx.regions ?? regionsOf(project.pipeline);
      const ports = ctx.ports(project.pipeline.homeRegion);
      const wanted: BaseWanted[] = bases.flatMap((base) => arches.map((arch) => ({ base, arch })));
      const rows = (
        await Promise.all(
          regions.map(async (region) => {
            const found = await discoverBases(ports, region, wanted);
            return wanted.map((w) => ({ region, ...w, lookup: found.get(baseKey(w)) }));
          }),
        )
      ).flat();

      const missing = rows.filter((r) => !r.lookup?.ok);
      if (ctx.output.json) {
        ctx.output.writeJson(
          rows.map((r) => ({
            region: r.region,
            base: r.base,
            arch: r.arch,
            ...(r.lookup?.ok
              ? { ...r.lookup.image }
              : { error: r.lookup?.ok === false ? r.lookup.error : "not looked up" }),
          })),
        );
      } else {
        ctx.output.out(
          formatTable(rows, [
            { header: "base", value: (r) => r.base },
            { header: "arch", value: (r) => r.arch },
            { header: "region", value: (r) => r.region },
            {
              header: "AMI",
              value: (r) => (r.lookup?.ok ? r.lookup.image.imageId : paint(ctx.output, "red", "NOT FOUND")),
            },
            {
              header: "name",
              value: (r) =>
                r.lookup?.ok ? r.lookup.image.name : r.lookup?.ok === false ? r.lookup.error : "",
            },
            { header: "created", value: (r) => (r.lookup?.ok ? r.lookup.image.creationDate : "") },
            {
              header: "owner",
              value: (r) => (r.lookup?.ok ? r.lookup.image.ownerId : baseOwner(r.base, r.region)),
            },
            { header: "source", value: (r) => (r.lookup?.ok ? r.lookup.image.source : "") },
          ]),
        );
      }
      if (missing.length > 0) {
        throw new OpsRigError(
          "BASE_NOT_FOUND",
          "system",
          `${missing.length} base image(s) not found: ${missing.map((m) => `${m.base}/${m.arch} in ${m.region}`).join(", ")}`,
        );
      }
    });
}
