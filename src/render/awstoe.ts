import { isScalar, Scalar } from "yaml";
import type { Problem } from "../errors.js";
import { parseYamlSource, type YamlPath, type YamlSource } from "../yaml/source.js";

/**
 * The AWSTOE component document model (schemaVersion 1.0) and the rules AWSTOE and Image Builder
 * apply, from AWS's user guide ("Use documents in AWSTOE", "Use variables in your custom component
 * document", "Use looping constructs", "Use conditional constructs", the comparison and logical
 * operator pages, and "Action modules supported by AWSTOE component manager"). Used by the
 * renderer, the Image Builder emulator and the local runner, so all three agree on what is valid.
 *
 * Two kinds of finding: `problems` are what AWS refuses or what cannot work (the document is
 * rejected), `warnings` are ops-rig's own style rules that AWS does not enforce (quote variables,
 * quote octal modes, ...). A warning never rejects a document AWS would accept.
 */

/** The phases Image Builder runs: build and validate on the build instance, test on a new one. */
export const PHASE_NAMES = ["build", "validate", "test", "container-host-test"] as const;
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
/** "Conditional expressions support a maximum nesting depth of 4 levels" of and/or/not. */
export const MAX_CONDITION_DEPTH = 4;
/** `forEach {list, delimiter}`: one of these characters; a comma when left out. */
export const LOOP_DELIMITERS = [".", ",", ";", ":", "\n", "\t", " ", "-", "_"] as const;

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
  /** One of PHASE_NAMES for every phase Image Builder runs; AWSTOE accepts others (a warning). */
  readonly name: string;
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

export interface AwstoeCheck {
  /** Present when there are no problems: the document as AWSTOE reads it (scalars normalised). */
  readonly document?: AwstoeDocument;
  readonly problems: Problem[];
  readonly warnings: Problem[];
}

const TOP_LEVEL_KEYS = ["name", "description", "schemaVersion", "parameters", "constants", "phases"];
const STEP_KEYS = ["name", "action", "inputs", "onFailure", "maxAttempts", "timeoutSeconds", "if", "loop"];
const VARIABLE_NAME = /^[a-zA-Z0-9_-]{3,128}$/;
const STEP_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,127}$/;
const VARIABLE_REFERENCE = /\{\{\s*([^{}]*?)\s*\}\}/g;
const OCTAL_MODE = /^0?[0-7]{3,4}$/;
const ENCODINGS = [
  "utf8",
  "utf-8",
  "utf16",
  "utf-16",
  "utf16-le",
  "utf-16-le",
  "utf16-be",
  "utf-16-be",
  "utf32",
  "utf-32",
  "utf32-le",
  "utf-32-le",
  "utf32-be",
  "utf-32-be",
];

// ------------------------------------------------------------------------------------ inputs

/** How one action input is typed in AWS's action module reference. */
type InputKind =
  | "string"
  | "boolean"
  | "integer"
  | "string-list"
  | "permissions"
  | "encoding"
  | "checksum-algorithm"
  | "registry-type"
  | "registry-value"
  | "boolean-or-string";

interface InputSpec {
  readonly kind: InputKind;
  readonly required?: boolean;
}

interface ActionSpec {
  /** A list of entries (file actions) or a single mapping (execution, system actions). */
  readonly form: "list" | "mapping" | "condition";
  readonly inputs: Readonly<Record<string, InputSpec>>;
  /** Inputs may be left out entirely. */
  readonly optional?: boolean;
  /** Alternatives: exactly one of these key groups must be given (e.g. commands or file). */
  readonly oneOf?: readonly (readonly string[])[];
  /** The action's outputs, for chaining (`{{ phase.step.outputs.<name> }}`). */
  readonly outputs?: readonly string[];
}

const req = (kind: InputKind): InputSpec => ({ kind, required: true });
const opt = (kind: InputKind): InputSpec => ({ kind });
const sourceDestination = {
  source: req("string"),
  destination: req("string"),
  overwrite: opt("boolean"),
};

