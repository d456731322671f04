import type { Command } from "commander";
import { reconcilePass } from "../../pipeline/run.js";
import { lineId, parameterNamesFor, TAG } from "../../plan/names.js";
import { amisOfLine, regionOf } from "../../plan/plan.js";
import type { CommandContext } from "../context.js";
import { formatTable, paint } from "../output.js";
import { colorState } from "../progress.js";
import { pipelineProject, realClock } from "../project.js";

interface StatusOptions {
  toolset?: string[];
}

export interface StatusRow {
  readonly line: string;
  readonly region: string;
  readonly state: string;
  readonly imageId?: string;
  readonly ageHours?: number;
  readonly baseAmi?: string;
  readonly parameterVersion?: number;
  readonly stale: boolean;
  readonly detail: string;
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
      const clock = realClock(ctx.env);
      const now = clock.now();
      const { observed, plan } = await reconcilePass(
        project,
        {
          ports: ctx.ports(project.pipeline.homeRegion),
          now: clock.now,
          sleep: clock.sleep,
          events: () => {},
        },
        { trigger: "status", dryRun: true, ...(options.toolset ? { toolsets: options.toolset } : {}) },
      );
      const rows: StatusRow[] = plan.lines.map((status) => {
        const toolset = project.toolsets.find((t) => t.name === status.line.toolset);
        const region = regionOf(observed, status.region);
        const [name] = toolset
          ? parameterNamesFor(project.pipeline.parameterPrefix, toolset, status.line)
          : [];
        const parameter = name ? region?.parameters.get(name) : undefined;
        const publishedId = parameter?.value;
        const ami = amisOfLine(region, status.line).find((a) => a.imageId === publishedId);
        const ageMs = ami ? now.getTime() - Date.parse(ami.creationDate) : undefined;
        const stale = ageMs !== undefined && toolset !== undefined && ageMs > toolset.maxAge.ms * 2;
        const state = !publishedId ? "missing" : stale ? "stale" : status.state;
        return {
          line: lineId(status.line),
          region: status.region,
          state,
          ...(publishedId ? { imageId: publishedId } : {}),
          ...(ageMs !== undefined ? { ageHours: Math.round(ageMs / 360_000) / 10 } : {}),
          ...(ami?.tags[TAG.baseAmi] ? { baseAmi: ami.tags[TAG.baseAmi] } : {}),
          ...(parameter ? { parameterVersion: parameter.version } : {}),
          stale,
          detail: status.detail,
        };
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
          {
            header: "age",
            value: (r) => formatAge(r.ageHours),
            align: "right",
          },
          { header: "base AMI", value: (r) => r.baseAmi ?? "" },
          {
            header: "param v",
            value: (r) => (r.parameterVersion === undefined ? "" : String(r.parameterVersion)),
            align: "right",
          },
          { header: "detail", value: (r) => r.detail },
        ]),
      );
      const attention = rows.filter((r) => r.state !== "published");
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
