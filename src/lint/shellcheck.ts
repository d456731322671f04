import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { isScalar, Scalar } from "yaml";
import type { ComponentTemplate, Prelude } from "../config/types.js";
import { LocalRunError, type Problem } from "../errors.js";
import { type AwstoeDocument, isRecord, substituteVariables } from "../render/awstoe.js";
import { preludeLines, type RenderedComponent } from "../render/component.js";

/**
 * Runs shellcheck over every bash script ops-rig ships: each ExecuteBash step (prelude included,
 * variables filled with placeholder values, as AWSTOE would), every CreateFile script with a shell
 * shebang, and rendered cloud-init bootstraps. Findings point at the component file and line.
 */

export interface ShellScript {
  /** What the script is, e.g. `components/lime.yaml phases.build.BuildLime`. */
  readonly label: string;
  readonly text: string;
  /** Maps a 1-based script line to a location in a source file. */
  readonly locate: (line: number) => { file: string; line?: number };
}

// SC1091: the prelude sources /etc/os-release, which exists on the image, not here.
const EXCLUDED_CHECKS = ["SC1091"];

export { ensureShellcheck } from "./shellcheck-version.js";

export function componentScripts(
  component: RenderedComponent,
  template: ComponentTemplate,
  prelude: Prelude,
): ShellScript[] {
  const scripts: ShellScript[] = [];
  const prefix = preludeLines(prelude);
  const preludeSource = preludeLineNumbers(prelude);
  const placeholders = placeholderValues(component.model);
  component.model.phases.forEach((phase, phaseIndex) => {
    phase.steps.forEach((step, stepIndex) => {
      const label = `${template.file} ${phase.name}.${step.name}`;
      const inputsPath = ["phases", phaseIndex, "steps", stepIndex, "inputs"];
      if (step.action === "ExecuteBash" && isRecord(step.inputs) && Array.isArray(step.inputs.commands)) {
        const commands = step.inputs.commands.map((c) => substituteVariables(String(c), placeholders));
        // Every line of the checked script knows where it came from: the prelude's own line, or
        // the template's command (block scalars start one line below their key).
        const lines: string[] = ["#!/bin/bash"];
        // Where each line came from is worked out only when shellcheck finds something: placing
        // the template's lines needs its syntax tree, which a memoised run has not parsed.
        const origins: (() => { file: string; line?: number })[] = [() => ({ file: template.file })];
        for (const [index, text] of commands.slice(0, prefix.length).entries()) {
          const line = preludeSource[index]?.line;
          const origin = line === undefined ? { file: prelude.file } : { file: prelude.file, line };
          // The prelude defines helpers every step may call; in a step that ends with AWS's
          // reboot idiom (`exit 194`) or uses none of them, they are not dead code (SC2317).
          if (/^\s*[A-Za-z_][A-Za-z0-9_]*\s*\(\)\s*\{/.test(text)) {
            lines.push("# shellcheck disable=SC2317");
            origins.push(() => origin);
          }
          lines.push(text);
          origins.push(() => origin);
        }
        commands.slice(prefix.length).forEach((command, index) => {
          const path = [...inputsPath, "commands", index];
          // Block scalars start one line below their key.
          const start = once(() => {
            const position = template.source.locate(path);
            if (!position) return undefined;
            const node = template.source.nodeAt(path);
            const block =
              isScalar(node) && (node.type === Scalar.BLOCK_LITERAL || node.type === Scalar.BLOCK_FOLDED);
            return position.line + (block ? 1 : 0);
          });
          command.split("\n").forEach((text, offset) => {
            lines.push(text);
            origins.push(() => {
              const line = start();
              return line === undefined
                ? { file: template.file }
                : { file: template.file, line: line + offset };
            });
          });
        });
        scripts.push({
          label,
          text: `${lines.join("\n")}\n`,
          locate: (scriptLine) => origins[scriptLine - 1]?.() ?? { file: template.file },
        });
      }
      if (step.action === "CreateFile" && Array.isArray(step.inputs)) {
        step.inputs.forEach((entry, entryIndex) => {
          if (!isRecord(entry) || typeof entry.content !== "string") return;
          if (!/^#!\s*\/(usr\/)?bin\/(env\s+)?(ba)?sh\b/.test(entry.content)) return;
          const path = [...inputsPath, entryIndex, "content"];
          scripts.push({
            label: `${label} ${String(entry.path)}`,
            text: substituteVariables(entry.content, placeholders),
            locate: (scriptLine) => {
              const position = template.source.locate(path);
              return position
                ? { file: template.file, line: position.line + scriptLine }
                : { file: template.file };
            },
          });
        });
      }
    });
  });
  return scripts;
}

/** The prelude lines the renderer keeps, with their 1-based line numbers in the prelude file. */
function preludeLineNumbers(prelude: Prelude): { text: string; line: number }[] {
  const kept = preludeLines(prelude);
  const out: { text: string; line: number }[] = [];
  let next = 0;
  prelude.text.split("\n").forEach((raw, index) => {
    if (next < kept.length && raw.trimEnd() === kept[next]) {
      out.push({ text: kept[next] as string, line: index + 1 });
      next++;
    }
  });
  return out;
}

function placeholderValues(document: AwstoeDocument): (name: string) => string {
  const values = new Map<string, string>();
  for (const p of document.parameters) values.set(p.name, p.default ?? `placeholder-${p.name}`);
  for (const c of document.constants) values.set(c.name, c.value ?? `placeholder-${c.name}`);
  return (name) => values.get(name) ?? "placeholder";
}

interface ShellcheckFinding {
  line: number;
  column: number;
  level: string;
  code: number;
  message: string;
}

/** Where shellcheck's findings are kept, by script content (a script that did not change is not re-checked). */
export interface ShellcheckCache {
  readonly dir: string;
  /** shellcheck's version: part of the key, so an upgrade checks everything again. */
  readonly version: string;
}

const ARGS = ["--shell=bash", "--format=json1", "--severity=style", `--exclude=${EXCLUDED_CHECKS.join(",")}`];

/**
 * Runs shellcheck over the scripts and returns its findings. One shellcheck process per core checks
 * a share of the scripts, written to a temporary folder: a process per script cost more in start-up
 * (shellcheck is a Haskell binary) than the checking itself. With a cache, findings are keyed by
 * shellcheck's version, its arguments and the script's text, and only new scripts are checked.
 */
export async function shellcheckScripts(
  scripts: readonly ShellScript[],
  cache?: ShellcheckCache,
): Promise<Problem[]> {
  const problems: Problem[] = [];
  const report = (script: ShellScript, findings: readonly ShellcheckFinding[]) => {
    for (const finding of findings) {
      const where = script.locate(finding.line);
      problems.push({
        file: where.file,
        ...(where.line !== undefined ? { line: where.line } : {}),
        path: script.label.split(" ").slice(1).join(" "),
        message: `shellcheck SC${finding.code} (${finding.level}): ${finding.message}`,
      });
    }
  };
  const keyOf = (script: ShellScript) =>
    cache
      ? join(
          cache.dir,
          `${createHash("sha256")
            .update(`${cache.version}\0${ARGS.join(" ")}\0${script.text}`)
            .digest("hex")}.json`,
        )
      : undefined;
  const unchecked: ShellScript[] = [];
  // Read at once: after an edit, most of the ~50 scripts' findings come from here.
  const stored = await Promise.all(
    scripts.map((script) => {
      const key = keyOf(script);
      return key ? readFile(key, "utf8").catch(() => undefined) : undefined;
    }),
  );
  scripts.forEach((script, index) => {
    const cached = stored[index];
    if (cached === undefined) unchecked.push(script);
    else report(script, JSON.parse(cached) as ShellcheckFinding[]);
  });
  if (unchecked.length === 0) return sortProblems(problems);
  const dir = await mkdtemp(join(tmpdir(), "ops-rig-shellcheck-"));
  try {
    const files = await Promise.all(
      unchecked.map(async (script, index) => {
        const file = join(dir, `${String(index).padStart(4, "0")}.sh`);
        await writeFile(file, script.text);
        return file;
      }),
    );
    const byFile = new Map(files.map((file, index) => [file, unchecked[index] as ShellScript]));
    const found = new Map<string, ShellcheckFinding[]>(files.map((f) => [f, []]));
    const processes = Math.max(1, Math.min(2, availableParallelism()));
    const shares = Array.from({ length: processes }, (_, p) => files.filter((_, i) => i % processes === p));
    await Promise.all(
      shares
        .filter((share) => share.length > 0)
        .map(async (share) => {
          const result = await runShellcheck([...ARGS, ...share]);
          if (result.exitCode !== 0 && result.exitCode !== 1) {
            const labels = share.map((f) => byFile.get(f)?.label).join(", ");
            throw new LocalRunError(
              "SHELLCHECK_FAILED",
              `shellcheck could not check ${labels}: ${result.stderr}`,
            );
          }
          const comments = (
            JSON.parse(result.stdout || '{"comments":[]}') as {
              comments: (ShellcheckFinding & { file: string })[];
            }
          ).comments;
          for (const { file, ...finding } of comments) {
            const list = found.get(file);
            if (!list)
              throw new LocalRunError("SHELLCHECK_FAILED", `shellcheck reported an unknown file ${file}`);
            list.push(finding);
          }
        }),
    );
    if (cache) await mkdir(cache.dir, { recursive: true }).catch(() => undefined);
    for (const [file, findings] of found) {
      const script = byFile.get(file) as ShellScript;
      report(script, findings);
      const key = keyOf(script);
      // A cache that cannot be written only costs the next run its speed.
      if (key) await writeFile(key, JSON.stringify(findings)).catch(() => undefined);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return sortProblems(problems);
}

function sortProblems(problems: Problem[]): Problem[] {
  return problems.sort((a, b) =>
    `${a.file}:${String(a.line).padStart(6)}`.localeCompare(`${b.file}:${String(b.line).padStart(6)}`),
  );
}

/** `compute`, run at most once, when first asked. */
function once<T>(compute: () => T): () => T {
  let done = false;
  let value: T;
  return () => {
    if (!done) {
      value = compute();
      done = true;
    }
    return value;
  };
}

/**
 * shellcheck's exit code (1: findings) and output. Node's own execFile, not execa: `validate` after
 * a script changed loads this module, and importing execa cost more than shellcheck's own run.
 */
function runShellcheck(
  args: readonly string[],
): Promise<{ exitCode: number | undefined; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "shellcheck",
      args,
      { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = (error as { code?: unknown } | null)?.code;
        resolve({
          exitCode: error === null ? 0 : typeof code === "number" ? code : undefined,
          stdout,
          stderr: stderr || (error?.message ?? ""),
        });
      },
    );
  });
}
