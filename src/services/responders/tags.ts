import { RESOURCE_TAGS } from "../../responders/contract.js";

/** Tags the responder commands write. State lives in these tags: every command re-reads them first. */
export const RTAG = {
  case: RESOURCE_TAGS.case,
  role: RESOURCE_TAGS.role,
  quarantined: RESOURCE_TAGS.quarantined,
  evidenceCopy: RESOURCE_TAGS.evidenceCopy,
  /** On an interface: the groups it had before `isolate` (space-separated, split over -2, -3 when long). */
  previousGroups: "ops-rig:previous-groups",
  /** On an instance: the instance profile ARN it had before `isolate`. */
  previousProfile: "ops-rig:previous-profile",
  sourceVolume: "ops-rig:source-volume",
  sourceInstance: "ops-rig:source-instance",
  sourceDevice: "ops-rig:source-device",
  sourceSnapshot: "ops-rig:source-snapshot",
  /** On an evidence copy: the rig it is for. */
  rig: "ops-rig:rig",
  /** On an interface: the rig an `ssh-route` was opened for (so `--remove` only undoes its own). */
  sshRoute: "ops-rig:ssh-route",
  /** On a snapshot: who made it (the custody entry names them on every re-run). */
  recordedBy: "ops-rig:recorded-by",
  /** On an instance: SHA-256 of its completed memory capture. */
  memorySha256: "ops-rig:memory-sha256",
} as const;

/** EC2 tag values hold 256 characters. */
export const TAG_VALUE_MAX = 256;

/** A long value over `key`, `key-2`, `key-3`, ... (a list of 16 group ids does not fit one tag). */
export function chunkTag(key: string, value: string): Record<string, string> {
  const out: Record<string, string> = {};
  const parts = value.split(" ");
  let current = "";
  let n = 1;
  for (const part of parts) {
    const next = current ? `${current} ${part}` : part;
    if (next.length > TAG_VALUE_MAX && current) {
      out[n === 1 ? key : `${key}-${n}`] = current;
      n++;
      current = part;
    } else {
      current = next;
    }
  }
  out[n === 1 ? key : `${key}-${n}`] = current;
  return out;
}

/** The value `chunkTag` wrote, or undefined when the key is absent. */
export function readChunks(tags: Readonly<Record<string, string>>, key: string): string | undefined {
  const first = tags[key];
  if (first === undefined) return undefined;
  const parts = [first];
  for (let n = 2; tags[`${key}-${n}`] !== undefined; n++) parts.push(tags[`${key}-${n}`] ?? "");
  return parts.join(" ");
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
