import { Aws, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Tags } from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { RigApi } from "./api.js";
import type { LambdaBundle } from "./bundle.js";
import { RigLaunchTemplates } from "./launch-templates.js";
import { NamedAcknowledgements } from "./nag.js";
import {
  EVIDENCE_ANALYST_ROLE,
  EVIDENCE_KEY_ALIAS,
  EVIDENCE_WRITERS,
  evidenceBucketName,
  MANAGED_BY_OPS_RIG,
  MANAGED_GROUPS,
  RESPONDER_PREFIX_LIST,
  type ResponderAction,
  responderRoleName,
  SESSION_TAGS,
  TAGS,
} from "./names.js";
import { partitionOf, type RigLine } from "./settings.js";
import { RUNTIME } from "./stack.js";

export interface RegionalResponderProps {
  /** Days evidence stays locked (Object Lock COMPLIANCE). */
  readonly lockDays: number;
  /** The responders' VPN ranges (the region's prefix list). */
  readonly responderCidrs: readonly string[];
  /** VPCs of this region that get the ops-rig SSH-route and quarantine groups. */
  readonly vpcIds: readonly string[];
  /**
   * The organization (`o-...`) whose member-account responder roles act in this region: the
   * evidence bucket and key admit their writes, each under its session's case. Absent: none.
   */
  readonly memberOrganizationId?: string;
}

/** A member account's role of this name, in any account (the organization condition narrows it). */
export const memberRolePattern = (partition: string, action: ResponderAction) =>
  `arn:${partition}:iam::*:role/${responderRoleName(action)}`;

/** The key actions an account administrator keeps: manage the key, never use it. */
export const KEY_ADMIN_ACTIONS = [
  "kms:DescribeKey",
  "kms:GetKeyPolicy",
  "kms:GetKeyRotationStatus",
  "kms:ListResourceTags",
  "kms:ListGrants",
  "kms:PutKeyPolicy",
  "kms:EnableKeyRotation",
  "kms:TagResource",
  "kms:UntagResource",
  "kms:UpdateKeyDescription",
  "kms:CreateAlias",
  "kms:UpdateAlias",
  "kms:DeleteAlias",
  "kms:CancelKeyDeletion",
] as const;

/**
 * What responders need in every region they work in, kept in the region (captures are large and
 * cross-region transfer costs time and money): the evidence bucket and its key, the responders'
 * prefix list, and the ops-rig security groups of the listed VPCs. A construct so that it can sit in
 * any stack of the right region (today one small stack per region; later the regional API stacks).
 *
 * The evidence bucket is write-only for the memory-capture role and readable only by the analyst
 * role, by explicit denies that also bind account administrators; Object Lock in COMPLIANCE mode
 * keeps every version for the configured days whoever asks. Its key's policy names its users and
 * gives the account administration but no use.
 */
