import type { Command } from "commander";
import { OpsRigError, UsageError } from "../../errors.js";
import { apply } from "../../pipeline/apply.js";
import { ImageBuilderResources } from "../../pipeline/imagebuilder-resources.js";
import { reconcilePass } from "../../pipeline/run.js";
import { lineId } from "../../plan/names.js";
import type { CommandContext } from "../context.js";
import { formatTable } from "../output.js";
import { pipelineProject, realClock } from "../project.js";

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
      let project = await pipelineProject(ctx);
      if (options.keep !== undefined) {
        const keep = Number(options.keep);
        if (!Number.isInteger(keep) || keep < 2)
          throw new UsageError(
            `"${options.keep}" is not a whole number of at least 2 (the published AMI and its rollback stay anyway)`,
            "--keep",
          );
        project = {
          ...project,
          pipeline: { ...project.pipeline, retention: { ...project.pipeline.retention, keep } },
        };
      }
      const clock = realClock(ctx.env);
      const ports = ctx.ports(project.pipeline.homeRegion);
      const { observed, plan } = await reconcilePass(
        project,
        { ports, now: clock.now, sleep: clock.sleep, events: () => {} },
        { trigger: "prune", dryRun: true, ...(options.toolset ? { toolsets: options.toolset } : {}) },
      );
      const actions = plan.actions.filter(
        (a) =>
          (a.kind === "deprecate" || a.kind === "deregister") &&
          (!ctx.regions || ctx.regions.includes(a.region)),
      );
      const outcomes = options.dryRun
        ? actions.map((action) => ({ action, status: "planned" as const, error: undefined }))
        : await apply(
            {
              ports,
              pipeline: project.pipeline,
              toolsets: project.toolsets,
              components: project.components,
              resources: new ImageBuilderResources(ports.imageBuilder, project.pipeline, observed.accountId),
              now: clock.now,
              sleep: clock.sleep,
              events: () => {},
              signal: ctx.signal,
            },
            actions,
          );
      const rows = outcomes.map((o) => ({
        kind: o.action.kind,
        line: lineId(o.action.line),
        region: "region" in o.action ? (o.action.region ?? "") : "",
        imageId: "imageId" in o.action ? o.action.imageId : "",
        status: o.status,
        detail: o.error ?? o.action.reason,
      }));
      if (ctx.output.json) ctx.output.writeJson({ dryRun: Boolean(options.dryRun), actions: rows });
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
        if (options.dryRun) ctx.output.out("\nDry run: nothing was changed.");
      }
      const failed = rows.filter((r) => r.status === "failed");
      if (failed.length > 0)
        throw new OpsRigError("PRUNE_FAILED", "system", `${failed.length} retention action(s) failed`);
    });
}
