import type { Command } from "commander";
import { ARCHES, BASES } from "../../config/bases.js";
import { errorMessage, OpsRigError, UsageError } from "../../errors.js";
import { lineParameterName, parameterNamesFor, regionsOf, TAG } from "../../plan/index.js";
import type { CommandContext } from "../context.js";
import { resolveLine } from "../lines.js";
import { formatTable } from "../output.js";
import { pipelineProject, realClock } from "../project.js";

interface RollbackOptions {
  toolset: string;
  base?: string;
  arch?: string;
  to?: string;
}

interface RollbackRow {
  region: string;
  parameter: string;
  from: string;
  to: string;
  version?: number;
  error?: string;
}

export function registerRollback(program: Command, context: () => CommandContext): void {
  program
    .command("rollback")
    .description(
      "point a line's parameters back at the previous (or a given) version's AMI, after checking it is still available",
    )
    .requiredOption("-t, --toolset <name>", "light or heavy")
    .option("-b, --base <base>", `base (${BASES.join(", ")}); default: the toolset's default`)
    .option("-a, --arch <arch>", `arch (${ARCHES.join(", ")}); default: the toolset's default`)
    .option(
      "--to <version>",
      "the parameter version to go back to (default: the one before the current value)",
    )
    .action(async (options: RollbackOptions) => {
      const ctx = context();
      const project = await pipelineProject(ctx);
      const { toolset, line } = resolveLine(project.toolsets, options);
      if (options.to !== undefined && !/^[1-9]\d*$/.test(options.to))
        throw new UsageError(`"${options.to}" is not a parameter version number`, "--to");
      const parameter = lineParameterName(project.pipeline.parameterPrefix, line);
      const names = parameterNamesFor(project.pipeline.parameterPrefix, toolset, line);
      const regions =
        ctx.regions ?? regionsOf(project.pipeline).filter((r) => project.pipeline.targetRegions.includes(r));
      const ports = ctx.ports(project.pipeline.homeRegion);
      const clock = realClock(ctx.env);
      const who = (await ports.sts.identity(project.pipeline.homeRegion)).arn;

      const rows: RollbackRow[] = [];
      for (const region of regions) {
        try {
          const history = await ports.ssm.getParameterHistory(region, parameter).catch((error: unknown) => {
            if (/ParameterNotFound/.test(errorMessage(error)))
              throw new OpsRigError(
                "PARAMETER_NOT_FOUND",
                "user",
                `${parameter} does not exist in ${region}`,
              );
            throw error;
          });
          const current = history.at(-1);
          if (!current)
            throw new OpsRigError("PARAMETER_NOT_FOUND", "user", `${parameter} does not exist in ${region}`);
          const target = options.to
            ? history.find((h) => h.version === Number(options.to))
            : [...history].reverse().find((h) => h.value !== current.value);
          if (!target) {
            throw new OpsRigError(
              "NO_ROLLBACK_TARGET",
              "user",
              options.to
                ? `${parameter} has no version ${options.to} in ${region} (history keeps the last 100)`
                : `${parameter} in ${region} has never pointed at another AMI`,
            );
          }
          const [image] = await ports.ec2.describeImages(region, [target.value], ["self"]);
          if (image?.state !== "available") {
            throw new OpsRigError(
              "IMAGE_NOT_AVAILABLE",
              "system",
              `version ${target.version}'s AMI ${target.value} is ${image?.state ?? "gone"} in ${region}; pick another with --to`,
            );
          }
          if (target.value !== current.value) {
            // The pipeline must not publish the withdrawn AMI again; a new build replaces it.
            await ports.ec2.createTags(region, current.value, {
              [TAG.withdrawn]: `${clock.now().toISOString()} by ${who}`.slice(0, 255),
            });
          }
          for (const name of names) {
            await ports.ssm.putImageParameter(
              region,
              name,
              target.value,
              `ops-rig ${toolset.name} rolled back to v${target.version} by ${who}`.slice(0, 1024),
            );
            const stored = await ports.ssm.getParameter(region, name);
            if (stored?.value !== target.value)
              throw new OpsRigError(
                "ROLLBACK_NOT_STORED",
                "system",
                `SSM did not store ${target.value} in ${name} (${region})`,
              );
            const stamp = clock.now().toISOString();
            await ports.ssm.labelParameterVersion(region, name, stored.version, [
              `rollback-${stamp.slice(0, 10).replaceAll("-", "")}-${stamp.slice(11, 16).replace(":", "")}`,
            ]);
            rows.push({
              region,
              parameter: name,
              from: current.value,
              to: target.value,
              version: stored.version,
            });
          }
        } catch (error) {
          rows.push({ region, parameter, from: "", to: "", error: errorMessage(error) });
        }
      }
      if (ctx.output.json) ctx.output.writeJson(rows);
      else {
        ctx.output.out(
          formatTable(rows, [
            { header: "region", value: (r) => r.region },
            { header: "parameter", value: (r) => r.parameter },
            { header: "from", value: (r) => r.from },
            { header: "to", value: (r) => (r.error ? `FAILED: ${r.error}` : r.to) },
            { header: "version", value: (r) => (r.version === undefined ? "" : `v${r.version}`) },
          ]),
        );
      }
      const failed = rows.filter((r) => r.error);
      if (failed.length > 0) {
        const userError = failed.every((r) =>
          /does not exist|has no version|never pointed/.test(r.error ?? ""),
        );
        throw new OpsRigError(
          "ROLLBACK_FAILED",
          userError ? "user" : "system",
          `rollback failed: ${failed.map((r) => `${r.region}: ${r.error}`).join("; ")}`,
        );
      }
    });
}