export class RegionalResponderResources extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogs: s3.Bucket;
  readonly key: kms.Key;
  readonly prefixList: ec2.CfnPrefixList;
  readonly groups: ec2.SecurityGroup[] = [];
  readonly acknowledgements = new NamedAcknowledgements();

  constructor(scope: Construct, id: string, props: RegionalResponderProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const partition = partitionOf(stack.region);
    const role = (name: string) => `arn:${partition}:iam::${Aws.ACCOUNT_ID}:role/${name}`;
    // Reports and chain-of-custody entries come from these roles too (each under its session's case).
    const writers = EVIDENCE_WRITERS.map((action) => role(responderRoleName(action)));
    const org = props.memberOrganizationId;
    // The member accounts' evidence writers: same role names, any account of the organization.
    const memberWriters = org ? EVIDENCE_WRITERS.map((action) => memberRolePattern(partition, action)) : [];
    const fromMembers = {
      StringEquals: { "aws:PrincipalOrgID": org },
      ArnLike: { "aws:PrincipalArn": memberWriters },
    };
    const analyst = role(EVIDENCE_ANALYST_ROLE);
    const bucketName = evidenceBucketName(Aws.ACCOUNT_ID, stack.region);
    const bucketArn = `arn:${partition}:s3:::${bucketName}`;
    const viaS3 = {
      StringEquals: { "kms:ViaService": `s3.${stack.region}.${stack.urlSuffix}` },
      ArnEquals: { "kms:EncryptionContext:aws:s3:arn": bucketArn },
    };

    this.key = new kms.Key(this, "EvidenceKey", {
      description: "ops-rig evidence (memory captures) in this region",
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
      alias: EVIDENCE_KEY_ALIAS,
      // An explicit policy replaces CDK's default (kms:* for the account root, which would let any
      // IAM policy of the account decrypt evidence).
      policy: new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({
            sid: "AccountAdministersButCannotUse",
            principals: [new iam.AccountRootPrincipal()],
            actions: [...KEY_ADMIN_ACTIONS],
            resources: ["*"],
          }),
          new iam.PolicyStatement({
            sid: "CapturePathEncryptsThroughS3",
            principals: writers.map((w) => new iam.ArnPrincipal(w)),
            actions: ["kms:GenerateDataKey", "kms:Decrypt"],
            resources: ["*"],
            conditions: viaS3,
          }),
          ...(org
            ? [
                new iam.PolicyStatement({
                  sid: "MemberCapturePathsEncryptThroughS3",
                  // Principal * pinned by aws:PrincipalOrgID and aws:PrincipalArn: the member roles
                  // cannot be named one by one (accounts join the organization after this deploy).
                  principals: [new iam.AnyPrincipal()],
                  actions: ["kms:GenerateDataKey", "kms:Decrypt"],
                  resources: ["*"],
                  conditions: {
                    StringEquals: { ...viaS3.StringEquals, "aws:PrincipalOrgID": org },
                    ArnEquals: viaS3.ArnEquals,
                    ArnLike: { "aws:PrincipalArn": memberWriters },
                  },
                }),
              ]
            : []),
          new iam.PolicyStatement({
            sid: "AnalystDecryptsThroughS3",
            principals: [new iam.ArnPrincipal(analyst)],
            actions: ["kms:Decrypt"],
            resources: ["*"],
            conditions: viaS3,
          }),
        ],
      }),
    });

    this.accessLogs = new s3.Bucket(this, "AccessLogsBucket", {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ id: "expire", expiration: Duration.days(365) }],
    });
    this.acknowledgements.add(
      this.accessLogs,
      "AwsSolutions-S1",
      "This bucket receives the evidence bucket's server access logs; logging it into itself would loop.",
    );

    this.bucket = new s3.Bucket(this, "EvidenceBucket", {
      bucketName,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      versioned: true,
      objectLockEnabled: true,
      objectLockDefaultRetention: s3.ObjectLockRetention.compliance(Duration.days(props.lockDays)),
      serverAccessLogsBucket: this.accessLogs as s3.IBucket,
      serverAccessLogsPrefix: "evidence/",
      lifecycleRules: [
        { id: "abort-incomplete-uploads", abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
    });
    const deny = (sid: string, actions: string[], conditionBlock: Record<string, Record<string, unknown>>) =>
      this.bucket.addToResourcePolicy(
        new iam.PolicyStatement({
          sid,
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions,
          resources: [bucketArn, `${bucketArn}/*`],
          conditions: conditionBlock,
        }),
      );
    deny(
      "NobodyButTheAnalystReads",
      ["s3:GetObject*", "s3:ListBucket*", "s3:ListMultipartUploadParts", "s3:RestoreObject"],
      { ArnNotEquals: { "aws:PrincipalArn": analyst } },
    );
    deny("NobodyButTheAnalystDeletes", ["s3:DeleteObject*"], {
      ArnNotEquals: { "aws:PrincipalArn": analyst },
    });
    deny(
      "NobodyButTheCapturePathWrites",
      ["s3:PutObject"],
      org
        ? {
            // Member writers are admitted only by the allow below (organization and case); the
            // security account's own writers by their identity policies.
            ArnNotLike: { "aws:PrincipalArn": [...writers, ...memberWriters] },
          }
        : { ArnNotEquals: { "aws:PrincipalArn": writers } },
    );
    if (org) {
      // Cross-account writes need the bucket's allow: the member writers of the organization, each
      // under its own session's case only (what folder within the case, their identity policy says).
      this.bucket.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: "MemberCapturePathsWriteTheirCase",
          principals: [new iam.AnyPrincipal()],
          actions: ["s3:PutObject", "s3:AbortMultipartUpload"],
          resources: [`${bucketArn}/cases/\${aws:PrincipalTag/${SESSION_TAGS.case}}/*`],
          conditions: fromMembers,
        }),
      );
    }
    deny("NobodyShortensTheLock", ["s3:PutObjectRetention", "s3:BypassGovernanceRetention"], {
      Null: { "aws:PrincipalArn": "false" },
    });
    // A writer that names an encryption explicitly must name this key (absent headers mean the
    // bucket default, this key; negated operators alone would also match absent headers).
    deny("OnlyThisKeyEncrypts", ["s3:PutObject"], {
      Null: { "s3:x-amz-server-side-encryption": "false" },
      StringNotEquals: { "s3:x-amz-server-side-encryption": "aws:kms" },
    });
    deny("OnlyThisKeyIsNamed", ["s3:PutObject"], {
      Null: { "s3:x-amz-server-side-encryption-aws-kms-key-id": "false" },
      StringNotEquals: { "s3:x-amz-server-side-encryption-aws-kms-key-id": this.key.keyArn },
    });

    this.prefixList = new ec2.CfnPrefixList(this, "ResponderPrefixList", {
      prefixListName: RESPONDER_PREFIX_LIST,
      addressFamily: props.responderCidrs.some((cidr) => cidr.includes(":")) ? "IPv6" : "IPv4",
      maxEntries: Math.max(10, props.responderCidrs.length),
      entries: props.responderCidrs.map((cidr) => ({ cidr, description: "responder VPN" })),
    });

    // The only groups responders may swap in: fixed content (SSH from the prefix list, no egress),
    // written by CloudFormation, never by a responder role.
    props.vpcIds.forEach((vpcId, index) => {
      const vpc = ec2.Vpc.fromVpcAttributes(this, `Vpc${index}`, {
        vpcId,
        availabilityZones: [stack.region],
      });
      for (const purpose of ["ssh-route", "quarantine"] as const) {
        const group = new ec2.SecurityGroup(this, `${purpose}-${vpcId}`, {
          vpc,
          securityGroupName: MANAGED_GROUPS[purpose],
          description:
            purpose === "ssh-route"
              ? "ops-rig SSH route: SSH from the responders' prefix list only"
              : "ops-rig quarantine: SSH from the responders' prefix list, nothing out",
          allowAllOutbound: false,
        });
        group.addIngressRule(
          ec2.Peer.prefixList(this.prefixList.attrPrefixListId),
          ec2.Port.tcp(22),
          "responders",
        );
        Tags.of(group).add(TAGS.purpose, purpose);
        Tags.of(group).add(TAGS.managedBy, MANAGED_BY_OPS_RIG);
        this.groups.push(group);
      }
    });
  }
}

