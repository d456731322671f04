import type { Command } from "commander";
import { ARCHES, BASES } from "../../config/bases.js";
import { ActionsFailedError, UsageError } from "../../errors.js";
import { regionsOf } from "../../plan/index.js";
import { rollback } from "../../services/rollback.js";
import type { CommandContext } from "../context.js";
import { resolveLine } from "../lines.js";
import { formatTable } from "../output.js";
import { createProgress } from "../progress.js";
import { pipelineProject, serviceDeps } from "../project.js";

interface RollbackOptions {
  toolset: string;
  base?: string;
  arch?: string;
  to?: string;
}

export function registerRollback(program: Command, context: () => CommandContext): void {
  program
    .command("rollback")
    .description(
      "point a line's parameters back at the previous (or a given) version's AMI, then withdraw the bad build's AMIs",
    )
    .requiredOption("-t, --toolset <name>", "light or heavy")
    .option("-b, --base <base>", `base (${BASES.join(", ")}); default: the toolset's default`)
    .option("-a, --arch <arch>", `arch (${ARCHES.join(", ")}); default: the toolset's default`)
    .option(
      "--to <version>",
      "the parameter version to go back to (default: the newest good AMI before the bad build)",
    )
    .action(async (options: RollbackOptions) => {
      const ctx = context();
      if (options.to !== undefined && !/^[1-9]\d*$/.test(options.to))
        throw new UsageError(`"${options.to}" is not a parameter version number`, "--to");
      const project = await pipelineProject(ctx);
      const { toolset, line } = resolveLine(project.toolsets, options);
      const regions =
        ctx.regions ?? regionsOf(project.pipeline).filter((r) => project.pipeline.targetRegions.includes(r));
      const progress = createProgress(ctx.output);
      const result = await rollback(project, serviceDeps(ctx, project, progress.sink), {
        toolset,
        line,
        regions,
        ...(options.to !== undefined ? { to: Number(options.to) } : {}),
      }).finally(() => progress.stop());

      const rows = result.regions.flatMap((r) =>
        r.status === "failed"
          ? [{ region: r.region, parameter: "", from: "", to: `FAILED: ${r.error.message}`, version: "" }]
          : r.changed.length === 0
            ? [{ region: r.region, parameter: "(all)", from: "", to: `${r.target} (already)`, version: "" }]
            : r.changed.map((c) => ({
                region: r.region,
                parameter: c.name,
                from: c.from,
                to: c.to,
                version: c.version === undefined ? "" : `v${c.version}`,
              })),
      );
      if (ctx.output.json)
        ctx.output.writeJson({
          line: `${line.toolset}/${line.base}/${line.arch}`,
          from: result.from,
          regions: result.regions.map((r) =>
            r.status === "failed"
              ? {
                  region: r.region,
                  status: r.status,
                  error: { code: r.error.code, message: r.error.message },
                }
              : r,
          ),
        });
      else {
        ctx.output.out(
          formatTable(rows, [
            { header: "region", value: (r) => r.region },
            { header: "parameter", value: (r) => r.parameter },
            { header: "from", value: (r) => r.from },
            { header: "to", value: (r) => r.to },
            { header: "version", value: (r) => r.version },
          ]),
        );
        const withdrawn = result.regions.flatMap((r) => (r.status === "done" ? r.withdrawn : []));
        if (withdrawn.length > 0)
          ctx.output.out(`\nWithdrawn (never published again): ${withdrawn.join(", ")}`);
      }
      if (result.failed.length > 0) {
        throw new ActionsFailedError(
          "ROLLBACK_FAILED",
          `rollback failed: ${result.failed.map((r) => `${r.region}: ${r.error.message}`).join("; ")}; run it again to finish`,
          { kind: result.failed.every((r) => r.error.kind === "user") ? "user" : "system" },
        );
      }
    });
}
