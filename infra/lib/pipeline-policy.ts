import * as iam from "aws-cdk-lib/aws-iam";
import type { ShareSettings } from "../../src/config/types.js";
import { MEMBER_KEY_OPERATIONS, PARAMETER_SHARE_NAME } from "../../src/plan/share.js";
import { type Arns, conditions, hasTag } from "./arns.js";
import { BREAK_GLASS_PATH, IMAGE_BUILDER_ARN_TAG, IMAGE_BUILDER_NAME_PREFIX, TAGS } from "./names.js";

export interface PipelinePolicyInputs {
  readonly arns: Arns;
  readonly parameterPrefix: string;
  /** The responders' topic and its customer key. */
  readonly notificationTopicArn: string;
  readonly notificationKeyArn: string;
  /** The Image Builder build instance's role and profile: the only role the pipeline may pass. */
  readonly buildRoleArn: string;
  readonly buildInstanceProfileArn: string;
  /** Customer keys for AMI copies from pipeline.yaml `copy.kmsKeys`, by region (may be empty). */
  readonly copyKmsKeys: Readonly<Record<string, string>>;
  /** Toolset names: the pipeline writes parameters under `<prefix>/<toolset>/` and nowhere else. */
  readonly toolsets: readonly string[];
  /** The logs bucket: the full run reports go under `reports/` in it. */
  readonly logsBucketArn: string;
  /** pipeline.yaml `share:`: the only principals images' keys and parameters may be shared with. */
  readonly share?: ShareSettings;
}

/**
 * The pipeline Lambda's permissions, grouped by service so each managed policy stays under IAM's
 * 6,144-character quota. Exactly the calls of the adapters in src/aws/ (the test derives them from
 * the bundle) plus what AWS checks on their behalf (`IMPLIED_ACTIONS` in sdk-actions.ts).
 */
