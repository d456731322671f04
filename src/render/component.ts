import type { ComponentTemplate, Prelude } from "../config/types.js";
import type { Problem } from "../errors.js";
import { type AwstoeDocument, checkAwstoeDocument, checkAwstoeSource, MAX_DOCUMENT_CHARS } from "./awstoe.js";
import { toAwstoeYaml } from "./document.js";
import { sha256Hex } from "./hash.js";
import { componentResourceName } from "./names.js";

export { componentResourceName, RESOURCE_PREFIX } from "./names.js";

/** The AWSTOE document of one component, exactly as it is sent to Image Builder. */
export interface RenderedComponent {
  /** Template name, e.g. `sleuthkit`. */
  readonly name: string;
  /** Image Builder component name, e.g. `ops-rig-sleuthkit`. */
  readonly resourceName: string;
  readonly file: string;
  readonly description: string;
  /** The final YAML text. */
  readonly document: string;
  /** sha256 of `document`: equal content reuses a component version, changed content gets a new one. */
  readonly hash: string;
  /** Characters in `document` (Image Builder allows 16,000 inline). */
  readonly size: number;
  /** A document with only a `test` phase is a TEST component; anything else BUILD. */
  readonly type: "BUILD" | "TEST";
  readonly phases: readonly string[];
  /** The parsed final document, for runners. */
  readonly model: AwstoeDocument;
}

/**
 * A component as the pipeline uses it: everything but the parsed model (runners only), which the
 * Lambdas' project.json leaves out.
 */
export type PipelineComponent = Omit<RenderedComponent, "model">;

/** Prelude lines worth sending: comments and blank lines cost document characters and do nothing. */
export function preludeLines(prelude: Prelude): string[] {
  return prelude.text
    .split("\n")
    .map((line) => line.trimEnd())
    .filter((line) => line.trim() !== "" && !/^\s*#/.test(line));
}

export function checkPrelude(prelude: Prelude): Problem[] {
  const lines = preludeLines(prelude);
  const problems: Problem[] = [];
  if (!lines.some((line) => /^set -euo pipefail\b/.test(line))) {
    problems.push({ file: prelude.file, message: "must start scripts with `set -euo pipefail` (fail fast)" });
  }
  if (prelude.text.includes("{{"))
    problems.push({ file: prelude.file, message: "must not contain {{ }}: AWSTOE would substitute it" });
  return problems;
}

/**
 * Renders a component template: checks it against the AWSTOE rules (problems point at the template's
 * lines), prepends the prelude to every ExecuteBash step, and serialises the result deterministically.
 */
export function renderComponent(
  template: ComponentTemplate,
  prelude: Prelude,
): { component?: RenderedComponent; problems: Problem[]; warnings: Problem[] } {
  const checked = checkAwstoeSource(template.source);
  // Style findings (ops-rig stricter than AWS) on the template, as written; never on the rendering.
  const warnings = checked.warnings;
  if (!checked.document) return { problems: checked.problems, warnings };
  const source = checked.document;
  const problems: Problem[] = [];

  const phaseNames = source.phases.map((p) => p.name);
  const type = phaseNames.every((p) => p === "test") ? "TEST" : "BUILD";
  if (type === "BUILD") {
    for (const required of ["build", "validate"] as const) {
      if (!phaseNames.includes(required)) {
        problems.push(
          template.source.problem(
            ["phases"],
            `a build component needs a "${required}" phase (ops-rig rule: every tool proves it runs)`,
          ),
        );
      }
    }
  }
  if (!source.description)
    problems.push(
      template.source.problem(
        [],
        "description is required: it is shown in Image Builder and `ops-rig render`",
      ),
    );

  const prefix = preludeLines(prelude);
  const value = {
    name: componentResourceName(template.name),
    description: source.description ?? "",
    schemaVersion: "1.0",
    ...(source.parameters.length > 0
      ? { parameters: source.parameters.map(({ name, ...spec }) => ({ [name]: stripName(spec) })) }
      : {}),
    ...(source.constants.length > 0
      ? { constants: source.constants.map(({ name, ...spec }) => ({ [name]: stripName(spec) })) }
      : {}),
    phases: source.phases.map((phase) => ({
      name: phase.name,
      steps: phase.steps.map((step) => ({
        name: step.name,
        action: step.action,
        ...(step.onFailure !== undefined ? { onFailure: step.onFailure } : {}),
        ...(step.maxAttempts !== undefined ? { maxAttempts: step.maxAttempts } : {}),
        ...(step.timeoutSeconds !== undefined ? { timeoutSeconds: step.timeoutSeconds } : {}),
        ...(step.if !== undefined ? { if: step.if } : {}),
        ...(step.loop !== undefined ? { loop: step.loop } : {}),
        ...(step.inputs !== undefined
          ? { inputs: step.action === "ExecuteBash" ? withPrelude(step.inputs, prefix) : step.inputs }
          : {}),
      })),
    })),
  };
  const document = toAwstoeYaml(value);
  if (document.length > MAX_DOCUMENT_CHARS) {
    problems.push({
      file: template.file,
      message: `rendered document is ${document.length} characters; Image Builder accepts at most ${MAX_DOCUMENT_CHARS} inline (split the component)`,
    });
  }
  // The final text must itself be a valid document: this is what Image Builder will parse.
  const final = checkAwstoeDocument(`${template.file} (rendered)`, document);
  problems.push(...final.problems);
  if (problems.length > 0 || !final.document) return { problems, warnings };
  return {
    component: {
      name: template.name,
      resourceName: componentResourceName(template.name),
      file: template.file,
      description: source.description ?? "",
      document,
      hash: sha256Hex(document),
      size: document.length,
      type,
      phases: phaseNames,
      model: final.document,
    },
    problems,
    warnings,
  };
}

function stripName(spec: { type: string; default?: string; value?: string; description?: string }) {
  return {
    type: spec.type,
    ...(spec.default !== undefined ? { default: spec.default } : {}),
    ...(spec.value !== undefined ? { value: spec.value } : {}),
    ...(spec.description !== undefined ? { description: spec.description } : {}),
  };
}

function withPrelude(inputs: unknown, prefix: readonly string[]): unknown {
  const commands = (inputs as { commands?: unknown }).commands;
  if (!Array.isArray(commands)) return inputs;
  return { ...(inputs as object), commands: [...prefix, ...commands] };
}
