import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  CASE_SESSION_FUNCTION,
  CASE_SESSION_ROLE,
  EVIDENCE_ANALYST_ROLE,
  evidenceBucketName,
  FORENSIC_ROLE,
  type ResponderAction,
  responderRoleName,
} from "../../infra/lib/names.js";
import { bundleSdkCalls, requiredActions } from "../../infra/lib/sdk-actions.js";
import { cleanup, REPO_ROOT, SHARE, synth, synthShared } from "./helpers.js";
import { ACCOUNT, type Attempt, type Caller, evaluate, unsupportedConditionKeys, World } from "./simulate.js";

afterAll(cleanup);

// ---- The cast: realistic ids, ARNs and tags.
const HOME = "us-east-1";
const REGION = "eu-west-1";
const CASE = "IR-2026-0042";
const OTHER = "IR-2026-0099";
const RIG = "i-0a1b2c3d4e5f60718";
const OTHER_RIG = "i-0fedcba9876543210";
const TARGET = "i-0123456789abcdef0";
const SSO = `arn:aws:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_SIRT_0123456789abcdef`;
const ec2 = (type: string, id: string, region = REGION) => `arn:aws:ec2:${region}:${ACCOUNT}:${type}/${id}`;
const snapshot = (id: string, region = REGION) => `arn:aws:ec2:${region}::snapshot/${id}`;
const image = (id: string, region = REGION) => `arn:aws:ec2:${region}::image/${id}`;
const roleArn = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`;
const bucket = (region = REGION) => `arn:aws:s3:::${evidenceBucketName(ACCOUNT, region)}`;
const evidence = (caseId: string, region = REGION) => `${bucket(region)}/cases/${caseId}/${RIG}/memory.lime`;
const tags = (kind: "Resource" | "Request", t: Record<string, string>) =>
  Object.fromEntries(Object.entries(t).map(([k, v]) => [`aws:${kind}Tag/${k}`, v]));
const caseTag = (c: string) => tags("Resource", { "ops-rig:case": c });

/** The rig's own instance credentials (session name = instance id, as EC2 sets it). */
const rigInstance: Caller = {
  role: FORENSIC_ROLE,
  principal: `arn:aws:sts::${ACCOUNT}:assumed-role/${FORENSIC_ROLE}/${RIG}`,
  context: { "ec2:SourceInstanceArn": ec2("instance", RIG) },
};
/** A session the broker issued for the rig: case from the rig's own tag, origin rig. */
const rigSession = (action: ResponderAction | "analyst", caseId = CASE): Caller => {
  const name = action === "analyst" ? EVIDENCE_ANALYST_ROLE : responderRoleName(action);
  return {
    role: name,
    principal: `arn:aws:sts::${ACCOUNT}:assumed-role/${name}/${RIG}`,
    context: {
      "aws:PrincipalTag/ops-rig:case": caseId,
      "aws:PrincipalTag/ops-rig:origin": "rig",
      "aws:PrincipalTag/ops-rig:rig": RIG,
      "aws:SourceIdentity": RIG,
    },
  };
};
const humanSession = (action: ResponderAction | "analyst", caseId = CASE): Caller => {
  const name = action === "analyst" ? EVIDENCE_ANALYST_ROLE : responderRoleName(action);
  return {
    role: name,
    principal: `arn:aws:sts::${ACCOUNT}:assumed-role/${name}/alice`,
    context: {
      "aws:PrincipalTag/ops-rig:case": caseId,
      "aws:PrincipalTag/ops-rig:origin": "human",
      "aws:MultiFactorAuthPresent": "true",
    },
  };
};
const broker: Caller = {
  role: CASE_SESSION_ROLE,
  principal: `arn:aws:sts::${ACCOUNT}:assumed-role/${CASE_SESSION_ROLE}/${CASE_SESSION_FUNCTION}`,
};
const pipeline: Caller = {
  role: "ops-rig-pipeline",
  principal: `arn:aws:sts::${ACCOUNT}:assumed-role/ops-rig-pipeline/ops-rig-pipeline`,
};
/** An IAM user of the account with broad permissions of its own (an administrator or SIRT member). */
const alice = (mfa: boolean): Caller => ({
  principal: `arn:aws:iam::${ACCOUNT}:user/alice`,
  policies: [
    {
      name: "AdministratorAccess",
      policy: { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] },
    },
  ],
  context: { "aws:MultiFactorAuthPresent": mfa ? "true" : "false" },
});
const ssoResponder: Caller = {
  principal: `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_SIRT_0123456789abcdef/alice@example.com`,
  policies: [
    {
      name: "sso-permission-set",
      policy: { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "sts:*", Resource: "*" }] },
    },
  ],
  context: { "aws:PrincipalArn": SSO },
};
const assume = (caseId: string, origin: string, extra: Record<string, string> = {}) => {
  const t = { "ops-rig:case": caseId, "ops-rig:origin": origin, ...extra };
  return { ...tags("Request", t), "aws:TagKeys": Object.keys(t) };
};

// ---- The attack matrix: what a compromised rig (and a compromised pipeline) tries. All must fail.
const ATTACKS: Attempt[] = [
  // The rig's instance credentials.
  {
    name: "rig assumes the terminate role directly, posing as a human",
    caller: rigInstance,
    action: "sts:AssumeRole",
    resource: roleArn(responderRoleName("terminate")),
    context: assume(CASE, "human"),
  },
  {
    name: "rig assumes the snapshot role directly, naming another case",
    caller: rigInstance,
    action: "sts:AssumeRole",
    resource: roleArn(responderRoleName("snapshot")),
    context: assume(OTHER, "rig", { "ops-rig:rig": RIG }),
  },
  {
    name: "rig assumes the evidence analyst directly",
    caller: rigInstance,
    action: "sts:AssumeRole",
    resource: roleArn(EVIDENCE_ANALYST_ROLE),
    context: assume(CASE, "rig", { "ops-rig:rig": RIG }),
  },
  {
    name: "rig retags itself into another case",
    caller: rigInstance,
    action: "ec2:CreateTags",
    resource: ec2("instance", RIG),
    context: { ...tags("Request", { "ops-rig:case": OTHER }), "aws:TagKeys": ["ops-rig:case"] },
  },
  {
    name: "rig opens a group to the internet",
    caller: rigInstance,
    action: "ec2:AuthorizeSecurityGroupIngress",
    resource: ec2("security-group", "sg-0123456789abcdef0"),
  },
  {
    name: "rig rewrites the break-glass pointer",
    caller: rigInstance,
    action: "ssm:PutParameter",
    resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/ops-rig/break-glass/secret-id`,
  },
  {
    name: "rig reads another team's parameters (what AmazonSSMManagedInstanceCore would allow)",
    caller: rigInstance,
    action: "ssm:GetParameter",
    resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/payments/db-password`,
  },
  {
    name: "rig reads evidence with its instance credentials",
    caller: rigInstance,
    action: "s3:GetObject",
    resource: evidence(CASE),
  },
  {
    name: "rig invokes the pipeline Lambda",
    caller: rigInstance,
    action: "lambda:InvokeFunction",
    resource: `arn:aws:lambda:${HOME}:${ACCOUNT}:function:ops-rig-pipeline`,
  },
  {
    name: "rig invokes the broker outside its IAM-authenticated URL",
    caller: rigInstance,
    action: "lambda:InvokeFunction",
    resource: `arn:aws:lambda:${HOME}:${ACCOUNT}:function:${CASE_SESSION_FUNCTION}`,
    context: { "lambda:InvokedViaFunctionUrl": "false" },
  },
  {
    name: "rig launches an instance",
    caller: rigInstance,
    action: "ec2:RunInstances",
    resource: ec2("instance", "*"),
  },
  // Broker-issued rig sessions (its own case).
  {
    name: "rig snapshots a volume of another case",
    caller: rigSession("snapshot"),
    action: "ec2:CreateSnapshot",
    resource: ec2("volume", "vol-0b1"),
    context: caseTag(OTHER),
  },
  {
    name: "rig snapshots an untagged production volume",
    caller: rigSession("snapshot"),
    action: "ec2:CreateSnapshot",
    resource: ec2("volume", "vol-0b2"),
  },
  {
    name: "rig tags its snapshot with another case",
    caller: rigSession("snapshot"),
    action: "ec2:CreateSnapshot",
    resource: snapshot("*"),
    context: tags("Request", { "ops-rig:case": OTHER }),
  },
  {
    name: "rig makes a volume from another case's snapshot",
    caller: rigSession("snapshot"),
    action: "ec2:CreateVolume",
    resource: snapshot("snap-0b3"),
    context: caseTag(OTHER),
  },
  {
    name: "rig attaches an evidence copy to the workload instead of a rig",
    caller: rigSession("snapshot"),
    action: "ec2:AttachVolume",
    resource: ec2("instance", TARGET),
    context: caseTag(CASE),
  },
  {
    name: "rig attaches an evidence copy to a rig of another case",
    caller: rigSession("snapshot"),
    action: "ec2:AttachVolume",
    resource: ec2("instance", OTHER_RIG),
    context: { ...caseTag(OTHER), "aws:ResourceTag/ops-rig:role": "forensic" },
  },
  {
    name: "rig detaches the workload's own volume",
    caller: rigSession("snapshot"),
    action: "ec2:DetachVolume",
    resource: ec2("volume", "vol-0b4"),
    context: caseTag(CASE),
  },
  {
    name: "rig deletes a production volume of its case",
    caller: rigSession("snapshot"),
    action: "ec2:DeleteVolume",
    resource: ec2("volume", "vol-0b5"),
    context: caseTag(CASE),
  },
  {
    name: "rig deletes an evidence snapshot",
    caller: rigSession("snapshot"),
    action: "ec2:DeleteSnapshot",
    resource: snapshot("snap-0b6"),
    context: caseTag(CASE),
  },
  {
    name: "rig marks the workload quarantined (to terminate it later)",
    caller: rigSession("snapshot"),
    action: "ec2:CreateTags",
    resource: ec2("instance", TARGET),
    context: {
      ...caseTag(CASE),
      ...tags("Request", { "ops-rig:quarantined": "true" }),
      "aws:TagKeys": ["ops-rig:quarantined"],
    },
  },
  {
    name: "rig creates an interface in any subnet (a bridge into another VPC)",
    caller: rigSession("snapshot"),
    action: "ec2:CreateNetworkInterface",
    resource: ec2("subnet", "subnet-0b7"),
  },
  {
    name: "rig attaches an interface to itself",
    caller: rigSession("snapshot"),
    action: "ec2:AttachNetworkInterface",
    resource: ec2("instance", RIG),
    context: { ...caseTag(CASE), "aws:ResourceTag/ops-rig:role": "forensic" },
  },
  {
    name: "rig swaps the workload's security groups",
    caller: rigSession("inspect"),
    action: "ec2:ModifyNetworkInterfaceAttribute",
    resource: ec2("network-interface", "eni-0b8"),
    context: caseTag(CASE),
  },
  {
    name: "rig writes into another case's evidence",
    caller: rigSession("memory-capture"),
    action: "s3:PutObject",
    resource: evidence(OTHER),
  },
  {
    name: "rig reads back evidence it wrote",
    caller: rigSession("memory-capture"),
    action: "s3:GetObject",
    resource: evidence(CASE),
  },
  {
    name: "rig deletes evidence",
    caller: rigSession("memory-capture"),
    action: "s3:DeleteObject",
    resource: evidence(CASE),
  },
  {
    name: "rig shortens the evidence lock",
    caller: rigSession("memory-capture"),
    action: "s3:PutObjectRetention",
    resource: evidence(CASE),
  },
  {
    name: "rig writes evidence under another key (SSE-S3)",
    caller: rigSession("memory-capture"),
    action: "s3:PutObject",
    resource: evidence(CASE),
    context: { "s3:x-amz-server-side-encryption": "AES256" },
  },
  {
    name: "rig decrypts with the evidence key outside S3",
    caller: rigSession("memory-capture"),
    action: "kms:Decrypt",
    resource: "EVIDENCE_KEY",
    context: { "kms:ViaService": `s3.${REGION}.amazonaws.com` },
  },
  {
    name: "rig reads CloudWatch logs of other teams",
    caller: rigSession("inspect"),
    action: "logs:GetLogEvents",
    resource: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/payments/api:log-stream:2026`,
  },
  {
    name: "rig reads the console of another case's instance",
    caller: rigSession("inspect"),
    action: "ec2:GetConsoleOutput",
    resource: ec2("instance", "i-0b9"),
    context: caseTag(OTHER),
  },
  {
    name: "rig reads another case's evidence as analyst",
    caller: rigSession("analyst"),
    action: "s3:GetObject",
    resource: evidence(OTHER),
  },
  {
    name: "rig deletes its case's evidence as analyst",
    caller: rigSession("analyst"),
    action: "s3:DeleteObjectVersion",
    resource: evidence(CASE),
  },
  {
    name: "a rig session of the quarantine role (trust widened) still cannot isolate",
    caller: rigSession("quarantine"),
    action: "ec2:ModifyNetworkInterfaceAttribute",
    resource: ec2("network-interface", "eni-0ba"),
    context: caseTag(CASE),
  },
  {
    name: "a rig session of the terminate role (trust widened) still cannot terminate",
    caller: rigSession("terminate"),
    action: "ec2:TerminateInstances",
    resource: ec2("instance", TARGET),
    context: { ...caseTag(CASE), "aws:ResourceTag/ops-rig:quarantined": "true" },
  },
  // The broker itself (should its code misbehave).
  {
    name: "broker gets a rig session of the terminate role",
    caller: broker,
    action: "sts:AssumeRole",
    resource: roleArn(responderRoleName("terminate")),
    context: assume(CASE, "rig", { "ops-rig:rig": RIG }),
  },
  {
    name: "broker poses as a human",
    caller: broker,
    action: "sts:TagSession",
    resource: roleArn(responderRoleName("snapshot")),
    context: assume(CASE, "human"),
  },
  // Humans without MFA, and humans posing as rigs.
  {
    name: "an account admin without MFA assumes the terminate role",
    caller: alice(false),
    action: "sts:AssumeRole",
    resource: roleArn(responderRoleName("terminate")),
    context: assume(CASE, "human"),
  },
  {
    name: "an account admin without MFA reads evidence",
    caller: alice(false),
    action: "s3:GetObject",
    resource: evidence(CASE),
  },
  {
    name: "an account admin with MFA decrypts evidence with the key directly",
    caller: alice(true),
    action: "kms:Decrypt",
    resource: "EVIDENCE_KEY",
  },
  // A compromised pipeline Lambda.
  {
    name: "pipeline overwrites the break-glass pointer",
    caller: pipeline,
    action: "ssm:PutParameter",
    resource: `arn:aws:ssm:${HOME}:${ACCOUNT}:parameter/ops-rig/break-glass/secret-id`,
  },
  {
    name: "pipeline deletes another team's Image Builder snapshot",
    caller: pipeline,
    action: "ec2:DeleteSnapshot",
    resource: snapshot("snap-0bb", HOME),
    region: HOME,
    context: tags("Resource", {
      CreatedBy: "EC2 Image Builder",
      Ec2ImageBuilderArn: `arn:aws:imagebuilder:${HOME}:${ACCOUNT}:image/payments-golden/1.0.0/3`,
    }),
  },
  {
    name: "pipeline deregisters another team's AMI",
    caller: pipeline,
    action: "ec2:DeregisterImage",
    resource: image("ami-0bc", HOME),
    region: HOME,
    context: tags("Resource", { CreatedBy: "EC2 Image Builder" }),
  },
  { name: "pipeline writes evidence", caller: pipeline, action: "s3:PutObject", resource: evidence(CASE) },
];

