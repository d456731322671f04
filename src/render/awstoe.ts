import { isScalar, Scalar } from "yaml";
import type { Problem } from "../errors.js";
import { parseYamlSource, type YamlPath, type YamlSource } from "../yaml/source.js";

/**
 * The AWSTOE component document model (schemaVersion 1.0) and the structural rules Image Builder
 * and AWSTOE apply, as listed in the project's AWS reference. Used by the renderer, the Image
 * Builder emulator and the local runner, so all three agree on what a valid document is.
 */

export const PHASE_NAMES = ["build", "validate", "test"] as const;
export type PhaseName = (typeof PHASE_NAMES)[number];

export const ON_FAILURE = ["Abort", "Continue", "Ignore"] as const;
export type OnFailure = (typeof ON_FAILURE)[number];

export const ACTIONS = [
  "AppendFile",
  "Assert",
  "CopyFile",
  "CopyFolder",
  "CreateFile",
  "CreateFolder",
  "CreateSymlink",
  "DeleteFile",
  "DeleteFolder",
  "ExecuteBash",
  "ExecuteBinary",
  "ExecuteDocument",
  "ExecutePowerShell",
  "InstallMSI",
  "ListFiles",
  "MoveFile",
  "MoveFolder",
  "ReadFile",
  "Reboot",
  "S3Download",
  "S3Upload",
  "SetFileEncoding",
  "SetFileOwner",
  "SetFolderOwner",
  "SetFilePermissions",
  "SetFolderPermissions",
  "SetRegistry",
  "UninstallMSI",
  "UpdateOS",
  "WebDownload",
] as const;
export type ActionName = (typeof ACTIONS)[number];

export const MAX_DOCUMENT_CHARS = 16_000;
export const DEFAULT_TIMEOUT_SECONDS = 7200;

export interface AwstoeLoop {
  readonly name?: string;
  readonly for?: { readonly start: number; readonly end: number; readonly updateBy: number };
  readonly forEach?: readonly string[] | { readonly list: string; readonly delimiter: string };
}

export interface AwstoeStep {
  readonly name: string;
  readonly action: ActionName;
  readonly inputs?: unknown;
  readonly onFailure?: OnFailure;
  readonly maxAttempts?: number;
  readonly timeoutSeconds?: number;
  readonly if?: unknown;
  readonly loop?: AwstoeLoop;
}

export interface AwstoePhase {
  readonly name: PhaseName;
  readonly steps: readonly AwstoeStep[];
}

export interface AwstoeVariable {
  readonly name: string;
  readonly type: "string";
  readonly default?: string;
  readonly value?: string;
  readonly description?: string;
}

export interface AwstoeDocument {
  readonly name?: string;
  readonly description?: string;
  readonly schemaVersion: string;
  readonly parameters: readonly AwstoeVariable[];
  readonly constants: readonly AwstoeVariable[];
  readonly phases: readonly AwstoePhase[];
}

const TOP_LEVEL_KEYS = new Set(["name", "description", "schemaVersion", "parameters", "constants", "phases"]);
const STEP_KEYS = new Set([
  "name",
  "action",
  "inputs",
  "onFailure",
  "maxAttempts",
  "timeoutSeconds",
  "if",
  "loop",
]);
const VARIABLE_NAME = /^[a-zA-Z0-9_-]{3,128}$/;
const STEP_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,127}$/;
const VARIABLE_REFERENCE = /\{\{\s*([^{}]*?)\s*\}\}/g;

type Shape = Readonly<Record<string, "string" | "boolean" | "integer" | "string[]" | "required-string">>;

