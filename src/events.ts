/**
 * The core reports what it does as events; the CLI renders them as progress and tables, the
 * Lambda as one-line JSON logs. Nothing in the core writes to the console.
 */

export type EventType = "check" | "start" | "progress" | "done" | "failed";

export interface OpsRigEvent {
  readonly type: EventType;
  /** What the event is about, e.g. `render`, `build light/debian-12/amd64`, `copy eu-west-1`. */
  readonly subject: string;
  readonly message?: string;
  /** Structured details for machines (JSON-serialisable). */
  readonly data?: Readonly<Record<string, unknown>>;
}

export type EventSink = (event: OpsRigEvent) => void;

export const ignoreEvents: EventSink = () => {};
