import { BASE_INFO } from "../config/bases.js";
import type { ToolsetData } from "../config/types.js";
import { RESOURCE_PREFIX } from "../render/names.js";
import { type LineKey, lineId, recipeResourceName } from "../render/recipe.js";

/** Tags on every AMI and Image Builder image ops-rig makes (prefix `ops-rig:`). */
export const TAG = {
  toolset: "ops-rig:toolset",
  base: "ops-rig:base",
  arch: "ops-rig:arch",
  baseAmi: "ops-rig:base-ami",
  fingerprint: "ops-rig:fingerprint",
  /** Hash of what was built (base AMI + rendered recipe), without the maxAge epoch. */
  content: "ops-rig:content",
  sourceAmi: "ops-rig:source-ami",
  build: "ops-rig:build",
  /** When the AMI was first published in its region (ISO time): the rollback log's index in tags. */
  published: "ops-rig:published",
  /** Set by `ops-rig rollback` on an AMI that must not be published again. */
  withdrawn: "ops-rig:withdrawn",
  /**
   * Set by `ops-rig rollback` on the bad build's AMIs before it republishes anything, so the pipeline
   * never publishes them again even if the rollback is interrupted before it withdraws them.
   */
  rollback: "ops-rig:rollback",
  /**
   * Set before ops-rig first adds a launch permission to an AMI: such AMIs have their permissions
   * read every run, so removing `share:` unshares them.
   */
  shared: "ops-rig:shared",
  /** Image Builder image tag: the failure was already notified. */
  notified: "ops-rig:notified",
  /** Image recipe tag: sha256 of the recipe shape, so unchanged recipes reuse their version. */
  recipeHash: "ops-rig:recipe-hash",
} as const;

/** Tag Image Builder puts on the AMIs it creates. */
export const IMAGE_BUILDER_ARN_TAG = "Ec2ImageBuilderArn";

export { lineId, recipeResourceName };

export function lineTags(line: LineKey): Record<string, string> {
  return { [TAG.toolset]: line.toolset, [TAG.base]: line.base, [TAG.arch]: line.arch };
}

/** `/ops-rig/heavy/ubuntu-24.04/amd64/ami-id`. */
export function lineParameterName(prefix: string, line: LineKey): string {
  return `${prefix}/${line.toolset}/${line.base}/${line.arch}/ami-id`;
}

/** `/ops-rig/heavy/ami-id`: the toolset's default base and arch. */
export function aliasParameterName(prefix: string, toolset: string): string {
  return `${prefix}/${toolset}/ami-id`;
}

/** The parameters a line publishes to: its own, plus the alias when it is the toolset's default. */
export function parameterNamesFor(prefix: string, toolset: ToolsetData, line: LineKey): string[] {
  const names = [lineParameterName(prefix, line)];
  if (toolset.default.base === line.base && toolset.default.arch === line.arch) {
    names.push(aliasParameterName(prefix, toolset.name));
  }
  return names;
}

/** Infrastructure configurations are per toolset and arch (instance types differ). */
export function infrastructureName(toolset: string, arch: string): string {
  return `${RESOURCE_PREFIX}-${toolset}-${arch}`;
}

/** Distribution configurations are per line: they carry the line's AMI name and tags. */
export function distributionName(line: LineKey): string {
  return recipeResourceName(line);
}

/** AMI names start with the recipe name; Image Builder fills in the build date. */
export function amiNameTemplate(line: LineKey): string {
  return `${recipeResourceName(line)}-{{ imagebuilder:buildDate }}`;
}

export const AMI_NAME_FILTER = `${RESOURCE_PREFIX}-*`;

/**
 * Parameter version label naming the image's build date (`build-20261129-030012`). Labels must not
 * start with a digit, `aws` or `ssm`; a label moves to the newest version that carries it.
 */
export function buildLabel(builtAtIso: string): string {
  const digits = builtAtIso.replace(/[^0-9]/g, "");
  return `build-${digits.slice(0, 8)}-${digits.slice(8, 14)}`;
}

export function baseDescription(line: LineKey): string {
  return `${BASE_INFO[line.base].family} ${BASE_INFO[line.base].version} ${line.arch}`;
}

/** Parses line tags back; undefined when the AMI is not one of a line's. */
export function lineFromTags(tags: Readonly<Record<string, string>>): LineKey | undefined {
  const toolset = tags[TAG.toolset];
  const base = tags[TAG.base];
  const arch = tags[TAG.arch];
  if (!toolset || !base || !arch) return undefined;
  if (!(base in BASE_INFO) || (arch !== "amd64" && arch !== "arm64")) return undefined;
  return { toolset, base: base as LineKey["base"], arch };
}

export function sameLine(a: LineKey, b: LineKey): boolean {
  return a.toolset === b.toolset && a.base === b.base && a.arch === b.arch;
}