/** Every action module and its inputs, as AWS's action module reference lists them. */
export const ACTION_SPECS: Readonly<Record<ActionName, ActionSpec>> = {
  ExecuteBash: {
    form: "mapping",
    inputs: { commands: opt("string-list"), file: opt("string") },
    oneOf: [["commands"], ["file"]],
    outputs: ["stdout"],
  },
  ExecuteBinary: {
    form: "mapping",
    inputs: { path: req("string"), arguments: opt("string-list") },
    outputs: ["stdout"],
  },
  ExecutePowerShell: {
    form: "mapping",
    inputs: { commands: opt("string-list"), file: opt("string") },
    oneOf: [["commands"], ["file"]],
    outputs: ["stdout"],
  },
  ExecuteDocument: {
    form: "mapping",
    inputs: { document: req("string"), phases: opt("string"), parameters: opt("string-list") },
  },
  S3Download: {
    form: "list",
    inputs: { ...sourceDestination, expectedBucketOwner: opt("string") },
  },
  S3Upload: {
    form: "list",
    inputs: {
      source: req("string"),
      destination: req("string"),
      recurse: opt("boolean-or-string"),
      expectedBucketOwner: opt("string"),
    },
  },
  WebDownload: {
    form: "list",
    inputs: {
      ...sourceDestination,
      checksum: opt("string"),
      algorithm: opt("checksum-algorithm"),
      ignoreCertificateErrors: opt("boolean"),
    },
    outputs: ["destination"],
  },
  AppendFile: {
    form: "list",
    inputs: { path: req("string"), content: opt("string"), encoding: opt("encoding") },
  },
  CopyFile: { form: "list", inputs: sourceDestination },
  CopyFolder: { form: "list", inputs: sourceDestination },
  MoveFile: { form: "list", inputs: sourceDestination },
  MoveFolder: { form: "list", inputs: sourceDestination },
  CreateFile: {
    form: "list",
    inputs: {
      path: req("string"),
      content: opt("string"),
      encoding: opt("encoding"),
      owner: opt("string"),
      group: opt("string"),
      permissions: opt("permissions"),
      overwrite: opt("boolean"),
    },
  },
  CreateFolder: {
    form: "list",
    inputs: {
      path: req("string"),
      owner: opt("string"),
      group: opt("string"),
      permissions: opt("permissions"),
      overwrite: opt("boolean"),
    },
  },
  // The guide has named the link and its target both `path`/`target` and `source`/`destination`
  // over time; which one AWSTOE reads today is unverified, so either pair is accepted.
  CreateSymlink: {
    form: "list",
    inputs: {
      path: opt("string"),
      target: opt("string"),
      source: opt("string"),
      destination: opt("string"),
      force: opt("boolean"),
    },
    oneOf: [
      ["path", "target"],
      ["source", "destination"],
    ],
  },
  DeleteFile: { form: "list", inputs: { path: req("string") } },
  DeleteFolder: { form: "list", inputs: { path: req("string"), force: opt("boolean") } },
  ListFiles: {
    form: "list",
    inputs: { path: req("string"), fileNamePattern: opt("string"), recursive: opt("boolean") },
    outputs: ["files"],
  },
  ReadFile: {
    form: "list",
    inputs: { path: req("string"), encoding: opt("encoding"), printFileContent: opt("boolean") },
    outputs: ["content"],
  },
  SetFileEncoding: { form: "list", inputs: { path: req("string"), encoding: opt("encoding") } },
  SetFileOwner: {
    form: "list",
    inputs: { path: req("string"), owner: req("string"), group: opt("string") },
  },
  SetFolderOwner: {
    form: "list",
    inputs: { path: req("string"), owner: req("string"), group: opt("string"), recursive: opt("boolean") },
  },
  SetFilePermissions: {
    form: "list",
    inputs: { path: req("string"), permissions: req("permissions") },
  },
  SetFolderPermissions: {
    form: "list",
    inputs: { path: req("string"), permissions: req("permissions"), recursive: opt("boolean") },
  },
  Reboot: { form: "mapping", optional: true, inputs: { delaySeconds: opt("integer") } },
  SetRegistry: {
    form: "list",
    inputs: {
      path: req("string"),
      name: req("string"),
      value: req("registry-value"),
      type: req("registry-type"),
    },
  },
  UpdateOS: {
    form: "mapping",
    optional: true,
    inputs: { include: opt("string-list"), exclude: opt("string-list") },
  },
  InstallMSI: {
    form: "mapping",
    inputs: {
      path: req("string"),
      reboot: opt("string"),
      logOptions: opt("string"),
      logFile: opt("string"),
      properties: opt("registry-value"),
      ignoreAuthenticodeSignatureErrors: opt("boolean"),
      allowUnsignedInstaller: opt("boolean"),
    },
  },
  UninstallMSI: {
    form: "mapping",
    inputs: { path: req("string"), reboot: opt("string") },
  },
  Assert: { form: "condition", inputs: {} },
};

// -------------------------------------------------------------------------------- conditions

/** Operators that compare the operand with `value`. */
const TWO_VALUE_OPERATORS = [
  "stringEquals",
  "stringLessThan",
  "stringLessThanEquals",
  "stringGreaterThan",
  "stringGreaterThanEquals",
  "patternMatches",
  "numberEquals",
  "numberLessThan",
  "numberLessThanEquals",
  "numberGreaterThan",
  "numberGreaterThanEquals",
  "fileMD5Equals",
  "fileSHA1Equals",
  "fileSHA256Equals",
  "fileSHA512Equals",
] as const;
/**
 * Operators on one value. `platform` (the OS family the step runs on) is listed in ops-rig's brief
 * but could not be confirmed in the stored guide: accepted, with a warning saying so.
 */
const ONE_VALUE_OPERATORS = [
  "stringIsEmpty",
  "stringIsWhitespace",
  "binaryExists",
  "fileExists",
  "folderExists",
  "platform",
] as const;
const LOGICAL_OPERATORS = ["and", "or", "not"] as const;
export const CONDITION_OPERATORS: readonly string[] = [
  ...TWO_VALUE_OPERATORS,
  ...ONE_VALUE_OPERATORS,
  ...LOGICAL_OPERATORS,
];
const STEP_ACTIONS = ["Execute", "Skip", "Abort"];

// ----------------------------------------------------------------------------------- checker

type Report = (path: YamlPath, message: string, options?: { key?: boolean }) => void;

interface Context {
  readonly source: YamlSource;
  readonly error: Report;
  readonly warn: Report;
}

/** Parses a component document and checks it against the AWSTOE rules, with file/line problems. */
export function checkAwstoeDocument(file: string, text: string): AwstoeCheck {
  return checkAwstoeSource(parseYamlSource(file, text));
}

