import type { Command } from "commander";
import { reconcilePass } from "../../pipeline/run.js";
import { lineId } from "../../plan/names.js";
import type { Action } from "../../plan/types.js";
import type { CommandContext } from "../context.js";
import { formatTable, paint } from "../output.js";
import { pipelineProject, realClock } from "../project.js";

interface PlanOptions {
  toolset?: string[];
  force?: boolean;
}

export function registerPlan(program: Command, context: () => CommandContext): void {
  program
    .command("plan")
    .description("observe AWS and show what the next run would do, and why (changes nothing)")
    .option("-t, --toolset <name...>", "only these toolsets (default: all)")
    .option("--force", "plan as `bake --force` would (no back-off after failed builds)")
    .action(async (options: PlanOptions) => {
      const ctx = context();
      const project = await pipelineProject(ctx);
      const clock = realClock(ctx.env);
      const { plan } = await reconcilePass(
        project,
        {
          ports: ctx.ports(project.pipeline.homeRegion),
          now: clock.now,
          sleep: clock.sleep,
          events: () => {},
        },
        {
          trigger: "plan",
          dryRun: true,
          ...(options.toolset ? { toolsets: options.toolset } : {}),
          ...(options.force ? { force: true } : {}),
        },
      );
      const visible = ctx.regions
        ? plan.actions.filter((a) => !("region" in a) || !a.region || ctx.regions?.includes(a.region))
        : plan.actions;
      if (ctx.output.json) {
        ctx.output.writeJson({
          actions: visible.map(actionJson),
          lines: plan.lines.map((l) => ({ ...l, line: lineId(l.line) })),
        });
        return;
      }
      if (visible.length === 0) {
        ctx.output.out("Nothing to do: every line is built, copied and published.");
        return;
      }
      ctx.output.out(
        formatTable(visible, [
          {
            header: "action",
            value: (a) => (a.kind === "skip" && a.error ? paint(ctx.output, "red", "skip") : a.kind),
          },
          { header: "line", value: (a) => lineId(a.line) },
          { header: "region", value: (a) => ("region" in a && a.region ? a.region : "") },
          { header: "reason", value: (a) => a.reason },
        ]),
      );
      const mutating = visible.filter((a) => a.kind !== "wait" && a.kind !== "skip").length;
      ctx.output.out(`\n${visible.length} actions, ${mutating} would change something. Nothing was changed.`);
    });
}

function actionJson(action: Action): Record<string, unknown> {
  const { line, ...rest } = action;
  const out: Record<string, unknown> = { line: lineId(line), ...rest };
  // Recipes and base images are large; the plan names them.
  if (action.kind === "build") {
    out.recipe = action.recipe.name;
    out.baseImage = action.baseImage.imageId;
  }
  return out;
}
