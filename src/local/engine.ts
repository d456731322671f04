import type { EventType } from "../events.js";
import {
  type AwstoeDocument,
  type AwstoeStep,
  DEFAULT_TIMEOUT_SECONDS,
  isRecord,
  substituteVariables,
} from "../render/awstoe.js";
import { loopIterations } from "../render/bash.js";
import {
  ConditionError,
  describeCondition,
  evaluateCondition,
  evaluateIf,
  type Probe,
} from "./conditions.js";
import { localAction, substituteDeep } from "./steps.js";
import type { LocalPhase, LocalStepFailure } from "./types.js";

/**
 * The AWSTOE control flow, independent of where scripts run: `{{ }}` substitution, loops, `if`,
 * `maxAttempts`, `timeoutSeconds`, `onFailure`, exit code 194 (reboot, then run the same step
 * again), emulated `Reboot`, `Assert`, and step output chaining. The executor decides where the
 * scripts run (a Debian root for real builds, a recorder in unit tests).
 */

/** AWSTOE's "reboot and run this step again" exit code. */
export const REBOOT_EXIT_CODE = 194;
/** A step that asks for a reboot more often than this is failed instead of looping forever. */
export const MAX_REBOOTS_PER_STEP = 10;
/** How much of a step's output a failure keeps. */
export const OUTPUT_TAIL_CHARS = 64 * 1024;

export interface ScriptRun {
  readonly exitCode: number;
  readonly stdout: string;
  /** stdout and stderr as they interleaved. */
  readonly output: string;
  readonly timedOut: boolean;
}

export interface StepExecutor {
  /** Runs a bash script in the root; `timeoutSeconds` 0 means none. Rejects only on abort or infrastructure failure. */
  run(
    script: string,
    options: { readonly timeoutSeconds: number; readonly label: string },
  ): Promise<ScriptRun>;
  /** Emulates a reboot of the machine (what a chroot can: a fresh /run). */
  reboot(): Promise<void>;
}

export type StepStatus = "success" | "failed" | "ignored" | "skipped";

export interface StepRecord {
  readonly phase: LocalPhase;
  readonly step: string;
  readonly status: StepStatus;
  readonly attempts: number;
  readonly reboots: number;
  readonly seconds: number;
  readonly exitCode?: number;
  readonly output: string;
  readonly message?: string;
  /** Set when the step was not run locally because the toolset says it cannot be (the reason). */
  readonly localSkipReason?: string;
}

export interface PhaseOutcome {
  readonly phase: LocalPhase;
  readonly steps: readonly StepRecord[];
  /** Steps that executed (not skipped by `if`). */
  readonly stepsRun: number;
  readonly seconds: number;
  /** The failure that fails this component, if any. */
  readonly failure?: LocalStepFailure;
}

export type EngineEmit = (
  type: EventType,
  subject: string,
  message: string | undefined,
  data: Readonly<Record<string, unknown>>,
) => void;

export interface PhaseRunInput {
  readonly component: string;
  readonly document: AwstoeDocument;
  readonly phase: LocalPhase;
  /** Parameters and constants. */
  readonly variables: ReadonlyMap<string, string>;
  /** `phase.Step` → stdout of earlier steps of this component (filled as steps run). */
  readonly outputs: Map<string, string>;
  readonly executor: StepExecutor;
  /** Milliseconds; injected so tests control time. */
  readonly now: () => number;
  readonly emit?: EngineEmit;
  readonly signal?: AbortSignal;
  /** Steps not run locally (step name → why), as the toolset declares: recorded as skipped, never silently. */
  readonly skipSteps?: ReadonlyMap<string, string>;
}

export function tail(text: string, chars = OUTPUT_TAIL_CHARS): string {
  if (text.length <= chars) return text;
  const cut = text.slice(text.length - chars);
  const newline = cut.indexOf("\n");
  return `[... ${text.length - chars + newline + 1} earlier characters cut ...]\n${newline >= 0 ? cut.slice(newline + 1) : cut}`;
}

const OUTPUT_REFERENCE = /^([^.]+)\.([^.]+)\.outputs\.stdout$/;
/** `{{ phase.Step.inputs[0].destination }}`: a value written in another step's inputs. */
const INPUT_REFERENCE = /^([^.[\]]+)\.([^.[\]]+)\.inputs(?:\[(\d+)\])?\.([A-Za-z0-9_-]+)$/;