export interface RegionalStackProps extends StackProps, RegionalResponderProps {
  /** The pipeline's parameter prefix: the templates launch `resolve:ssm:<prefix>/<toolset>/ami-id`. */
  readonly parameterPrefix: string;
  readonly rigs: readonly RigLine[];
  /** The API's bundle (src/lambda/api.ts with the project's recipes). */
  readonly apiBundle: LambdaBundle;
  /** Days the API's log group keeps events. */
  readonly logDays: number;
  /** SSO roles admitted by the API URL's resource policy. */
  readonly callerPrincipalArns: readonly string[];
}

/** One per configured region: the regional responder resources (deployed after the home stack's roles). */
export class OpsRigRegionalStack extends Stack {
  readonly resources: RegionalResponderResources;
  readonly launchTemplates: RigLaunchTemplates;
  readonly api: RigApi;
  readonly acknowledgements: NamedAcknowledgements;

  constructor(scope: Construct, id: string, props: RegionalStackProps) {
    super(scope, id, props);
    this.resources = new RegionalResponderResources(this, "Responders", props);
    this.acknowledgements = this.resources.acknowledgements;
    this.launchTemplates = new RigLaunchTemplates(this, "LaunchTemplates", {
      parameterPrefix: props.parameterPrefix,
      rigs: props.rigs,
      prefixListId: this.resources.prefixList.attrPrefixListId,
      vpcIds: props.vpcIds,
    });
    this.api = new RigApi(this, "Api", {
      bundle: props.apiBundle,
      logDays: props.logDays,
      parameterPrefix: props.parameterPrefix,
      templates: this.launchTemplates.templates.map((t) => t.template),
      rigGroups: this.launchTemplates.rigGroups,
      callerPrincipalArns: props.callerPrincipalArns,
      runtime: RUNTIME,
    });
    for (const a of this.api.acknowledgements.list) this.acknowledgements.add(a.scope, a.id, a.reason);
    new CfnOutput(this, "ApiUrl", {
      value: this.api.url.url,
      description: "ops-rig --api <this>: launch (and the responder outcomes) here, SigV4-signed",
    });
    for (const { name, template } of this.launchTemplates.templates) {
      new CfnOutput(this, `LaunchTemplate-${name}`, {
        value: template.ref,
        description: `launch template ${name}: a locked-down rig from the published AMI`,
      });
    }
    new CfnOutput(this, "EvidenceBucketName", {
      value: this.resources.bucket.bucketName,
      description: "write-only evidence bucket of this region",
    });
    new CfnOutput(this, "ResponderPrefixListId", {
      value: this.resources.prefixList.attrPrefixListId,
      description: "responders' VPN ranges in this region",
    });
  }
}