/** `inputs` shapes of the actions whose inputs we check (list-of-objects actions). */
const LIST_INPUT_SHAPES: Readonly<Partial<Record<ActionName, Shape>>> = {
  CreateFile: {
    path: "required-string",
    content: "string",
    encoding: "string",
    owner: "string",
    group: "string",
    permissions: "string",
    overwrite: "boolean",
  },
  AppendFile: { path: "required-string", content: "string", encoding: "string" },
  CreateFolder: {
    path: "required-string",
    owner: "string",
    group: "string",
    permissions: "string",
    overwrite: "boolean",
  },
  CreateSymlink: { source: "required-string", destination: "required-string", force: "boolean" },
  DeleteFile: { path: "required-string" },
  DeleteFolder: { path: "required-string", force: "boolean" },
  SetFilePermissions: { path: "required-string", permissions: "required-string" },
  SetFolderPermissions: { path: "required-string", permissions: "required-string", recursive: "boolean" },
  SetFileOwner: { path: "required-string", owner: "required-string", group: "string" },
  SetFolderOwner: {
    path: "required-string",
    owner: "required-string",
    group: "string",
    recursive: "boolean",
  },
  CopyFile: { source: "required-string", destination: "required-string", overwrite: "boolean" },
  MoveFile: { source: "required-string", destination: "required-string", overwrite: "boolean" },
  S3Download: {
    source: "required-string",
    destination: "required-string",
    expectedBucketOwner: "string",
    overwrite: "boolean",
  },
  WebDownload: {
    source: "required-string",
    destination: "required-string",
    checksum: "string",
    algorithm: "string",
    ignoreCertificateErrors: "boolean",
    overwrite: "boolean",
  },
};

/** Parses a component document and checks it against the AWSTOE rules, with file/line problems. */
export function checkAwstoeDocument(
  file: string,
  text: string,
): { document?: AwstoeDocument; problems: Problem[] } {
  return checkAwstoeSource(parseYamlSource(file, text));
}

export function checkAwstoeSource(source: YamlSource): { document?: AwstoeDocument; problems: Problem[] } {
  if (source.syntaxProblems.length > 0) return { problems: [...source.syntaxProblems] };
  const problems: Problem[] = [];
  const report = (path: YamlPath, message: string, options?: { key?: boolean }): void => {
    problems.push(source.problem(path, message, options));
  };

  const root = source.value;
  if (!isRecord(root)) {
    report([], "a component document is a YAML mapping with schemaVersion and phases");
    return { problems };
  }
  for (const key of Object.keys(root)) {
    if (!TOP_LEVEL_KEYS.has(key))
      report([key], `unknown top-level key "${key}" (allowed: ${[...TOP_LEVEL_KEYS].join(", ")})`, {
        key: true,
      });
  }
  const schemaVersion = root.schemaVersion;
  if (schemaVersion === undefined) report([], "schemaVersion is required (1.0)");
  else if (String(schemaVersion) !== "1.0" && schemaVersion !== 1)
    report(["schemaVersion"], `schemaVersion must be 1.0, not ${JSON.stringify(schemaVersion)}`);
  for (const key of ["name", "description"] as const) {
    if (root[key] !== undefined && typeof root[key] !== "string") report([key], `${key} must be a string`);
  }

  const parameters = checkVariables(root.parameters, "parameters", report);
  const constants = checkVariables(root.constants, "constants", report);
  const defined = new Set([...parameters, ...constants].map((v) => v.name));
  for (const c of constants) {
    if (c.value === undefined) report(["constants"], `constant "${c.name}" needs a value`);
  }
  for (const p of parameters) {
    if (constants.some((c) => c.name === p.name))
      report(["parameters"], `"${p.name}" is both a parameter and a constant`);
  }

  const phases: AwstoePhase[] = [];
  if (!Array.isArray(root.phases) || root.phases.length === 0) {
    report(root.phases === undefined ? [] : ["phases"], "phases is required: a list of {name, steps}");
  } else {
    const seenPhases = new Set<string>();
    root.phases.forEach((rawPhase: unknown, phaseIndex: number) => {
      const phasePath: YamlPath = ["phases", phaseIndex];
      if (!isRecord(rawPhase)) {
        report(phasePath, "a phase is a mapping with name and steps");
        return;
      }
      for (const key of Object.keys(rawPhase)) {
        if (key !== "name" && key !== "steps")
          report([...phasePath, key], `unknown phase key "${key}"`, { key: true });
      }
      const name = rawPhase.name;
      if (typeof name !== "string" || !(PHASE_NAMES as readonly string[]).includes(name)) {
        report(
          [...phasePath, "name"],
          `phase name must be one of ${PHASE_NAMES.join(", ")}, not ${JSON.stringify(name)}`,
        );
        return;
      }
      if (seenPhases.has(name)) report([...phasePath, "name"], `phase "${name}" appears twice`);
      seenPhases.add(name);
      if (!Array.isArray(rawPhase.steps) || rawPhase.steps.length === 0) {
        report([...phasePath, "steps"], `phase "${name}" needs at least one step`);
        return;
      }
      const steps: AwstoeStep[] = [];
      const seenSteps = new Set<string>();
      rawPhase.steps.forEach((rawStep: unknown, stepIndex: number) => {
        const step = checkStep(rawStep, [...phasePath, "steps", stepIndex], report);
        if (!step) return;
        if (seenSteps.has(step.name))
          report(
            [...phasePath, "steps", stepIndex, "name"],
            `step name "${step.name}" is used twice in phase "${name}"`,
          );
        seenSteps.add(step.name);
        steps.push(step);
      });
      phases.push({ name: name as PhaseName, steps });
    });
  }

  checkVariableReferences(source, root, defined, report);

  const document: AwstoeDocument = {
    ...(typeof root.name === "string" ? { name: root.name } : {}),
    ...(typeof root.description === "string" ? { description: root.description } : {}),
    schemaVersion: "1.0",
    parameters,
    constants,
    phases,
  };
  return problems.length > 0 ? { problems } : { document, problems };
}

