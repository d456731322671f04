/**
 * What a command or an API call does, over the ports, with typed results and events. One service per
 * use case; commands and the Lambda only parse their input and render the result.
 */
export {
  type BakeResult,
  bake,
  type PipelineResponse,
  type RunStatus,
  remoteBake,
  runStatus,
} from "./bake.js";
export { type BaseRow, findBases } from "./bases.js";
export {
  type LaunchDeps,
  type LaunchRequest,
  type LaunchResult,
  launch,
  securityGroupName,
} from "./launch.js";
export { type PlanRequest, type PlanResult, planRun } from "./plan.js";
export type { IngressRule, LambdaPort, LaunchPort, SecurityGroupInfo } from "./ports.js";
export { type PruneOutcome, type PruneRequest, type PruneResult, prune } from "./prune.js";
export { type RegionRollback, type RollbackRequest, type RollbackResult, rollback } from "./rollback.js";
export { lineStatus, type StatusRequest, type StatusResult, type StatusRow } from "./status.js";