function lookupFor(
  input: PhaseRunInput,
  loop: { name?: string; index: number; value: string } | undefined,
): (name: string) => string | undefined {
  return (name) => {
    if (loop) {
      if (name === "loop.value" || (loop.name && name === `${loop.name}.value`)) return loop.value;
      if (name === "loop.index" || (loop.name && name === `${loop.name}.index`)) return String(loop.index);
    }
    const output = OUTPUT_REFERENCE.exec(name);
    if (output) return input.outputs.get(`${output[1]}.${output[2]}`);
    const chained = INPUT_REFERENCE.exec(name);
    if (chained) {
      const [, phase, stepName, index, key] = chained;
      const step = input.document.phases
        .find((p) => p.name === phase)
        ?.steps.find((s) => s.name === stepName);
      const entries: unknown[] = Array.isArray(step?.inputs) ? step.inputs : [step?.inputs];
      const entry = entries[Number(index ?? 0)];
      const value = isRecord(entry) ? entry[key ?? ""] : undefined;
      if (typeof value === "string") return substituteVariables(value, (n) => input.variables.get(n));
      return value === undefined ? undefined : String(value);
    }
    return input.variables.get(name);
  };
}

/** Runs one phase of one component document. Throws only on abort or infrastructure failure. */
export async function runPhase(input: PhaseRunInput): Promise<PhaseOutcome> {
  const phaseStart = input.now();
  const emit: EngineEmit = input.emit ?? (() => {});
  const steps = input.document.phases.find((p) => p.name === input.phase)?.steps ?? [];
  const records: StepRecord[] = [];
  let failure: LocalStepFailure | undefined;
  for (const step of steps) {
    input.signal?.throwIfAborted();
    const record = await runStep(input, step, emit);
    records.push(record);
    if (record.status !== "failed") continue;
    failure ??= {
      component: input.component,
      phase: input.phase,
      step: step.name,
      ...(record.exitCode !== undefined ? { exitCode: record.exitCode } : {}),
      output: record.output,
      message: record.message ?? "failed",
    };
    // Continue: the step fails, the document goes on and fails at the end. Abort (default): stop now.
    if ((step.onFailure ?? "Abort") === "Abort") break;
  }
  return {
    phase: input.phase,
    steps: records,
    stepsRun: records.filter((r) => r.status !== "skipped").length,
    seconds: (input.now() - phaseStart) / 1000,
    ...(failure ? { failure } : {}),
  };
}