function checkVariables(
  raw: unknown,
  section: "parameters" | "constants",
  report: (path: YamlPath, message: string, options?: { key?: boolean }) => void,
): AwstoeVariable[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    report([section], `${section} must be a list of single-key mappings (- Name: {type: string, ...})`);
    return [];
  }
  const out: AwstoeVariable[] = [];
  raw.forEach((entry: unknown, index: number) => {
    const path: YamlPath = [section, index];
    if (!isRecord(entry) || Object.keys(entry).length !== 1) {
      report(path, `each entry of ${section} is a single-key mapping (- Name: {type: string, ...})`);
      return;
    }
    const [name, spec] = Object.entries(entry)[0] as [string, unknown];
    if (!VARIABLE_NAME.test(name))
      report([...path, name], `"${name}" is not a valid name (3-128 of a-z A-Z 0-9 _ -)`, { key: true });
    if (out.some((v) => v.name === name))
      report([...path, name], `"${name}" is defined twice`, { key: true });
    if (!isRecord(spec)) {
      report([...path, name], `"${name}" needs {type: string, ...}`);
      return;
    }
    const allowed =
      section === "parameters" ? ["type", "default", "description"] : ["type", "value", "description"];
    for (const key of Object.keys(spec)) {
      if (!allowed.includes(key))
        report([...path, name, key], `unknown key "${key}" (allowed: ${allowed.join(", ")})`, { key: true });
    }
    if (spec.type !== "string")
      report([...path, name, "type"], `type must be "string", the only type AWSTOE documents`);
    for (const key of ["default", "value", "description"]) {
      if (spec[key] !== undefined && typeof spec[key] !== "string")
        report([...path, name, key], `${key} must be a quoted string`);
    }
    out.push({
      name,
      type: "string",
      ...(typeof spec.default === "string" ? { default: spec.default } : {}),
      ...(typeof spec.value === "string" ? { value: spec.value } : {}),
      ...(typeof spec.description === "string" ? { description: spec.description } : {}),
    });
  });
  return out;
}

