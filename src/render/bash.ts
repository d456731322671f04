import {
  type AwstoeLoop,
  type AwstoeStep,
  DEFAULT_TIMEOUT_SECONDS,
  isRecord,
  substituteVariables,
} from "./awstoe.js";

/**
 * Translates AWSTOE steps into plain bash, for targets that have no AWSTOE agent (cloud-init on a
 * stock AMI). Only what the translation can do faithfully is supported; anything else is reported.
 */

export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

export interface BashStep {
  readonly label: string;
  readonly script: string;
  readonly maxAttempts: number;
  readonly onFailure: "Abort" | "Continue" | "Ignore";
  /** Seconds, 0 for none. */
  readonly timeoutSeconds: number;
}

/** Expands a step's loop into one iteration per value, as AWSTOE does (loop.index, loop.value). */
export function loopIterations(
  loop: AwstoeLoop | undefined,
  lookup: (name: string) => string | undefined,
): { index: number; value: string }[] {
  if (!loop) return [{ index: 0, value: "" }];
  if (loop.for) {
    const out: { index: number; value: string }[] = [];
    const { start, end, updateBy } = loop.for;
    for (
      let value = start, index = 0;
      updateBy > 0 ? value <= end : value >= end;
      value += updateBy, index++
    ) {
      out.push({ index, value: String(value) });
    }
    return out;
  }
  const each = loop.forEach;
  const list = Array.isArray(each)
    ? each
    : isRecord(each)
      ? substituteVariables(each.list, lookup).split(each.delimiter)
      : [];
  return list.map((value, index) => ({ index, value: substituteVariables(value, lookup) }));
}

export function stepToBash(
  step: AwstoeStep,
  label: string,
  lookup: (name: string) => string | undefined,
): { steps: BashStep[]; problem?: string } {
  if (step.if !== undefined)
    return { steps: [], problem: `step "${label}" uses "if", which cloud-init rendering does not support` };
  const steps: BashStep[] = [];
  for (const iteration of loopIterations(step.loop, lookup)) {
    const loopName = step.loop?.name;
    const iterationLookup = (name: string): string | undefined => {
      if (step.loop && (name === "loop.value" || name === `${loopName}.value`)) return iteration.value;
      if (step.loop && (name === "loop.index" || name === `${loopName}.index`))
        return String(iteration.index);
      if (/^[^.]+\.[^.]+\.outputs\.stdout$/.test(name)) return undefined;
      return lookup(name);
    };
    const inputs = substituteDeep(step.inputs, iterationLookup);
    if (JSON.stringify(inputs ?? null).includes("{{")) {
      return {
        steps: [],
        problem: `step "${label}" uses a variable cloud-init rendering cannot resolve (step outputs)`,
      };
    }
    const script = actionToBash(step.action, inputs);
    if (typeof script !== "string") return { steps: [], problem: `step "${label}": ${script.problem}` };
    steps.push({
      label: step.loop ? `${label}[${iteration.index}]` : label,
      script,
      maxAttempts: step.maxAttempts ?? 1,
      onFailure: step.onFailure ?? "Abort",
      timeoutSeconds: step.timeoutSeconds === -1 ? 0 : (step.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS),
    });
  }
  return { steps };
}

function substituteDeep(value: unknown, lookup: (name: string) => string | undefined): unknown {
  if (typeof value === "string") return substituteVariables(value, lookup);
  if (Array.isArray(value)) return value.map((item) => substituteDeep(item, lookup));
  if (isRecord(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteDeep(v, lookup)]));
  return value;
}

function entries(inputs: unknown): Record<string, unknown>[] {
  return Array.isArray(inputs) ? inputs.filter(isRecord) : [];
}

function ownership(entry: Record<string, unknown>, path: string, recursive = false): string[] {
  const lines: string[] = [];
  const flag = recursive ? "-R " : "";
  if (typeof entry.owner === "string") {
    lines.push(
      `chown ${flag}${shellQuote(`${entry.owner}${typeof entry.group === "string" ? `:${entry.group}` : ""}`)} ${path}`,
    );
  } else if (typeof entry.group === "string") lines.push(`chgrp ${flag}${shellQuote(entry.group)} ${path}`);
  if (typeof entry.permissions === "string") lines.push(`chmod ${flag}${entry.permissions} ${path}`);
  return lines;
}