// ---- What responders and the pipeline really do. All must be allowed.
const LEGITIMATE: Attempt[] = [
  {
    name: "rig asks the broker (function URL, IAM auth)",
    caller: rigInstance,
    action: "lambda:InvokeFunctionUrl",
    resource: `arn:aws:lambda:${HOME}:${ACCOUNT}:function:${CASE_SESSION_FUNCTION}`,
    region: HOME,
    context: { "lambda:FunctionUrlAuthType": "AWS_IAM" },
  },
  {
    name: "rig's URL call passes the InvokeFunction check",
    caller: rigInstance,
    action: "lambda:InvokeFunction",
    resource: `arn:aws:lambda:${HOME}:${ACCOUNT}:function:${CASE_SESSION_FUNCTION}`,
    region: HOME,
    context: { "lambda:InvokedViaFunctionUrl": "true" },
  },
  {
    name: "rig registers with Session Manager",
    caller: rigInstance,
    action: "ssm:UpdateInstanceInformation",
    resource: ec2("instance", RIG),
  },
  {
    name: "rig opens a Session Manager channel",
    caller: rigInstance,
    action: "ssmmessages:OpenDataChannel",
    resource: "*",
  },
  {
    name: "rig fetches its break-glass pointer",
    caller: rigInstance,
    action: "ssm:GetParameter",
    resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/ops-rig/break-glass/secret-id`,
  },
  {
    name: "rig reads the break-glass key",
    caller: rigInstance,
    action: "secretsmanager:GetSecretValue",
    resource: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:ops-rig/break-glass-AbCdEf`,
  },
  {
    name: "broker finds the calling rig",
    caller: broker,
    action: "ec2:DescribeInstances",
    resource: "*",
    region: REGION,
  },
  ...(["inspect", "snapshot", "memory-capture"] as const).flatMap((action): Attempt[] => [
    {
      name: `broker assumes ${action} with the rig's case`,
      caller: broker,
      action: "sts:AssumeRole",
      resource: roleArn(responderRoleName(action)),
      context: assume(CASE, "rig", { "ops-rig:rig": RIG }),
    },
    {
      name: `broker tags the ${action} session`,
      caller: broker,
      action: "sts:TagSession",
      resource: roleArn(responderRoleName(action)),
      context: assume(CASE, "rig", { "ops-rig:rig": RIG }),
    },
  ]),
  {
    name: "broker names the rig as source identity",
    caller: broker,
    action: "sts:SetSourceIdentity",
    resource: roleArn(responderRoleName("snapshot")),
    context: { "sts:SourceIdentity": RIG },
  },
  {
    name: "broker assumes the analyst for the rig's case",
    caller: broker,
    action: "sts:AssumeRole",
    resource: roleArn(EVIDENCE_ANALYST_ROLE),
    context: assume(CASE, "rig", { "ops-rig:rig": RIG }),
  },
  {
    name: "rig snapshots its case's volume",
    caller: rigSession("snapshot"),
    action: "ec2:CreateSnapshot",
    resource: ec2("volume", "vol-0a1"),
    context: caseTag(CASE),
  },
  {
    name: "rig's snapshot carries the case",
    caller: rigSession("snapshot"),
    action: "ec2:CreateSnapshot",
    resource: snapshot("*"),
    context: tags("Request", { "ops-rig:case": CASE }),
  },
  {
    name: "rig tags the new snapshot",
    caller: rigSession("snapshot"),
    action: "ec2:CreateTags",
    resource: snapshot("snap-0a2"),
    context: { ...tags("Request", { "ops-rig:case": CASE }), "ec2:CreateAction": "CreateSnapshot" },
  },
  {
    name: "rig makes a volume from the case snapshot",
    caller: rigSession("snapshot"),
    action: "ec2:CreateVolume",
    resource: snapshot("snap-0a2"),
    context: caseTag(CASE),
  },
  {
    name: "rig's volume is a tagged evidence copy",
    caller: rigSession("snapshot"),
    action: "ec2:CreateVolume",
    resource: ec2("volume", "*"),
    context: tags("Request", { "ops-rig:case": CASE, "ops-rig:evidence-copy": "true" }),
  },
  {
    name: "rig attaches the copy to itself",
    caller: rigSession("snapshot"),
    action: "ec2:AttachVolume",
    resource: ec2("instance", RIG),
    context: { ...caseTag(CASE), "aws:ResourceTag/ops-rig:role": "forensic" },
  },
  {
    name: "rig attaches the evidence copy",
    caller: rigSession("snapshot"),
    action: "ec2:AttachVolume",
    resource: ec2("volume", "vol-0a3"),
    context: { ...caseTag(CASE), "aws:ResourceTag/ops-rig:evidence-copy": "true" },
  },
  {
    name: "rig lets EC2 use the volume key",
    caller: rigSession("snapshot"),
    action: "kms:CreateGrant",
    resource: `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`,
    context: { "kms:ViaService": `ec2.${REGION}.amazonaws.com`, "kms:GrantIsForAWSResource": "true" },
  },
  {
    name: "rig uploads a memory capture for its case",
    caller: rigSession("memory-capture"),
    action: "s3:PutObject",
    resource: evidence(CASE),
  },
  {
    name: "rig's upload is encrypted with the region's evidence key",
    caller: rigSession("memory-capture"),
    action: "kms:GenerateDataKey",
    resource: "EVIDENCE_KEY",
    context: { "kms:ViaService": `s3.${REGION}.amazonaws.com`, "kms:EncryptionContext:aws:s3:arn": bucket() },
  },
  {
    name: "rig inspects instances",
    caller: rigSession("inspect"),
    action: "ec2:DescribeInstances",
    resource: "*",
  },
  {
    name: "rig reads its case's console output",
    caller: rigSession("inspect"),
    action: "ec2:GetConsoleOutput",
    resource: ec2("instance", TARGET),
    context: caseTag(CASE),
  },
  {
    name: "rig reads its case's evidence as analyst",
    caller: rigSession("analyst"),
    action: "s3:GetObject",
    resource: evidence(CASE),
  },
  {
    name: "analyst decrypts through S3",
    caller: rigSession("analyst"),
    action: "kms:Decrypt",
    resource: "EVIDENCE_KEY",
    context: { "kms:ViaService": `s3.${REGION}.amazonaws.com`, "kms:EncryptionContext:aws:s3:arn": bucket() },
  },
  {
    name: "analyst lists the case",
    caller: humanSession("analyst"),
    action: "s3:ListBucket",
    resource: bucket(),
    context: { "s3:prefix": `cases/${CASE}/${RIG}/` },
  },
  {
    name: "a human with MFA assumes the terminate role",
    caller: alice(true),
    action: "sts:AssumeRole",
    resource: roleArn(responderRoleName("terminate")),
    context: assume(CASE, "human"),
  },
  {
    name: "a human with MFA tags the session",
    caller: alice(true),
    action: "sts:TagSession",
    resource: roleArn(responderRoleName("terminate")),
    context: assume(CASE, "human"),
  },
  {
    name: "an SSO responder assumes the quarantine role",
    caller: ssoResponder,
    action: "sts:AssumeRole",
    resource: roleArn(responderRoleName("quarantine")),
    context: assume(CASE, "human"),
  },
  {
    name: "human quarantines the case's interface",
    caller: humanSession("quarantine"),
    action: "ec2:ModifyNetworkInterfaceAttribute",
    resource: ec2("network-interface", "eni-0a4"),
    context: caseTag(CASE),
  },
  {
    name: "...into ops-rig's quarantine group",
    caller: humanSession("quarantine"),
    action: "ec2:ModifyNetworkInterfaceAttribute",
    resource: ec2("security-group", "sg-0a5"),
    context: tags("Resource", { "ops-rig:purpose": "quarantine", "ops-rig:managed-by": "ops-rig" }),
  },
  {
    name: "human marks the instance quarantined",
    caller: humanSession("quarantine"),
    action: "ec2:CreateTags",
    resource: ec2("instance", TARGET),
    context: {
      ...caseTag(CASE),
      ...tags("Request", { "ops-rig:quarantined": "true" }),
      "aws:TagKeys": ["ops-rig:quarantined"],
    },
  },
  {
    name: "human terminates the quarantined instance",
    caller: humanSession("terminate"),
    action: "ec2:TerminateInstances",
    resource: ec2("instance", TARGET),
    context: { ...caseTag(CASE), "aws:ResourceTag/ops-rig:quarantined": "true" },
  },
  {
    name: "human terminates the case's rig",
    caller: humanSession("terminate"),
    action: "ec2:TerminateInstances",
    resource: ec2("instance", RIG),
    context: { ...caseTag(CASE), "aws:ResourceTag/ops-rig:role": "forensic" },
  },
  {
    name: "human adds the SSH-route group to the case's interface",
    caller: humanSession("ssh-route"),
    action: "ec2:ModifyNetworkInterfaceAttribute",
    resource: ec2("network-interface", "eni-0a4"),
    context: caseTag(CASE),
  },
  {
    name: "human reads trail events",
    caller: humanSession("inspect"),
    action: "cloudtrail:LookupEvents",
    resource: "*",
  },
  {
    name: "human reads a log stream",
    caller: humanSession("inspect"),
    action: "logs:GetLogEvents",
    resource: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/payments/api:log-stream:2026`,
  },
];

const withKey = (world: World, a: Attempt): Attempt =>
  a.resource === "EVIDENCE_KEY" ? { ...a, resource: world.keyArn(a.region ?? REGION) } : a;

async function outcomes(world: World, attempts: readonly Attempt[]) {
  return Promise.all(
    attempts.map(async (a) => ({ name: a.name, outcome: await evaluate(world, withKey(world, a)) })),
  );
}

const CONTEXT = { responderPrincipalArns: SSO };

// Synthesizing four stacks and simulating ~150 requests takes a while on a loaded machine.
describe("a compromised rig, simulated against the synthesized templates (iam-simulate)", {
  timeout: 180_000,
}, () => {
  it(`is denied every one of ${ATTACKS.length} abuse attempts`, async () => {
    expect(ATTACKS.length).toBeGreaterThanOrEqual(25);
    const world = World.of(await synth(CONTEXT));
    const results = await outcomes(world, ATTACKS);
    const allowed = results.filter((r) => r.outcome === "Allowed").map((r) => r.name);
    expect(allowed).toEqual([]);
    const explicit = results.filter((r) => r.outcome === "ExplicitlyDenied").length;
    console.log(`[attacks] ${results.length} attempts denied (${explicit} by an explicit deny)`);
  });

  it(`allows every legitimate responder step (${LEGITIMATE.length})`, async () => {
    const world = World.of(await synth(CONTEXT));
    const results = await outcomes(world, LEGITIMATE);
    expect(results.filter((r) => r.outcome !== "Allowed")).toEqual([]);
  });

  it("fails as soon as one statement is widened: the attempt it blocked becomes allowed", async () => {
    const { json, ...rest } = await synth(CONTEXT);
    const widened = structuredClone(json) as typeof json;
    // Drop the case condition of the rig's snapshot statement, as a careless edit would.
    let found = 0;
    for (const r of Object.values(widened.Resources)) {
      const doc = r.Properties?.PolicyDocument as
        | { Statement?: { Sid?: string; Condition?: unknown }[] }
        | undefined;
      for (const s of doc?.Statement ?? []) {
        if (s.Sid === "SnapshotCaseVolumes") {
          delete s.Condition;
          found++;
        }
      }
    }
    expect(found).toBe(1);
    const attempt = ATTACKS.find((a) => a.name === "rig snapshots a volume of another case");
    if (!attempt) throw new Error("attempt missing");
    expect(await evaluate(World.of({ json, ...rest }), attempt)).not.toBe("Allowed");
    expect(await evaluate(World.of({ json: widened, ...rest }), attempt)).toBe("Allowed");
  });

  it("fails when a trust policy lets the rig's instance role in directly", async () => {
    const synthed = await synth(CONTEXT);
    const widened = structuredClone(synthed.json) as typeof synthed.json;
    const role = Object.values(widened.Resources).find(
      (r) => r.Properties?.RoleName === responderRoleName("snapshot"),
    );
    const trust = role?.Properties?.AssumeRolePolicyDocument as { Statement: unknown[] };
    trust.Statement.push({
      Effect: "Allow",
      Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/${FORENSIC_ROLE}` },
      Action: "sts:AssumeRole",
    });
    const attempt = ATTACKS.find(
      (a) => a.name === "rig assumes the snapshot role directly, naming another case",
    );
    if (!attempt) throw new Error("attempt missing");
    expect(await evaluate(World.of(synthed), attempt)).not.toBe("Allowed");
    expect(await evaluate(World.of({ ...synthed, json: widened }), attempt)).toBe("Allowed");
  });
});

