import type { Command } from "commander";
import {
  ActionsFailedError,
  InterruptedError,
  InvariantError,
  NotificationFailedError,
  UsageError,
} from "../../errors.js";
import { parseConcurrency } from "../../pipeline/apply.js";
import { reportText } from "../../pipeline/report.js";
import { bake, type PipelineResponse, type RunStatus, remoteBake } from "../../services/bake.js";
import type { CommandContext } from "../context.js";
import { createProgress } from "../progress.js";
import { pipelineProject, serviceDeps } from "../project.js";

interface BakeOptions {
  toolset?: string[];
  force?: boolean;
  wait?: boolean;
  poll?: string;
  timeout?: string;
  remote?: boolean;
  function?: string;
  concurrency?: string;
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
    .option(
      "--concurrency <n>",
      "actions in flight at once over all regions (default: $OPS_RIG_CONCURRENCY or 64; each region and service also has its own lane)",
    )
    .option("--remote", "invoke the deployed pipeline Lambda with the manual event instead of running here")
    .option(
      "--function <name>",
      "with --remote: the Lambda function (default: $OPS_RIG_FUNCTION or ops-rig-pipeline)",
    )
    .action(async (options: BakeOptions) => {
      const ctx = context();
      const pollMs = positive(options.poll ?? "30", "--poll") * 1000;
      const timeoutMs = positive(options.timeout ?? "120", "--timeout") * 60_000;
      const concurrency =
        parseConcurrency(options.concurrency, "--concurrency") ??
        parseConcurrency(ctx.env.OPS_RIG_CONCURRENCY, "OPS_RIG_CONCURRENCY");
      if (options.remote && options.wait) {
        throw new UsageError(
          "the deployed pipeline continues by itself (schedule tick, build notifications); follow it with `ops-rig status`",
          "--wait",
        );
      }
      const project = await pipelineProject(ctx);
      if (options.toolset) {
        // Checked here too, so --remote refuses an unknown toolset before invoking anything.
        for (const name of options.toolset)
          if (!project.toolsets.some((t) => t.name === name))
            throw new UsageError(
              `unknown toolset "${name}" (known: ${project.toolsets.map((t) => t.name).join(", ")})`,
              "--toolset",
            );
      }
      if (options.remote) {
        await invokeRemote(ctx, project.pipeline.homeRegion, options);
        return;
      }
      const progress = createProgress(ctx.output);
      const deps = serviceDeps(ctx, project, progress.sink);
      const { report, status } = await bake(project, deps, {
        trigger: "manual",
        ...(options.toolset ? { toolsets: options.toolset } : {}),
        ...(options.force ? { force: true } : {}),
        ...(options.wait ? { wait: true, pollMs } : {}),
        ...(concurrency ? { concurrency } : {}),
        deadline: new Date(deps.now().getTime() + timeoutMs),
      }).finally(() => progress.stop());
      if (ctx.output.json) ctx.output.writeJson(report);
      else ctx.output.out(reportText(report));
      failIfNot(status, `${report.counts.failed} failure(s) (see above)`);
      const unfinished = report.lines.filter((l) => l.state !== "published");
      if (options.wait && unfinished.length > 0 && !ctx.output.json) {
        ctx.output.err(
          `ops-rig: ${unfinished.length} line/region(s) not published yet: ${[...new Set(unfinished.map((l) => l.state))].join(", ")}`,
        );
      }
    });
}

/** The exit status of a run: 1 when something failed, 3 when only the notification did, 130 on Ctrl-C. */
function failIfNot(status: RunStatus, failures: string): void {
  switch (status) {
    case "ok":
      return;
    case "failed":
      throw new ActionsFailedError("RUN_FAILED", `run failed: ${failures}`);
    case "notification-failed":
      throw new NotificationFailedError(
        "the run's work is done, but its notification could not be sent (see above)",
      );
    case "interrupted":
      throw new InterruptedError("interrupted: the next run continues from where this one stopped");
    default: {
      const unhandled: never = status;
      throw new InvariantError(`unknown run status ${String(unhandled)}`);
    }
  }
}

function positive(value: string, flag: string): number {
  const n = /^\s*\d*\.?\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`"${value}" is not a positive number`, flag);
  return n;
}

async function invokeRemote(ctx: CommandContext, region: string, options: BakeOptions): Promise<void> {
  const functionName = options.function ?? ctx.env.OPS_RIG_FUNCTION ?? "ops-rig-pipeline";
  if (functionName.trim() === "") throw new UsageError("the function name is empty", "--function");
  const result = await remoteBake(ctx.aws.lambda(), {
    region,
    functionName,
    ...(options.toolset ? { toolsets: options.toolset } : {}),
    ...(options.force ? { force: true } : {}),
  });
  if (ctx.output.json)
    ctx.output.writeJson({
      function: functionName,
      functionError: result.functionError ?? null,
      result: result.response,
    });
  else
    ctx.output.out(
      `${functionName}: ${typeof result.response === "string" ? result.response : JSON.stringify(result.response)}`,
    );
  if (result.functionError)
    throw new ActionsFailedError(
      "REMOTE_FAILED",
      `${functionName} reported ${result.functionError}: ${JSON.stringify(result.response)}`,
    );
  const response = result.response as Partial<PipelineResponse> | undefined;
  if (response && typeof response === "object" && response.outcome === "run") {
    failIfNot(
      response.status ?? "ok",
      `${response.failed ?? "?"} failure(s) in the remote run (see its report)`,
    );
  }
}
