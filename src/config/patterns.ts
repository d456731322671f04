// Name patterns in their own module, free of zod: the CLI checks flags with them before loading any
// schema, and the Lambdas (which ship no zod) check events and environment overrides with them.

/** AWS region names (commercial, GovCloud, China, ISO). */
export const REGION_PATTERN = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/;
/**
 * Names that end up inside Image Builder resource names (`ops-rig-<component>`,
 * `ops-rig-<toolset>-<base>-<arch>`): lower-case letters, digits and dashes only, so every derived
 * name satisfies Image Builder's `[-_A-Za-z0-9 ]` pattern and reads well in a parameter path.
 */
export const SLUG_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
