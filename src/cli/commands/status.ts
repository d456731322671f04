import type { Command } from "commander";
import { lineId } from "../../plan/names.js";
import { FORENSIC_INSTANCE_PROFILE } from "../../responders/contract.js";
import { templateStatus } from "../../services/launch-template.js";
import { lineStatus } from "../../services/status.js";
import type { CommandContext } from "../context.js";
import { formatTable, paint } from "../output.js";
import { colorState, createProgress } from "../progress.js";
import { pipelineProject, serviceDeps } from "../project.js";

interface StatusOptions {
  toolset?: string[];
}

export function registerStatus(program: Command, context: () => CommandContext): void {
  program
    .command("status")
    .description(
      "where every line stands in every region: published AMI, its age and base, parameter version",
    )
    .option("-t, --toolset <name...>", "only these toolsets (default: all)")
    .action(async (options: StatusOptions) => {
      const ctx = context();
      const project = await pipelineProject(ctx);
      const progress = createProgress(ctx.output);
      const { rows: lineRows, attention } = await lineStatus(
        project,
        serviceDeps(ctx, project, progress.sink),
        {
          ...(options.toolset ? { toolsets: options.toolset } : {}),
        },
      ).finally(() => progress.stop());
      // The launch template of each toolset's default line, in each region shown.
      const defaults = new Map(
        project.toolsets.map((t) => [lineId({ toolset: t.name, ...t.default }), t.name]),
      );
      const templates = await templateStatus(ctx.aws.templates(), {
        regions: [...new Set(lineRows.map((r) => r.region))],
        toolsets: [...new Set(lineRows.flatMap((r) => defaults.get(r.line) ?? []))],
        parameterPrefix: project.pipeline.parameterPrefix,
        instanceProfile: ctx.env.OPS_RIG_FORENSIC_PROFILE ?? FORENSIC_INSTANCE_PROFILE,
      });
      const rows = lineRows.map((row) => {
        const toolset = defaults.get(row.line);
        const template = toolset && templates.find((t) => t.region === row.region && t.toolset === toolset);
        return template ? { ...row, template } : row;
      });
      if (ctx.output.json) {
        ctx.output.writeJson(rows);
        return;
      }
      ctx.output.out(
        formatTable(rows, [
          { header: "line", value: (r) => r.line },
          { header: "region", value: (r) => r.region },
          { header: "state", value: (r) => colorState(ctx.output, r.state) },
          { header: "published AMI", value: (r) => r.imageId ?? paint(ctx.output, "red", "-") },
          { header: "age", value: (r) => formatAge(r.ageHours), align: "right" },
          { header: "base AMI", value: (r) => r.baseAmi ?? "" },
          {
            header: "param v",
            value: (r) => (r.parameterVersion === undefined ? "" : String(r.parameterVersion)),
            align: "right",
          },
          {
            header: "template",
            value: (r) =>
              "template" in r && r.template
                ? r.template.version === undefined
                  ? paint(ctx.output, "red", r.template.problems.join("; "))
                  : r.template.problems.length > 0
                    ? paint(ctx.output, "red", `v${r.template.version} edited`)
                    : `v${r.template.version}`
                : "",
          },
          { header: "detail", value: (r) => r.detail },
        ]),
      );
      ctx.output.out(
        attention.length === 0
          ? `\nAll ${rows.length} line/region(s) published.`
          : `\n${attention.length} of ${rows.length} line/region(s) need attention (${[...new Set(attention.map((r) => r.state))].join(", ")}).`,
      );
    });
}

function formatAge(hours: number | undefined): string {
  if (hours === undefined) return "";
  if (hours < 1) return `${Math.max(0, Math.round(hours * 60))}m`;
  return hours < 48 ? `${Math.round(hours)}h` : `${Math.round(hours / 24)}d`;
}
