/**
 * Results of pure work (a YAML file's value, a rendered component) that a caller may keep between
 * runs, so that a run after a small change redoes only what the change touched. The key names
 * every input of the work; the value is plain JSON. The pure layers only read and fill it: where it
 * lives, and which build of ops-rig it belongs to, is the caller's business.
 */
export interface Memo {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
}

/**
 * Whether `value` survives JSON unchanged (finite numbers, plain objects and arrays, no
 * `__proto__` key, nothing undefined): only such values may be memoised, or a later run would see
 * something other than what the work produced (YAML's `.inf` becomes `null` in JSON).
 */
export function isPlainJson(value: unknown): boolean {
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value) && !Object.is(value, -0);
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      if (!(index in value) || !isPlainJson(value[index])) return false;
    }
    return true;
  }
  if (typeof value !== "object") return false;
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return false;
  for (const key of Object.keys(value)) {
    if (key === "__proto__" || !isPlainJson((value as Record<string, unknown>)[key])) return false;
  }
  return true;
}
