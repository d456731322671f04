/**
 * Tags and names the policies in this stack key on. The pipeline and `ops-rig launch` must set these
 * tags, or the scoped permissions below deny the call: they are part of the contract, not decoration.
 */
export const TAGS = {
  /** On every AMI and snapshot the pipeline makes (DESIGN: `ops-rig:` tags on AMIs). */
  toolset: "ops-rig:toolset",
  /** `forensic` on instances (and their network interfaces) that `ops-rig launch` starts. */
  role: "ops-rig:role",
  /** `ssh-route` or `quarantine` on security groups and network interfaces responders create. */
  purpose: "ops-rig:purpose",
  /** Incident id on evidence snapshots and the volumes made from them. */
  case: "ops-rig:case",
  /** `true` on an instance a responder has quarantined; only such instances may be terminated. */
  quarantined: "ops-rig:quarantined",
} as const;

export const FORENSIC = "forensic";

/** Image Builder tags the snapshots of the AMIs it builds with this (AWSServiceRoleForImageBuilder policy). */
export const IMAGE_BUILDER_CREATED_BY = { key: "CreatedBy", value: "EC2 Image Builder" } as const;

/** Every Image Builder resource the pipeline creates starts with this (DESIGN: names users rely on). */
export const IMAGE_BUILDER_NAME_PREFIX = "ops-rig-";

/** The six responder actions of the seed; each gets a role `ops-rig-responder-<action>`. */
export const RESPONDER_ACTIONS = [
  "ssh-route",
  "snapshot",
  "memory-capture",
  "inspect",
  "quarantine",
  "terminate",
] as const;
export type ResponderAction = (typeof RESPONDER_ACTIONS)[number];

export const responderRoleName = (action: ResponderAction) => `ops-rig-responder-${action}`;

export const FORENSIC_INSTANCE_PROFILE = "ops-rig-forensic";

/** The pipeline Lambda's name: `ops-rig bake --remote` invokes it by this name by default. */
export const PIPELINE_FUNCTION_NAME = "ops-rig-pipeline";
