import type { Command } from "commander";
import { invokeFunction } from "../../aws/lambda.js";
import { OpsRigError, UsageError } from "../../errors.js";
import { reportText } from "../../pipeline/report.js";
import { reconcile } from "../../pipeline/run.js";
import type { CommandContext } from "../context.js";
import { createProgress } from "../progress.js";
import { pipelineProject, realClock } from "../project.js";

interface BakeOptions {
  toolset?: string[];
  force?: boolean;
  wait?: boolean;
  poll?: string;
  timeout?: string;
  remote?: boolean;
  function?: string;
}

export function registerBake(program: Command, context: () => CommandContext): void {
  program
    .command("bake")
    .description(
      "the manual trigger: reconcile now with your credentials (or --remote: invoke the deployed Lambda)",
    )
    .option("-t, --toolset <name...>", "only these toolsets (default: all)")
    .option("--force", "retry failed builds now instead of after the back-off")
    .option(
      "--wait",
      "keep reconciling until every selected line is published everywhere (or cannot progress)",
    )
    .option("--poll <seconds>", "with --wait: seconds between passes while builds or copies run", "30")
    .option("--timeout <minutes>", "with --wait: give up after this many minutes", "120")
    .option("--remote", "invoke the deployed pipeline Lambda with the manual event instead of running here")
    .option(
      "--function <name>",
      "with --remote: the Lambda function (default: $OPS_RIG_FUNCTION or ops-rig-pipeline)",
    )
    .action(async (options: BakeOptions) => {
      const ctx = context();
      const pollMs = seconds(options.poll ?? "30", "--poll") * 1000;
      const timeoutMs = seconds(options.timeout ?? "120", "--timeout") * 60_000;
      const project = await pipelineProject(ctx);
      if (options.remote && options.wait) {
        throw new UsageError(
          "the deployed pipeline continues by itself (schedule tick, build notifications); follow it with `ops-rig status`",
          "--wait",
        );
      }
      if (options.remote) {
        await invokeRemote(ctx, project.pipeline.homeRegion, options);
        return;
      }
      const clock = realClock(ctx.env);
      const progress = createProgress(ctx.output);
      const started = clock.now();
      let result: Awaited<ReturnType<typeof reconcile>>;
      try {
        result = await reconcile(
          project,
          {
            ports: ctx.ports(project.pipeline.homeRegion),
            now: clock.now,
            sleep: async (ms) => {
              await clock.sleep(ms, ctx.signal);
            },
            events: progress.sink,
          },
          {
            trigger: "manual",
            ...(options.toolset ? { toolsets: options.toolset } : {}),
            ...(options.force ? { force: true } : {}),
            ...(options.wait ? { wait: true, pollMs } : {}),
            deadline: new Date(started.getTime() + timeoutMs),
            signal: ctx.signal,
            onPass: (pass, index) =>
              progress.update(pass.plan.lines, `pass ${index}: ${pass.plan.actions.length} actions`),
          },
        );
      } finally {
        progress.stop();
      }
      const { report } = result;
      if (ctx.output.json) ctx.output.writeJson(report);
      else ctx.output.out(reportText(report));
      if (ctx.signal.aborted)
        throw new OpsRigError(
          "INTERRUPTED",
          "system",
          "interrupted: the next run continues from where this one stopped",
        );
      if (!report.ok)
        throw new OpsRigError("RUN_FAILED", "system", `${report.counts.failed} action(s) failed (see above)`);
      const unfinished = report.lines.filter((l) => l.state !== "published");
      if (options.wait && unfinished.length > 0 && !ctx.output.json) {
        ctx.output.err(
          `ops-rig: ${unfinished.length} line/region(s) not published yet: ${[...new Set(unfinished.map((l) => l.state))].join(", ")}`,
        );
      }
    });
}

function seconds(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`"${value}" is not a positive number`, flag);
  return n;
}

async function invokeRemote(ctx: CommandContext, region: string, options: BakeOptions): Promise<void> {
  const functionName = options.function ?? ctx.env.OPS_RIG_FUNCTION ?? "ops-rig-pipeline";
  const payload = {
    action: "bake",
    ...(options.toolset ? { toolsets: options.toolset } : {}),
    ...(options.force ? { force: true } : {}),
  };
  const out = await invokeFunction(ctx.clients().lambda(region), region, functionName, payload);
  const body = out.body;
  if (ctx.output.json)
    ctx.output.writeJson({
      function: functionName,
      functionError: out.functionError ?? null,
      result: safeJson(body),
    });
  else ctx.output.out(`${functionName}: ${body}`);
  if (out.functionError)
    throw new OpsRigError(
      "REMOTE_FAILED",
      "system",
      `${functionName} reported ${out.functionError}: ${body}`,
    );
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