function writeFile(path: string, content: string): string[] {
  const delimiter = "OPS_RIG_EOF";
  if (content.endsWith("\n") && !content.split("\n").includes(delimiter)) {
    return [`cat > ${path} <<'${delimiter}'`, content.slice(0, -1), delimiter];
  }
  return [`printf '%s' ${shellQuote(content)} > ${path}`];
}

function actionToBash(action: string, inputs: unknown): string | { problem: string } {
  switch (action) {
    case "ExecuteBash": {
      const commands = isRecord(inputs) ? inputs.commands : undefined;
      if (!Array.isArray(commands))
        return { problem: "ExecuteBash with inputs.file is not supported in cloud-init" };
      return commands.join("\n");
    }
    case "CreateFile":
    case "AppendFile":
      return entries(inputs)
        .flatMap((entry) => {
          const path = shellQuote(String(entry.path));
          const content = typeof entry.content === "string" ? entry.content : "";
          const skip =
            action === "CreateFile" && entry.overwrite === false ? [`if [ ! -e ${path} ]; then`] : [];
          const body =
            action === "AppendFile"
              ? [`printf '%s' ${shellQuote(content)} >> ${path}`]
              : [`install -d "$(dirname ${path})"`, ...writeFile(path, content), ...ownership(entry, path)];
          return skip.length > 0 ? [...skip, ...body, "fi"] : body;
        })
        .join("\n");
    case "CreateFolder":
      return entries(inputs)
        .flatMap((entry) => {
          const path = shellQuote(String(entry.path));
          return [`install -d ${path}`, ...ownership(entry, path)];
        })
        .join("\n");
    case "CreateSymlink":
      // Two spellings of the same inputs: {source: target, destination: link} and {path: link, target}.
      return entries(inputs)
        .map((entry) => {
          const target = entry.target ?? entry.source;
          const link = entry.path ?? entry.destination;
          return `ln -s${entry.force === true ? "f" : ""} ${shellQuote(String(target))} ${shellQuote(String(link))}`;
        })
        .join("\n");
    case "DeleteFile":
      return entries(inputs)
        .map((entry) => `rm -f ${shellQuote(String(entry.path))}`)
        .join("\n");
    case "DeleteFolder":
      return entries(inputs)
        .map((entry) =>
          entry.force === true
            ? `rm -rf ${shellQuote(String(entry.path))}`
            : `rmdir ${shellQuote(String(entry.path))}`,
        )
        .join("\n");
    case "SetFilePermissions":
    case "SetFolderPermissions":
    case "SetFileOwner":
    case "SetFolderOwner":
      return entries(inputs)
        .flatMap((entry) => ownership(entry, shellQuote(String(entry.path)), entry.recursive === true))
        .join("\n");
    case "CopyFile":
    case "MoveFile":
      return entries(inputs)
        .map(
          (entry) =>
            `${action === "CopyFile" ? "cp" : "mv"}${entry.overwrite === false ? " -n" : ""} ${shellQuote(String(entry.source))} ${shellQuote(String(entry.destination))}`,
        )
        .join("\n");
    case "UpdateOS": {
      const exclude = isRecord(inputs) && Array.isArray(inputs.exclude) ? inputs.exclude.map(String) : [];
      const include = isRecord(inputs) && Array.isArray(inputs.include) ? inputs.include.map(String) : [];
      const hold = exclude.map((pkg) => `apt-mark hold ${shellQuote(pkg)} || true`);
      const upgrade =
        include.length > 0
          ? `apt_install --only-upgrade ${include.map(shellQuote).join(" ")}`
          : "apt_get dist-upgrade";
      const unhold = exclude.map((pkg) => `apt-mark unhold ${shellQuote(pkg)} || true`);
      return ["apt_update", ...hold, upgrade, ...unhold].join("\n");
    }
    default:
      return { problem: `action ${action} has no cloud-init translation` };
  }
}
