import { readFile } from "node:fs/promises";
import type { PipelineData, ToolsetData } from "../config/types.js";
import { ConfigError } from "../errors.js";
import type { PipelineProject } from "../pipeline/run.js";
import { sha256Hex } from "../render/hash.js";
import type { PipelineComponent, RenderedProject } from "../render/index.js";

/**
 * The project as the Lambdas ship it: loaded, validated and rendered at bundle time
 * (infra/lib/bundle.ts), written as JSON beside the bundle, and read back at a cold start without
 * YAML or schemas (issue 11: neither `yaml` nor `zod` is in the Lambda bundles).
 *
 *   {"format":"ops-rig-project","version":2,"inputs":"<sha256>","digest":"<sha256>","project":{...}}
 *
 * `inputs` hashes the files it was made from (recipes/, components/), so a deployment's log says
 * which configuration it runs; `digest` hashes the JSON text of `project`, so a truncated or edited
 * file is refused instead of half-believed.
 */
export const PROJECT_FILE = "project.json";
export const PROJECT_FORMAT = "ops-rig-project";
/**
 * Bump on any change of the shape below: a Lambda refuses a file of another version. 2: components
 * without their parsed `model` (no Lambda reads it; 187 → ~105 KB to read, hash and parse).
 */
export const PROJECT_FORMAT_VERSION = 2;

/** The rendered project as plain data: no YAML sources, components as a list. */
export interface ProjectData {
  readonly pipeline: PipelineData;
  readonly toolsets: readonly ToolsetData[];
  /**
   * Every rendered component (documents as sent to Image Builder), by name order of components/;
   * without the parsed model, which only the local runners use.
   */
  readonly components: readonly PipelineComponent[];
}

export interface ShippedProject extends PipelineProject {
  /** sha256 of the input files the project was rendered from. */
  readonly inputs: string;
}

/** Where the deployed function finds its project: `$OPS_RIG_PROJECT`, else `project.json` beside the code. */
export function shippedProjectPath(env: Readonly<Record<string, string | undefined>>): string {
  return env.OPS_RIG_PROJECT ?? `${env.LAMBDA_TASK_ROOT ?? process.cwd()}/${PROJECT_FILE}`;
}

/** The plain data of a rendered project (what the pipeline Lambda runs on). */
export function projectData(rendered: RenderedProject): ProjectData {
  const { source: _pipelineSource, ...pipeline } = rendered.config.pipeline;
  return {
    pipeline,
    toolsets: rendered.config.toolsets.map(({ source: _source, ...toolset }) => toolset),
    components: [...rendered.components.values()].map(({ model: _model, ...component }) => component),
  };
}

/** The text of `project.json`: the envelope around the project's JSON. */
export function shippedProjectText(data: ProjectData, inputs: string): string {
  const project = JSON.stringify(data);
  return `{"format":${JSON.stringify(PROJECT_FORMAT)},"version":${PROJECT_FORMAT_VERSION},"inputs":${JSON.stringify(inputs)},"digest":"${sha256Hex(project)}","project":${project}}\n`;
}

/**
 * Reads `project.json` back. Cheap checks only (the project was validated when it was rendered):
 * the format and version, the digest, and the shape the pipeline relies on. Any failure is a
 * ConfigError naming the file.
 */
export async function readShippedProject(file: string): Promise<ShippedProject> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw refused(
      file,
      `cannot be read (${(error as Error).message}); the Lambda's asset must carry ${PROJECT_FILE} beside index.mjs (infra/lib/bundle.ts writes it)`,
      error,
    );
  }
  return parseShippedProject(text, file);
}

/** `project.json`'s text → the project; `file` names it in errors. */
export function parseShippedProject(text: string, file: string): ShippedProject {
  let envelope: unknown;
  try {
    envelope = JSON.parse(text);
  } catch (error) {
    throw refused(file, `is not JSON (${(error as Error).message})`, error);
  }
  if (!isObject(envelope) || envelope.format !== PROJECT_FORMAT)
    throw refused(file, `is not an ops-rig project (no "format": "${PROJECT_FORMAT}")`);
  if (envelope.version !== PROJECT_FORMAT_VERSION)
    throw refused(
      file,
      `is version ${JSON.stringify(envelope.version)} of the project format; this code reads version ${PROJECT_FORMAT_VERSION}: bundle and deploy again`,
    );
  const { inputs, digest, project } = envelope;
  if (typeof inputs !== "string" || typeof digest !== "string" || !isObject(project))
    throw refused(file, "lacks its inputs, digest or project");
  if (sha256Hex(JSON.stringify(project)) !== digest)
    throw refused(file, "does not match its digest: the file was changed or truncated after it was written");
  const { pipeline, toolsets, components } = project;
  if (
    !isObject(pipeline) ||
    typeof pipeline.homeRegion !== "string" ||
    !Array.isArray(toolsets) ||
    !toolsets.every((t) => isObject(t) && typeof t.name === "string" && Array.isArray(t.components)) ||
    !Array.isArray(components) ||
    !components.every((c) => isObject(c) && typeof c.name === "string" && typeof c.document === "string")
  )
    throw refused(file, "does not have the shape of a rendered project (pipeline, toolsets, components)");
  return {
    inputs,
    pipeline: pipeline as unknown as PipelineData,
    toolsets: toolsets as ToolsetData[],
    components: new Map((components as PipelineComponent[]).map((c) => [c.name, c])),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function refused(file: string, message: string, cause?: unknown): ConfigError {
  return new ConfigError([{ file, message }], cause === undefined ? undefined : { cause });
}