export function pipelineStatements(inputs: PipelinePolicyInputs): Record<string, iam.PolicyStatement[]> {
  const { arns } = inputs;
  const images = arns.ec2Public("image");
  const snapshots = arns.ec2Public("snapshot");
  const regional = arns.inRegions();

  const ec2 = [
    new iam.PolicyStatement({
      sid: "FindImagesAndRegions",
      // Describe* calls have no resource-level permissions in EC2.
      actions: ["ec2:DescribeImages", "ec2:DescribeRegions"],
      resources: ["*"],
      conditions: regional,
    }),
    new iam.PolicyStatement({
      sid: "CopyImagesToTargetRegions",
      // Since 2024-10-28 CopyImage authorizes the source AMI too; both are images/snapshots:
      // https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/copy-ami-permissions.html
      actions: ["ec2:CopyImage"],
      resources: [images, snapshots],
      conditions: regional,
    }),
    new iam.PolicyStatement({
      sid: "TagCopiesWhenCreated",
      actions: ["ec2:CreateTags"],
      resources: [images, snapshots],
      conditions: conditions(regional, { StringEquals: { "ec2:CreateAction": "CopyImage" } }),
    }),
    new iam.PolicyStatement({
      sid: "RetagOwnImages",
      actions: ["ec2:CreateTags"],
      resources: [images, snapshots],
      conditions: conditions(regional, hasTag(TAGS.toolset)),
    }),
    new iam.PolicyStatement({
      sid: "RetireOwnImages",
      actions: ["ec2:DeregisterImage", "ec2:EnableImageDeprecation", "ec2:DisableImageDeprecation"],
      resources: [images],
      conditions: conditions(regional, hasTag(TAGS.toolset)),
    }),
    new iam.PolicyStatement({
      sid: "DeleteSnapshotsOfOwnCopies",
      // DeregisterImage with DeleteAssociatedSnapshots deletes each snapshot only where the caller may
      // ec2:DeleteSnapshot it (the response reports "missing-permissions" per snapshot otherwise).
      // Copies carry the toolset tag through CopyImage's TagSpecifications (ResourceType snapshot).
      actions: ["ec2:DeleteSnapshot"],
      resources: [snapshots],
      conditions: conditions(regional, hasTag(TAGS.toolset)),
    }),
    new iam.PolicyStatement({
      sid: "DeleteSnapshotsOfOwnBuilds",
      // Image Builder tags its output with Ec2ImageBuilderArn (user guide: tag-resources); only our
      // images are named ops-rig-*, so other teams' builds (which carry CreatedBy=EC2 Image Builder
      // too) stay out of reach. Whether the build's snapshots carry that tag as well is unverified:
      // if they do not, DeregisterImage reports them as missing-permissions and they are left, never
      // someone else's deleted.
      actions: ["ec2:DeleteSnapshot"],
      resources: [snapshots],
      conditions: conditions(arns.inHomeRegion(), {
        StringLike: {
          [`aws:ResourceTag/${IMAGE_BUILDER_ARN_TAG}`]: arns.arn(
            "imagebuilder",
            arns.homeRegion,
            arns.account,
            `image/${IMAGE_BUILDER_NAME_PREFIX}*`,
          ),
        },
      }),
    }),
  ];

  const parameterArns = arns.regions.flatMap((region) => [
    arns.arn("ssm", region, arns.account, `parameter${inputs.parameterPrefix}`),
    arns.arn("ssm", region, arns.account, `parameter${inputs.parameterPrefix}/*`),
  ]);
  // Writes only under the toolsets' own subtrees: never the break-glass pointer beside them.
  const toolsetParameterArns = arns.regions.flatMap((region) =>
    inputs.toolsets.map((toolset) =>
      arns.arn("ssm", region, arns.account, `parameter${inputs.parameterPrefix}/${toolset}/*`),
    ),
  );
  const breakGlassArns = arns.regions.flatMap((region) => [
    arns.arn("ssm", region, arns.account, `parameter${inputs.parameterPrefix}${BREAK_GLASS_PATH}`),
    arns.arn("ssm", region, arns.account, `parameter${inputs.parameterPrefix}${BREAK_GLASS_PATH}/*`),
  ]);
  const ssmAndSns = [
    new iam.PolicyStatement({
      sid: "ReadPublishedParameters",
      actions: [
        "ssm:GetParameter",
        "ssm:GetParameters",
        "ssm:GetParametersByPath",
        "ssm:GetParameterHistory",
      ],
      resources: parameterArns,
    }),
    new iam.PolicyStatement({
      sid: "PublishParameters",
      // PutParameter with Tags also needs AddTagsToResource.
      actions: [
        "ssm:PutParameter",
        "ssm:LabelParameterVersion",
        "ssm:UnlabelParameterVersion",
        "ssm:AddTagsToResource",
      ],
      resources: toolsetParameterArns,
    }),
    new iam.PolicyStatement({
      sid: "NeverTheBreakGlassPointer",
      // Whoever controls the pointer chooses the key every rig trusts for break-glass logins.
      effect: iam.Effect.DENY,
      actions: [
        "ssm:PutParameter",
        "ssm:DeleteParameter",
        "ssm:DeleteParameters",
        "ssm:LabelParameterVersion",
        "ssm:UnlabelParameterVersion",
        "ssm:AddTagsToResource",
        "ssm:RemoveTagsFromResource",
      ],
      resources: breakGlassArns,
    }),
    new iam.PolicyStatement({
      sid: "ReadPublicBaseImageParameters",
      // Canonical's and Debian's public parameters name the newest base AMI; Image Builder also
      // resolves a recipe's `ssm:` parent image with the caller's rights (unverified: granted anyway).
      actions: ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"],
      resources: arns.regions.flatMap((region) => [
        arns.arn("ssm", region, "", "parameter/aws/service/canonical/*"),
        arns.arn("ssm", region, "", "parameter/aws/service/debian/*"),
      ]),
    }),
    new iam.PolicyStatement({
      sid: "NotifyResponders",
      actions: ["sns:Publish"],
      resources: [inputs.notificationTopicArn],
    }),
    new iam.PolicyStatement({
      sid: "StoreRunReports",
      // Write-only, under reports/ only: the Image Builder logs beside them stay out of reach.
      actions: ["s3:PutObject"],
      resources: [`${inputs.logsBucketArn}/reports/*`],
    }),
    new iam.PolicyStatement({
      sid: "EncryptNotifications",
      // Publishing to an SSE topic needs the customer key through SNS:
      // https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html
      actions: ["kms:GenerateDataKey", "kms:Decrypt"],
      resources: [inputs.notificationKeyArn],
      conditions: { StringEquals: { "kms:ViaService": arns.via("sns", [arns.homeRegion]) } },
    }),
  ];

  const ib = (type: string) =>
    arns.arn("imagebuilder", arns.homeRegion, arns.account, `${type}/${IMAGE_BUILDER_NAME_PREFIX}*`);
  const ownImageBuilder = [
    ib("component"),
    ib("image-recipe"),
    ib("infrastructure-configuration"),
    ib("distribution-configuration"),
    ib("image"),
  ];
  const home = arns.inHomeRegion();
  const imageBuilder = [
    new iam.PolicyStatement({
      sid: "ListImageBuilderResources",
      // The List* calls over a whole resource type have no resource-level permissions.
      actions: [
        "imagebuilder:ListComponents",
        "imagebuilder:ListImageRecipes",
        "imagebuilder:ListInfrastructureConfigurations",
        "imagebuilder:ListDistributionConfigurations",
        "imagebuilder:ListImages",
      ],
      resources: ["*"],
      conditions: home,
    }),
    new iam.PolicyStatement({
      sid: "ReadOwnImageBuilderResources",
      actions: [
        "imagebuilder:GetComponent",
        "imagebuilder:ListComponentBuildVersions",
        "imagebuilder:GetImageRecipe",
        "imagebuilder:GetInfrastructureConfiguration",
        "imagebuilder:GetDistributionConfiguration",
        "imagebuilder:GetImage",
        "imagebuilder:ListImageBuildVersions",
        "imagebuilder:ListTagsForResource",
      ],
      resources: ownImageBuilder,
      conditions: home,
    }),
    new iam.PolicyStatement({
      sid: "ManageOwnImageBuilderResources",
      // Names are ops-rig-<component> and ops-rig-<toolset>-<base>-<arch> (DESIGN), and an image's
      // ARN is named after its recipe, so one prefix covers everything the pipeline creates.
      actions: [
        "imagebuilder:CreateComponent",
        "imagebuilder:CreateImageRecipe",
        "imagebuilder:CreateInfrastructureConfiguration",
        "imagebuilder:UpdateInfrastructureConfiguration",
        "imagebuilder:CreateDistributionConfiguration",
        "imagebuilder:UpdateDistributionConfiguration",
        "imagebuilder:CreateImage",
        "imagebuilder:CancelImageCreation",
        "imagebuilder:TagResource",
      ],
      resources: ownImageBuilder,
      conditions: home,
    }),
    new iam.PolicyStatement({
      sid: "PassOnlyTheBuildInstanceRole",
      // Infrastructure configurations name an instance profile; Image Builder checks that the caller
      // may pass its role to EC2 (AWSImageBuilderFullAccess conditions PassRole on ec2.amazonaws.com;
      // imagebuilder.amazonaws.com is allowed too in case a region checks that service instead).
      actions: ["iam:PassRole"],
      resources: [inputs.buildRoleArn],
      conditions: {
        StringEquals: { "iam:PassedToService": ["ec2.amazonaws.com", "imagebuilder.amazonaws.com"] },
      },
    }),
    new iam.PolicyStatement({
      sid: "ReadTheBuildInstanceProfile",
      actions: ["iam:GetInstanceProfile"],
      resources: [inputs.buildInstanceProfileArn],
    }),
    new iam.PolicyStatement({
      sid: "ImageBuilderServiceLinkedRole",
      // CreateImage creates Image Builder's service-linked role on first use (AWSImageBuilderFullAccess
      // grants the same). iam:AWSServiceName exists for CreateServiceLinkedRole only.
      actions: ["iam:CreateServiceLinkedRole"],
      resources: [arns.iam("role/aws-service-role/imagebuilder.amazonaws.com/AWSServiceRoleForImageBuilder")],
      conditions: { StringEquals: { "iam:AWSServiceName": "imagebuilder.amazonaws.com" } },
    }),
    new iam.PolicyStatement({
      sid: "ReadImageBuilderServiceLinkedRole",
      // ... and checks it with GetRole, which has no iam:AWSServiceName (the ARN pins the role).
      actions: ["iam:GetRole"],
      resources: [arns.iam("role/aws-service-role/imagebuilder.amazonaws.com/AWSServiceRoleForImageBuilder")],
    }),
  ];

  // CopyImage with a customer key (or from an AMI encrypted with one) makes EC2 use the key on the
  // caller's behalf: https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html
  const viaEc2 = { StringEquals: { "kms:ViaService": arns.via("ec2") } };
  const kms = copyKeyGroups(arns, inputs.copyKmsKeys).flatMap((group, index) => {
    const suffix = index === 0 ? "" : String(index + 1);
    return [
      new iam.PolicyStatement({
        sid: `UseAmiKeysThroughEc2${suffix}`,
        actions: [
          "kms:DescribeKey",
          "kms:Decrypt",
          "kms:ReEncryptFrom",
          "kms:ReEncryptTo",
          "kms:GenerateDataKeyWithoutPlaintext",
        ],
        resources: group.resources,
        conditions: conditions(regional, viaEc2, group.conditions),
      }),
      new iam.PolicyStatement({
        sid: `GrantAmiKeysToEc2${suffix}`,
        actions: ["kms:CreateGrant"],
        resources: group.resources,
        conditions: conditions(regional, viaEc2, group.conditions, {
          Bool: { "kms:GrantIsForAWSResource": "true" },
        }),
      }),
    ];
  });

  return {
    ec2,
    "ssm-sns": ssmAndSns,
    imagebuilder: imageBuilder,
    kms,
    share: shareStatements(inputs, toolsetParameterArns),
  };
}