describe("the pipeline Lambda, simulated", { timeout: 180_000 }, () => {
  it("is allowed every call of the adapters in its bundle, on realistic resources", async () => {
    // With share: configured, so the statements that only exist for sharing are simulated too.
    const synthed = await synthShared(CONTEXT);
    const world = World.of(synthed);
    const caller = pipeline;
    const calls = bundleSdkCalls(synthed.bundle.sourceFiles, (f) => readFileSync(join(REPO_ROOT, f), "utf8"));
    const required = requiredActions(calls);
    const missing = required.filter((a) => !PIPELINE_REQUESTS[a]);
    expect(missing, "add a realistic request for each new action to PIPELINE_REQUESTS").toEqual([]);
    const idOf = (type: string, part: string) =>
      Object.entries(synthed.json.Resources).find(([id, r]) => r.Type === type && id.startsWith(part))?.[0] ??
      part;
    const logs = `arn:aws:s3:::${idOf("AWS::S3::Bucket", "BuildLogsBucket").toLowerCase()}`;
    const placeholders: Record<string, string> = {
      BUILD_ROLE: roleArn(idOf("AWS::IAM::Role", "BuildInstanceRole")),
      BUILD_PROFILE: `arn:aws:iam::${ACCOUNT}:instance-profile/${idOf("AWS::IAM::InstanceProfile", "BuildInstanceProfile")}`,
      NOTIFICATION_KEY: `arn:aws:kms:${HOME}:${ACCOUNT}:key/${idOf("AWS::KMS::Key", "NotificationKey").toLowerCase()}`,
      NOTIFICATION_TOPIC: `arn:aws:sns:${HOME}:${ACCOUNT}:${idOf("AWS::SNS::Topic", "NotificationTopic")}`,
      RUN_REPORT: `${logs}/reports/2026-11-29T02-00-00-000Z-nightly.json`,
    };
    const results = await outcomes(
      world,
      required.map((action) => {
        const request = PIPELINE_REQUESTS[action] as Request;
        return {
          name: action,
          caller,
          action,
          ...request,
          resource: placeholders[request.resource] ?? request.resource,
        };
      }),
    );
    expect(results.filter((r) => r.outcome !== "Allowed")).toEqual([]);
    console.log(`[pipeline] ${results.length} actions of the bundle allowed by simulation`);
    // Reports only: the Image Builder logs beside them (evidence of what a build did) stay out of reach.
    const beside = await outcomes(world, [
      {
        name: "overwrite a build log",
        caller,
        action: "s3:PutObject",
        resource: `${logs}/imagebuilder/x/log.txt`,
      },
      { name: "read a report", caller, action: "s3:GetObject", resource: placeholders.RUN_REPORT as string },
      {
        name: "delete a report",
        caller,
        action: "s3:DeleteObject",
        resource: placeholders.RUN_REPORT as string,
      },
    ]);
    expect(beside.filter((r) => r.outcome === "Allowed")).toEqual([]);
  });
});

