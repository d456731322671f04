import * as iam from "aws-cdk-lib/aws-iam";
import type * as kms from "aws-cdk-lib/aws-kms";
import type * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { type Arns, conditions, hasTag, requestsTag, requestTagEquals, tagEquals } from "./arns.js";
import {
  FORENSIC,
  FORENSIC_INSTANCE_PROFILE,
  RESPONDER_ACTIONS,
  type ResponderAction,
  responderRoleName,
  TAGS,
} from "./names.js";

export interface RespondersProps {
  readonly arns: Arns;
  readonly toolsBucket: s3.IBucket;
  readonly memoryBucket: s3.IBucket;
  readonly memoryKey: kms.IKey;
  readonly parameterPrefix: string;
  /** Extra principals (SSO roles) allowed to assume the responder roles. */
  readonly responderPrincipalArns: readonly string[];
}

/**
 * The forensic instance starts with almost nothing (read the tools bucket, fetch its break-glass key,
 * assume a responder role) and does its work through six narrowly scoped responder roles, one per
 * action of the seed. Each role's policy is also a customer managed policy, so a team can attach the
 * same permissions to roles of its own in other accounts.
 */
export class Responders extends Construct {
  readonly forensicRole: iam.Role;
  readonly forensicProfile: iam.CfnInstanceProfile;
  readonly roles: ReadonlyMap<ResponderAction, iam.Role>;
  readonly policies: ReadonlyMap<ResponderAction, iam.ManagedPolicy>;

  constructor(scope: Construct, id: string, props: RespondersProps) {
    super(scope, id);
    const { arns } = props;

    this.forensicRole = new iam.Role(this, "ForensicInstanceRole", {
      assumedBy: new iam.ServicePrincipal("ec2.amazonaws.com"),
      description:
        "ops-rig forensic instance: reads the tools bucket and assumes responder roles, nothing else",
    });
    // A fixed name: `ops-rig launch` and responders' runbooks start instances with it.
    this.forensicProfile = new iam.CfnInstanceProfile(this, "ForensicInstanceProfile", {
      instanceProfileName: FORENSIC_INSTANCE_PROFILE,
      roles: [this.forensicRole.roleName],
    });

    const roles = new Map<ResponderAction, iam.Role>();
    const policies = new Map<ResponderAction, iam.ManagedPolicy>();
    const statements = responderStatements(props);
    for (const action of RESPONDER_ACTIONS) {
      const policy = new iam.ManagedPolicy(this, `Policy-${action}`, {
        description: `ops-rig responder action "${action}"`,
        statements: statements[action],
      });
      const principals: iam.IPrincipal[] = [
        this.forensicRole,
        ...props.responderPrincipalArns.map((arn) => new iam.ArnPrincipal(arn)),
      ];
      const role = new iam.Role(this, `Role-${action}`, {
        roleName: responderRoleName(action),
        description: `ops-rig responder action "${action}", assumed from the forensic instance`,
        assumedBy: new iam.CompositePrincipal(...principals),
        managedPolicies: [policy],
      });
      roles.set(action, role);
      policies.set(action, policy);
    }
    this.roles = roles;
    this.policies = policies;

    const forensic = new iam.Policy(this, "ForensicInstancePolicy", {
      statements: [
        new iam.PolicyStatement({
          sid: "ReadToolsBucket",
          actions: ["s3:GetObject", "s3:ListBucket"],
          resources: [props.toolsBucket.bucketArn, props.toolsBucket.arnForObjects("*")],
        }),
        new iam.PolicyStatement({
          sid: "AssumeResponderRolesOnly",
          actions: ["sts:AssumeRole"],
          resources: [...roles.values()].map((role) => role.roleArn),
        }),
        new iam.PolicyStatement({
          sid: "FetchBreakGlassKey",
          // components/responder-access.yaml fetches the break-glass public key at boot: SSM parameter
          // -> Secrets Manager secret id -> key. Only names under the ops-rig prefix.
          actions: ["ssm:GetParameter"],
          resources: [arns.arn("ssm", "*", arns.account, `parameter${props.parameterPrefix}/break-glass/*`)],
          conditions: arns.inRegions(),
        }),
        new iam.PolicyStatement({
          sid: "ReadBreakGlassSecret",
          actions: ["secretsmanager:GetSecretValue"],
          resources: [arns.arn("secretsmanager", "*", arns.account, "secret:ops-rig/break-glass*")],
          conditions: arns.inRegions(),
        }),
      ],
    });
    forensic.attachToRole(this.forensicRole);
  }
}