export function checkAwstoeSource(source: YamlSource): AwstoeCheck {
  if (source.syntaxProblems.length > 0) return { problems: [...source.syntaxProblems], warnings: [] };
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  const ctx: Context = {
    source,
    error: (path, message, options) => problems.push(source.problem(path, message, options)),
    warn: (path, message, options) => warnings.push(source.problem(path, message, options)),
  };

  const root = source.value;
  if (!isRecord(root)) {
    ctx.error([], "a component document is a YAML mapping with schemaVersion and phases");
    return { problems, warnings };
  }
  for (const key of Object.keys(root)) {
    if (!TOP_LEVEL_KEYS.includes(key))
      ctx.error(
        [key],
        `unknown top-level key "${key}"${hint(key, TOP_LEVEL_KEYS)} (allowed: ${TOP_LEVEL_KEYS.join(", ")})`,
        {
          key: true,
        },
      );
  }
  const schemaVersion = root.schemaVersion;
  if (schemaVersion === undefined) ctx.error([], "schemaVersion is required (1.0)");
  else if (String(schemaVersion) !== "1.0" && schemaVersion !== 1)
    ctx.error(["schemaVersion"], `schemaVersion must be 1.0, not ${JSON.stringify(schemaVersion)}`);
  for (const key of ["name", "description"] as const) {
    if (root[key] !== undefined && !isScalarValue(root[key])) ctx.error([key], `${key} must be a string`);
  }

  const parameters = checkVariables(root.parameters, "parameters", ctx);
  const constants = checkVariables(root.constants, "constants", ctx);
  const defined = new Set<string>();
  for (const v of [...parameters, ...constants]) {
    if (defined.has(v.name))
      ctx.error([], `"${v.name}" is defined twice (parameter and constant names share one namespace)`);
    defined.add(v.name);
  }

  const phases: AwstoePhase[] = [];
  if (!Array.isArray(root.phases) || root.phases.length === 0) {
    ctx.error(root.phases === undefined ? [] : ["phases"], "phases is required: a list of {name, steps}");
  } else {
    const index = buildStepIndex(root.phases);
    const seenPhases = new Set<string>();
    root.phases.forEach((rawPhase: unknown, phaseIndex: number) => {
      const phasePath: YamlPath = ["phases", phaseIndex];
      if (!isRecord(rawPhase)) {
        ctx.error(phasePath, "a phase is a mapping with name and steps");
        return;
      }
      for (const key of Object.keys(rawPhase)) {
        if (key !== "name" && key !== "steps")
          ctx.error([...phasePath, key], `unknown phase key "${key}" (allowed: name, steps)`, { key: true });
      }
      const name = rawPhase.name;
      if (typeof name !== "string" || name.trim() === "") {
        ctx.error([...phasePath, "name"], "a phase needs a name (build, validate, test)");
        return;
      }
      if (!(PHASE_NAMES as readonly string[]).includes(name))
        ctx.warn(
          [...phasePath, "name"],
          `Image Builder never runs a phase named "${name}"${hint(name, PHASE_NAMES)} (it runs ${PHASE_NAMES.join(", ")})`,
        );
      if (seenPhases.has(name)) ctx.error([...phasePath, "name"], `phase "${name}" appears twice`);
      seenPhases.add(name);
      if (!Array.isArray(rawPhase.steps) || rawPhase.steps.length === 0) {
        ctx.error([...phasePath, "steps"], `phase "${name}" needs at least one step`);
        return;
      }
      const steps: AwstoeStep[] = [];
      const seenSteps = new Set<string>();
      const seenLoops = new Set<string>();
      rawPhase.steps.forEach((rawStep: unknown, stepIndex: number) => {
        const stepPath: YamlPath = [...phasePath, "steps", stepIndex];
        const step = checkStep(rawStep, stepPath, ctx);
        if (!step) return;
        if (seenSteps.has(step.name))
          ctx.error([...stepPath, "name"], `step name "${step.name}" is used twice in phase "${name}"`);
        seenSteps.add(step.name);
        if (step.loop?.name !== undefined) {
          if (seenLoops.has(step.loop.name))
            ctx.error(
              [...stepPath, "loop", "name"],
              `loop name "${step.loop.name}" is used twice in phase "${name}"`,
            );
          seenLoops.add(step.loop.name);
        }
        checkReferences(
          rawStep as Record<string, unknown>,
          stepPath,
          step,
          { phase: name, defined, index },
          ctx,
        );
        steps.push(step);
      });
      phases.push({ name, steps });
    });
  }

  // Variables outside steps are not substituted by AWSTOE: the text stays as written.
  for (const section of ["parameters", "constants"] as const) {
    forEachString(root[section], [section], (value, path) => {
      if (value.includes("{{"))
        ctx.warn(path, "AWSTOE does not substitute variables inside parameter or constant definitions");
    });
  }

  const document: AwstoeDocument = {
    ...(root.name !== undefined && isScalarValue(root.name) ? { name: String(root.name) } : {}),
    ...(root.description !== undefined && isScalarValue(root.description)
      ? { description: String(root.description) }
      : {}),
    schemaVersion: "1.0",
    parameters,
    constants,
    phases,
  };
  return problems.length > 0 ? { problems, warnings } : { document, problems, warnings };
}