/**
 * Sharing with other accounts of the organization (and unsharing). Reading is always allowed (a run
 * after `share:` is removed must find what to unshare); what can be shared is pinned where AWS has
 * condition keys for it: RAM to the configured principals, ops-rig's parameters and no external
 * principals; KMS grants to the configured accounts' roots and the operations EC2 launches need.
 * ModifyImageAttribute has no condition key for whom a launch permission names, so it is limited to
 * ops-rig-tagged images (IAM cannot keep the pipeline from naming another account there: the account's
 * "block public access for AMIs" setting and an SCP are the backstop, see README).
 */
function shareStatements(
  inputs: PipelinePolicyInputs,
  toolsetParameterArns: string[],
): iam.PolicyStatement[] {
  const { arns } = inputs;
  const regional = arns.inRegions();
  const share = inputs.share;
  const principals = share
    ? [
        ...(share.organizationArn ? [share.organizationArn] : []),
        ...share.organizationalUnitArns,
        ...share.accountIds,
      ]
    : [];
  const statements = [
    new iam.PolicyStatement({
      sid: "ReadAndChangeLaunchPermissionsOfOwnImages",
      actions: ["ec2:DescribeImageAttribute", "ec2:ModifyImageAttribute"],
      resources: [arns.ec2Public("image")],
      conditions: conditions(regional, hasTag(TAGS.toolset)),
    }),
    new iam.PolicyStatement({
      sid: "ReadParameterShares",
      // RAM's Get calls over shares and associations have no resource-level permissions.
      actions: ["ram:GetResourceShares", "ram:GetResourceShareAssociations"],
      resources: ["*"],
      conditions: regional,
    }),
    new iam.PolicyStatement({
      sid: "UnshareParameters",
      actions: ["ram:DisassociateResourceShare"],
      resources: [arns.arn("ram", "*", arns.account, "resource-share/*")],
      conditions: conditions(regional, { StringEquals: { "ram:ResourceShareName": PARAMETER_SHARE_NAME } }),
    }),
    new iam.PolicyStatement({
      sid: "ParameterResourcePoliciesForRam",
      actions: ["ssm:PutResourcePolicy", "ssm:GetResourcePolicies", "ssm:DeleteResourcePolicy"],
      resources: toolsetParameterArns,
    }),
    ...copyKeyGroups(arns, inputs.copyKmsKeys).flatMap((group, index) => {
      const suffix = index === 0 ? "" : String(index + 1);
      return [
        new iam.PolicyStatement({
          sid: `ReadCopyKeyGrantsAndPolicy${suffix}`,
          actions: ["kms:DescribeKey", "kms:ListGrants", "kms:GetKeyPolicy"],
          resources: group.resources,
          conditions: conditions(regional, group.conditions),
        }),
        new iam.PolicyStatement({
          sid: `RevokeCopyKeyGrants${suffix}`,
          actions: ["kms:RevokeGrant"],
          resources: group.resources,
          conditions: conditions(regional, group.conditions),
        }),
        ...(share && share.accountIds.length > 0
          ? [
              new iam.PolicyStatement({
                sid: `GrantCopyKeysToSharedAccounts${suffix}`,
                actions: ["kms:CreateGrant"],
                resources: group.resources,
                conditions: conditions(regional, group.conditions, {
                  StringEquals: {
                    "kms:GranteePrincipal": share.accountIds.map(
                      (a) => `arn:${arns.partition}:iam::${a}:root`,
                    ),
                  },
                  "ForAllValues:StringEquals": { "kms:GrantOperations": [...MEMBER_KEY_OPERATIONS] },
                }),
              }),
            ]
          : []),
      ];
    }),
  ];
  if (principals.length > 0) {
    // ram:Principal and ram:ResourceArn are single-valued: the adapter names at most one principal
    // and one resource per request, so each is authorized on its own. IfExists: a request that adds
    // only a principal (or only a parameter) has no value for the other key.
    const withinTheOrganization = {
      StringEqualsIfExists: { "ram:Principal": principals },
      StringLikeIfExists: { "ram:ResourceArn": toolsetParameterArns },
    };
    statements.push(
      new iam.PolicyStatement({
        sid: "ShareParametersWithTheConfiguredPrincipals",
        // CreateResourceShare has no resource type: Resource * narrowed by RAM's request keys.
        actions: ["ram:CreateResourceShare"],
        resources: ["*"],
        conditions: conditions(regional, withinTheOrganization, {
          Bool: { "ram:RequestedAllowsExternalPrincipals": "false" },
        }),
      }),
      new iam.PolicyStatement({
        sid: "AddToTheParameterShare",
        actions: ["ram:AssociateResourceShare"],
        resources: [arns.arn("ram", "*", arns.account, "resource-share/*")],
        conditions: conditions(regional, withinTheOrganization, {
          StringEquals: { "ram:ResourceShareName": PARAMETER_SHARE_NAME },
          Bool: { "ram:AllowsExternalPrincipals": "false" },
        }),
      }),
    );
  }
  return statements;
}