function responderStatements(props: RespondersProps): Record<ResponderAction, iam.PolicyStatement[]> {
  const { arns } = props;
  const regional = arns.inRegions();
  const st = (
    sid: string,
    actions: string[],
    resources: string[],
    ...blocks: Record<string, Record<string, unknown>>[]
  ) => new iam.PolicyStatement({ sid, actions, resources, conditions: conditions(regional, ...blocks) });
  const instances = arns.ec2("instance");
  const volumes = arns.ec2("volume");
  const snapshots = arns.ec2Public("snapshot");
  const securityGroups = arns.ec2("security-group");
  const interfaces = arns.ec2("network-interface");
  const vpcs = arns.ec2("vpc");
  const subnets = arns.ec2("subnet");
  const forensicInstance = tagEquals(TAGS.role, FORENSIC);

  // Security groups responders create for one purpose, and only touch while they carry it.
  const ownGroups = (purpose: "ssh-route" | "quarantine", label: string) => [
    st(`Create${label}Groups`, ["ec2:CreateSecurityGroup"], [vpcs]),
    st(
      `Create${label}GroupsTagged`,
      ["ec2:CreateSecurityGroup"],
      [securityGroups],
      requestTagEquals(TAGS.purpose, purpose),
    ),
    st(`Tag${label}GroupsWhenCreated`, ["ec2:CreateTags"], [securityGroups], {
      StringEquals: { "ec2:CreateAction": "CreateSecurityGroup" },
    }),
    st(
      `Manage${label}Groups`,
      [
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:DeleteSecurityGroup",
      ],
      [securityGroups],
      tagEquals(TAGS.purpose, purpose),
    ),
  ];

  // EBS encryption with customer keys: EC2 uses the key for the caller when it snapshots, creates or
  // attaches encrypted volumes (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html).
  const anyKey = arns.arn("kms", "*", arns.account, "key/*");
  const viaEc2 = { StringEquals: { "kms:ViaService": arns.via("ec2") } };

  return {
    // (1) Open an SSH route: security groups allowing SSH from the responder prefix list, and network
    // interfaces that put a forensic instance into the subnet under investigation.
    "ssh-route": [
      st(
        "DescribeNetwork",
        [
          "ec2:DescribeInstances",
          "ec2:DescribeSecurityGroups",
          "ec2:DescribeSecurityGroupRules",
          "ec2:DescribeNetworkInterfaces",
          "ec2:DescribeSubnets",
          "ec2:DescribeVpcs",
          "ec2:DescribeManagedPrefixLists",
        ],
        ["*"],
      ),
      ...ownGroups("ssh-route", "SshRoute"),
      st("CreateInterfacesInSubnets", ["ec2:CreateNetworkInterface"], [subnets]),
      st(
        "CreateInterfacesWithSshRouteGroups",
        ["ec2:CreateNetworkInterface"],
        [securityGroups],
        tagEquals(TAGS.purpose, "ssh-route"),
      ),
      st(
        "CreateTaggedInterfaces",
        ["ec2:CreateNetworkInterface"],
        [interfaces],
        requestTagEquals(TAGS.purpose, "ssh-route"),
      ),
      st("TagInterfacesWhenCreated", ["ec2:CreateTags"], [interfaces], {
        StringEquals: { "ec2:CreateAction": "CreateNetworkInterface" },
      }),
      st(
        "AttachInterfacesToForensicInstances",
        ["ec2:AttachNetworkInterface", "ec2:DetachNetworkInterface"],
        [instances],
        forensicInstance,
      ),
      st(
        "UseSshRouteInterfaces",
        ["ec2:AttachNetworkInterface", "ec2:DetachNetworkInterface", "ec2:DeleteNetworkInterface"],
        [interfaces],
        tagEquals(TAGS.purpose, "ssh-route"),
      ),
      st(
        "AddSshRouteGroupsToForensicInterfaces",
        ["ec2:ModifyNetworkInterfaceAttribute"],
        [interfaces],
        tagEquals(TAGS.role, FORENSIC),
      ),
      st(
        "WithSshRouteGroupsOnly",
        ["ec2:ModifyNetworkInterfaceAttribute"],
        [securityGroups],
        tagEquals(TAGS.purpose, "ssh-route"),
      ),
    ],

    // (2) Snapshot volumes and attach copies read-only. EBS has no read-only attachment: the copy is
    // attached to forensic instances only, and the image never auto-activates evidence volumes
    // (components/hardening.yaml) so responders mount them `ro,noload`.
    snapshot: [
      st(
        "DescribeVolumes",
        [
          "ec2:DescribeVolumes",
          "ec2:DescribeSnapshots",
          "ec2:DescribeInstances",
          "ec2:DescribeAvailabilityZones",
        ],
        ["*"],
      ),
      // Snapshotting reads the source volume and changes nothing on it: any volume, any instance.
      st("SnapshotAnyVolume", ["ec2:CreateSnapshot", "ec2:CreateSnapshots"], [volumes, instances]),
      st(
        "SnapshotsCarryTheCase",
        ["ec2:CreateSnapshot", "ec2:CreateSnapshots"],
        [snapshots],
        requestsTag(TAGS.case),
      ),
      st("TagEvidenceWhenCreated", ["ec2:CreateTags"], [snapshots, volumes], {
        StringEquals: { "ec2:CreateAction": ["CreateSnapshot", "CreateSnapshots", "CreateVolume"] },
      }),
      st("VolumesFromEvidenceSnapshots", ["ec2:CreateVolume"], [snapshots], hasTag(TAGS.case)),
      st("EvidenceVolumesCarryTheCase", ["ec2:CreateVolume"], [volumes], requestsTag(TAGS.case)),
      st(
        "AttachToForensicInstances",
        ["ec2:AttachVolume", "ec2:DetachVolume"],
        [instances],
        forensicInstance,
      ),
      st(
        "AttachEvidenceVolumesOnly",
        ["ec2:AttachVolume", "ec2:DetachVolume", "ec2:DeleteVolume"],
        [volumes],
        hasTag(TAGS.case),
      ),
      st(
        "UseVolumeKeysThroughEc2",
        [
          "kms:DescribeKey",
          "kms:Decrypt",
          "kms:ReEncryptFrom",
          "kms:ReEncryptTo",
          "kms:GenerateDataKeyWithoutPlaintext",
        ],
        [anyKey],
        viaEc2,
      ),
      st("GrantVolumeKeysToEc2", ["kms:CreateGrant"], [anyKey], viaEc2, {
        Bool: { "kms:GrantIsForAWSResource": "true" },
      }),
    ],

    // (3) Memory capture to a write-only bucket: put objects, never read or list them. Multipart
    // uploads with SSE-KMS also need kms:Decrypt (https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html).
    "memory-capture": [
      new iam.PolicyStatement({
        sid: "WriteCapturesOnly",
        actions: ["s3:PutObject", "s3:AbortMultipartUpload"],
        resources: [props.memoryBucket.arnForObjects("*")],
      }),
      new iam.PolicyStatement({
        sid: "EncryptCapturesThroughS3",
        actions: ["kms:GenerateDataKey", "kms:Decrypt"],
        resources: [props.memoryKey.keyArn],
        conditions: { StringEquals: { "kms:ViaService": arns.via("s3", [arns.homeRegion]) } },
      }),
    ],

    // (4) Inspect: describe, CloudWatch metrics and alarms, CloudTrail, Flow Logs and log groups.
    inspect: [
      st(
        "DescribeCompute",
        [
          "ec2:DescribeInstances",
          "ec2:DescribeInstanceAttribute",
          "ec2:DescribeInstanceStatus",
          "ec2:DescribeVolumes",
          "ec2:DescribeSnapshots",
          "ec2:DescribeImages",
          "ec2:DescribeSecurityGroups",
          "ec2:DescribeSecurityGroupRules",
          "ec2:DescribeNetworkInterfaces",
          "ec2:DescribeVpcs",
          "ec2:DescribeSubnets",
          "ec2:DescribeRouteTables",
          "ec2:DescribeNetworkAcls",
          "ec2:DescribeAddresses",
          "ec2:DescribeFlowLogs",
          "ec2:DescribeIamInstanceProfileAssociations",
          "cloudtrail:LookupEvents",
          "cloudtrail:DescribeTrails",
          "cloudwatch:GetMetricData",
          "cloudwatch:GetMetricStatistics",
          "cloudwatch:ListMetrics",
          "cloudwatch:DescribeAlarms",
          "logs:DescribeLogGroups",
          "logs:GetQueryResults",
        ],
        ["*"],
      ),
      st("ConsoleOutput", ["ec2:GetConsoleOutput", "ec2:GetConsoleScreenshot"], [instances]),
      st(
        "TrailStatus",
        ["cloudtrail:GetTrailStatus"],
        [arns.arn("cloudtrail", "*", arns.account, "trail/*")],
      ),
      st(
        "ReadLogGroups",
        ["logs:DescribeLogStreams", "logs:GetLogEvents", "logs:FilterLogEvents", "logs:StartQuery"],
        [arns.arn("logs", "*", arns.account, "log-group:*")],
      ),
    ],

    // (5) Quarantine: swap an instance's security groups (per network interface, which also works for
    // instances with several) for quarantine groups: egress only to the proxy, SSH only from SIRT.
    quarantine: [
      st(
        "DescribeForQuarantine",
        [
          "ec2:DescribeInstances",
          "ec2:DescribeSecurityGroups",
          "ec2:DescribeNetworkInterfaces",
          "ec2:DescribeVpcs",
        ],
        ["*"],
      ),
      ...ownGroups("quarantine", "Quarantine"),
      st("SwapGroupsOfAnyInterface", ["ec2:ModifyNetworkInterfaceAttribute"], [interfaces]),
      st(
        "ForQuarantineGroupsOnly",
        ["ec2:ModifyNetworkInterfaceAttribute"],
        [securityGroups],
        tagEquals(TAGS.purpose, "quarantine"),
      ),
      // Marks the instance so (6) may terminate it; only these two tag keys.
      st("MarkQuarantined", ["ec2:CreateTags"], [instances], {
        "ForAllValues:StringEquals": { "aws:TagKeys": [TAGS.quarantined, TAGS.case] },
      }),
    ],

    // (6) Terminate: only instances already quarantined, and the forensic instances themselves.
    terminate: [
      st("DescribeBeforeTerminating", ["ec2:DescribeInstances"], ["*"]),
      st(
        "TerminateQuarantined",
        ["ec2:TerminateInstances"],
        [instances],
        tagEquals(TAGS.quarantined, "true"),
      ),
      st("TerminateForensicInstances", ["ec2:TerminateInstances"], [instances], forensicInstance),
    ],
  };
}
