import { join } from "node:path";
import type { Command } from "commander";
import { ConfigError, formatProblem } from "../../errors.js";
import {
  componentScripts,
  ensureShellcheck,
  type ShellScript,
  shellcheckScripts,
} from "../../lint/shellcheck.js";
import { defaultCacheDir } from "../../local/base.js";
import type { CommandContext } from "../context.js";

export function registerValidate(program: Command, context: () => CommandContext): void {
  program
    .command("validate")
    .description(
      "check the toolsets, pipeline settings and components: schemas, AWSTOE rules, sizes, shellcheck",
    )
    .action(async () => {
      const ctx = context();
      const shellcheckVersion = await ensureShellcheck();
      const rendered = await ctx.rendered();
      const { config } = rendered;
      // Where ops-rig is stricter than AWS (style): said, never fatal.
      for (const warning of rendered.warnings) ctx.output.err(`warning: ${formatProblem(warning)}`);
      const scripts: ShellScript[] = [];
      for (const template of config.components) {
        const component = rendered.components.get(template.name);
        if (component) scripts.push(...componentScripts(component, template, config.prelude));
      }
      for (const { toolset, cloudInit } of rendered.toolsets) {
        if (cloudInit) {
          scripts.push({
            label: `${toolset.file} cloud-init`,
            text: cloudInit.script,
            locate: () => ({ file: toolset.file }),
          });
        }
      }
      // Findings are cached by script content: an unchanged script is not checked again.
      const problems = await shellcheckScripts(scripts, {
        dir: join(defaultCacheDir(ctx.env), "shellcheck"),
        version: shellcheckVersion,
      });
      if (problems.length > 0) throw new ConfigError(problems);

      const summary = {
        ok: true,
        toolsets: rendered.toolsets.map((t) => t.toolset.name),
        components: rendered.components.size,
        recipes: rendered.toolsets.reduce((n, t) => n + t.recipes.length, 0),
        scripts: scripts.length,
        shellcheck: shellcheckVersion,
        warnings: rendered.warnings.length,
      };
      if (ctx.output.json) ctx.output.writeJson(summary);
      else {
        ctx.output.out(
          `ok: ${summary.toolsets.length} toolsets (${summary.toolsets.join(", ")}), ${summary.components} components, ` +
            `${summary.recipes} recipes, ${summary.scripts} scripts clean under shellcheck ${shellcheckVersion}`,
        );
      }
    });
}