function checkStep(
  raw: unknown,
  path: YamlPath,
  report: (path: YamlPath, message: string, options?: { key?: boolean }) => void,
): AwstoeStep | undefined {
  if (!isRecord(raw)) {
    report(path, "a step is a mapping with name, action and inputs");
    return undefined;
  }
  for (const key of Object.keys(raw)) {
    if (!STEP_KEYS.has(key))
      report([...path, key], `unknown step key "${key}" (allowed: ${[...STEP_KEYS].join(", ")})`, {
        key: true,
      });
  }
  const name = raw.name;
  if (typeof name !== "string" || !STEP_NAME.test(name)) {
    report(
      [...path, "name"],
      `step name must start with a letter and use letters, digits, _ or - (got ${JSON.stringify(name)})`,
    );
    return undefined;
  }
  const action = raw.action;
  if (typeof action !== "string" || !(ACTIONS as readonly string[]).includes(action)) {
    report([...path, "action"], `unknown action ${JSON.stringify(action)} in step "${name}"`);
    return undefined;
  }
  if (raw.onFailure !== undefined && !(ON_FAILURE as readonly unknown[]).includes(raw.onFailure)) {
    report([...path, "onFailure"], `onFailure must be one of ${ON_FAILURE.join(", ")}`);
  }
  if (
    raw.maxAttempts !== undefined &&
    !(Number.isInteger(raw.maxAttempts) && (raw.maxAttempts as number) >= 1)
  ) {
    report([...path, "maxAttempts"], "maxAttempts must be a whole number of at least 1");
  }
  if (
    raw.timeoutSeconds !== undefined &&
    !(
      Number.isInteger(raw.timeoutSeconds) &&
      ((raw.timeoutSeconds as number) >= 1 || raw.timeoutSeconds === -1)
    )
  ) {
    report(
      [...path, "timeoutSeconds"],
      "timeoutSeconds must be a whole number of at least 1, or -1 for no timeout (0 is invalid)",
    );
  }
  const loop = raw.loop === undefined ? undefined : checkLoop(raw.loop, [...path, "loop"], report);
  checkInputs(action as ActionName, raw.inputs, [...path, "inputs"], name, report);
  return {
    name,
    action: action as ActionName,
    ...(raw.inputs !== undefined ? { inputs: raw.inputs } : {}),
    ...(typeof raw.onFailure === "string" ? { onFailure: raw.onFailure as OnFailure } : {}),
    ...(typeof raw.maxAttempts === "number" ? { maxAttempts: raw.maxAttempts } : {}),
    ...(typeof raw.timeoutSeconds === "number" ? { timeoutSeconds: raw.timeoutSeconds } : {}),
    ...(raw.if !== undefined ? { if: raw.if } : {}),
    ...(loop ? { loop } : {}),
  };
}

function checkLoop(
  raw: unknown,
  path: YamlPath,
  report: (path: YamlPath, message: string) => void,
): AwstoeLoop | undefined {
  if (!isRecord(raw)) {
    report(path, "loop must be a mapping with `for` or `forEach`");
    return undefined;
  }
  const hasFor = raw.for !== undefined;
  const hasForEach = raw.forEach !== undefined;
  if (hasFor === hasForEach) {
    report(path, "loop needs exactly one of `for` and `forEach`");
    return undefined;
  }
  if (raw.name !== undefined && (typeof raw.name !== "string" || !STEP_NAME.test(raw.name)))
    report([...path, "name"], "loop name must be a simple identifier");
  const name = typeof raw.name === "string" ? { name: raw.name } : {};
  if (hasFor) {
    const spec = raw.for;
    if (
      !isRecord(spec) ||
      ![spec.start, spec.end, spec.updateBy].every(Number.isInteger) ||
      spec.updateBy === 0
    ) {
      report([...path, "for"], "loop.for needs whole-number start, end and a non-zero updateBy");
      return undefined;
    }
    return {
      ...name,
      for: { start: spec.start as number, end: spec.end as number, updateBy: spec.updateBy as number },
    };
  }
  const each = raw.forEach;
  if (Array.isArray(each) && each.every((v) => typeof v === "string"))
    return { ...name, forEach: each as string[] };
  if (isRecord(each) && typeof each.list === "string" && typeof each.delimiter === "string") {
    return { ...name, forEach: { list: each.list, delimiter: each.delimiter } };
  }
  report([...path, "forEach"], "loop.forEach is a list of strings or {list, delimiter}");
  return undefined;
}

