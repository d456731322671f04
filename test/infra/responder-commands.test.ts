import { afterAll, describe, expect, it } from "vitest";
import { evidenceBucketName, type ResponderAction, responderRoleName } from "../../infra/lib/names.js";
import { cleanup, synth } from "./helpers.js";
import { ACCOUNT, type Attempt, type Caller, evaluate, World } from "./simulate.js";

afterAll(cleanup);

/**
 * Every AWS call the responder commands make (src/aws/responders/adapter.ts), made by the role of its
 * outcome in a human session of the case: all allowed. And what a compromised rig or a careless
 * human would do with the same roles: all denied. Simulated against the synthesized templates.
 */
const REGION = "eu-west-1";
const CASE = "IR-2026-0042";
const OTHER = "IR-2026-0099";
const RIG = "i-0a1b2c3d4e5f60718";
const TARGET = "i-0123456789abcdef0";
const ENI = "eni-0123456789abcdef0";
const ec2 = (type: string, id: string) => `arn:aws:ec2:${REGION}:${ACCOUNT}:${type}/${id}`;
const snapshot = (id: string) => `arn:aws:ec2:${REGION}::snapshot/${id}`;
const bucket = () => `arn:aws:s3:::${evidenceBucketName(ACCOUNT, REGION)}`;
const object = (caseId: string, path: string) => `${bucket()}/cases/${caseId}/${path}`;
const tags = (kind: "Resource" | "Request", t: Record<string, string>) =>
  Object.fromEntries(Object.entries(t).map(([k, v]) => [`aws:${kind}Tag/${k}`, v]));
const caseTag = (c: string, extra: Record<string, string> = {}) =>
  tags("Resource", { "ops-rig:case": c, ...extra });
const writeTags = (resourceCase: string | undefined, t: Record<string, string>) => ({
  ...(resourceCase ? caseTag(resourceCase) : {}),
  ...tags("Request", t),
  "aws:TagKeys": Object.keys(t),
});
const removeTags = (resourceCase: string, keys: string[]) => ({
  ...caseTag(resourceCase),
  "aws:TagKeys": keys,
});
const viaS3 = {
  "kms:ViaService": `s3.${REGION}.amazonaws.com`,
  "kms:EncryptionContext:aws:s3:arn": bucket(),
};

const session = (action: ResponderAction, origin: "human" | "rig", caseId = CASE): Caller => ({
  role: responderRoleName(action),
  principal: `arn:aws:sts::${ACCOUNT}:assumed-role/${responderRoleName(action)}/${origin === "rig" ? RIG : "alice"}`,
  context: {
    "aws:PrincipalTag/ops-rig:case": caseId,
    "aws:PrincipalTag/ops-rig:origin": origin,
    ...(origin === "rig" ? { "aws:PrincipalTag/ops-rig:rig": RIG, "aws:SourceIdentity": RIG } : {}),
    ...(origin === "human" ? { "aws:MultiFactorAuthPresent": "true" } : {}),
  },
});
const human = (action: ResponderAction) => session(action, "human");
const rig = (action: ResponderAction) => session(action, "rig");
const describes = (action: ResponderAction, names: string[]): Attempt[] =>
  names.map((n) => ({ name: `${action} reads ${n}`, caller: human(action), action: n, resource: "*" }));
const TARGET_READS = [
  "ec2:DescribeInstances",
  "ec2:DescribeNetworkInterfaces",
  "ec2:DescribeIamInstanceProfileAssociations",
  "ec2:DescribeVolumes",
];
const claim = (action: ResponderAction, type: string, id: string): Attempt => ({
  name: `${action}: a human claims an unclaimed ${type} for the case`,
  caller: human(action),
  action: "ec2:CreateTags",
  resource: ec2(type, id),
  context: writeTags(undefined, { "ops-rig:case": CASE }),
});