describe("a compromised pipeline with share: configured (iam-simulate)", { timeout: 180_000 }, () => {
  it("shares only ops-rig's parameters and images, only with the configured principals, never outside the organization", async () => {
    const world = World.of(await synthShared(CONTEXT));
    const otherKey = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
    const attempts: Attempt[] = [
      {
        name: "share the parameters with an account that is not configured",
        caller: pipeline,
        action: "ram:CreateResourceShare",
        resource: "*",
        region: REGION,
        context: shareRequest({ "ram:Principal": "333333333333" }),
      },
      {
        name: "share the parameters with external principals allowed",
        caller: pipeline,
        action: "ram:CreateResourceShare",
        resource: "*",
        region: REGION,
        context: shareRequest({ "ram:RequestedAllowsExternalPrincipals": "true" }),
      },
      {
        name: "share another team's parameter",
        caller: pipeline,
        action: "ram:CreateResourceShare",
        resource: "*",
        region: REGION,
        context: shareRequest({
          "ram:ResourceArn": [`arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/payments/db-host`],
        }),
      },
      {
        name: "share the break-glass pointer",
        caller: pipeline,
        action: "ram:CreateResourceShare",
        resource: "*",
        region: REGION,
        context: shareRequest({
          "ram:ResourceArn": `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/ops-rig/break-glass/secret-id`,
        }),
      },
      {
        name: "add an outside account to another team's resource share",
        caller: pipeline,
        action: "ram:AssociateResourceShare",
        resource: parameterShare,
        region: REGION,
        context: {
          ...shareRequest({ "ram:Principal": "333333333333" }),
          "ram:ResourceShareName": "payments-subnets",
          "ram:AllowsExternalPrincipals": "true",
        },
      },
      {
        name: "add only an outside account to the parameter share",
        caller: pipeline,
        action: "ram:AssociateResourceShare",
        resource: parameterShare,
        region: REGION,
        context: {
          "ram:Principal": "333333333333",
          "ram:ResourceShareName": "ops-rig-parameters",
          "ram:AllowsExternalPrincipals": "false",
        },
      },
      {
        name: "grant the copy key to an account that is not configured",
        caller: pipeline,
        action: "kms:CreateGrant",
        resource: otherKey,
        region: REGION,
        context: {
          "kms:GranteePrincipal": "arn:aws:iam::333333333333:root",
          "kms:GrantOperations": ["Decrypt", "DescribeKey", "CreateGrant"],
        },
      },
      {
        name: "grant the configured account more than launching needs (Encrypt)",
        caller: pipeline,
        action: "kms:CreateGrant",
        resource: otherKey,
        region: REGION,
        context: {
          "kms:GranteePrincipal": `arn:aws:iam::${SHARE.account}:root`,
          "kms:GrantOperations": ["Decrypt", "Encrypt"],
        },
      },
      {
        name: "share another team's image",
        caller: pipeline,
        action: "ec2:ModifyImageAttribute",
        resource: image("ami-0payments"),
        region: REGION,
        context: tags("Resource", { team: "payments" }),
      },
      {
        name: "share an image in a region that is not configured",
        caller: pipeline,
        action: "ec2:ModifyImageAttribute",
        resource: image("ami-0c1", "sa-east-1"),
        region: "sa-east-1",
        context: ownImage,
      },
    ];
    const results = await outcomes(world, attempts);
    expect(results.filter((r) => r.outcome === "Allowed")).toEqual([]);
    // The same requests with the configured principal, account and operations are allowed.
    const allowed = await outcomes(world, [
      {
        name: "grant the configured account what launching needs",
        caller: pipeline,
        action: "kms:CreateGrant",
        resource: otherKey,
        region: REGION,
        context: {
          "kms:GranteePrincipal": `arn:aws:iam::${SHARE.account}:root`,
          "kms:GrantOperations": ["Decrypt", "DescribeKey", "CreateGrant", "GenerateDataKeyWithoutPlaintext"],
        },
      },
      {
        name: "share ops-rig's parameter with the OU",
        caller: pipeline,
        action: "ram:CreateResourceShare",
        resource: "*",
        region: REGION,
        context: shareRequest(),
      },
      {
        name: "add only the OU to the parameter share (no resource in the request)",
        caller: pipeline,
        action: "ram:AssociateResourceShare",
        resource: parameterShare,
        region: REGION,
        context: {
          "ram:Principal": SHARE.ou,
          "ram:ResourceShareName": "ops-rig-parameters",
          "ram:AllowsExternalPrincipals": "false",
        },
      },
      {
        name: "add only ops-rig's parameter to the parameter share (no principal in the request)",
        caller: pipeline,
        action: "ram:AssociateResourceShare",
        resource: parameterShare,
        region: REGION,
        context: {
          "ram:ResourceArn": parameter,
          "ram:ResourceShareName": "ops-rig-parameters",
          "ram:AllowsExternalPrincipals": "false",
        },
      },
    ]);
    expect(allowed.filter((r) => r.outcome !== "Allowed")).toEqual([]);
  });
});