function checkInputs(
  action: ActionName,
  inputs: unknown,
  path: YamlPath,
  step: string,
  report: (path: YamlPath, message: string, options?: { key?: boolean }) => void,
): void {
  if (action === "ExecuteBash") {
    if (!isRecord(inputs)) {
      report(path, `ExecuteBash step "${step}" needs inputs.commands (a list of lines)`);
      return;
    }
    const hasCommands = inputs.commands !== undefined;
    const hasFile = inputs.file !== undefined;
    for (const key of Object.keys(inputs)) {
      if (key !== "commands" && key !== "file")
        report([...path, key], `unknown ExecuteBash input "${key}"`, { key: true });
    }
    if (hasCommands === hasFile) {
      report(path, `ExecuteBash step "${step}" needs exactly one of inputs.commands and inputs.file`);
      return;
    }
    if (hasCommands) {
      const commands = inputs.commands;
      if (
        !Array.isArray(commands) ||
        commands.length === 0 ||
        !commands.every((c) => typeof c === "string")
      ) {
        report([...path, "commands"], "commands must be a non-empty list of strings");
      }
    } else if (typeof inputs.file !== "string") report([...path, "file"], "file must be a path string");
    return;
  }
  if (action === "UpdateOS") {
    if (inputs === undefined) return;
    if (!isRecord(inputs)) {
      report(path, "UpdateOS inputs are {include?: [...], exclude?: [...]}");
      return;
    }
    for (const [key, value] of Object.entries(inputs)) {
      if (key !== "include" && key !== "exclude")
        report([...path, key], `unknown UpdateOS input "${key}"`, { key: true });
      else if (!Array.isArray(value) || !value.every((v) => typeof v === "string"))
        report([...path, key], `${key} must be a list of package names`);
    }
    return;
  }
  if (action === "Reboot") {
    if (inputs === undefined) return;
    if (
      !isRecord(inputs) ||
      Object.keys(inputs).some((k) => k !== "delaySeconds") ||
      (inputs.delaySeconds !== undefined && !Number.isInteger(inputs.delaySeconds))
    ) {
      report(path, "Reboot inputs are {delaySeconds?: whole number}");
    }
    return;
  }
  const shape = LIST_INPUT_SHAPES[action];
  if (!shape) return;
  if (!Array.isArray(inputs) || inputs.length === 0) {
    report(path, `${action} step "${step}" needs inputs: a list of {${Object.keys(shape).join(", ")}}`);
    return;
  }
  inputs.forEach((entry: unknown, index: number) => {
    const entryPath = [...path, index];
    if (!isRecord(entry)) {
      report(entryPath, `${action} input must be a mapping`);
      return;
    }
    for (const [key, kind] of Object.entries(shape)) {
      const value = entry[key];
      if (value === undefined) {
        if (kind === "required-string") report(entryPath, `${action} input needs "${key}"`);
        continue;
      }
      const ok =
        kind === "boolean"
          ? typeof value === "boolean"
          : kind === "integer"
            ? Number.isInteger(value)
            : typeof value === "string";
      if (!ok) {
        const hint =
          key === "permissions" ? ' (quote octal modes: "0755"; an unquoted 0755 is not a string)' : "";
        report(
          [...entryPath, key],
          `${action} input "${key}" must be a ${kind === "required-string" ? "string" : kind}${hint}`,
        );
      }
    }
    for (const key of Object.keys(entry)) {
      if (!(key in shape)) report([...entryPath, key], `unknown ${action} input "${key}"`, { key: true });
    }
    if (typeof entry.permissions === "string" && !/^0?[0-7]{3,4}$/.test(entry.permissions)) {
      report(
        [...entryPath, "permissions"],
        `permissions must be an octal mode like "0644", not "${entry.permissions}"`,
      );
    }
  });
}

