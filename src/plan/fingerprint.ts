import { sha256Hex } from "../render/hash.js";

/**
 * Identity of what a line builds. `content` covers the base AMI and the rendered recipe (components,
 * parameters, volumes, user data); the fingerprint adds the maxAge epoch only when an image with the
 * same content exists but is too old, so a base change mid-week does not also trigger a rebuild at
 * the next epoch boundary.
 */
export function contentFingerprint(baseAmiId: string, recipeHash: string): string {
  return sha256Hex(`ops-rig/content/v1\n${baseAmiId}\n${recipeHash}`);
}

export function epochFingerprint(content: string, maxAgeMs: number, now: Date): string {
  const epoch = Math.floor(now.getTime() / maxAgeMs);
  return sha256Hex(`ops-rig/fingerprint/v1\n${content}\nepoch:${epoch}`);
}

/** Image Builder client tokens are 1–36 characters; attempt > 1 retries a failed build. */
export function buildClientToken(fingerprint: string, attempt: number): string {
  return sha256Hex(`create-image\n${fingerprint}\n${attempt}`).slice(0, 36);
}

/** EC2 client tokens are ≤ 64 ASCII characters; one per fingerprint, region and attempt. */
export function copyClientToken(fingerprint: string, region: string, attempt: number): string {
  return sha256Hex(`copy-image\n${fingerprint}\n${region}\n${attempt}`).slice(0, 64);
}

export function shortFingerprint(fingerprint: string): string {
  return fingerprint.slice(0, 12);
}

/** RAM client token (≤ 64 chars): the same change in the same region always carries the same token. */
export function shareClientToken(region: string, operation: string, items: readonly string[]): string {
  return `ops-rig-${sha256Hex([region, operation, ...[...items].sort()].join("\n")).slice(0, 40)}`;
}
