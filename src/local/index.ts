/**
 * Local builds: component documents executed for real, the way Image Builder runs them, in an
 * isolated Debian root on this machine.
 */
export { AMI_PACKAGES, BASE_MAX_AGE_MS, basePackages, defaultCacheDir, kernelPackage } from "./base.js";
export { runLocalBuild } from "./build.js";
export { mountsUnder, processesUnder } from "./cleanup.js";
export { evaluateCondition, evaluateIf } from "./conditions.js";
export {
  MAX_REBOOTS_PER_STEP,
  type PhaseOutcome,
  REBOOT_EXIT_CODE,
  runPhase,
  type ScriptRun,
  type StepExecutor,
  type StepRecord,
} from "./engine.js";
export { localComponentInputs } from "./inputs.js";
export { type DebianMirror, hostMirror } from "./mirror.js";
export { countSteps, documentVariables, UNSUPPORTED_ACTIONS } from "./steps.js";
export * from "./types.js";
