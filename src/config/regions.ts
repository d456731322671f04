/**
 * AWS regions by partition, as the AWS SDK's endpoint data lists them (`partitions.json` in
 * @aws-sdk/core 3.974, shipped with @aws-sdk/client-* 3.1046.0). A test compares this list with
 * the installed SDK's, so an SDK upgrade that adds a region fails until the list is updated.
 * A region newer than the list can still be used: the pipeline file confirms it by name.
 */
export const PARTITION_REGIONS: Readonly<Record<string, readonly string[]>> = {
  aws: [
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "me-west-1",
    "mx-central-1",
    "sa-east-1",
    "sa-west-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
  ],
  "aws-cn": ["cn-north-1", "cn-northwest-1"],
  "aws-eusc": ["eusc-de-east-1"],
  "aws-iso": ["us-iso-east-1", "us-iso-west-1"],
  "aws-iso-b": ["us-isob-east-1", "us-isob-west-1"],
  "aws-iso-e": ["eu-isoe-west-1"],
  "aws-iso-f": ["us-isof-east-1", "us-isof-south-1"],
  "aws-us-gov": ["us-gov-east-1", "us-gov-west-1"],
};

/** The partition a listed region belongs to, or undefined for a region not in the list. */
export function partitionOf(region: string): string | undefined {
  for (const [partition, regions] of Object.entries(PARTITION_REGIONS))
    if (regions.includes(region)) return partition;
  return undefined;
}

/** The listed region closest to a misspelt one (edit distance ≤ 2), for "did you mean". */
export function closestRegion(region: string): string | undefined {
  let best: { region: string; distance: number } | undefined;
  for (const candidate of Object.values(PARTITION_REGIONS).flat()) {
    const distance = distanceBetween(region, candidate);
    if (distance <= 2 && (!best || distance < best.distance)) best = { region: candidate, distance };
  }
  return best?.region;
}

function distanceBetween(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
