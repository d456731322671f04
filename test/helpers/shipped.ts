import { loadProject } from "../../src/config/load.js";
import { applyEnvOverrides } from "../../src/config/overrides.js";
import type { PipelineData, ToolsetData } from "../../src/config/types.js";
import { parseShippedProject, projectData, shippedProjectText } from "../../src/lambda/project.js";
import type { PipelineProject } from "../../src/pipeline/run.js";
import { renderProject } from "../../src/render/index.js";
import { REPO_ROOT } from "./paths.js";

let rendered: ReturnType<typeof renderProject> | undefined;

/**
 * The shipped project, optionally narrowed (fewer lines keep crash-by-crash tests fast). `asShipped`:
 * as the Lambdas read it, written to and read back from project.json's text (src/lambda/project.ts).
 */
export async function shippedProject(narrow?: {
  toolsets?: readonly string[];
  bases?: ToolsetData["bases"];
  arches?: ToolsetData["arches"];
  components?: readonly string[];
  regions?: readonly string[];
  pipeline?: (p: PipelineData) => PipelineData;
  asShipped?: boolean;
}): Promise<PipelineProject> {
  // Rendered once per test file: narrowing only filters it.
  rendered ??= renderProject(await loadProject(REPO_ROOT));
  const base: PipelineProject = narrow?.asShipped
    ? parseShippedProject(shippedProjectText(projectData(rendered), "test"), "project.json")
    : {
        pipeline: rendered.config.pipeline,
        toolsets: rendered.config.toolsets,
        components: rendered.components,
      };
  let pipeline: PipelineData = applyEnvOverrides(base.pipeline, {});
  if (narrow?.regions) pipeline = { ...pipeline, targetRegions: [...narrow.regions] };
  if (narrow?.pipeline) pipeline = narrow.pipeline(pipeline);
  const toolsets = base.toolsets
    .filter((t) => !narrow?.toolsets || narrow.toolsets.includes(t.name))
    .map((t): ToolsetData => {
      const bases = narrow?.bases ?? t.bases;
      const arches = narrow?.arches ?? t.arches;
      return {
        ...t,
        bases,
        arches,
        default: {
          base: bases.includes(t.default.base) ? t.default.base : (bases[0] ?? t.default.base),
          arch: arches.includes(t.default.arch) ? t.default.arch : (arches[0] ?? t.default.arch),
        },
        components: narrow?.components
          ? t.components.filter((c) => narrow.components?.includes(c.name))
          : t.components,
      };
    });
  return { pipeline, toolsets, components: base.components };
}