function checkVariables(raw: unknown, section: "parameters" | "constants", ctx: Context): AwstoeVariable[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    ctx.error([section], `${section} must be a list of single-key mappings (- Name: {type: string, ...})`);
    return [];
  }
  const out: AwstoeVariable[] = [];
  raw.forEach((entry: unknown, index: number) => {
    const path: YamlPath = [section, index];
    if (!isRecord(entry) || Object.keys(entry).length !== 1) {
      ctx.error(path, `each entry of ${section} is a single-key mapping (- Name: {type: string, ...})`);
      return;
    }
    const [name, spec] = Object.entries(entry)[0] as [string, unknown];
    if (!VARIABLE_NAME.test(name))
      ctx.error([...path, name], `"${name}" is not a valid name (3-128 of a-z A-Z 0-9 _ -)`, { key: true });
    if (!isRecord(spec)) {
      ctx.error([...path, name], `"${name}" needs {type: string, ...}`);
      return;
    }
    const allowed =
      section === "parameters" ? ["type", "default", "description"] : ["type", "value", "description"];
    for (const key of Object.keys(spec)) {
      if (!allowed.includes(key))
        ctx.error(
          [...path, name, key],
          `unknown key "${key}"${hint(key, allowed)} (allowed: ${allowed.join(", ")})`,
          {
            key: true,
          },
        );
    }
    if (spec.type !== "string")
      ctx.error([...path, name, "type"], `type must be "string", the only type AWSTOE supports`);
    const text: Record<string, string> = {};
    for (const key of ["default", "value", "description"]) {
      const value = spec[key];
      if (value === undefined || value === null) continue;
      const scalar = scalarText(value, [...path, name, key], ctx);
      if (scalar === undefined) ctx.error([...path, name, key], `${key} must be a string`);
      else text[key] = scalar;
    }
    if (section === "constants" && text.value === undefined)
      ctx.error([...path, name], `constant "${name}" needs a value`, { key: true });
    out.push({
      name,
      type: "string",
      ...(text.default !== undefined ? { default: text.default } : {}),
      ...(text.value !== undefined ? { value: text.value } : {}),
      ...(text.description !== undefined ? { description: text.description } : {}),
    });
  });
  return out;
}

function checkStep(raw: unknown, path: YamlPath, ctx: Context): AwstoeStep | undefined {
  if (!isRecord(raw)) {
    ctx.error(path, "a step is a mapping with name, action and inputs");
    return undefined;
  }
  for (const key of Object.keys(raw)) {
    if (!STEP_KEYS.includes(key))
      ctx.error(
        [...path, key],
        `unknown step key "${key}"${hint(key, STEP_KEYS)} (allowed: ${STEP_KEYS.join(", ")})`,
        {
          key: true,
        },
      );
  }
  const name = raw.name;
  if (typeof name !== "string" || !STEP_NAME.test(name)) {
    ctx.error(
      [...path, "name"],
      `step name must start with a letter and use letters, digits, _ or - (got ${JSON.stringify(name)})`,
    );
    return undefined;
  }
  const action = raw.action;
  if (typeof action !== "string" || !(ACTIONS as readonly string[]).includes(action)) {
    ctx.error(
      [...path, "action"],
      `unknown action ${JSON.stringify(action)} in step "${name}"${typeof action === "string" ? hint(action, ACTIONS) : ""}`,
    );
    return undefined;
  }
  if (raw.onFailure !== undefined && !(ON_FAILURE as readonly unknown[]).includes(raw.onFailure))
    ctx.error([...path, "onFailure"], `onFailure must be one of ${ON_FAILURE.join(", ")}`);
  const maxAttempts = integer(raw.maxAttempts);
  if (raw.maxAttempts !== undefined && !(maxAttempts !== undefined && maxAttempts >= 1))
    ctx.error([...path, "maxAttempts"], "maxAttempts must be a whole number of at least 1");
  const timeoutSeconds = integer(raw.timeoutSeconds);
  if (
    raw.timeoutSeconds !== undefined &&
    !(timeoutSeconds !== undefined && (timeoutSeconds >= 1 || timeoutSeconds === -1))
  )
    ctx.error(
      [...path, "timeoutSeconds"],
      `timeoutSeconds must be a whole number of at least 1, or -1 for no timeout (${timeoutSeconds === 0 ? "0 is invalid" : `not ${JSON.stringify(raw.timeoutSeconds)}`})`,
    );
  const loop = raw.loop === undefined ? undefined : checkLoop(raw.loop, [...path, "loop"], ctx);
  if (raw.if !== undefined) checkIf(raw.if, [...path, "if"], ctx);
  const inputs = checkInputs(action as ActionName, raw.inputs, [...path, "inputs"], name, ctx);
  return {
    name,
    action: action as ActionName,
    ...(inputs !== undefined ? { inputs } : {}),
    ...(typeof raw.onFailure === "string" ? { onFailure: raw.onFailure as OnFailure } : {}),
    ...(maxAttempts !== undefined ? { maxAttempts } : {}),
    ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}),
    ...(raw.if !== undefined ? { if: raw.if } : {}),
    ...(loop ? { loop } : {}),
  };
}

