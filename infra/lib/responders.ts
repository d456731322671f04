import * as iam from "aws-cdk-lib/aws-iam";
import type * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { type Arns, conditions, tagEquals } from "./arns.js";
import {
  CAPTURE_DOCUMENT,
  CASE_SESSION_FUNCTION,
  CASE_SESSION_ROLE,
  EVIDENCE_ANALYST_ROLE,
  evidenceBucketName,
  FORENSIC,
  FORENSIC_INSTANCE_PROFILE,
  FORENSIC_ROLE,
  HUMAN_ONLY_ACTIONS,
  MANAGED_BY_OPS_RIG,
  ORIGINS,
  RESPONDER_ACTIONS,
  type ResponderAction,
  RIG_ACTIONS,
  responderRoleName,
  SESSION_TAGS,
  STATE_TAGS,
  TAGS,
  withContinuations,
} from "./names.js";

export interface RespondersProps {
  readonly arns: Arns;
  readonly toolsBucket: s3.IBucket;
  readonly parameterPrefix: string;
  /** SSO roles whose sessions count as human responders (their identity provider enforces MFA). */
  readonly responderPrincipalArns: readonly string[];
  /** Where every responder command publishes its audit event (the responders' notification topic) and its key. */
  readonly audit?: { readonly topicArn: string; readonly keyArn: string };
}

/** `${aws:PrincipalTag/ops-rig:case}`: the case of the calling session, as an IAM policy variable. */
export const SESSION_CASE = `\${aws:PrincipalTag/${SESSION_TAGS.case}}`;

/** The resource belongs to the session's case. */
export const sameCase = () => ({ StringEquals: { [`aws:ResourceTag/${TAGS.case}`]: SESSION_CASE } });
/** The new resource is tagged with the session's case. */
export const requestsSameCase = () => ({ StringEquals: { [`aws:RequestTag/${TAGS.case}`]: SESSION_CASE } });
/** The session was assumed by a human (MFA or a configured SSO role), never issued to a rig. */
export const humanSession = () => ({
  StringEquals: { [`aws:PrincipalTag/${SESSION_TAGS.origin}`]: ORIGINS.human },
});

/**
 * The forensic instance starts with almost nothing: read the tools bucket, register for SSM
 * sessions, fetch its break-glass key, and ask the case-session broker for a responder session. It
 * cannot assume a responder role itself: the broker does that with the case of the rig's own
 * `ops-rig:case` tag, so a compromised rig works on its own case or not at all.
 *
 * Six responder roles, one per outcome of the seed, and an evidence analyst role. Every role is
 * assumable by humans (MFA, or a configured SSO role) with a case session tag; inspect, snapshot,
 * memory-capture and the analyst also by the broker for rigs. Every mutating statement is scoped to
 * resources tagged with the session's case.
 */
export class Responders extends Construct {
  readonly forensicRole: iam.Role;
  readonly forensicProfile: iam.CfnInstanceProfile;
  readonly brokerRole: iam.Role;
  readonly analystRole: iam.Role;
  readonly roles: ReadonlyMap<ResponderAction, iam.Role>;
  readonly policies: ReadonlyMap<ResponderAction, iam.ManagedPolicy>;

