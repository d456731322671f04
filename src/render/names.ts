// Resource names in a module of their own, free of YAML: the Lambdas name recipes and components
// without loading the renderer.

export const RESOURCE_PREFIX = "ops-rig";

export function componentResourceName(name: string): string {
  return `${RESOURCE_PREFIX}-${name}`;
}