/**
 * Every `{{ ... }}` must name a parameter, a constant, the current loop or an earlier step's
 * output, and must sit in a quoted (or block) YAML string: a plain `{{` is a YAML flow mapping.
 */
function checkVariableReferences(
  source: YamlSource,
  root: Record<string, unknown>,
  defined: ReadonlySet<string>,
  report: (path: YamlPath, message: string) => void,
): void {
  const earlierSteps = new Set<string>();
  const rawPhases = Array.isArray(root.phases) ? root.phases : [];
  rawPhases.forEach((rawPhase: unknown, phaseIndex: number) => {
    if (!isRecord(rawPhase) || !Array.isArray(rawPhase.steps)) return;
    const phaseName = String(rawPhase.name);
    rawPhase.steps.forEach((rawStep: unknown, stepIndex: number) => {
      if (!isRecord(rawStep)) return;
      const stepPath: YamlPath = ["phases", phaseIndex, "steps", stepIndex];
      const loop = isRecord(rawStep.loop) ? rawStep.loop : undefined;
      const loopNames = new Set(["loop", ...(loop && typeof loop.name === "string" ? [loop.name] : [])]);
      forEachString(rawStep, stepPath, (value, path) => {
        for (const match of value.matchAll(VARIABLE_REFERENCE)) {
          const reference = match[1] ?? "";
          if (!isResolvable(reference, defined, loop ? loopNames : new Set(), earlierSteps)) {
            report(path, `undefined variable "{{ ${reference} }}" (define it under parameters or constants)`);
          }
        }
        if (value.includes("{{")) {
          const node = source.nodeAt(path);
          if (isScalar(node) && node.type === Scalar.PLAIN) {
            report(path, "a value with {{ variables }} must be a quoted YAML string");
          }
        }
      });
      if (typeof rawStep.name === "string") earlierSteps.add(`${phaseName}.${rawStep.name}`);
    });
  });
  // Variables outside steps (descriptions, defaults) are not substituted by AWSTOE.
  for (const section of ["parameters", "constants"] as const) {
    forEachString(root[section], [section], (value, path) => {
      if (VARIABLE_REFERENCE.test(value))
        report(path, "variables are not substituted inside parameter or constant definitions");
      VARIABLE_REFERENCE.lastIndex = 0;
    });
  }
}

function isResolvable(
  reference: string,
  defined: ReadonlySet<string>,
  loops: ReadonlySet<string>,
  earlierSteps: ReadonlySet<string>,
): boolean {
  if (defined.has(reference)) return true;
  const parts = reference.split(".");
  if (parts.length === 2 && loops.has(parts[0] ?? "") && (parts[1] === "value" || parts[1] === "index"))
    return true;
  if (parts.length === 4 && parts[2] === "outputs" && parts[3] === "stdout")
    return earlierSteps.has(`${parts[0]}.${parts[1]}`);
  return false;
}

function forEachString(value: unknown, path: YamlPath, visit: (value: string, path: YamlPath) => void): void {
  if (typeof value === "string") visit(value, path);
  else if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) forEachString(item, [...path, index], visit);
  } else if (isRecord(value))
    for (const [key, item] of Object.entries(value)) forEachString(item, [...path, key], visit);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Replaces `{{ name }}` references using `lookup`; unknown names are left as they are. */
export function substituteVariables(value: string, lookup: (name: string) => string | undefined): string {
  return value.replace(VARIABLE_REFERENCE, (whole, name: string) => lookup(name) ?? whole);
}