  constructor(scope: Construct, id: string, props: RespondersProps) {
    super(scope, id);
    const { arns } = props;

    // Fixed names: the per-region evidence keys and buckets name these roles in their policies, and
    // `ops-rig launch` starts rigs with the profile.
    this.forensicRole = new iam.Role(this, "ForensicInstanceRole", {
      roleName: FORENSIC_ROLE,
      assumedBy: new iam.ServicePrincipal("ec2.amazonaws.com"),
      description:
        "ops-rig forensic instance: tools bucket, SSM sessions, break-glass key, case sessions through the broker",
    });
    this.forensicProfile = new iam.CfnInstanceProfile(this, "ForensicInstanceProfile", {
      instanceProfileName: FORENSIC_INSTANCE_PROFILE,
      roles: [this.forensicRole.roleName],
    });
    this.brokerRole = new iam.Role(this, "CaseSessionRole", {
      roleName: CASE_SESSION_ROLE,
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      description: "ops-rig case-session broker: reads a rig's case tag and assumes a responder role for it",
    });

    const humans = humanPrincipals(arns, props.responderPrincipalArns);
    const statements = responderStatements(arns, arns.account);
    const roles = new Map<ResponderAction, iam.Role>();
    const policies = new Map<ResponderAction, iam.ManagedPolicy>();
    const rigActions: readonly ResponderAction[] = RIG_ACTIONS;
    for (const action of RESPONDER_ACTIONS) {
      const forRigs = rigActions.includes(action);
      const policy = new iam.ManagedPolicy(this, `Policy-${action}`, {
        description: `ops-rig responder action "${action}"`,
        statements: [...statements[action], ...auditStatements(props)],
      });
      const role = new iam.Role(this, `Role-${action}`, {
        roleName: responderRoleName(action),
        description: forRigs
          ? `ops-rig responder "${action}": humans with a case tag, rigs through the case-session broker`
          : `ops-rig responder "${action}": human responders only (MFA or SSO), with a case tag`,
        assumedBy: new iam.AccountRootPrincipal(),
        managedPolicies: [policy],
      });
      setTrust(role, trustStatements(humans, forRigs ? this.brokerRole : undefined));
      roles.set(action, role);
      policies.set(action, policy);
    }
    this.roles = roles;
    this.policies = policies;

    this.analystRole = new iam.Role(this, "EvidenceAnalystRole", {
      roleName: EVIDENCE_ANALYST_ROLE,
      description: "ops-rig evidence analyst: the only principal that reads evidence, one case per session",
      assumedBy: new iam.AccountRootPrincipal(),
    });
    setTrust(this.analystRole, trustStatements(humans, this.brokerRole));
    this.analystRole.attachInlinePolicy(
      new iam.Policy(this, "EvidenceAnalystPolicy", { statements: analystStatements(arns) }),
    );

    const brokered = [...rigActions.map((a) => roles.get(a)), this.analystRole].flatMap((r) =>
      r ? [r.roleArn] : [],
    );
    new iam.Policy(this, "CaseSessionPolicy", {
      roles: [this.brokerRole],
      statements: [
        new iam.PolicyStatement({
          sid: "FindTheCallingRig",
          actions: ["ec2:DescribeInstances"],
          resources: ["*"],
          conditions: arns.inRegions(),
        }),
        new iam.PolicyStatement({
          sid: "AssumeRigRolesWithTheRigsCase",
          // The responder roles' trust policies decide which tags a broker session must carry.
          actions: ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
          resources: brokered,
        }),
      ],
    });

    new iam.Policy(this, "ForensicInstancePolicy", {
      roles: [this.forensicRole],
      statements: [
        new iam.PolicyStatement({
          sid: "ReadToolsBucket",
          actions: ["s3:GetObject", "s3:ListBucket"],
          resources: [props.toolsBucket.bucketArn, props.toolsBucket.arnForObjects("*")],
        }),
        new iam.PolicyStatement({
          sid: "RegisterForSsmSessions",
          // Session Manager's minimal instance permissions (Session Manager user guide: "Step 2:
          // Verify or add instance permissions"), not AmazonSSMManagedInstanceCore, whose
          // ssm:GetParameter(s) on * would let a rig read every parameter of the account.
          actions: ["ssm:UpdateInstanceInformation"],
          resources: [arns.ec2("instance")],
          conditions: arns.inRegions(),
        }),
        new iam.PolicyStatement({
          sid: "OpenSsmSessionChannels",
          actions: [
            "ssmmessages:CreateControlChannel",
            "ssmmessages:CreateDataChannel",
            "ssmmessages:OpenControlChannel",
            "ssmmessages:OpenDataChannel",
          ],
          resources: ["*"],
          conditions: arns.inRegions(),
        }),
        new iam.PolicyStatement({
          sid: "AskTheBrokerForACaseSession",
          actions: ["lambda:InvokeFunctionUrl"],
          resources: [arns.arn("lambda", arns.homeRegion, arns.account, `function:${CASE_SESSION_FUNCTION}`)],
          conditions: { StringEquals: { "lambda:FunctionUrlAuthType": "AWS_IAM" } },
        }),
        new iam.PolicyStatement({
          sid: "InvokeTheBrokerThroughItsUrlOnly",
          // Function URLs created since late 2025 also check lambda:InvokeFunction; only through the URL.
          actions: ["lambda:InvokeFunction"],
          resources: [arns.arn("lambda", arns.homeRegion, arns.account, `function:${CASE_SESSION_FUNCTION}`)],
          conditions: { Bool: { "lambda:InvokedViaFunctionUrl": "true" } },
        }),
        new iam.PolicyStatement({
          sid: "FetchBreakGlassKey",
          // components/responder-access.yaml retries the fetch on a timer: SSM parameter -> Secrets
          // Manager secret id -> key. The SSH CA baked into the image needs no AWS API at all.
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
  }
}

/** One audit event per command, on the responders' topic (encrypted: its key through SNS). */
function auditStatements(props: RespondersProps): iam.PolicyStatement[] {
  if (!props.audit) return [];
  const { arns } = props;
  return [
    new iam.PolicyStatement({
      sid: "PublishTheAuditEvent",
      actions: ["sns:Publish"],
      resources: [props.audit.topicArn],
    }),
    new iam.PolicyStatement({
      sid: "EncryptTheAuditEvent",
      actions: ["kms:GenerateDataKey", "kms:Decrypt"],
      resources: [props.audit.keyArn],
      conditions: { StringEquals: { "kms:ViaService": arns.via("sns", [arns.homeRegion]) } },
    }),
  ];
}

export interface HumanPrincipals {
  /** IAM users and roles of this account, with MFA. */
  readonly account: iam.IPrincipal;
  /** SSO roles (MFA at the identity provider). */
  readonly sso: readonly iam.IPrincipal[];
}

/** `account`: the account whose IAM principals (with MFA) count as humans; the roles' own by default. */
export function humanPrincipals(
  arns: Arns,
  ssoRoles: readonly string[],
  account = arns.account,
): HumanPrincipals {
  return {
    account: new iam.ArnPrincipal(`arn:${arns.partition}:iam::${account}:root`),
    sso: ssoRoles.map((arn) => new iam.ArnPrincipal(arn)),
  };
}

/** The tags a session request must carry, by origin (AssumeRole and TagSession both check them). */
function sessionTagConditions(origin: "human" | "rig"): Record<string, Record<string, unknown>> {
  const keys =
    origin === "rig"
      ? [SESSION_TAGS.case, SESSION_TAGS.origin, SESSION_TAGS.rig]
      : [SESSION_TAGS.case, SESSION_TAGS.origin];
  return {
    StringEquals: { [`aws:RequestTag/${SESSION_TAGS.origin}`]: ORIGINS[origin] },
    Null: Object.fromEntries(keys.map((key) => [`aws:RequestTag/${key}`, "false"])),
    "ForAllValues:StringEquals": { "aws:TagKeys": keys },
  };
}

/**
 * Trust statements: humans (MFA or SSO), and the broker for rigs when given (its role ARN). `extra`
 * conditions join every statement (member accounts add the organization).
 */
export function trustStatements(
  humans: HumanPrincipals,
  broker: iam.IRole | string | undefined,
  extra: Record<string, Record<string, unknown>> = {},
): iam.PolicyStatement[] {
  const out: iam.PolicyStatement[] = [];
  const mfa = { Bool: { "aws:MultiFactorAuthPresent": "true" } };
  const brokerPrincipal =
    broker === undefined
      ? undefined
      : new iam.ArnPrincipal(typeof broker === "string" ? broker : broker.roleArn);
  for (const action of ["sts:AssumeRole", "sts:TagSession"]) {
    const verb = action === "sts:AssumeRole" ? "Assume" : "Tag";
    out.push(
      new iam.PolicyStatement({
        sid: `HumansWithMfa${verb}`,
        principals: [humans.account],
        actions: [action],
        conditions: conditions(mfa, sessionTagConditions("human"), extra),
      }),
    );
    if (humans.sso.length > 0) {
      out.push(
        new iam.PolicyStatement({
          sid: `SsoResponders${verb}`,
          principals: [...humans.sso],
          actions: [action],
          conditions: conditions(sessionTagConditions("human"), extra),
        }),
      );
    }
    if (brokerPrincipal) {
      out.push(
        new iam.PolicyStatement({
          sid: `RigsThroughTheBroker${verb}`,
          principals: [brokerPrincipal],
          actions: [action],
          conditions: conditions(sessionTagConditions("rig"), extra),
        }),
      );
    }
  }
  if (brokerPrincipal) {
    out.push(
      new iam.PolicyStatement({
        sid: "RigSessionsNameTheRig",
        principals: [brokerPrincipal],
        actions: ["sts:SetSourceIdentity"],
        conditions: conditions({ StringLike: { "sts:SourceIdentity": "i-*" } }, extra),
      }),
    );
  }
  return out;
}

/** Replaces the role's trust policy (CDK's assumedBy allows one principal kind per statement). */
export function setTrust(role: iam.Role, statements: iam.PolicyStatement[]): void {
  const cfn = role.node.defaultChild as iam.CfnRole;
  cfn.assumeRolePolicyDocument = new iam.PolicyDocument({ statements });
}

/**
 * Every configured region's evidence bucket (deterministic names: the buckets live in regional
 * stacks) of the account that keeps the evidence: the roles' own, or the security account's for
 * member-account roles.
 */
export function evidenceBucketArns(arns: Arns, evidenceAccount = arns.account): string[] {
  return arns.regions.map(
    (region) => `arn:${arns.partition}:s3:::${evidenceBucketName(evidenceAccount, region)}`,
  );
}

function evidenceKeyStatement(
  arns: Arns,
  sid: string,
  actions: string[],
  evidenceAccount = arns.account,
): iam.PolicyStatement {
  // S3 uses the bucket's key with the bucket ARN as encryption context (S3 Bucket Keys), and the key
  // policy in each region names the roles allowed: the key id need not be known here.
  return new iam.PolicyStatement({
    sid,
    actions,
    resources: arns.regions.map((region) => arns.arn("kms", region, evidenceAccount, "key/*")),
    conditions: {
      StringEquals: { "kms:ViaService": arns.via("s3") },
      ArnEquals: { "kms:EncryptionContext:aws:s3:arn": evidenceBucketArns(arns, evidenceAccount) },
    },
  });
}

function analystStatements(arns: Arns): iam.PolicyStatement[] {
  const buckets = evidenceBucketArns(arns);
  return [
    new iam.PolicyStatement({
      sid: "ReadTheSessionsCase",
      actions: ["s3:GetObject", "s3:GetObjectVersion"],
      resources: buckets.map((b) => `${b}/cases/${SESSION_CASE}/*`),
    }),
    new iam.PolicyStatement({
      sid: "ListTheSessionsCase",
      actions: ["s3:ListBucket", "s3:ListBucketVersions"],
      resources: buckets,
      conditions: { StringLike: { "s3:prefix": [`cases/${SESSION_CASE}/*`] } },
    }),
    evidenceKeyStatement(arns, "DecryptEvidenceThroughS3", ["kms:Decrypt"]),
  ];
}

/**
 * Each responder role's statements, for the roles of `arns.account` acting there; evidence goes to
 * `evidenceAccount`'s same-region buckets (the roles' own account, or the security account for
 * member-account roles). One source for both, so the member roles can never drift from these.
 */
export function responderStatements(
  arns: Arns,
  evidenceAccount: string,
): Record<ResponderAction, iam.PolicyStatement[]> {
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
  const rig = tagEquals(TAGS.role, FORENSIC);
  const evidenceCopy = tagEquals(TAGS.evidenceCopy, "true");

  // EBS encryption with customer keys: EC2 uses the key for the caller when it snapshots, creates or
  // attaches encrypted volumes (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html).
  const anyKey = arns.arn("kms", "*", arns.account, "key/*");
  const viaEc2 = { StringEquals: { "kms:ViaService": arns.via("ec2") } };
  const describe = (sid: string, actions: string[]) => st(sid, actions, ["*"]);

  const interfacesArn = interfaces;
  const buckets = evidenceBucketArns(arns, evidenceAccount);
  const keyStatement = (sid: string, actions: string[]) =>
    evidenceKeyStatement(arns, sid, actions, evidenceAccount);
  const custody = (sid: string, folders: readonly string[]) =>
    new iam.PolicyStatement({
      sid,
      actions: ["s3:PutObject"],
      resources: buckets.flatMap((b) => folders.map((f) => `${b}/cases/${SESSION_CASE}/${f}/*`)),
    });
  // A human brings a workload into their case: only resources no case has claimed yet, only the
  // case tag, only their session's case. A rig session never can (it works on what a human claimed).
  const claim = st(
    "HumansClaimUnclaimedResourcesForTheirCase",
    ["ec2:CreateTags"],
    [instances, volumes, interfacesArn],
    { Null: { [`aws:ResourceTag/${TAGS.case}`]: "true" } },
    requestsSameCase(),
    { "ForAllValues:StringEquals": { "aws:TagKeys": [TAGS.case] } },
    humanSession(),
  );
  const stateTags = (sid: string, actions: string[], resources: string[], keys: readonly string[]) =>
    st(sid, actions, resources, sameCase(), { "ForAllValues:StringEquals": { "aws:TagKeys": [...keys] } });

  const all: Record<ResponderAction, iam.PolicyStatement[]> = {
    // (1) SSH route, humans only: add the ops-rig SSH-route group (SSH from the responders' prefix
    // list, nothing else) to a case instance's interface. ModifyNetworkInterfaceAttribute replaces
    // the interface's group list, so keeping the existing groups means naming them: any group may be
    // named, but no rule can be written (no Create/Authorize/Revoke) and only case interfaces change.
    "ssh-route": [
      describe("DescribeNetwork", [
        "ec2:DescribeInstances",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSecurityGroupRules",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
        "ec2:DescribeManagedPrefixLists",
        "ec2:DescribeIamInstanceProfileAssociations",
        "ec2:DescribeVolumes",
      ]),
      st("ChangeCaseInterfacesOnly", ["ec2:ModifyNetworkInterfaceAttribute"], [interfaces], sameCase()),
      st("KeepOrAddGroupsOfTheRegion", ["ec2:ModifyNetworkInterfaceAttribute"], [securityGroups]),
      claim,
      stateTags(
        "RecordTheRouteOnCaseInterfaces",
        ["ec2:CreateTags", "ec2:DeleteTags"],
        [interfaces],
        [STATE_TAGS.sshRoute],
      ),
    ],

    // (2) Snapshot the case's volumes, make volumes from those snapshots and attach them to the case's
    // rigs. EBS has no read-only attachment: the copies attach to rigs only, and the image never
    // auto-activates evidence volumes (components/hardening.yaml) so responders mount them `ro,noload`.
    snapshot: [
      describe("DescribeVolumes", [
        "ec2:DescribeVolumes",
        "ec2:DescribeSnapshots",
        "ec2:DescribeInstances",
        "ec2:DescribeAvailabilityZones",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeIamInstanceProfileAssociations",
      ]),
      st("SnapshotCaseVolumes", ["ec2:CreateSnapshot"], [volumes], sameCase()),
      st("SnapshotCaseInstances", ["ec2:CreateSnapshots"], [instances], sameCase()),
      st(
        "SnapshotsCarryTheCase",
        ["ec2:CreateSnapshot", "ec2:CreateSnapshots"],
        [snapshots],
        requestsSameCase(),
      ),
      st(
        "TagEvidenceWhenCreated",
        ["ec2:CreateTags"],
        [snapshots, volumes],
        { StringEquals: { "ec2:CreateAction": ["CreateSnapshot", "CreateSnapshots", "CreateVolume"] } },
        requestsSameCase(),
      ),
      st("VolumesFromCaseSnapshots", ["ec2:CreateVolume"], [snapshots], sameCase()),
      st(
        "CopiesCarryTheCase",
        ["ec2:CreateVolume"],
        [volumes],
        conditions(requestsSameCase(), {
          StringEquals: { [`aws:RequestTag/${TAGS.evidenceCopy}`]: "true" },
        }),
      ),
      st(
        "AttachToCaseRigs",
        ["ec2:AttachVolume", "ec2:DetachVolume"],
        [instances],
        conditions(rig, sameCase()),
      ),
      st(
        "UseEvidenceCopiesOnly",
        ["ec2:AttachVolume", "ec2:DetachVolume", "ec2:DeleteVolume"],
        [volumes],
        conditions(evidenceCopy, sameCase()),
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
      claim,
      custody("RecordSnapshotsInTheCustodyChain", ["custody"]),
      keyStatement("EncryptCustodyThroughS3", ["kms:GenerateDataKey"]),
    ],

    // (3) Memory capture to the region's write-only evidence bucket, under the session's case only.
    // Multipart uploads with SSE-KMS also need kms:Decrypt (S3 user guide: mpuoverview).
    "memory-capture": [
      new iam.PolicyStatement({
        sid: "WriteTheSessionsCase",
        actions: ["s3:PutObject", "s3:AbortMultipartUpload"],
        resources: buckets.map((b) => `${b}/cases/${SESSION_CASE}/*`),
      }),
      keyStatement("EncryptEvidenceThroughS3", ["kms:GenerateDataKey", "kms:Decrypt"]),
      describe("FindTheTargetAndItsAgent", [
        "ec2:DescribeInstances",
        "ec2:DescribeVolumes",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeIamInstanceProfileAssociations",
        "ec2:DescribeInstanceTypes",
        "ssm:DescribeInstanceInformation",
      ]),
      // Run Command runs as root on the target: humans only, the one document, case instances only.
      st(
        "HumansRunTheCaptureOnCaseInstances",
        ["ssm:SendCommand"],
        [instances],
        { StringEquals: { [`ssm:resourceTag/${TAGS.case}`]: SESSION_CASE } },
        humanSession(),
      ),
      st(
        "OnlyTheShellDocument",
        ["ssm:SendCommand"],
        // AWS-owned documents have no account in their ARN; `*` also matches the empty segment.
        [arns.arn("ssm", "*", "*", `document/${CAPTURE_DOCUMENT}`)],
        humanSession(),
      ),
      st("FollowTheCapture", ["ssm:ListCommands", "ssm:GetCommandInvocation"], ["*"], humanSession()),
      new iam.PolicyStatement({
        sid: "FinishTheSessionsCaptures",
        actions: ["s3:ListMultipartUploadParts"],
        resources: buckets.map((b) => `${b}/cases/${SESSION_CASE}/*`),
      }),
      new iam.PolicyStatement({
        sid: "FindOpenCaptureUploads",
        actions: ["s3:ListBucketMultipartUploads"],
        resources: buckets,
      }),
      claim,
      stateTags(
        "RecordCapturesOnCaseInstances",
        ["ec2:CreateTags", "ec2:DeleteTags"],
        [instances],
        [STATE_TAGS.memorySha256, ...withContinuations(STATE_TAGS.memoryUpload)],
      ),
    ],

    // (4) Inspect: describe anything; console output of the case's instances; trails, metrics and
    // logs (which may hold any team's secrets) only for humans.
    inspect: [
      describe("DescribeCompute", [
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
      ]),
      st(
        "ConsoleOfCaseInstances",
        ["ec2:GetConsoleOutput", "ec2:GetConsoleScreenshot"],
        [instances],
        sameCase(),
      ),
      st(
        "HumansReadTrailsAndMetrics",
        [
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
        humanSession(),
      ),
      st(
        "HumansReadTrailStatus",
        ["cloudtrail:GetTrailStatus"],
        [arns.arn("cloudtrail", "*", arns.account, "trail/*")],
        humanSession(),
      ),
      st(
        "HumansReadLogGroups",
        ["logs:DescribeLogStreams", "logs:FilterLogEvents", "logs:StartQuery"],
        [arns.arn("logs", "*", arns.account, "log-group:*")],
        humanSession(),
      ),
      st(
        "HumansReadLogStreams",
        ["logs:GetLogEvents"],
        [arns.arn("logs", "*", arns.account, "log-group:*:log-stream:*")],
        humanSession(),
      ),
      new iam.PolicyStatement({
        sid: "HumansReadInstanceProfilePolicyNames",
        actions: ["iam:GetInstanceProfile", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies"],
        resources: [arns.iam("instance-profile/*"), arns.iam("role/*")],
        conditions: humanSession(),
      }),
      claim,
      custody("StoreReportsInTheSessionsCase", ["inspect", "custody"]),
      keyStatement("EncryptReportsThroughS3", ["kms:GenerateDataKey"]),
    ],

    // (5) Quarantine, humans only: swap a case interface's groups for ops-rig's quarantine group
    // (SSH from the responders' prefix list, no egress), and mark the instance.
    quarantine: [
      describe("DescribeForQuarantine", [
        "ec2:DescribeInstances",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeVpcs",
      ]),
      st("IsolateCaseInterfaces", ["ec2:ModifyNetworkInterfaceAttribute"], [interfaces], sameCase()),
      st(
        "IntoOpsRigQuarantineGroupsOnly",
        ["ec2:ModifyNetworkInterfaceAttribute"],
        [securityGroups],
        conditions(tagEquals(TAGS.purpose, "quarantine"), tagEquals(TAGS.managedBy, MANAGED_BY_OPS_RIG)),
      ),
      stateTags(
        "MarkCaseInstancesQuarantined",
        ["ec2:CreateTags", "ec2:DeleteTags"],
        [instances],
        [TAGS.quarantined, ...withContinuations(STATE_TAGS.previousProfile)],
      ),
      stateTags(
        "RecordPreviousGroupsOnCaseInterfaces",
        ["ec2:CreateTags", "ec2:DeleteTags"],
        [interfaces],
        withContinuations(STATE_TAGS.previousGroups),
      ),
      // release puts back exactly the groups isolate recorded, whichever they were.
      st("RestoreRecordedGroups", ["ec2:ModifyNetworkInterfaceAttribute"], [securityGroups]),
      st(
        "SwapCaseInstanceProfiles",
        ["ec2:DisassociateIamInstanceProfile", "ec2:AssociateIamInstanceProfile"],
        [instances],
        sameCase(),
      ),
      new iam.PolicyStatement({
        sid: "RestoreTheRecordedProfilesRole",
        actions: ["iam:PassRole"],
        resources: [arns.iam("role/*")],
        conditions: { StringEquals: { "iam:PassedToService": "ec2.amazonaws.com" } },
      }),
      new iam.PolicyStatement({
        sid: "NeverPassOpsRigsOwnRoles",
        effect: iam.Effect.DENY,
        actions: ["iam:PassRole"],
        resources: [arns.iam("role/ops-rig-*")],
      }),
      describe("DescribeProfilesAndFlowLogs", [
        "ec2:DescribeIamInstanceProfileAssociations",
        "ec2:DescribeFlowLogs",
        "ec2:DescribeVolumes",
      ]),
      claim,
    ],

    // (6) Terminate, humans only: quarantined instances of the case, and the case's rigs.
    terminate: [
      describe("DescribeBeforeTerminating", ["ec2:DescribeInstances"]),
      st(
        "TerminateQuarantinedCaseInstances",
        ["ec2:TerminateInstances"],
        [instances],
        conditions(tagEquals(TAGS.quarantined, "true"), sameCase()),
      ),
      st("TerminateCaseRigs", ["ec2:TerminateInstances"], [instances], conditions(rig, sameCase())),
      describe("CheckTheEvidence", [
        "ec2:DescribeSnapshots",
        "ec2:DescribeVolumes",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeIamInstanceProfileAssociations",
      ]),
      custody("RecordTerminationsInTheCustodyChain", ["custody"]),
      keyStatement("EncryptTerminationRecordsThroughS3", ["kms:GenerateDataKey"]),
    ],
  };
  // Belt and braces: a human-only role refuses rig sessions even if its trust policy were widened.
  for (const action of HUMAN_ONLY_ACTIONS) {
    all[action].push(
      new iam.PolicyStatement({
        sid: "NeverForRigSessions",
        effect: iam.Effect.DENY,
        notActions: ["ec2:Describe*"],
        resources: ["*"],
        conditions: { StringNotEquals: { [`aws:PrincipalTag/${SESSION_TAGS.origin}`]: ORIGINS.human } },
      }),
    );
  }
  return all;
}
