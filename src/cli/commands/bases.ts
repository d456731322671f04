import type { Command } from "commander";
import { ARCHES, BASES } from "../../config/bases.js";
import { BaseNotFoundError } from "../../errors.js";
import { regionsOf } from "../../plan/plan.js";
import { findBases } from "../../services/bases.js";
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
      const { rows, missing } = await findBases(ctx.aws.ports(project.pipeline.homeRegion), {
        regions: ctx.regions ?? regionsOf(project.pipeline),
        bases,
        arches,
      });
      if (ctx.output.json) {
        ctx.output.writeJson(
          rows.map((r) => ({
            region: r.region,
            base: r.base,
            arch: r.arch,
            ...(r.lookup.ok ? { ...r.lookup.image } : { error: r.lookup.error }),
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
              value: (r) => (r.lookup.ok ? r.lookup.image.imageId : paint(ctx.output, "red", "NOT FOUND")),
            },
            { header: "name", value: (r) => (r.lookup.ok ? r.lookup.image.name : r.lookup.error) },
            { header: "created", value: (r) => (r.lookup.ok ? r.lookup.image.creationDate : "") },
            { header: "owner", value: (r) => (r.lookup.ok ? r.lookup.image.ownerId : r.owner) },
            { header: "source", value: (r) => (r.lookup.ok ? r.lookup.image.source : "") },
          ]),
        );
      }
      if (missing.length > 0) {
        throw new BaseNotFoundError(
          `${missing.length} base image(s) not found: ${missing.map((m) => `${m.base}/${m.arch} in ${m.region}`).join(", ")}`,
        );
      }
    });
}
