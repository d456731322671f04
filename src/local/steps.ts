import {
  type AwstoeDocument,
  type AwstoeStep,
  isRecord,
  type PhaseName,
  substituteVariables,
} from "../render/awstoe.js";
import { shellQuote, stepToBash } from "../render/bash.js";

/**
 * What a step does locally, after `{{ }}` substitution: a bash script run inside the root, an
 * emulated reboot, an assertion, or an action no local root can perform (with the reason).
 */
export type LocalAction =
  | { readonly kind: "script"; readonly script: string }
  | { readonly kind: "reboot" }
  | { readonly kind: "assert"; readonly expression: unknown }
  | { readonly kind: "unsupported"; readonly message: string };

/** Why an action cannot run in a local root; absent for the actions the runner performs. */
export const UNSUPPORTED_ACTIONS: Readonly<Record<string, string>> = {
  S3Download: "it downloads from Amazon S3, which a local build cannot reach",
  S3Upload: "it uploads to Amazon S3, which a local build cannot reach",
  WebDownload: "it downloads from the internet; a local build reaches only the Debian mirror",
  ExecuteDocument: "it runs another AWSTOE document, which the local runner does not resolve",
  ExecutePowerShell: "PowerShell steps are for Windows images",
  InstallMSI: "MSI packages are for Windows images",
  UninstallMSI: "MSI packages are for Windows images",
  SetRegistry: "the registry is Windows-only",
  SetFileEncoding: "file encodings are not emulated locally",
  CopyFolder: "folder copies are not emulated locally",
  MoveFolder: "folder moves are not emulated locally",
  ListFiles: "ListFiles is not emulated locally",
  ReadFile: "ReadFile is not emulated locally",
};

/** The reason a step's action cannot run locally, or undefined when it can. */
export function unsupportedReason(step: AwstoeStep): string | undefined {
  const reason = UNSUPPORTED_ACTIONS[step.action];
  return reason ? `${step.action} cannot run in a local build: ${reason}` : undefined;
}

/** Parameter values (recipe value, else the document's default) and constants, by name. */
export function documentVariables(
  document: AwstoeDocument,
  parameters: Readonly<Record<string, string>>,
): { variables: Map<string, string>; missing: string[]; unknown: string[] } {
  const variables = new Map<string, string>();
  const missing: string[] = [];
  for (const p of document.parameters) {
    const value = parameters[p.name] ?? p.default;
    if (value === undefined) missing.push(p.name);
    else variables.set(p.name, value);
  }
  for (const c of document.constants) if (c.value !== undefined) variables.set(c.name, c.value);
  const unknown = Object.keys(parameters).filter((name) => !document.parameters.some((p) => p.name === name));
  return { variables, missing, unknown };
}

/** Steps per phase, as written (a loop counts once). */
export function countSteps(document: AwstoeDocument, phases: readonly PhaseName[]): number {
  return document.phases
    .filter((p) => (phases as readonly string[]).includes(p.name))
    .reduce((n, p) => n + p.steps.length, 0);
}

export function substituteDeep(value: unknown, lookup: (name: string) => string | undefined): unknown {
  if (typeof value === "string") return substituteVariables(value, lookup);
  if (Array.isArray(value)) return value.map((item) => substituteDeep(item, lookup));
  if (isRecord(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteDeep(v, lookup)]));
  return value;
}

const UNRESOLVED = /\{\{\s*([^{}]*?)\s*\}\}/;

/** Translates one (already substituted) step into what the runner does. */
export function localAction(step: AwstoeStep, inputs: unknown): LocalAction {
  const unsupported = UNSUPPORTED_ACTIONS[step.action];
  if (unsupported)
    return { kind: "unsupported", message: `${step.action} cannot run in a local build: ${unsupported}` };
  const unresolved = UNRESOLVED.exec(JSON.stringify(inputs ?? null));
  if (unresolved)
    return {
      kind: "unsupported",
      message: `step "${step.name}" refers to {{ ${unresolved[1]} }}, which is not a parameter, constant, loop variable or earlier step output`,
    };
  switch (step.action) {
    case "ExecuteBash": {
      if (!isRecord(inputs)) return { kind: "unsupported", message: "ExecuteBash needs inputs" };
      if (Array.isArray(inputs.commands)) return { kind: "script", script: inputs.commands.join("\n") };
      if (typeof inputs.file === "string")
        return { kind: "script", script: `exec bash ${shellQuote(inputs.file)}` };
      return { kind: "unsupported", message: "ExecuteBash needs inputs.commands or inputs.file" };
    }
    case "ExecuteBinary": {
      if (!isRecord(inputs) || typeof inputs.path !== "string")
        return { kind: "unsupported", message: "ExecuteBinary needs inputs.path" };
      const args = Array.isArray(inputs.arguments) ? inputs.arguments.map((a) => shellQuote(String(a))) : [];
      return { kind: "script", script: ["exec", shellQuote(inputs.path), ...args].join(" ") };
    }
    case "Reboot":
      return { kind: "reboot" };
    case "Assert":
      return { kind: "assert", expression: inputs };
    case "UpdateOS":
      return { kind: "script", script: updateOsScript(inputs) };
    default: {
      // File actions: the cloud-init translation, executed inside the chroot, so every path
      // (symlinks included) resolves inside the root, never on the build host.
      const { name, action } = step;
      const translated = stepToBash({ name, action, inputs }, name, () => undefined);
      const script = translated.steps.map((s) => s.script).join("\n");
      if (translated.problem || script === "")
        return {
          kind: "unsupported",
          message: `${step.action} cannot run in a local build: ${translated.problem ?? "no translation"}`,
        };
      return { kind: "script", script: `set -euo pipefail\n${script}` };
    }
  }
}

/** UpdateOS on Debian/Ubuntu: refresh the lists (failing on an unreachable mirror), then upgrade. */
function updateOsScript(inputs: unknown): string {
  const list = (key: string): string[] =>
    isRecord(inputs) && Array.isArray(inputs[key]) ? (inputs[key] as unknown[]).map(String) : [];
  const include = list("include");
  const exclude = list("exclude");
  const apt =
    "apt-get -q -y -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold";
  const lines = [
    "set -euo pipefail",
    "export DEBIAN_FRONTEND=noninteractive",
    `${apt} -o APT::Update::Error-Mode=any update`,
  ];
  if (exclude.length > 0) {
    const quoted = exclude.map(shellQuote).join(" ");
    lines.push(`apt-mark hold ${quoted}`, `trap ${shellQuote(`apt-mark unhold ${quoted} >/dev/null`)} EXIT`);
  }
  lines.push(
    include.length > 0
      ? `${apt} install --only-upgrade ${include.map(shellQuote).join(" ")}`
      : `${apt} dist-upgrade`,
  );
  return lines.join("\n");
}
