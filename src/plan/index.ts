export * from "./fingerprint.js";
export * from "./names.js";
export * from "./plan.js";
export * from "./retention.js";
export * from "./share.js";
export * from "./types.js";
