import type { Command } from "commander";
import { lineId } from "../../plan/names.js";
import type { Action } from "../../plan/types.js";
import { planRun } from "../../services/plan.js";
import type { CommandContext } from "../context.js";
import { formatTable, paint } from "../output.js";
import { createProgress } from "../progress.js";
import { pipelineProject, serviceDeps } from "../project.js";

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
      const progress = createProgress(ctx.output);
      const result = await planRun(project, serviceDeps(ctx, project, progress.sink), {
        ...(options.toolset ? { toolsets: options.toolset } : {}),
        ...(options.force ? { force: true } : {}),
        ...(ctx.regions ? { regions: ctx.regions } : {}),
      }).finally(() => progress.stop());
      if (ctx.output.json) {
        ctx.output.writeJson({
          actions: result.actions.map(actionJson),
          lines: result.lines.map((l) => ({ ...l, line: lineId(l.line) })),
        });
        return;
      }
      if (result.actions.length === 0) {
        ctx.output.out("Nothing to do: every line is built, copied and published.");
        return;
      }
      ctx.output.out(
        formatTable(result.actions, [
          {
            header: "action",
            value: (a) => (a.kind === "skip" && a.error ? paint(ctx.output, "red", "skip") : a.kind),
          },
          { header: "line", value: (a) => lineId(a.line) },
          { header: "region", value: (a) => ("region" in a && a.region ? a.region : "") },
          { header: "reason", value: (a) => a.reason },
        ]),
      );
      ctx.output.out(
        `\n${result.actions.length} actions, ${result.mutating} would change something. Nothing was changed.`,
      );
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