function checkLoop(raw: unknown, path: YamlPath, ctx: Context): AwstoeLoop | undefined {
  if (!isRecord(raw)) {
    ctx.error(path, "loop must be a mapping with `for` or `forEach`");
    return undefined;
  }
  for (const key of Object.keys(raw)) {
    if (!["name", "for", "forEach"].includes(key))
      ctx.error([...path, key], `unknown loop key "${key}" (allowed: name, for, forEach)`, { key: true });
  }
  const hasFor = raw.for !== undefined;
  const hasForEach = raw.forEach !== undefined;
  if (hasFor === hasForEach) {
    ctx.error(path, "loop needs exactly one of `for` and `forEach`");
    return undefined;
  }
  if (raw.name !== undefined && (typeof raw.name !== "string" || !STEP_NAME.test(raw.name)))
    ctx.error([...path, "name"], "loop name must start with a letter and use letters, digits, _ or -");
  const name = typeof raw.name === "string" ? { name: raw.name } : {};
  if (hasFor) {
    const spec = raw.for;
    if (!isRecord(spec)) {
      ctx.error([...path, "for"], "loop.for is a mapping {start, end, updateBy}");
      return undefined;
    }
    const values: Record<string, number> = {};
    for (const key of ["start", "end", "updateBy"]) {
      const value = integer(spec[key]);
      if (value === undefined)
        ctx.error(
          [...path, "for", key],
          `loop.for.${key} must be a whole number${typeof spec[key] === "string" && String(spec[key]).includes("{{") ? " (chaining expressions are not accepted here)" : ""}`,
        );
      else values[key] = value;
    }
    for (const key of Object.keys(spec)) {
      if (!["start", "end", "updateBy"].includes(key))
        ctx.error([...path, "for", key], `unknown key "${key}" in loop.for (allowed: start, end, updateBy)`, {
          key: true,
        });
    }
    const { start, end, updateBy } = values;
    if (start === undefined || end === undefined || updateBy === undefined) return undefined;
    if (updateBy === 0) {
      ctx.error([...path, "for", "updateBy"], "loop.for.updateBy must not be 0 (the loop would never end)");
      return undefined;
    }
    if ((end - start) * updateBy < 0) {
      ctx.error(
        [...path, "for", "updateBy"],
        `loop.for counts ${updateBy > 0 ? "up" : "down"} by ${updateBy} from ${start} but ends at ${end}: it would never reach the end`,
      );
      return undefined;
    }
    return { ...name, for: { start, end, updateBy } };
  }
  const each = raw.forEach;
  if (Array.isArray(each)) {
    const list: string[] = [];
    each.forEach((item, index) => {
      const text = scalarText(item, [...path, "forEach", index], ctx);
      if (text === undefined) ctx.error([...path, "forEach", index], "forEach items are strings", {});
      else list.push(text);
    });
    if (each.length === 0) ctx.error([...path, "forEach"], "forEach needs at least one value");
    return { ...name, forEach: list };
  }
  if (isRecord(each)) {
    for (const key of Object.keys(each)) {
      if (key !== "list" && key !== "delimiter")
        ctx.error([...path, "forEach", key], `unknown key "${key}" in forEach (allowed: list, delimiter)`, {
          key: true,
        });
    }
    const list = scalarText(each.list, [...path, "forEach", "list"], ctx);
    if (list === undefined) {
      ctx.error([...path, "forEach", "list"], "forEach.list is a string of values joined by the delimiter");
      return undefined;
    }
    let delimiter = ",";
    if (each.delimiter !== undefined) {
      const given = typeof each.delimiter === "string" ? each.delimiter : undefined;
      if (given === undefined || !(LOOP_DELIMITERS as readonly string[]).includes(given)) {
        ctx.error(
          [...path, "forEach", "delimiter"],
          `forEach.delimiter is one character of ${LOOP_DELIMITERS.map((d) => JSON.stringify(d)).join(" ")} (default ",")${given?.includes("{{") ? "; chaining expressions are not accepted here" : ""}`,
        );
        return undefined;
      }
      delimiter = given;
    }
    return { ...name, forEach: { list, delimiter } };
  }
  ctx.error([...path, "forEach"], "loop.forEach is a list of strings or {list, delimiter}");
  return undefined;
}

/** A step's `if`: a condition (mapping, or AWS's one-item list form) with optional then/else. */
function checkIf(raw: unknown, path: YamlPath, ctx: Context): void {
  let expression = raw;
  let at = path;
  if (Array.isArray(raw)) {
    if (raw.length !== 1) {
      ctx.error(path, "if holds one conditional expression (use and/or to combine conditions)");
      return;
    }
    expression = raw[0];
    at = [...path, 0];
  }
  if (!isRecord(expression)) {
    ctx.error(at, "if is a mapping with one operator, e.g. `if: {binaryExists: apt-get}`");
    return;
  }
  for (const key of ["then", "else"]) {
    const value = expression[key];
    if (value !== undefined && !STEP_ACTIONS.includes(String(value)))
      ctx.error(
        [...at, key],
        `${key} must be one of ${STEP_ACTIONS.join(", ")}, not ${JSON.stringify(value)}`,
      );
  }
  checkCondition(expression, at, ctx, 0, ["then", "else"]);
}