describe("condition keys (iam-data)", { timeout: 180_000 }, () => {
  it("every key of every statement in every stack is supported by every action it constrains", async () => {
    const world = World.of(await synth(CONTEXT));
    // With share: configured too: the RAM and KMS sharing statements exist only then.
    const shared = World.of(await synthShared(CONTEXT));
    const problems: string[] = [];
    let statements = 0;
    for (const { owner, doc } of [...world.documents, ...shared.documents]) {
      for (const statement of doc.Statement) {
        statements++;
        for (const p of await unsupportedConditionKeys(statement))
          problems.push(`${owner}/${String(statement.Sid ?? "?")}: ${p}`);
      }
    }
    expect(problems).toEqual([]);
    expect(statements).toBeGreaterThan(80);
    console.log(`[condition-keys] ${statements} statements checked`);
  });

  it("catches a key an action does not support", async () => {
    expect(
      await unsupportedConditionKeys({
        Effect: "Allow",
        Action: ["ec2:DescribeInstances", "iam:GetRole"],
        Resource: "*",
        Condition: { StringEquals: { "aws:ResourceTag/ops-rig:case": "x", "iam:AWSServiceName": "y" } },
      }),
    ).toEqual([
      "ec2:DescribeInstances: aws:ResourceTag/ops-rig:case",
      "iam:GetRole: aws:ResourceTag/ops-rig:case",
      "ec2:DescribeInstances: iam:AWSServiceName",
      "iam:GetRole: iam:AWSServiceName",
    ]);
  });
});

