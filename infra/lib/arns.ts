import { partitionOf } from "./settings.js";

/**
 * ARN and condition builders. Regional statements use `*` for the region inside ARNs and carry an
 * `aws:RequestedRegion` condition instead: equally narrow (every resource of a call is in the region
 * the call is made in, CopyImage's source included via `SourceRegion`), and it keeps each policy
 * well under IAM's size quotas however many regions a team lists.
 */
export class Arns {
  readonly partition: string;

  constructor(
    readonly homeRegion: string,
    readonly regions: readonly string[],
    /** A literal account id, or the `AWS::AccountId` token for an account-agnostic template. */
    readonly account: string,
  ) {
    this.partition = partitionOf(homeRegion);
  }

  arn(service: string, region: string, account: string, resource: string): string {
    return `arn:${this.partition}:${service}:${region}:${account}:${resource}`;
  }

  /** EC2 images and snapshots have no account in their ARN. */
  ec2Public(resource: "image" | "snapshot"): string {
    return this.arn("ec2", "*", "", `${resource}/*`);
  }

  ec2(resource: string): string {
    return this.arn("ec2", "*", this.account, `${resource}/*`);
  }

  iam(resource: string): string {
    return this.arn("iam", "", this.account, resource);
  }

  /** The condition every regional statement carries. */
  inRegions(): Record<string, Record<string, unknown>> {
    return { StringEquals: { "aws:RequestedRegion": [...this.regions] } };
  }

  inHomeRegion(): Record<string, Record<string, unknown>> {
    return { StringEquals: { "aws:RequestedRegion": this.homeRegion } };
  }

  /** `kms:ViaService` values for a service in every region. */
  via(service: string, regions: readonly string[] = this.regions): string[] {
    const suffix = this.partition === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com";
    return regions.map((region) => `${service}.${region}.${suffix}`);
  }
}

/** Merges IAM condition blocks (`{StringEquals: {...}}` + `{Null: {...}}` → one object). */
export function conditions(
  ...blocks: Record<string, Record<string, unknown>>[]
): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const block of blocks) {
    for (const [operator, keys] of Object.entries(block))
      out[operator] = { ...(out[operator] ?? {}), ...keys };
  }
  return out;
}

/** The resource carries tag `key` (any value). */
export const hasTag = (key: string) => ({ Null: { [`aws:ResourceTag/${key}`]: "false" } });
export const tagEquals = (key: string, value: string) => ({
  StringEquals: { [`aws:ResourceTag/${key}`]: value },
});
/** The request tags the new resource with `key` (any value). */
export const requestsTag = (key: string) => ({ Null: { [`aws:RequestTag/${key}`]: "false" } });
export const requestTagEquals = (key: string, value: string) => ({
  StringEquals: { [`aws:RequestTag/${key}`]: value },
});
