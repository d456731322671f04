import { join } from "node:path";
import type { Command } from "commander";
import { ConfigError, formatProblem, type Problem } from "../../errors.js";
import type { ShellScript } from "../../lint/shellcheck.js";
import { ensureShellcheck } from "../../lint/shellcheck-version.js";
import { defaultCacheDir } from "../../local/cache-dir.js";
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
      // A project validated before, unchanged, under the same ops-rig and shellcheck: its result.
      const key = ctx.cache
        ? await ctx.cache.key("validate", ctx.projectRoot, [`shellcheck ${shellcheckVersion}`])
        : undefined;
      const result =
        (key ? await ctx.cache?.get<ValidationResult>(key) : undefined) ??
        (await validateProject(ctx, shellcheckVersion));
      if (key) await ctx.cache?.put(key, result);
      const { summary, warnings } = result;
      // Where ops-rig is stricter than AWS (style): said, never fatal.
      for (const warning of warnings) ctx.output.err(`warning: ${formatProblem(warning)}`);
      if (ctx.output.json) ctx.output.writeJson(summary);
      else {
        ctx.output.out(
          `ok: ${summary.toolsets.length} toolsets (${summary.toolsets.join(", ")}), ${summary.components} components, ` +
            `${summary.recipes} recipes, ${summary.scripts} scripts clean under shellcheck ${shellcheckVersion}`,
        );
      }
    });
}

/** A successful validation: what `validate` prints (problems are thrown as a ConfigError instead). */
interface ValidationResult {
  readonly summary: {
    readonly ok: true;
    readonly toolsets: readonly string[];
    readonly components: number;
    readonly recipes: number;
    readonly scripts: number;
    readonly shellcheck: string;
    readonly warnings: number;
  };
  readonly warnings: readonly Problem[];
}

async function validateProject(ctx: CommandContext, shellcheckVersion: string): Promise<ValidationResult> {
  // Loaded only when the work is done (a cached result needs neither YAML nor shellcheck's runner).
  const [rendered, { componentScripts, shellcheckScripts }] = await Promise.all([
    ctx.rendered({ memo: true }),
    import("../../lint/shellcheck.js"),
  ]);
  const { config } = rendered;
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
  if (problems.length > 0) {
    // Style warnings still shown beside the problems, as before.
    for (const warning of rendered.warnings) ctx.output.err(`warning: ${formatProblem(warning)}`);
    throw new ConfigError(problems);
  }
  return {
    summary: {
      ok: true,
      toolsets: rendered.toolsets.map((t) => t.toolset.name),
      components: rendered.components.size,
      recipes: rendered.toolsets.reduce((n, t) => n + t.recipes.length, 0),
      scripts: scripts.length,
      shellcheck: shellcheckVersion,
      warnings: rendered.warnings.length,
    },
    warnings: rendered.warnings,
  };
}
