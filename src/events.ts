/**
 * The core reports what it does as events; the CLI renders them as progress, the Lambda as one-line
 * JSON logs. Nothing in the core writes to the console. Events are a discriminated union: a renderer
 * switches on `type`, and a new event that a renderer does not handle fails the typecheck.
 */
import type { OpsRigError } from "./errors.js";
import type { Action, LineKey, LineStatus } from "./plan/types.js";

/** observe → plan → apply → report. */
export type PipelineEvent =
  | { readonly type: "observe-started"; readonly regions: readonly string[] }
  | { readonly type: "region-unobservable"; readonly region: string; readonly error: OpsRigError }
  | { readonly type: "line-unobservable"; readonly line: LineKey; readonly error: OpsRigError }
  | { readonly type: "observed"; readonly lines: number; readonly regions: number }
  | { readonly type: "planned"; readonly actions: number; readonly mutating: number }
  | { readonly type: "action-started"; readonly action: Action }
  | { readonly type: "action-done"; readonly action: Action; readonly result: string }
  | { readonly type: "action-failed"; readonly action: Action; readonly error: OpsRigError }
  | {
      readonly type: "pass-finished";
      readonly pass: number;
      readonly actions: number;
      /** Where every line stands in every region after the pass. */
      readonly lines: readonly LineStatus[];
    }
  /** Sleeping until builds or copies in flight move on (`bake --wait`). */
  | { readonly type: "waiting"; readonly pass: number; readonly ms: number }
  | { readonly type: "notification-sent"; readonly topicArn: string; readonly messageId: string }
  | { readonly type: "notification-failed"; readonly topicArn: string; readonly error: OpsRigError }
  /** The full JSON report was stored (the notification links to it). */
  | { readonly type: "report-stored"; readonly location: string; readonly bytes: number }
  /** The full report could not be stored: it is still in the run's log and output. */
  | { readonly type: "report-not-stored"; readonly location: string; readonly error: OpsRigError }
  /** The failure was notified but the build could not be marked so: it is notified again next run. */
  | { readonly type: "build-not-marked"; readonly build: string; readonly error: OpsRigError };

/** `ops-rig rollback`. */
export type RollbackEvent =
  | {
      readonly type: "parameter-published";
      readonly region: string;
      readonly parameter: string;
      readonly imageId: string;
      readonly version: number;
    }
  | { readonly type: "image-withdrawn"; readonly region: string; readonly imageId: string }
  | { readonly type: "rollback-region-failed"; readonly region: string; readonly error: OpsRigError };

/** `ops-rig launch`: every change it makes in the responder's account. */
export type LaunchEvent =
  | {
      readonly type: "security-group-created";
      readonly region: string;
      readonly groupId: string;
      readonly name: string;
    }
  | {
      readonly type: "security-group-changed";
      readonly region: string;
      readonly groupId: string;
      readonly change: string;
    }
  | {
      readonly type: "security-group-removed";
      readonly region: string;
      readonly groupId: string;
      readonly reason: string;
    }
  | { readonly type: "instance-launched"; readonly region: string; readonly instanceId: string };

export type ServiceEvent = PipelineEvent | RollbackEvent | LaunchEvent;

export type ServiceEvents = (event: ServiceEvent) => void;

export const ignoreServiceEvents: ServiceEvents = () => {};

/* ----------------------------------------------------------------------------------------------
 * Step events of local builds (src/local): a small generic shape, rendered by `local-build`.
 * -------------------------------------------------------------------------------------------- */

export type EventType = "check" | "start" | "progress" | "done" | "failed";

export interface OpsRigEvent {
  readonly type: EventType;
  /** What the event is about, e.g. `light/build/Install`. */
  readonly subject: string;
  readonly message?: string;
  /** Structured details for machines (JSON-serialisable). */
  readonly data?: Readonly<Record<string, unknown>>;
}

export type EventSink = (event: OpsRigEvent) => void;

export const ignoreEvents: EventSink = () => {};