interface KeyGroup {
  readonly resources: string[];
  readonly conditions: Record<string, Record<string, unknown>>;
}

/**
 * Keys named in pipeline.yaml narrow the KMS statements to exactly those keys; without any, any
 * customer key of this account in the configured regions, and only through EC2. Aliases authorize
 * through `kms:ResourceAliases` (KMS evaluates the key's ARN, never the alias's), so they get a
 * group of their own.
 */
export function copyKeyGroups(arns: Arns, keys: Readonly<Record<string, string>>): KeyGroup[] {
  const entries = Object.entries(keys);
  if (entries.length === 0)
    return [{ resources: [arns.arn("kms", "*", arns.account, "key/*")], conditions: {} }];
  const exact = new Set<string>();
  const aliasRegions = new Set<string>();
  const aliases = new Set<string>();
  for (const [region, key] of entries) {
    const aliasArn = /^arn:[^:]+:kms:[^:]+:\d{12}:(alias\/.+)$/.exec(key);
    if (key.startsWith("arn:") && key.includes(":key/")) exact.add(key);
    else if (aliasArn?.[1] || key.startsWith("alias/")) {
      aliases.add(aliasArn?.[1] ?? key);
      aliasRegions.add(arns.arn("kms", region, arns.account, "key/*"));
    } else exact.add(arns.arn("kms", region, arns.account, `key/${key}`));
  }
  const groups: KeyGroup[] = [];
  if (exact.size > 0) groups.push({ resources: [...exact], conditions: {} });
  if (aliases.size > 0) {
    groups.push({
      resources: [...aliasRegions],
      conditions: { "ForAnyValue:StringEquals": { "kms:ResourceAliases": [...aliases] } },
    });
  }
  return groups;
}
