import { ConfigError, type Problem } from "../errors.js";
import { REGION_PATTERN } from "./patterns.js";
import { closestRegion, partitionOf as listedPartition } from "./regions.js";
import type { PipelineData } from "./types.js";

/**
 * Environment overrides of recipes/pipeline.yaml. A deployment creates the topics, the instance
 * profile and the build security group with generated names; the Lambda learns them from its
 * environment. Every value is checked, and a bad one names the variable.
 */
export const ENV_OVERRIDES = {
  notificationTopic: "OPS_RIG_NOTIFICATION_TOPIC_ARN",
  buildTopic: "OPS_RIG_BUILD_TOPIC_ARN",
  instanceProfile: "OPS_RIG_INSTANCE_PROFILE",
  securityGroups: "OPS_RIG_BUILD_SECURITY_GROUP_IDS",
  subnet: "OPS_RIG_BUILD_SUBNET_ID",
  logsBucket: "OPS_RIG_LOGS_BUCKET",
  targetRegions: "OPS_RIG_TARGET_REGIONS",
  homeRegion: "OPS_RIG_HOME_REGION",
} as const;

export function applyEnvOverrides<P extends PipelineData>(
  pipeline: P,
  env: Readonly<Record<string, string | undefined>>,
): P {
  const problems: Problem[] = [];
  const value = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v ? v : undefined;
  };
  const list = (name: string, pattern: RegExp, what: string): string[] | undefined => {
    const raw = value(name);
    if (raw === undefined) return undefined;
    const items = raw
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    for (const item of items)
      if (!pattern.test(item)) problems.push({ path: name, message: `"${item}" is not ${what}` });
    return items;
  };
  const single = (name: string, pattern: RegExp, what: string): string | undefined => {
    const v = value(name);
    if (v !== undefined && !pattern.test(v)) problems.push({ path: name, message: `"${v}" is not ${what}` });
    return v;
  };

  const topicPattern = /^(arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:)?[A-Za-z0-9_-]{1,256}$/;
  const notificationTopic = single(ENV_OVERRIDES.notificationTopic, topicPattern, "an SNS topic ARN or name");
  const buildTopic = single(ENV_OVERRIDES.buildTopic, topicPattern, "an SNS topic ARN or name");
  const instanceProfile = single(
    ENV_OVERRIDES.instanceProfile,
    /^[\w+=,.@-]{1,128}$/,
    "an instance profile name",
  );
  const securityGroups = list(ENV_OVERRIDES.securityGroups, /^sg-[0-9a-f]{8,17}$/, "a security group id");
  const subnet = single(ENV_OVERRIDES.subnet, /^subnet-[0-9a-f]{8,17}$/, "a subnet id");
  const logsBucket = single(
    ENV_OVERRIDES.logsBucket,
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
    "an S3 bucket name",
  );
  const targetRegions = list(ENV_OVERRIDES.targetRegions, REGION_PATTERN, "an AWS region");
  const homeRegion = single(ENV_OVERRIDES.homeRegion, REGION_PATTERN, "an AWS region");
  // The same region list as recipes/pipeline.yaml: unlisted regions only when the file confirms them.
  const confirmed =
    (pipeline as { confirm?: { unlistedRegions?: readonly string[] } }).confirm?.unlistedRegions ?? [];
  for (const [name, regions] of [
    [ENV_OVERRIDES.targetRegions, targetRegions ?? []],
    [ENV_OVERRIDES.homeRegion, homeRegion ? [homeRegion] : []],
  ] as const) {
    for (const region of regions) {
      if (!REGION_PATTERN.test(region) || listedPartition(region) !== undefined || confirmed.includes(region))
        continue;
      const hint = closestRegion(region);
      problems.push({
        path: name,
        message: `"${region}" is not an AWS region${hint ? ` (did you mean "${hint}"?)` : ""}; a newer one must be confirmed in recipes/pipeline.yaml (confirm: {unlistedRegions: [${region}]})`,
      });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    ...pipeline,
    ...(homeRegion ? { homeRegion } : {}),
    ...(targetRegions && targetRegions.length > 0 ? { targetRegions } : {}),
    notifications: { topic: notificationTopic ?? pipeline.notifications.topic },
    build: {
      ...pipeline.build,
      ...(buildTopic ? { notificationTopic: buildTopic } : {}),
      ...(instanceProfile ? { instanceProfileName: instanceProfile } : {}),
      ...(securityGroups ? { securityGroupIds: securityGroups } : {}),
      ...(subnet ? { subnetId: subnet } : {}),
      ...(logsBucket ? { logsBucket } : {}),
    },
  };
}

/** `arn:<partition>:sns:<region>:<account>:<name>` for a topic given by name; ARNs pass through. */
export function topicArn(topic: string, region: string, accountId: string): string {
  if (topic.startsWith("arn:")) return topic;
  return `arn:${partitionOf(region)}:sns:${region}:${accountId}:${topic}`;
}

export function partitionOf(region: string): "aws" | "aws-cn" | "aws-us-gov" {
  if (region.startsWith("cn-")) return "aws-cn";
  if (region.startsWith("us-gov-")) return "aws-us-gov";
  return "aws";
}
