import type { ServiceEvent } from "../events.js";
import type { LineKey } from "../plan/types.js";

export type LogLevel = "info" | "warn" | "error";

export interface LogLine {
  readonly level: LogLevel;
  readonly message: string;
  readonly data: Record<string, unknown>;
}

const line = (l: LineKey) => `${l.toolset}/${l.base}/${l.arch}`;

/** One event as one structured log line (CloudWatch: one JSON object per line). */
export function eventLog(event: ServiceEvent): LogLine | undefined {
  const error = (e: { code: string; message: string; retryable: boolean }) => ({
    code: e.code,
    error: e.message,
    retryable: e.retryable,
  });
  switch (event.type) {
    case "observe-started":
      return { level: "info", message: "observe", data: { regions: event.regions } };
    case "region-unobservable":
      return {
        level: "warn",
        message: "region unobservable",
        data: { region: event.region, ...error(event.error) },
      };
    case "line-unobservable":
      return {
        level: "warn",
        message: "line unobservable",
        data: { line: line(event.line), ...error(event.error) },
      };
    case "observed":
      return { level: "info", message: "observed", data: { lines: event.lines, regions: event.regions } };
    case "planned":
      return {
        level: "info",
        message: "planned",
        data: { actions: event.actions, mutating: event.mutating },
      };
    case "action-started":
      return undefined;
    case "action-done":
      return {
        level: "info",
        message: "action done",
        data: {
          kind: event.action.kind,
          line: line(event.action.line),
          region: regionOf(event.action),
          result: event.result,
        },
      };
    case "action-failed":
      return {
        level: "warn",
        message: "action failed",
        data: {
          kind: event.action.kind,
          line: line(event.action.line),
          region: regionOf(event.action),
          ...error(event.error),
        },
      };
    case "pass-finished":
      return { level: "info", message: "pass finished", data: { pass: event.pass, actions: event.actions } };
    case "waiting":
      return { level: "info", message: "waiting", data: { pass: event.pass, ms: event.ms } };
    case "notification-sent":
      return {
        level: "info",
        message: "notified",
        data: { topicArn: event.topicArn, messageId: event.messageId },
      };
    case "notification-failed":
      return {
        level: "error",
        message: "notification failed",
        data: { topicArn: event.topicArn, ...error(event.error) },
      };
    case "report-stored":
      return {
        level: "info",
        message: "report stored",
        data: { location: event.location, bytes: event.bytes },
      };
    case "report-not-stored":
      return {
        level: "warn",
        message: "report not stored",
        data: { location: event.location, ...error(event.error) },
      };
    case "build-not-marked":
      return {
        level: "warn",
        message: "build not marked notified",
        data: { build: event.build, ...error(event.error) },
      };
    case "parameter-published":
    case "image-withdrawn":
    case "rollback-region-failed":
    case "security-group-created":
    case "security-group-changed":
    case "security-group-removed":
    case "instance-launched":
      // Not pipeline events; logged as they are should a service emit them here.
      return { level: "info", message: event.type, data: { ...event } };
    default: {
      // A new event type must be logged here: this line stops compiling until it is.
      const unhandled: never = event;
      return unhandled;
    }
  }
}

function regionOf(action: { region?: string }): string | undefined {
  return action.region;
}
