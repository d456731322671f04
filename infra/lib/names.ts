/**
 * Tags and names the policies in this stack key on. The pipeline, `ops-rig launch` and every
 * responder caller must set these tags, or the scoped permissions deny the call: they are part of
 * the contract, not decoration. The responder half lives in src/responders/contract.ts so that
 * application code can import it too; it is re-exported here.
 */
import { RESOURCE_TAGS } from "../../src/responders/contract.js";

export * from "../../src/responders/contract.js";

export const TAGS = {
  ...RESOURCE_TAGS,
  /** On every AMI and snapshot the pipeline makes (DESIGN: `ops-rig:` tags on AMIs). */
  toolset: "ops-rig:toolset",
} as const;

/** Image Builder tags the AMIs it builds with the image's ARN (user guide: tag-resources). */
export const IMAGE_BUILDER_ARN_TAG = "Ec2ImageBuilderArn";

/** Every Image Builder resource the pipeline creates starts with this (DESIGN: names users rely on). */
export const IMAGE_BUILDER_NAME_PREFIX = "ops-rig-";

/** The pipeline Lambda's name: `ops-rig bake --remote` invokes it by this name by default. */
export const PIPELINE_FUNCTION_NAME = "ops-rig-pipeline";

/** Where the break-glass pointer parameters live under the parameter prefix: never the pipeline's. */
export const BREAK_GLASS_PATH = "/break-glass";