function checkCondition(
  expression: unknown,
  path: YamlPath,
  ctx: Context,
  depth: number,
  extraKeys: readonly string[] = [],
): void {
  if (!isRecord(expression)) {
    ctx.error(path, "a condition is a mapping with one operator");
    return;
  }
  const keys = Object.keys(expression).filter((k) => k !== "value" && !extraKeys.includes(k));
  const unknown = keys.filter((k) => !CONDITION_OPERATORS.includes(k));
  for (const key of unknown)
    ctx.error(
      [...path, key],
      `unknown condition operator "${key}"${hint(key, CONDITION_OPERATORS)} (operators: ${CONDITION_OPERATORS.join(", ")})`,
      { key: true },
    );
  if (unknown.length > 0) return;
  if (keys.length !== 1) {
    ctx.error(
      path,
      keys.length === 0
        ? "a condition needs an operator (e.g. stringEquals, binaryExists, and)"
        : `a condition has exactly one operator, not ${keys.join(" and ")} (combine them with and/or)`,
    );
    return;
  }
  const operator = keys[0] as string;
  const operand = expression[operator];
  const hasValue = "value" in expression;
  if ((LOGICAL_OPERATORS as readonly string[]).includes(operator)) {
    if (hasValue) ctx.error([...path, "value"], `${operator} takes no value`);
    if (depth + 1 > MAX_CONDITION_DEPTH) {
      ctx.error([...path, operator], `and/or/not are nested more than ${MAX_CONDITION_DEPTH} levels deep`, {
        key: true,
      });
      return;
    }
    if (operator === "not") {
      if (Array.isArray(operand)) ctx.error([...path, operator], "not takes one condition, not a list");
      else checkCondition(operand, [...path, operator], ctx, depth + 1);
      return;
    }
    if (!Array.isArray(operand) || operand.length === 0) {
      ctx.error([...path, operator], `${operator} takes a list of conditions`);
      return;
    }
    operand.forEach((item, index) => {
      checkCondition(item, [...path, operator, index], ctx, depth + 1);
    });
    return;
  }
  if (!isScalarValue(operand) && operand !== null) {
    ctx.error([...path, operator], `${operator} compares a string or a number, not a ${describe(operand)}`);
    return;
  }
  const twoValues = (TWO_VALUE_OPERATORS as readonly string[]).includes(operator);
  if (twoValues && !hasValue) ctx.error(path, `${operator} needs a value to compare with`);
  if (!twoValues && hasValue) ctx.error([...path, "value"], `${operator} takes no value`);
  if (hasValue && !isScalarValue(expression.value))
    ctx.error([...path, "value"], `value is a string or a number, not a ${describe(expression.value)}`);
  if (operator.startsWith("number")) {
    for (const [key, value] of [
      [operator, operand],
      ["value", expression.value],
    ] as const) {
      if (typeof value === "string" && !value.includes("{{") && !Number.isFinite(Number(value)))
        ctx.warn([...path, key], `"${value}" is not a number, so ${operator} is always false`);
    }
  }
  if (
    operator === "patternMatches" &&
    typeof expression.value === "string" &&
    !operand?.toString().includes("{{")
  ) {
    try {
      new RegExp(String(operand));
    } catch (error) {
      ctx.error(
        [...path, operator],
        `patternMatches: not a valid regular expression (${(error as Error).message})`,
      );
    }
  }
  if (operator === "platform")
    ctx.warn(
      [...path, operator],
      "the platform operator is not in the AWSTOE guide ops-rig was checked against; prefer binaryExists/fileExists",
    );
}

/** Checks and normalises a step's inputs (scalars AWSTOE reads as strings become strings). */
function checkInputs(
  action: ActionName,
  inputs: unknown,
  path: YamlPath,
  step: string,
  ctx: Context,
): unknown {
  const spec = ACTION_SPECS[action];
  if (spec.form === "condition") {
    if (inputs === undefined) {
      ctx.error(path, `Assert step "${step}" needs inputs: a condition such as {stringEquals: a, value: b}`);
      return inputs;
    }
    checkCondition(inputs, path, ctx, 0);
    return inputs;
  }
  if (inputs === undefined || inputs === null) {
    if (!spec.optional) ctx.error(path, `${action} step "${step}" needs inputs (${describeSpec(spec)})`);
    return undefined;
  }
  if (spec.form === "mapping") {
    if (!isRecord(inputs)) {
      ctx.error(path, `${action} inputs are a mapping {${describeSpec(spec)}}, not a ${describe(inputs)}`);
      return inputs;
    }
    return checkEntry(action, spec, inputs, path, step, ctx);
  }
  if (!Array.isArray(inputs) || inputs.length === 0) {
    ctx.error(path, `${action} step "${step}" needs inputs: a list of {${describeSpec(spec)}}`);
    return inputs;
  }
  return inputs.map((entry: unknown, index: number) => {
    const entryPath = [...path, index];
    if (!isRecord(entry)) {
      ctx.error(entryPath, `${action} input must be a mapping {${describeSpec(spec)}}`);
      return entry;
    }
    return checkEntry(action, spec, entry, entryPath, step, ctx);
  });
}

function checkEntry(
  action: ActionName,
  spec: ActionSpec,
  entry: Record<string, unknown>,
  path: YamlPath,
  step: string,
  ctx: Context,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const names = Object.keys(spec.inputs);
  for (const [key, value] of Object.entries(entry)) {
    const input = spec.inputs[key];
    if (!input) {
      ctx.error(
        [...path, key],
        `unknown ${action} input "${key}"${hint(key, names)} (allowed: ${names.join(", ")})`,
        {
          key: true,
        },
      );
      out[key] = value;
      continue;
    }
    out[key] = checkValue(action, key, input.kind, value, [...path, key], ctx);
  }
  for (const [key, input] of Object.entries(spec.inputs)) {
    if (input.required && (entry[key] === undefined || entry[key] === null))
      ctx.error(path, `${action} input needs "${key}"`);
  }
  if (spec.oneOf) {
    const given = spec.oneOf.filter((group) => group.some((key) => entry[key] !== undefined));
    const complete = given.filter((group) => group.every((key) => entry[key] !== undefined));
    const alternatives = spec.oneOf.map((group) => group.join(" + ")).join(" or ");
    if (given.length !== 1 || complete.length !== 1)
      ctx.error(path, `${action} step "${step}" needs exactly one of inputs ${alternatives}`);
  }
  return out;
}