const COMMANDS: Record<string, Attempt[]> = {
  inspect: [
    ...describes("inspect", [
      ...TARGET_READS,
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeFlowLogs",
      "cloudtrail:LookupEvents",
    ]),
    claim("inspect", "instance", TARGET),
    claim("inspect", "volume", "vol-0a1"),
    claim("inspect", "network-interface", ENI),
    {
      name: "inspect reads the profile",
      caller: human("inspect"),
      action: "iam:GetInstanceProfile",
      resource: `arn:aws:iam::${ACCOUNT}:instance-profile/web`,
    },
    {
      name: "inspect lists attached policies",
      caller: human("inspect"),
      action: "iam:ListAttachedRolePolicies",
      resource: `arn:aws:iam::${ACCOUNT}:role/web`,
    },
    {
      name: "inspect lists inline policies",
      caller: human("inspect"),
      action: "iam:ListRolePolicies",
      resource: `arn:aws:iam::${ACCOUNT}:role/web`,
    },
    {
      name: "inspect stores its report",
      caller: human("inspect"),
      action: "s3:PutObject",
      resource: object(CASE, `inspect/${TARGET}-0123456789abcdef.json`),
    },
    {
      name: "inspect records custody",
      caller: human("inspect"),
      action: "s3:PutObject",
      resource: object(CASE, `custody/inspect-${TARGET}.json`),
    },
    {
      name: "inspect encrypts through S3",
      caller: human("inspect"),
      action: "kms:GenerateDataKey",
      resource: "EVIDENCE_KEY",
      context: viaS3,
    },
  ],
  isolate: [
    ...describes("quarantine", [...TARGET_READS, "ec2:DescribeSecurityGroups", "ec2:DescribeFlowLogs"]),
    claim("quarantine", "instance", TARGET),
    {
      name: "isolate records the previous groups",
      caller: human("quarantine"),
      action: "ec2:CreateTags",
      resource: ec2("network-interface", ENI),
      context: writeTags(CASE, { "ops-rig:previous-groups": "sg-1 sg-2" }),
    },
    {
      name: "isolate swaps the interface (interface)",
      caller: human("quarantine"),
      action: "ec2:ModifyNetworkInterfaceAttribute",
      resource: ec2("network-interface", ENI),
      context: caseTag(CASE),
    },
    {
      name: "isolate swaps the interface (quarantine group)",
      caller: human("quarantine"),
      action: "ec2:ModifyNetworkInterfaceAttribute",
      resource: ec2("security-group", "sg-0q"),
      context: tags("Resource", { "ops-rig:purpose": "quarantine", "ops-rig:managed-by": "ops-rig" }),
    },
    {
      name: "isolate records the previous profile",
      caller: human("quarantine"),
      action: "ec2:CreateTags",
      resource: ec2("instance", TARGET),
      context: writeTags(CASE, { "ops-rig:previous-profile": "arn:aws:iam::1:instance-profile/web" }),
    },
    {
      name: "isolate removes the profile",
      caller: human("quarantine"),
      action: "ec2:DisassociateIamInstanceProfile",
      resource: ec2("instance", TARGET),
      context: caseTag(CASE),
    },
    {
      name: "isolate marks the instance",
      caller: human("quarantine"),
      action: "ec2:CreateTags",
      resource: ec2("instance", TARGET),
      context: writeTags(CASE, { "ops-rig:quarantined": "true" }),
    },
  ],
  release: [
    {
      name: "release restores a workload group",
      caller: human("quarantine"),
      action: "ec2:ModifyNetworkInterfaceAttribute",
      resource: ec2("security-group", "sg-0web"),
    },
    {
      name: "release forgets the groups",
      caller: human("quarantine"),
      action: "ec2:DeleteTags",
      resource: ec2("network-interface", ENI),
      context: removeTags(CASE, ["ops-rig:previous-groups"]),
    },
    {
      name: "release restores the profile",
      caller: human("quarantine"),
      action: "ec2:AssociateIamInstanceProfile",
      resource: ec2("instance", TARGET),
      context: caseTag(CASE),
    },
    {
      name: "release passes the workload's role back",
      caller: human("quarantine"),
      action: "iam:PassRole",
      resource: `arn:aws:iam::${ACCOUNT}:role/web`,
      context: { "iam:PassedToService": "ec2.amazonaws.com" },
    },
    {
      name: "release forgets profile and quarantine",
      caller: human("quarantine"),
      action: "ec2:DeleteTags",
      resource: ec2("instance", TARGET),
      context: removeTags(CASE, ["ops-rig:previous-profile", "ops-rig:quarantined"]),
    },
  ],
  snapshot: [
    ...describes("snapshot", [...TARGET_READS, "ec2:DescribeSnapshots"]),
    claim("snapshot", "volume", "vol-0a1"),
    {
      name: "snapshot a case volume",
      caller: human("snapshot"),
      action: "ec2:CreateSnapshot",
      resource: ec2("volume", "vol-0a1"),
      context: caseTag(CASE),
    },
    {
      name: "the snapshot carries the case and the volume's tags",
      caller: human("snapshot"),
      action: "ec2:CreateSnapshot",
      resource: snapshot("*"),
      context: tags("Request", { "ops-rig:case": CASE, app: "web" }),
    },
    {
      name: "tags at creation",
      caller: human("snapshot"),
      action: "ec2:CreateTags",
      resource: snapshot("snap-0a2"),
      context: {
        ...tags("Request", { "ops-rig:case": CASE, app: "web" }),
        "ec2:CreateAction": "CreateSnapshot",
      },
    },
    {
      name: "snapshot custody",
      caller: human("snapshot"),
      action: "s3:PutObject",
      resource: object(CASE, "custody/snapshot-snap-0a2.json"),
    },
    {
      name: "snapshot custody encrypted",
      caller: human("snapshot"),
      action: "kms:GenerateDataKey",
      resource: "EVIDENCE_KEY",
      context: viaS3,
    },
    {
      name: "a rig session records custody of its case",
      caller: rig("snapshot"),
      action: "s3:PutObject",
      resource: object(CASE, "custody/snapshot-snap-0a2.json"),
    },
  ],
  attach: [
    {
      name: "evidence copy from a case snapshot",
      caller: human("snapshot"),
      action: "ec2:CreateVolume",
      resource: snapshot("snap-0a2"),
      context: caseTag(CASE),
    },
    {
      name: "evidence copy tagged",
      caller: human("snapshot"),
      action: "ec2:CreateVolume",
      resource: ec2("volume", "*"),
      context: tags("Request", { "ops-rig:case": CASE, "ops-rig:evidence-copy": "true", "ops-rig:rig": RIG }),
    },
    {
      name: "attach to the case rig (rig)",
      caller: human("snapshot"),
      action: "ec2:AttachVolume",
      resource: ec2("instance", RIG),
      context: caseTag(CASE, { "ops-rig:role": "forensic" }),
    },
    {
      name: "attach to the case rig (volume)",
      caller: human("snapshot"),
      action: "ec2:AttachVolume",
      resource: ec2("volume", "vol-0c1"),
      context: caseTag(CASE, { "ops-rig:evidence-copy": "true" }),
    },
  ],
  "capture-memory": [
    ...describes("memory-capture", [
      ...TARGET_READS,
      "ec2:DescribeInstanceTypes",
      "ssm:DescribeInstanceInformation",
      "ssm:ListCommands",
      "ssm:GetCommandInvocation",
    ]),
    {
      name: "start the capture upload",
      caller: human("memory-capture"),
      action: "s3:PutObject",
      resource: object(CASE, `memory/${TARGET}.lime`),
    },
    {
      name: "record the upload",
      caller: human("memory-capture"),
      action: "ec2:CreateTags",
      resource: ec2("instance", TARGET),
      context: writeTags(CASE, { "ops-rig:memory-upload": "abc" }),
    },
    {
      name: "run the capture (instance)",
      caller: human("memory-capture"),
      action: "ssm:SendCommand",
      resource: ec2("instance", TARGET),
      context: { "ssm:resourceTag/ops-rig:case": CASE },
    },
    {
      name: "run the capture (document)",
      caller: human("memory-capture"),
      action: "ssm:SendCommand",
      resource: `arn:aws:ssm:${REGION}::document/AWS-RunShellScript`,
    },
    {
      name: "record the hash",
      caller: human("memory-capture"),
      action: "ec2:CreateTags",
      resource: ec2("instance", TARGET),
      context: writeTags(CASE, { "ops-rig:memory-sha256": "ab".repeat(32) }),
    },
    {
      name: "forget the upload",
      caller: human("memory-capture"),
      action: "ec2:DeleteTags",
      resource: ec2("instance", TARGET),
      context: removeTags(CASE, ["ops-rig:memory-upload"]),
    },
    {
      name: "capture custody",
      caller: human("memory-capture"),
      action: "s3:PutObject",
      resource: object(CASE, `custody/memory-${TARGET}.json`),
    },
  ],
  "ssh-route": [
    ...describes("ssh-route", [
      "ec2:DescribeInstances",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeSecurityGroups",
    ]),
    {
      name: "mark the route",
      caller: human("ssh-route"),
      action: "ec2:CreateTags",
      resource: ec2("network-interface", ENI),
      context: writeTags(CASE, { "ops-rig:ssh-route": RIG }),
    },
    {
      name: "add the route group (interface)",
      caller: human("ssh-route"),
      action: "ec2:ModifyNetworkInterfaceAttribute",
      resource: ec2("network-interface", ENI),
      context: caseTag(CASE),
    },
    {
      name: "unmark the route",
      caller: human("ssh-route"),
      action: "ec2:DeleteTags",
      resource: ec2("network-interface", ENI),
      context: removeTags(CASE, ["ops-rig:ssh-route"]),
    },
  ],
  terminate: [
    ...describes("terminate", ["ec2:DescribeInstances", "ec2:DescribeSnapshots"]),
    {
      name: "record the termination",
      caller: human("terminate"),
      action: "s3:PutObject",
      resource: object(CASE, `custody/terminated-${TARGET}.json`),
    },
    {
      name: "terminate the quarantined target",
      caller: human("terminate"),
      action: "ec2:TerminateInstances",
      resource: ec2("instance", TARGET),
      context: caseTag(CASE, { "ops-rig:quarantined": "true" }),
    },
  ],
};

