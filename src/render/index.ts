import { BASE_INFO } from "../config/bases.js";
import type { ComponentTemplate, Prelude, ProjectConfig, Toolset } from "../config/types.js";
import { ConfigError, type Problem } from "../errors.js";
import { isPlainJson, type Memo } from "../memo.js";
import { checkToolAvailability } from "./availability.js";
import { type RenderedCloudInit, renderCloudInit } from "./cloudinit.js";
import { checkPrelude, type RenderedComponent, renderComponent } from "./component.js";
import { sha256Hex } from "./hash.js";
import { checkToolsetAgainstComponents, type RecipeShape, renderRecipe, ssmAgentUserData } from "./recipe.js";
import { checkScript, checkSupplyChain } from "./supply-chain.js";

export * from "./availability.js";
export * from "./awstoe.js";
export * from "./bash.js";
export * from "./cloudinit.js";
export * from "./component.js";
export * from "./document.js";
export * from "./hash.js";
export * from "./recipe.js";
export * from "./supply-chain.js";

export interface RenderedToolset {
  readonly toolset: Toolset;
  /** In recipe order. */
  readonly components: readonly RenderedComponent[];
  /** One recipe per base × arch, with the base's public parameter (`ssm:`) as parent image. */
  readonly recipes: readonly RecipeShape[];
  readonly cloudInit?: RenderedCloudInit;
}

export interface RenderedProject {
  readonly config: ProjectConfig;
  /** Every component in components/, by name. */
  readonly components: ReadonlyMap<string, RenderedComponent>;
  readonly toolsets: readonly RenderedToolset[];
  /** Findings where ops-rig is stricter than AWS (style): shown by validate, never fatal. */
  readonly warnings: readonly Problem[];
}

/**
 * Renders every component, every toolset's recipes and cloud-init, and checks all of it. Throws a
 * ConfigError listing every problem found (not just the first). With a memo, a component rendered
 * cleanly before from the same template and prelude is not rendered (nor checked) again.
 */
export function renderProject(config: ProjectConfig, memo?: Memo): RenderedProject {
  const problems: Problem[] = [...checkPrelude(config.prelude)];
  const components = new Map<string, RenderedComponent>();
  const warnings: Problem[] = [];
  for (const template of config.components) {
    const result = memo
      ? memoisedRenderComponent(template, config.prelude, memo)
      : renderComponent(template, config.prelude);
    problems.push(...result.problems);
    warnings.push(...result.warnings);
    if (result.component) components.set(template.name, result.component);
  }
  problems.push(...checkSupplyChain(components.values()));
  // The SSM agent user data of Debian recipes downloads too: same rules.
  problems.push(
    ...checkScript(
      "src/render/recipe.ts",
      "SSM agent user data",
      ssmAgentUserData(config.pipeline.homeRegion),
    ),
  );
  const toolsets: RenderedToolset[] = [];
  for (const toolset of config.toolsets) {
    const toolsetProblems = [
      ...checkToolsetAgainstComponents(toolset, components),
      ...checkToolAvailability(toolset),
    ];
    problems.push(...toolsetProblems);
    const members = toolset.components.map((ref) => components.get(ref.name));
    if (toolsetProblems.length > 0 || members.some((m) => m === undefined)) continue;
    const recipes = toolset.bases.flatMap((base) =>
      toolset.arches.map((arch) =>
        renderRecipe({
          toolset,
          base,
          arch,
          parent: {
            image: `ssm:${BASE_INFO[base].publicParameter(arch)}`,
            rootDeviceName: BASE_INFO[base].rootDeviceName,
          },
          components,
          region: config.pipeline.homeRegion,
        }),
      ),
    );
    let cloudInit: RenderedCloudInit | undefined;
    if (toolset.cloudInit) {
      const result = renderCloudInit(toolset, components, config.prelude);
      problems.push(...result.problems);
      cloudInit = result.cloudInit;
    }
    toolsets.push({
      toolset,
      components: members as RenderedComponent[],
      recipes,
      ...(cloudInit ? { cloudInit } : {}),
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { config, components, toolsets, warnings };
}
export * from "./keys.js";

/**
 * `renderComponent`, remembered: the result depends only on the template (its file, name and text)
 * and the prelude. Only clean results are kept, so a component with problems is always checked
 * again and its problems placed from the syntax tree.
 */
function memoisedRenderComponent(
  template: ComponentTemplate,
  prelude: Prelude,
  memo: Memo,
): ReturnType<typeof renderComponent> {
  const key = [
    "component",
    template.file,
    template.name,
    sha256Hex(template.source.text),
    sha256Hex(prelude.text),
  ].join("\0");
  const remembered = memo.get(key) as { component: RenderedComponent; warnings: Problem[] } | undefined;
  if (remembered) return { component: remembered.component, problems: [], warnings: remembered.warnings };
  const result = renderComponent(template, prelude);
  if (result.component && result.problems.length === 0) {
    const entry = { component: result.component, warnings: result.warnings };
    if (isPlainJson(entry)) memo.set(key, entry);
  }
  return result;
}