type Request = Omit<Attempt, "name" | "caller" | "action">;
const ownImage = tags("Resource", { "ops-rig:toolset": "light" });
const component = `arn:aws:imagebuilder:${HOME}:${ACCOUNT}:component/ops-rig-sleuthkit/1.0.0/1`;
const parameter = `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/ops-rig/light/ubuntu-24.04/amd64/ami-id`;
const copyKey = {
  resource: `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`,
  region: REGION,
  context: { "kms:ViaService": `ec2.${REGION}.amazonaws.com` },
};
const parameterShare = `arn:aws:ram:${REGION}:${ACCOUNT}:resource-share/0f1e2d3c-4b5a-6978-8091-a2b3c4d5e6f7`;
/** RAM's request keys for sharing `parameter` with the configured OU (external principals off). */
function shareRequest(over: Record<string, string | string[]> = {}): Record<string, string | string[]> {
  return {
    "ram:Principal": SHARE.ou,
    "ram:ResourceArn": parameter,
    "ram:RequestedAllowsExternalPrincipals": "false",
    ...over,
  };
}
/** A realistic request for every action the pipeline's adapters need. */
const PIPELINE_REQUESTS: Record<string, Request> = {
  "ec2:CopyImage": { resource: image("ami-0c1"), region: REGION },
  "ec2:CreateTags": {
    resource: image("ami-0c1"),
    region: REGION,
    context: { "ec2:CreateAction": "CopyImage" },
  },
  "ec2:DeleteSnapshot": { resource: snapshot("snap-0c2"), region: REGION, context: ownImage },
  "ec2:DeregisterImage": { resource: image("ami-0c1"), region: REGION, context: ownImage },
  "ec2:DescribeImages": { resource: "*", region: REGION },
  "ec2:DescribeRegions": { resource: "*", region: HOME },
  "ec2:EnableImageDeprecation": { resource: image("ami-0c1"), region: REGION, context: ownImage },
  "ec2:DisableImageDeprecation": { resource: image("ami-0c1"), region: REGION, context: ownImage },
  "iam:CreateServiceLinkedRole": {
    resource: roleArn("aws-service-role/imagebuilder.amazonaws.com/AWSServiceRoleForImageBuilder"),
    context: { "iam:AWSServiceName": "imagebuilder.amazonaws.com" },
  },
  "iam:GetRole": {
    resource: roleArn("aws-service-role/imagebuilder.amazonaws.com/AWSServiceRoleForImageBuilder"),
  },
  "iam:GetInstanceProfile": { resource: "BUILD_PROFILE" },
  "iam:PassRole": { resource: "BUILD_ROLE", context: { "iam:PassedToService": "ec2.amazonaws.com" } },
  "kms:CreateGrant": { ...copyKey, context: { ...copyKey.context, "kms:GrantIsForAWSResource": "true" } },
  "kms:Decrypt": copyKey,
  "kms:ListGrants": { ...copyKey, context: {} },
  "kms:GetKeyPolicy": { ...copyKey, context: {} },
  "kms:RevokeGrant": { ...copyKey, context: {} },
  "ec2:DescribeImageAttribute": { resource: image("ami-0c1"), region: REGION, context: ownImage },
  "ec2:ModifyImageAttribute": { resource: image("ami-0c1"), region: REGION, context: ownImage },
  "ram:GetResourceShares": { resource: "*", region: REGION },
  "ram:GetResourceShareAssociations": { resource: "*", region: REGION },
  "ram:CreateResourceShare": { resource: "*", region: REGION, context: shareRequest() },
  "ram:AssociateResourceShare": {
    resource: parameterShare,
    region: REGION,
    context: {
      ...shareRequest(),
      "ram:ResourceShareName": "ops-rig-parameters",
      "ram:AllowsExternalPrincipals": "false",
    },
  },
  "ram:DisassociateResourceShare": {
    resource: parameterShare,
    region: REGION,
    context: { "ram:ResourceShareName": "ops-rig-parameters", "ram:Principal": SHARE.ou },
  },
  "ssm:PutResourcePolicy": { resource: parameter, region: REGION },
  "ssm:GetResourcePolicies": { resource: parameter, region: REGION },
  "ssm:DeleteResourcePolicy": { resource: parameter, region: REGION },
  "kms:DescribeKey": copyKey,
  "kms:GenerateDataKeyWithoutPlaintext": copyKey,
  "kms:ReEncryptFrom": copyKey,
  "kms:ReEncryptTo": copyKey,
  "kms:GenerateDataKey": {
    resource: "NOTIFICATION_KEY",
    region: HOME,
    context: { "kms:ViaService": `sns.${HOME}.amazonaws.com` },
  },
  "sns:Publish": { resource: "NOTIFICATION_TOPIC", region: HOME },
  "s3:PutObject": { resource: "RUN_REPORT", region: HOME },
  "ssm:GetParameter": { resource: parameter, region: REGION },
  // (Public /aws/service/... parameters have no account in their ARN, which iam-simulate cannot type.)
  "ssm:GetParameters": { resource: parameter, region: REGION },
  "ssm:GetParametersByPath": {
    resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/ops-rig`,
    region: REGION,
  },
  "ssm:GetParameterHistory": { resource: parameter, region: REGION },
  "ssm:PutParameter": { resource: parameter, region: REGION },
  "ssm:AddTagsToResource": { resource: parameter, region: REGION },
  "ssm:LabelParameterVersion": { resource: parameter, region: REGION },
  "ssm:UnlabelParameterVersion": { resource: parameter, region: REGION },
  ...Object.fromEntries(
    [
      "ListComponents",
      "ListImageRecipes",
      "ListInfrastructureConfigurations",
      "ListDistributionConfigurations",
      "ListImages",
    ].map((a) => [`imagebuilder:${a}`, { resource: "*", region: HOME }]),
  ),
  ...Object.fromEntries(
    [
      ["GetComponent", component],
      [
        "ListComponentBuildVersions",
        `arn:aws:imagebuilder:${HOME}:${ACCOUNT}:component/ops-rig-sleuthkit/1.0.0/*`,
      ],
      ["CreateComponent", component],
      [
        "GetImageRecipe",
        `arn:aws:imagebuilder:${HOME}:${ACCOUNT}:image-recipe/ops-rig-light-ubuntu-24-04-amd64/1.0.0`,
      ],
      [
        "CreateImageRecipe",
        `arn:aws:imagebuilder:${HOME}:${ACCOUNT}:image-recipe/ops-rig-light-ubuntu-24-04-amd64/1.0.0`,
      ],
      [
        "GetInfrastructureConfiguration",
        `arn:aws:imagebuilder:${HOME}:${ACCOUNT}:infrastructure-configuration/ops-rig-light-amd64`,
      ],
      [
        "CreateInfrastructureConfiguration",
        `arn:aws:imagebuilder:${HOME}:${ACCOUNT}:infrastructure-configuration/ops-rig-light-amd64`,
      ],
      [
        "UpdateInfrastructureConfiguration",
        `arn:aws:imagebuilder:${HOME}:${ACCOUNT}:infrastructure-configuration/ops-rig-light-amd64`,
      ],
      [
        "GetDistributionConfiguration",
        `arn:aws:imagebuilder:${HOME}:${ACCOUNT}:distribution-configuration/ops-rig-light-ubuntu-24-04-amd64`,
      ],
      [
        "CreateDistributionConfiguration",
        `arn:aws:imagebuilder:${HOME}:${ACCOUNT}:distribution-configuration/ops-rig-light-ubuntu-24-04-amd64`,
      ],
      [
        "UpdateDistributionConfiguration",
        `arn:aws:imagebuilder:${HOME}:${ACCOUNT}:distribution-configuration/ops-rig-light-ubuntu-24-04-amd64`,
      ],
      ["GetImage", `arn:aws:imagebuilder:${HOME}:${ACCOUNT}:image/ops-rig-light-ubuntu-24-04-amd64/1.0.0/1`],
      [
        "CreateImage",
        `arn:aws:imagebuilder:${HOME}:${ACCOUNT}:image/ops-rig-light-ubuntu-24-04-amd64/1.0.0/1`,
      ],
      [
        "CancelImageCreation",
        `arn:aws:imagebuilder:${HOME}:${ACCOUNT}:image/ops-rig-light-ubuntu-24-04-amd64/1.0.0/1`,
      ],
      [
        "ListImageBuildVersions",
        `arn:aws:imagebuilder:${HOME}:${ACCOUNT}:image/ops-rig-light-ubuntu-24-04-amd64/1.0.0/*`,
      ],
      [
        "ListTagsForResource",
        `arn:aws:imagebuilder:${HOME}:${ACCOUNT}:image/ops-rig-light-ubuntu-24-04-amd64/1.0.0/1`,
      ],
      ["TagResource", component],
    ].map(([a, resource]) => [`imagebuilder:${a}`, { resource: resource ?? "", region: HOME }]),
  ),
};
