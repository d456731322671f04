export * from "./bases.js";
export { loadProject } from "./load.js";
export { applyEnvOverrides, ENV_OVERRIDES, partitionOf, topicArn } from "./overrides.js";
export { COMPONENTS_DIR, closest, PIPELINE_FILE, PRELUDE_FILE, parseProject, RECIPES_DIR } from "./parse.js";
export type { Duration } from "./schema.js";
export { REGION_PATTERN, SLUG_PATTERN } from "./schema.js";
export type * from "./types.js";
