/**
 * The rig launch templates' contract: what the per-region stacks (infra/lib/launch-templates.ts) put
 * in every `ops-rig-<toolset>` launch template, what `ops-rig launch` sends itself, and what
 * `ops-rig launch --template` (and the API) check before trusting a template someone may have
 * edited. Pure data and pure checks, no imports of AWS or the file system.
 */

/** `ops-rig-light`, `ops-rig-heavy`: the toolset's default line in every region. */
export const launchTemplateName = (toolset: string): string => `ops-rig-${toolset}`;

/**
 * The rig's own security group in each configured responder VPC (made by the regional stack): SSH
 * from the responders' prefix list only, HTTPS out (SSM sessions, the tools bucket, the broker).
 */
export const RIG_GROUP = "ops-rig-rig";

/** IMDSv2 only, and no metadata for containers on the box (hop limit 1): `ops-rig launch` sends the same. */
export const RIG_METADATA_OPTIONS = {
  httpTokens: "required",
  httpEndpoint: "enabled",
  httpPutResponseHopLimit: 1,
} as const;

/** Tag value a template puts on what it launches until the launcher names a case. */
export const TEMPLATE_LAUNCHER = "launch-template";

/** What one launch template holds, in the shape both the stack and the checker use. */
export interface RigTemplateSpec {
  readonly name: string;
  /** `resolve:ssm:<prefix>/<toolset>/ami-id`: the template never pins an AMI id. */
  readonly imageId: string;
  readonly instanceType: string;
  readonly rootDeviceName: string;
  readonly rootVolumeGiB: number;
  readonly instanceProfile: string;
  /** Tags on the instance, its volumes and interfaces (the responder roles key on `ops-rig:role`). */
  readonly tags: Readonly<Record<string, string>>;
}

/** What a launch template's default version holds, read back from EC2 (flattened). */
export interface LaunchTemplateData {
  readonly imageId?: string;
  readonly instanceType?: string;
  readonly instanceProfileName?: string;
  readonly instanceProfileArn?: string;
  readonly metadata?: {
    readonly httpTokens?: string;
    readonly httpEndpoint?: string;
    readonly httpPutResponseHopLimit?: number;
  };
  readonly blockDevices: readonly {
    readonly deviceName?: string;
    readonly encrypted?: boolean;
    readonly volumeSize?: number;
  }[];
  readonly securityGroupIds: readonly string[];
  /** Interfaces in the template: a template that sets its own network overrides ours, so none are allowed. */
  readonly networkInterfaces: number;
  readonly userData?: string;
  readonly tags: Readonly<Record<string, string>>;
}

/**
 * Why a template's data is not a locked-down rig: an empty list means it is. The template lives in
 * the account, where anyone with ec2:CreateLaunchTemplateVersion could have changed its default
 * version, so a launcher checks it instead of trusting its name.
 */
export function templateProblems(
  data: LaunchTemplateData,
  expected: { readonly parameter: string; readonly instanceProfile: string },
): string[] {
  const problems: string[] = [];
  const image = data.imageId ?? "";
  // A pinned version or label of our parameter is fine (`:3`, `:rollback-...`); another parameter or a literal AMI is not.
  if (
    image !== `resolve:ssm:${expected.parameter}` &&
    !image.startsWith(`resolve:ssm:${expected.parameter}:`)
  )
    problems.push(`ImageId is "${image || "(none)"}", not resolve:ssm:${expected.parameter}`);
  const m = data.metadata ?? {};
  if (m.httpTokens !== RIG_METADATA_OPTIONS.httpTokens)
    problems.push(
      `MetadataOptions.HttpTokens is ${m.httpTokens ?? "(unset: optional)"}, not required (IMDSv2)`,
    );
  if ((m.httpPutResponseHopLimit ?? 1) !== RIG_METADATA_OPTIONS.httpPutResponseHopLimit)
    problems.push(`MetadataOptions.HttpPutResponseHopLimit is ${m.httpPutResponseHopLimit}, not 1`);
  const profile = data.instanceProfileName ?? data.instanceProfileArn?.split("/").pop();
  if (profile !== expected.instanceProfile)
    problems.push(`IamInstanceProfile is ${profile ?? "(none)"}, not ${expected.instanceProfile}`);
  if (data.blockDevices.length === 0) problems.push("no root volume mapping (its encryption is unknown)");
  for (const device of data.blockDevices)
    if (device.encrypted !== true) problems.push(`volume ${device.deviceName ?? "?"} is not encrypted`);
  if (data.networkInterfaces > 0)
    problems.push("it sets network interfaces (they would replace the rig's security group)");
  if (data.userData) problems.push("it carries user data (a baked rig needs none; it could run anything)");
  if (data.tags["ops-rig:role"] !== "forensic")
    problems.push("it does not tag what it launches ops-rig:role=forensic");
  return problems;
}
