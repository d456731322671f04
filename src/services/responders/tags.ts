import { InvariantError } from "../../errors.js";
import { RESOURCE_TAGS, STATE_TAGS } from "../../responders/contract.js";

/** Tags the responder commands write. State lives in these tags: every command re-reads them first. */
export const RTAG = {
  case: RESOURCE_TAGS.case,
  role: RESOURCE_TAGS.role,
  quarantined: RESOURCE_TAGS.quarantined,
  evidenceCopy: RESOURCE_TAGS.evidenceCopy,
  /** On an interface: the groups it had before `isolate` (space-separated, split over -2, -3 when long). */
  previousGroups: STATE_TAGS.previousGroups,
  /** On an instance: the instance profile ARN it had before `isolate`. */
  previousProfile: STATE_TAGS.previousProfile,
  sourceVolume: "ops-rig:source-volume",
  sourceInstance: "ops-rig:source-instance",
  sourceDevice: "ops-rig:source-device",
  sourceSnapshot: "ops-rig:source-snapshot",
  /** On an evidence copy: the rig it is for. */
  rig: "ops-rig:rig",
  /** On an interface: the rig an `ssh-route` was opened for (so `--remove` only undoes its own). */
  sshRoute: STATE_TAGS.sshRoute,
  /** On a snapshot: who made it (the custody entry names them on every re-run). */
  recordedBy: "ops-rig:recorded-by",
  /** On an instance: SHA-256 of its completed memory capture. */
  memorySha256: STATE_TAGS.memorySha256,
  memoryUpload: STATE_TAGS.memoryUpload,
} as const;

/** EC2 tag values hold 256 characters. */
export const TAG_VALUE_MAX = 256;

/**
 * A long value over `key`, `key-2`, ... (16 group ids or a profile ARN with a path do not fit one
 * tag), cut at 256 characters and joined back exactly. The roles allow four keys per value.
 */
export function chunkTag(key: string, value: string): Record<string, string> {
  const chars = Array.from(value);
  const out: Record<string, string> = {};
  const count = Math.max(1, Math.ceil(chars.length / TAG_VALUE_MAX));
  if (count > MAX_CHUNKS)
    throw new InvariantError(`${key}: ${chars.length} characters do not fit ${MAX_CHUNKS} tags`);
  for (let n = 0; n < count; n++)
    out[n === 0 ? key : `${key}-${n + 1}`] = chars.slice(n * TAG_VALUE_MAX, (n + 1) * TAG_VALUE_MAX).join("");
  return out;
}

export const MAX_CHUNKS = 4;

/** The value `chunkTag` wrote, or undefined when the key is absent. */
export function readChunks(tags: Readonly<Record<string, string>>, key: string): string | undefined {
  const first = tags[key];
  if (first === undefined) return undefined;
  const parts = [first];
  for (let n = 2; tags[`${key}-${n}`] !== undefined; n++) parts.push(tags[`${key}-${n}`] ?? "");
  return parts.join("");
}

/** Every key `chunkTag` may have written for `key`. */
export function chunkKeys(tags: Readonly<Record<string, string>>, key: string): string[] {
  return Object.keys(tags).filter((k) => k === key || new RegExp(`^${escapeRegExp(key)}-\\d+$`).test(k));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** User tags only: `aws:` tags cannot be written by anyone. */
export function userTags(tags: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(tags).filter(([k]) => !k.startsWith("aws:")));
}
