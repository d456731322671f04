import type { Command } from "commander";
import { ActionsFailedError, UsageError } from "../../errors.js";
import { lineId } from "../../plan/names.js";
import { prune } from "../../services/prune.js";
import type { CommandContext } from "../context.js";
import { formatTable } from "../output.js";
import { createProgress } from "../progress.js";
import { pipelineProject, serviceDeps } from "../project.js";

interface PruneOptions {
  keep?: string;
  toolset?: string[];
  dryRun?: boolean;
}

export function registerPrune(program: Command, context: () => CommandContext): void {
  program
    .command("prune")
    .description(
      "retention on demand, by the pipeline's rules: deprecate old AMIs, deregister deprecated ones with their snapshots",
    )
    .option(
      "--keep <n>",
      "AMIs to keep per line and region (default: retention.keep from recipes/pipeline.yaml)",
    )
    .option("-t, --toolset <name...>", "only these toolsets (default: all)")
    .option("--dry-run", "show what would go, change nothing")
    .action(async (options: PruneOptions) => {
      const ctx = context();
      let keep: number | undefined;
      if (options.keep !== undefined) {
        keep = /^\s*\d+\s*$/.test(options.keep) ? Number(options.keep) : Number.NaN;
        if (!Number.isInteger(keep) || keep < 2)
          throw new UsageError(
            `"${options.keep}" is not a whole number of at least 2 (the published AMI and its rollback stay anyway)`,
            "--keep",
          );
      }
      const project = await pipelineProject(ctx);
      const progress = createProgress(ctx.output);
      const result = await prune(project, serviceDeps(ctx, project, progress.sink), {
        ...(keep !== undefined ? { keep } : {}),
        ...(options.toolset ? { toolsets: options.toolset } : {}),
        ...(ctx.regions ? { regions: ctx.regions } : {}),
        dryRun: Boolean(options.dryRun),
      }).finally(() => progress.stop());
      const rows = result.outcomes.map((o) => ({
        kind: o.action.kind,
        line: lineId(o.action.line),
        region: o.action.region,
        imageId: o.action.imageId,
        status: o.status,
        detail: o.status === "failed" ? o.error.message : o.action.reason,
      }));
      if (ctx.output.json) ctx.output.writeJson({ dryRun: result.dryRun, actions: rows });
      else if (rows.length === 0) ctx.output.out("Nothing to prune.");
      else {
        ctx.output.out(
          formatTable(rows, [
            { header: "action", value: (r) => r.kind },
            { header: "line", value: (r) => r.line },
            { header: "region", value: (r) => r.region },
            { header: "AMI", value: (r) => r.imageId },
            { header: "result", value: (r) => r.status },
            { header: "why", value: (r) => r.detail },
          ]),
        );
        if (result.dryRun) ctx.output.out("\nDry run: nothing was changed.");
      }
      if (result.failed > 0)
        throw new ActionsFailedError(
          "PRUNE_FAILED",
          `${result.failed} retention action(s) failed (see above)`,
        );
    });
}