function checkValue(
  action: ActionName,
  key: string,
  kind: InputKind,
  value: unknown,
  path: YamlPath,
  ctx: Context,
): unknown {
  const variable = typeof value === "string" && value.includes("{{");
  switch (kind) {
    case "string":
    case "encoding":
    case "checksum-algorithm":
    case "registry-type":
    case "permissions": {
      const text = scalarText(value, path, ctx, kind === "permissions");
      if (text === undefined) {
        ctx.error(
          path,
          `${action} input "${key}" must be a string, not a ${describe(value)}${flowMappingHint(path, ctx)}`,
        );
        return value;
      }
      if (variable) return text;
      if (kind === "permissions" && !OCTAL_MODE.test(text))
        ctx.error(path, `permissions must be an octal mode like "0644", not "${text}"`);
      if (kind === "encoding" && !ENCODINGS.includes(text.toLowerCase()))
        ctx.error(path, `unknown encoding "${text}" (one of ${ENCODINGS.join(", ")}; case does not matter)`);
      if (kind === "checksum-algorithm" && !["MD5", "SHA1", "SHA256", "SHA512"].includes(text))
        ctx.error(path, `algorithm must be MD5, SHA1, SHA256 or SHA512, not "${text}"`);
      if (
        kind === "registry-type" &&
        !["BINARY", "DWORD", "QWORD", "SZ", "EXPAND_SZ", "MULTI_SZ"].includes(text)
      )
        ctx.error(
          path,
          `registry type must be BINARY, DWORD, QWORD, SZ, EXPAND_SZ or MULTI_SZ, not "${text}"`,
        );
      return text;
    }
    case "boolean":
      if (typeof value !== "boolean" && !variable)
        ctx.error(path, `${action} input "${key}" must be true or false, not ${JSON.stringify(value)}`);
      return value;
    case "boolean-or-string":
      if (
        typeof value !== "boolean" &&
        !(typeof value === "string" && /^(true|false)$/i.test(value)) &&
        !variable
      )
        ctx.error(path, `${action} input "${key}" must be true or false, not ${JSON.stringify(value)}`);
      return value;
    case "integer":
      if (integer(value) === undefined && !variable)
        ctx.error(path, `${action} input "${key}" must be a whole number, not ${JSON.stringify(value)}`);
      return integer(value) ?? value;
    case "registry-value":
      if (!isScalarValue(value) && !Array.isArray(value))
        ctx.error(path, `${action} input "${key}" is a string, a number or a list`);
      return value;
    case "string-list": {
      if (!Array.isArray(value) || value.length === 0) {
        ctx.error(
          path,
          `${action} input "${key}" must be a non-empty list of strings${flowMappingHint(path, ctx)}`,
        );
        return value;
      }
      return value.map((item, index) => {
        const text = scalarText(item, [...path, index], ctx);
        if (text === undefined) {
          ctx.error(
            [...path, index],
            `${action} input "${key}" must be a list of strings; item ${index} is a ${describe(item)}${flowMappingHint([...path, index], ctx)}`,
          );
          return item;
        }
        return text;
      });
    }
  }
}

// ------------------------------------------------------------------------------- references

interface StepIndexEntry {
  readonly action: string;
  readonly inputs: unknown;
  /** Position in document order (phases in order, steps in order). */
  readonly order: number;
}

function buildStepIndex(phases: readonly unknown[]): Map<string, StepIndexEntry> {
  const index = new Map<string, StepIndexEntry>();
  let order = 0;
  for (const phase of phases) {
    if (!isRecord(phase) || !Array.isArray(phase.steps)) continue;
    for (const step of phase.steps) {
      order++;
      if (isRecord(step) && typeof step.name === "string")
        index.set(`${String(phase.name)}.${step.name}`, {
          action: String(step.action),
          inputs: step.inputs,
          order,
        });
    }
  }
  return index;
}

interface ReferenceScope {
  readonly phase: string;
  readonly defined: ReadonlySet<string>;
  readonly index: ReadonlyMap<string, StepIndexEntry>;
}

/**
 * Every `{{ ... }}` must name a parameter, a constant, the step's own loop, or an input or output
 * of a step (chaining). AWSTOE substitutes variables in inputs, loops and conditions only.
 * A plain (unquoted) scalar holding a variable is legal YAML when it does not start with `{{`, and
 * AWS's own examples use it; ops-rig quotes them (a warning, never an error).
 */
function checkReferences(
  raw: Record<string, unknown>,
  stepPath: YamlPath,
  step: AwstoeStep,
  scope: ReferenceScope,
  ctx: Context,
): void {
  const self = scope.index.get(`${scope.phase}.${step.name}`);
  const loopNames = new Set(step.loop ? ["loop", ...(step.loop.name ? [step.loop.name] : [])] : []);
  for (const [key, value] of Object.entries(raw)) {
    forEachString(value, [...stepPath, key], (text, path) => {
      if (!text.includes("{{")) return;
      if (!["inputs", "loop", "if"].includes(key)) {
        ctx.error(path, `variables are substituted only in inputs, loop and if, not in "${key}"`);
        return;
      }
      const node = ctx.source.nodeAt(path);
      if (isScalar(node) && node.type === Scalar.PLAIN)
        ctx.warn(
          path,
          "quote values that hold {{ variables }} (AWS's guide asks for it; a plain {{ at the start is a YAML mapping)",
        );
      for (const match of text.matchAll(VARIABLE_REFERENCE)) {
        const reference = match[1] ?? "";
        const verdict = resolveReference(reference, loopNames, self?.order ?? 0, scope);
        if (verdict.kind === "error") ctx.error(path, verdict.message);
        else if (verdict.kind === "warning") ctx.warn(path, verdict.message);
      }
    });
  }
}

