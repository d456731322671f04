import type { EventSink } from "../events.js";
import type { BootDisk } from "./boot.js";

/** The Debian releases a local build can use as its base root. */
export const LOCAL_BASES = ["debian-12", "debian-13"] as const;
export type LocalBase = (typeof LOCAL_BASES)[number];

export function isLocalBase(value: string): value is LocalBase {
  return (LOCAL_BASES as readonly string[]).includes(value);
}

export interface LocalComponentInput {
  /** Component name, e.g. `sleuthkit`. */
  readonly name: string;
  /** The final AWSTOE YAML text, as Image Builder holds it (RenderedComponent.document). */
  readonly document: string;
  /** Recipe parameter values; defaults come from the document. */
  readonly parameters: Readonly<Record<string, string>>;
  /** Set when the toolset marks the component not locally runnable: skipped and reported, never silently. */
  readonly skipReason?: string;
  /** Steps (by name, any phase) the toolset marks as not runnable locally, with the reason. */
  readonly skipSteps?: Readonly<Record<string, string>>;
}

export interface LocalBuildOptions {
  readonly base: LocalBase;
  /** In recipe order. */
  readonly components: readonly LocalComponentInput[];
  /** Keep the roots afterwards (as plain directories under the run's work folder). */
  readonly keep?: boolean;
  /** Write the finished image root (after build and validate) as a tarball: a real local image. */
  readonly out?: string;
  /**
   * Write the finished image (after build and validate, with its initramfs) as a bootable raw disk
   * plus its kernel and initramfs into this folder, for the boot proof (`--boot`).
   */
  readonly bootDisk?: string;
  /** Base tarball cache (default `$OPS_RIG_CACHE`, else `~/.cache/ops-rig`). */
  readonly cacheDir?: string;
  /** Abort: kill the processes, drop the mounts, remove the roots, reject. */
  readonly signal?: AbortSignal;
  /** Progress per component, phase and step, with elapsed time. */
  readonly onEvent?: EventSink;
}

export type LocalPhase = "build" | "validate" | "test";

export interface LocalStepFailure {
  readonly component: string;
  readonly phase: LocalPhase;
  readonly step: string;
  readonly exitCode?: number;
  /** The end of the step's combined stdout and stderr. */
  readonly output: string;
  readonly message: string;
}

export interface LocalComponentSummary {
  readonly name: string;
  /** Steps executed (a step skipped by its `if` is not counted; a loop counts once). */
  readonly stepsRun: number;
  readonly seconds: number;
  readonly result: "passed" | "failed" | "skipped" | "not-run";
  readonly skipReason?: string;
}

/** A step a local build did not run, and why (the whole component's reason, or the step's). */
export interface LocalSkippedStep {
  readonly component: string;
  readonly phase: LocalPhase;
  readonly step: string;
  readonly reason: string;
}

export interface LocalBuildResult {
  readonly ok: boolean;
  readonly failure?: LocalStepFailure;
  readonly components: readonly LocalComponentSummary[];
  /** Every step not run locally, with its reason: nothing is skipped silently. */
  readonly skipped: readonly LocalSkippedStep[];
  readonly seconds: number;
  /** The image root, when `keep` was given. */
  readonly rootDir?: string;
  /** The image tarball, when `out` was given and the build passed. */
  readonly image?: string;
  /** The bootable disk, when `bootDisk` was given and the build and validate phases passed. */
  readonly bootDisk?: BootDisk;
}