async function runStep(input: PhaseRunInput, step: AwstoeStep, emit: EngineEmit): Promise<StepRecord> {
  const start = input.now();
  const subject = `${input.component}/${input.phase}/${step.name}`;
  const base = { kind: "step", component: input.component, phase: input.phase, step: step.name };
  const probe: Probe = async (script) => {
    const run = await input.executor.run(script, { timeoutSeconds: 60, label: `${subject} (condition)` });
    return { exitCode: run.exitCode, stdout: run.stdout };
  };
  const finish = (
    status: StepStatus,
    detail: {
      attempts: number;
      reboots: number;
      exitCode?: number;
      output: string;
      message?: string;
      localSkipReason?: string;
    },
  ): StepRecord => {
    const seconds = (input.now() - start) / 1000;
    const record: StepRecord = {
      phase: input.phase,
      step: step.name,
      status,
      seconds,
      attempts: detail.attempts,
      reboots: detail.reboots,
      output: tail(detail.output),
      ...(detail.exitCode !== undefined ? { exitCode: detail.exitCode } : {}),
      ...(detail.message !== undefined ? { message: detail.message } : {}),
      ...(detail.localSkipReason !== undefined ? { localSkipReason: detail.localSkipReason } : {}),
    };
    if (status === "failed")
      emit("failed", subject, detail.message, { ...base, seconds, exitCode: detail.exitCode ?? null });
    else if (status === "skipped" && detail.localSkipReason !== undefined)
      emit("done", subject, `not run locally: ${detail.localSkipReason}`, {
        ...base,
        seconds,
        status,
        localSkip: true,
        reason: detail.localSkipReason,
      });
    else if (status === "skipped")
      emit("done", subject, "skipped: its if-condition chose Skip", { ...base, seconds, status });
    else
      emit("done", subject, status === "ignored" ? `failed, ignored: ${detail.message}` : undefined, {
        ...base,
        seconds,
        status,
      });
    return record;
  };

  emit("start", subject, undefined, { ...base, action: step.action });

  const localSkipReason = input.skipSteps?.get(step.name);
  if (localSkipReason !== undefined)
    return finish("skipped", { attempts: 0, reboots: 0, output: "", localSkipReason });

  // `if` is evaluated once, even when the step reboots (AWSTOE documents exactly that).
  if (step.if !== undefined) {
    let decision: "Execute" | "Skip" | "Abort";
    try {
      decision = await evaluateIf(substituteDeep(step.if, lookupFor(input, undefined)), probe);
    } catch (error) {
      if (!(error instanceof ConditionError)) throw error;
      return afterFailure(finish, step, {
        attempts: 0,
        reboots: 0,
        output: "",
        message: `invalid if: ${error.message}`,
      });
    }
    if (decision === "Skip") return finish("skipped", { attempts: 0, reboots: 0, output: "" });
    if (decision === "Abort")
      return afterFailure(finish, step, {
        attempts: 0,
        reboots: 0,
        output: "",
        message: "its if-condition chose Abort",
      });
  }

  const maxAttempts = step.maxAttempts ?? 1;
  const timeoutSeconds = step.timeoutSeconds === -1 ? 0 : (step.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS);
  const iterations = loopIterations(step.loop, lookupFor(input, undefined));
  let attempts = 0;
  let reboots = 0;
  let output = "";
  let stdout = "";
  for (const iteration of iterations) {
    const loop = step.loop
      ? { ...(step.loop.name ? { name: step.loop.name } : {}), ...iteration }
      : undefined;
    const label = loop ? `${subject} [${loop.index}: ${loop.value}]` : subject;
    let iterationAttempts = 0;
    for (;;) {
      input.signal?.throwIfAborted();
      const inputs = substituteDeep(step.inputs, lookupFor(input, loop));
      const action = localAction(step, inputs);
      iterationAttempts++;
      attempts++;
      if (iterationAttempts > 1 || loop)
        emit(
          "progress",
          subject,
          loop
            ? `iteration ${loop.index} (${loop.value}), attempt ${iterationAttempts}`
            : `attempt ${iterationAttempts} of ${maxAttempts}`,
          {
            ...base,
            attempt: iterationAttempts,
            ...(loop ? { iteration: loop.index } : {}),
          },
        );
      let failed: { exitCode?: number; message: string } | undefined;
      if (action.kind === "unsupported") {
        // Retrying cannot help an action that cannot run here.
        return afterFailure(finish, step, { attempts, reboots, output, message: action.message });
      }
      if (action.kind === "reboot") {
        await input.executor.reboot();
        reboots++;
        emit("progress", subject, "reboot emulated (fresh /run)", { ...base, reboot: reboots });
        output += "[ops-rig] Reboot emulated: the root's /run was reset\n";
        break;
      }
      if (action.kind === "assert") {
        let holds: boolean;
        try {
          holds = await evaluateCondition(action.expression, probe);
        } catch (error) {
          if (!(error instanceof ConditionError)) throw error;
          return afterFailure(finish, step, {
            attempts,
            reboots,
            output,
            message: `invalid assertion: ${error.message}`,
          });
        }
        if (holds) break;
        failed = { message: `assertion is false: ${describeCondition(action.expression)}` };
      } else {
        const run = await input.executor.run(action.script, { timeoutSeconds, label });
        output += run.output;
        if (run.exitCode === REBOOT_EXIT_CODE && !run.timedOut) {
          reboots++;
          if (reboots > MAX_REBOOTS_PER_STEP) {
            return afterFailure(finish, step, {
              attempts,
              reboots,
              output,
              exitCode: run.exitCode,
              message: `asked for a reboot (exit code 194) more than ${MAX_REBOOTS_PER_STEP} times`,
            });
          }
          await input.executor.reboot();
          emit("progress", subject, `exit code 194: reboot emulated, running the step again (${reboots})`, {
            ...base,
            reboot: reboots,
          });
          output += `[ops-rig] exit code 194: reboot emulated, running "${step.name}" again\n`;
          // A reboot re-run is not a failed attempt.
          iterationAttempts--;
          attempts--;
          continue;
        }
        if (run.timedOut) failed = { message: `timed out after ${timeoutSeconds} seconds (timeoutSeconds)` };
        else if (run.exitCode !== 0)
          failed = { exitCode: run.exitCode, message: `exited with code ${run.exitCode}` };
        else {
          stdout = run.stdout;
          break;
        }
      }
      if (iterationAttempts >= maxAttempts) {
        const where = loop ? ` in loop iteration ${loop.index} (${loop.value})` : "";
        return afterFailure(finish, step, {
          attempts,
          reboots,
          output,
          ...(failed.exitCode !== undefined ? { exitCode: failed.exitCode } : {}),
          message: `${failed.message}${where}${maxAttempts > 1 ? ` after ${maxAttempts} attempts` : ""}`,
        });
      }
      output += `[ops-rig] attempt ${iterationAttempts} of ${maxAttempts} failed (${failed.message}); trying again\n`;
    }
  }
  input.outputs.set(`${input.phase}.${step.name}`, stdout.replace(/\n+$/, ""));
  return finish("success", { attempts, reboots, output });
}

function afterFailure(
  finish: (
    status: StepStatus,
    detail: { attempts: number; reboots: number; exitCode?: number; output: string; message?: string },
  ) => StepRecord,
  step: AwstoeStep,
  detail: { attempts: number; reboots: number; exitCode?: number; output: string; message: string },
): StepRecord {
  return finish(step.onFailure === "Ignore" ? "ignored" : "failed", detail);
}