type Verdict = { kind: "ok" } | { kind: "error" | "warning"; message: string };

const CHAIN = /^([^.[\]]+)\.([^.[\]]+)\.(inputs|outputs)(?:\[(\d+)\])?\.([A-Za-z0-9_-]+)$/;

function resolveReference(
  reference: string,
  loopNames: ReadonlySet<string>,
  order: number,
  scope: ReferenceScope,
): Verdict {
  if (scope.defined.has(reference)) return { kind: "ok" };
  const loop = /^([A-Za-z][A-Za-z0-9_-]*)\.(index|value)$/.exec(reference);
  if (loop) {
    if (loopNames.has(loop[1] ?? "")) return { kind: "ok" };
    if (loop[1] === "loop")
      return {
        kind: "warning",
        message: `"{{ ${reference} }}" outside a step with a loop is left as it is by AWSTOE (no substitution)`,
      };
  }
  const chain = CHAIN.exec(reference);
  if (chain) {
    const [, phase, stepName, direction, indexText, variable] = chain;
    const target = scope.index.get(`${phase}.${stepName}`);
    if (!target)
      return {
        kind: "error",
        message: `"{{ ${reference} }}" chains from step "${phase}.${stepName}", which does not exist`,
      };
    if (direction === "outputs") {
      if (target.order >= order)
        return {
          kind: "error",
          message: `"{{ ${reference} }}" uses the output of "${phase}.${stepName}", which has not run yet (a step can only use outputs of earlier steps)`,
        };
      const outputs = ACTION_SPECS[target.action as ActionName]?.outputs ?? [];
      if (!outputs.includes(variable ?? ""))
        return {
          kind: "error",
          message: `"{{ ${reference} }}": ${target.action} has ${outputs.length > 0 ? `the output${outputs.length > 1 ? "s" : ""} ${outputs.join(", ")}` : "no outputs"}, not "${variable}"`,
        };
      return { kind: "ok" };
    }
    const entries = Array.isArray(target.inputs) ? target.inputs : [target.inputs];
    const position = indexText === undefined ? 0 : Number(indexText);
    const entry = entries[position];
    if (!isRecord(entry))
      return {
        kind: "error",
        message: `"{{ ${reference} }}": step "${phase}.${stepName}" has no input entry ${position} (it has ${entries.length})`,
      };
    if (entry[variable ?? ""] === undefined)
      return {
        kind: "error",
        message: `"{{ ${reference} }}": input ${position} of "${phase}.${stepName}" has no "${variable}" (it has ${Object.keys(entry).join(", ")})`,
      };
    return { kind: "ok" };
  }
  const known = [...scope.defined];
  return {
    kind: "error",
    message: `undefined variable "{{ ${reference} }}"${hint(reference, known)} (define it under parameters or constants, or chain as {{ phase.step.outputs.stdout }})`,
  };
}

// -------------------------------------------------------------------------------- utilities

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

function isScalarValue(value: unknown): value is string | number | boolean {
  return typeof value === "string" || typeof value === "number" || typeof value === "boolean";
}

function integer(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) ? value : undefined;
}

/**
 * The text AWSTOE reads for a scalar where it expects a string: AWSTOE's YAML reader takes the
 * scalar as written (`permissions: 0700` is "0700", `content: 42` is "42"). Returns undefined
 * for mappings and lists. A non-string scalar earns a style warning: quote it.
 */
function scalarText(value: unknown, path: YamlPath, ctx: Context, octal = false): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value !== "number" && typeof value !== "boolean") return undefined;
  const node = ctx.source.nodeAt(path);
  const written = isScalar(node) && typeof node.source === "string" ? node.source : String(value);
  ctx.warn(
    path,
    octal
      ? `quote octal modes ("${written}"): AWS documents permissions as a string`
      : `${written} is read as the string "${written}"; quote it to say so`,
  );
  return written;
}

function flowMappingHint(path: YamlPath, ctx: Context): string {
  const location = ctx.source.locate(path);
  if (!location) return "";
  const line = ctx.source.text.split("\n")[location.line - 1] ?? "";
  return /(^|[-:]\s*)\{\{/.test(line.slice(Math.max(0, location.column - 3)))
    ? " (quote it: an unquoted {{ at the start of a value is a YAML mapping)"
    : "";
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return "list";
  if (value === null || value === undefined) return "empty value";
  if (isRecord(value)) return "mapping";
  return typeof value;
}

function describeSpec(spec: ActionSpec): string {
  return Object.entries(spec.inputs)
    .map(([key, input]) => `${key}${input.required ? "" : "?"}`)
    .join(", ");
}

/** A " (did you mean X?)" hint for a near miss within edit distance 2. */
function hint(word: string, candidates: readonly string[]): string {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    if (candidate === word) continue;
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance <= 2 && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best ? ` (did you mean "${best.candidate}"?)` : "";
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** Replaces `{{ name }}` references using `lookup`; unknown names are left as they are. */
export function substituteVariables(value: string, lookup: (name: string) => string | undefined): string {
  return value.replace(VARIABLE_REFERENCE, (whole, name: string) => lookup(name) ?? whole);
}