const ABUSE: Attempt[] = [
  {
    name: "a rig session runs commands on a case instance",
    caller: rig("memory-capture"),
    action: "ssm:SendCommand",
    resource: ec2("instance", TARGET),
    context: { "ssm:resourceTag/ops-rig:case": CASE },
  },
  {
    name: "a human runs the capture on another case's instance",
    caller: human("memory-capture"),
    action: "ssm:SendCommand",
    resource: ec2("instance", TARGET),
    context: { "ssm:resourceTag/ops-rig:case": OTHER },
  },
  {
    name: "a human runs another document",
    caller: human("memory-capture"),
    action: "ssm:SendCommand",
    resource: `arn:aws:ssm:${REGION}::document/AWS-RunPowerShellScript`,
  },
  {
    name: "release passes ops-rig's forensic role to a workload",
    caller: human("quarantine"),
    action: "iam:PassRole",
    resource: `arn:aws:iam::${ACCOUNT}:role/ops-rig-forensic`,
    context: { "iam:PassedToService": "ec2.amazonaws.com" },
  },
  {
    name: "release passes a role to another service",
    caller: human("quarantine"),
    action: "iam:PassRole",
    resource: `arn:aws:iam::${ACCOUNT}:role/web`,
    context: { "iam:PassedToService": "lambda.amazonaws.com" },
  },
  {
    name: "claim an instance of another case",
    caller: human("quarantine"),
    action: "ec2:CreateTags",
    resource: ec2("instance", TARGET),
    context: writeTags(OTHER, { "ops-rig:case": CASE }),
  },
  {
    name: "a rig session claims an unclaimed instance",
    caller: rig("inspect"),
    action: "ec2:CreateTags",
    resource: ec2("instance", TARGET),
    context: writeTags(undefined, { "ops-rig:case": CASE }),
  },
  {
    name: "claim for another case",
    caller: human("inspect"),
    action: "ec2:CreateTags",
    resource: ec2("instance", TARGET),
    context: writeTags(undefined, { "ops-rig:case": OTHER }),
  },
  {
    name: "claim with a second tag",
    caller: human("inspect"),
    action: "ec2:CreateTags",
    resource: ec2("instance", TARGET),
    context: writeTags(undefined, { "ops-rig:case": CASE, Name: "x" }),
  },
  {
    name: "quarantine writes an unrelated tag on a case instance",
    caller: human("quarantine"),
    action: "ec2:CreateTags",
    resource: ec2("instance", TARGET),
    context: writeTags(CASE, { Owner: "mallory" }),
  },
  {
    name: "quarantine moves a case instance to another case",
    caller: human("quarantine"),
    action: "ec2:CreateTags",
    resource: ec2("instance", TARGET),
    context: writeTags(CASE, { "ops-rig:case": OTHER }),
  },
  {
    name: "quarantine removes a case instance's case tag",
    caller: human("quarantine"),
    action: "ec2:DeleteTags",
    resource: ec2("instance", TARGET),
    context: removeTags(CASE, ["ops-rig:case"]),
  },
  {
    name: "quarantine strips another case's profile",
    caller: human("quarantine"),
    action: "ec2:DisassociateIamInstanceProfile",
    resource: ec2("instance", TARGET),
    context: caseTag(OTHER),
  },
  {
    name: "inspect writes into another case",
    caller: human("inspect"),
    action: "s3:PutObject",
    resource: object(OTHER, "inspect/x.json"),
  },
  {
    name: "inspect overwrites a memory capture",
    caller: human("inspect"),
    action: "s3:PutObject",
    resource: object(CASE, `memory/${TARGET}.lime`),
  },
  {
    name: "a rig session forges custody of another case",
    caller: rig("snapshot"),
    action: "s3:PutObject",
    resource: object(OTHER, "custody/x.json"),
  },
  {
    name: "terminate writes a memory capture",
    caller: human("terminate"),
    action: "s3:PutObject",
    resource: object(CASE, `memory/${TARGET}.lime`),
  },
  {
    name: "ssh-route writes evidence",
    caller: human("ssh-route"),
    action: "s3:PutObject",
    resource: object(CASE, "custody/x.json"),
  },
  {
    name: "ssh-route marks an instance quarantined",
    caller: human("ssh-route"),
    action: "ec2:CreateTags",
    resource: ec2("network-interface", ENI),
    context: writeTags(CASE, { "ops-rig:quarantined": "true" }),
  },
  {
    name: "a rig session records a forged hash on another case",
    caller: rig("memory-capture"),
    action: "ec2:CreateTags",
    resource: ec2("instance", TARGET),
    context: writeTags(OTHER, { "ops-rig:memory-sha256": "00" }),
  },
  {
    name: "a rig session reads instance profile policies",
    caller: rig("inspect"),
    action: "iam:GetInstanceProfile",
    resource: `arn:aws:iam::${ACCOUNT}:instance-profile/web`,
  },
  {
    name: "a rig session lists capture parts",
    caller: rig("memory-capture"),
    action: "s3:ListMultipartUploadParts",
    resource: object(CASE, `memory/${TARGET}.lime`),
  },
  {
    name: "a human terminates an unquarantined workload",
    caller: human("terminate"),
    action: "ec2:TerminateInstances",
    resource: ec2("instance", TARGET),
    context: caseTag(CASE),
  },
];

