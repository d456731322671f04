/** The seed's responder outcomes as services: each idempotent, case-tagged, audited once. */
export {
  ACCOUNT_ID_PATTERN,
  COMMAND_ROLES,
  checkAccount,
  checkAggregator,
  type InstanceLocation,
  locateAccount,
  type MemberAccessPort,
  MemberRoleError,
  type MemberSession,
  memberRoleArn,
  memberSession,
  type SessionCredentials,
} from "./accounts.js";
export { type AttachRequest, type AttachResult, attach, mountCommand } from "./attach.js";
export type {
  AuditRecord,
  CustodyRecord,
  ResponderCommand,
  ResponderDeps,
  ResponderEvent,
  ResponderEvents,
} from "./common.js";
export { checkCase, locateInstance } from "./common.js";
export * from "./errors.js";
export { type InspectRequest, type InspectResult, inspect, renderInspect } from "./inspect.js";
export {
  type IsolateRequest,
  type IsolateResult,
  isolate,
  type ReleaseResult,
  release,
  TRACKED_CONNECTIONS_NOTE,
} from "./isolate.js";
export {
  type CaptureRequest,
  type CaptureResult,
  captureMemory,
  captureScript,
  limePort,
  partPlan,
} from "./memory.js";
export type * from "./ports.js";
export { MUTATING_CALLS } from "./ports.js";
export { type SnapshotRequest, type SnapshotResult, snapshot } from "./snapshot.js";
export { type SshRouteRequest, type SshRouteResult, sshRoute } from "./ssh-route.js";
export { type TerminateRequest, type TerminateResult, terminate } from "./terminate.js";