const withKey = (world: World, a: Attempt): Attempt =>
  a.resource === "EVIDENCE_KEY" ? { ...a, resource: world.keyArn(a.region ?? REGION) } : a;

describe("the responder commands' calls, simulated against the synthesized roles (iam-simulate)", {
  timeout: 240_000,
}, () => {
  it("allows every call each command makes, in a human session of its case", async () => {
    const world = World.of(await synth({}));
    const all = Object.entries(COMMANDS).flatMap(([command, attempts]) =>
      attempts.map((a) => ({ command, a })),
    );
    const results = await Promise.all(
      all.map(async ({ command, a }) => ({
        command,
        name: a.name,
        outcome: await evaluate(world, withKey(world, a)),
      })),
    );
    expect(results.filter((r) => r.outcome !== "Allowed")).toEqual([]);
    console.log(
      `[responder commands] ${results.length} calls of ${Object.keys(COMMANDS).length} commands allowed`,
    );
  });

  it("denies every abuse of the same roles", async () => {
    const world = World.of(await synth({}));
    const results = await Promise.all(
      ABUSE.map(async (a) => ({ name: a.name, outcome: await evaluate(world, a) })),
    );
    expect(results.filter((r) => r.outcome === "Allowed").map((r) => r.name)).toEqual([]);
    console.log(`[responder commands] ${results.length} abuses denied`);
  });
});
