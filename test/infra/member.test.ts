import { App } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { afterAll, describe, expect, it } from "vitest";
import { MEMBER_STACK_SET, OpsRigMemberStack } from "../../infra/lib/member.js";
import { applySuppressions } from "../../infra/lib/nag.js";
import {
  CASE_SESSION_ROLE,
  evidenceBucketName,
  RESPONDER_ACTIONS,
  type ResponderAction,
  responderRoleName,
} from "../../infra/lib/names.js";
import { cleanup, propsOf, resourcesOfType, synth, type TemplateJson } from "./helpers.js";
import {
  ACCOUNT,
  type Attempt,
  type Caller,
  evaluate,
  type Outcome,
  unsupportedConditionKeys,
  World,
} from "./simulate.js";

afterAll(cleanup);

/**
 * Member accounts: the StackSet that puts responder roles into every account of the chosen OUs, and
 * what those roles, their trust and the security account's evidence bucket and key allow, simulated
 * with iam-simulate across accounts (security account ACCOUNT, members MEMBER and MEMBER_B).
 */
const HOME = "us-east-1";
const REGION = "eu-west-1";
const ORG = "o-a1b2c3d4e5";
const OU = "ou-ab12-cdef3456";
const MEMBER = "222222222222";
const MEMBER_B = "333333333333";
const OUTSIDER = "999999999999";
const SSO = `arn:aws:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_SIRT_0123456789abcdef`;
const CONTEXT = {
  organizationId: ORG,
  memberOrganizationalUnits: [OU],
  memberRegions: [HOME, REGION],
  responderPrincipalArns: [SSO],
};
const CASE = "IR-2026-0042";
const OTHER = "IR-2026-0099";
const RIG = "i-0a1b2c3d4e5f60718";
const TARGET = "i-0123456789abcdef0";

const memberRole = (account: string, action: ResponderAction) =>
  `arn:aws:iam::${account}:role/${responderRoleName(action)}`;
const ec2 = (account: string, type: string, id: string) => `arn:aws:ec2:${REGION}:${account}:${type}/${id}`;
const evidence = (caseId: string, path: string, region = REGION) =>
  `arn:aws:s3:::${evidenceBucketName(ACCOUNT, region)}/cases/${caseId}/${path}`;
const tags = (kind: "Resource" | "Request", t: Record<string, string>) =>
  Object.fromEntries(Object.entries(t).map(([k, v]) => [`aws:${kind}Tag/${k}`, v]));
const inOrg = { "aws:PrincipalOrgID": ORG };

// ---- Callers in the security account, asking for member sessions.
const broker: Caller = {
  role: `arn:aws:iam::${ACCOUNT}:role/${CASE_SESSION_ROLE}`,
  principal: `arn:aws:sts::${ACCOUNT}:assumed-role/${CASE_SESSION_ROLE}/ops-rig-case-session`,
  context: inOrg,
};
/** A human of the security account with broad rights of its own (may assume anything IAM lets it). */
const ADMIN = {
  name: "admin",
  policy: { Statement: [{ Effect: "Allow", Action: "sts:*", Resource: "*" }] },
};
const alice = (mfa: boolean): Caller => ({
  principal: `arn:aws:iam::${ACCOUNT}:user/alice`,
  policies: [ADMIN],
  context: { ...inOrg, "aws:MultiFactorAuthPresent": mfa ? "true" : "false" },
});
const sso: Caller = {
  principal: `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_SIRT_0123456789abcdef/alice`,
  policies: [ADMIN],
  context: { ...inOrg, "aws:PrincipalArn": SSO },
};
/** An administrator of another account of the organization (a member's own, or any other). */
const foreignAdmin = (account: string, orgId = ORG): Caller => ({
  principal: `arn:aws:iam::${account}:user/mallory`,
  account,
  policies: [
    ADMIN,
    { name: "all", policy: { Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] } },
  ],
  context: { "aws:PrincipalOrgID": orgId, "aws:MultiFactorAuthPresent": "true" },
});

const sessionTags = (origin: "rig" | "human", caseId: string | null = CASE) => {
  const t: Record<string, string> = { "ops-rig:origin": origin };
  if (caseId) t["ops-rig:case"] = caseId;
  if (origin === "rig") t["ops-rig:rig"] = RIG;
  return { ...tags("Request", t), "aws:TagKeys": Object.keys(t) };
};
const assume = (
  name: string,
  caller: Caller,
  account: string,
  action: ResponderAction,
  context: Record<string, string | string[]>,
): Attempt => ({
  name,
  caller,
  action: "sts:AssumeRole",
  resource: memberRole(account, action),
  context: { ...context, "aws:ResourceOrgID": ORG, "aws:ResourceAccount": account },
});

/** A session of a member role, as the broker (rig) or a human got it. */
const session = (
  account: string,
  action: ResponderAction,
  origin: "rig" | "human",
  caseId: string | null = CASE,
): Caller => ({
  role: memberRole(account, action),
  account,
  principal: `arn:aws:sts::${account}:assumed-role/${responderRoleName(action)}/${origin === "rig" ? RIG : "alice"}`,
  context: {
    ...inOrg,
    ...(caseId ? { "aws:PrincipalTag/ops-rig:case": caseId } : {}),
    "aws:PrincipalTag/ops-rig:origin": origin,
    ...(origin === "rig" ? { "aws:PrincipalTag/ops-rig:rig": RIG, "aws:SourceIdentity": RIG } : {}),
  },
});
const caseTag = (c: string, extra: Record<string, string> = {}) =>
  tags("Resource", { "ops-rig:case": c, ...extra });
const viaS3 = (region = REGION) => ({
  "kms:ViaService": `s3.${region}.amazonaws.com`,
  "kms:EncryptionContext:aws:s3:arn": `arn:aws:s3:::${evidenceBucketName(ACCOUNT, region)}`,
});

const LEGITIMATE: Attempt[] = [
  assume("the broker gets a member snapshot session for its rig's case", broker, MEMBER, "snapshot", {
    ...sessionTags("rig"),
    "sts:SourceIdentity": RIG,
  }),
  assume("the broker gets a member inspect session in the second member", broker, MEMBER_B, "inspect", {
    ...sessionTags("rig"),
  }),
  assume(
    "a security-account human with MFA gets a member quarantine session",
    alice(true),
    MEMBER,
    "quarantine",
    {
      ...sessionTags("human"),
    },
  ),
  assume("a configured SSO responder gets a member terminate session", sso, MEMBER, "terminate", {
    ...sessionTags("human"),
  }),
  {
    name: "a rig's member session snapshots a case volume",
    caller: session(MEMBER, "snapshot", "rig"),
    action: "ec2:CreateSnapshot",
    resource: ec2(MEMBER, "volume", "vol-0a1"),
    region: REGION,
    context: caseTag(CASE),
  },
  {
    name: "a rig's member session reads a case instance's console",
    caller: session(MEMBER, "inspect", "rig"),
    action: "ec2:GetConsoleOutput",
    resource: ec2(MEMBER, "instance", TARGET),
    region: REGION,
    context: caseTag(CASE),
  },
  {
    name: "a rig's member session describes instances",
    caller: session(MEMBER, "inspect", "rig"),
    action: "ec2:DescribeInstances",
    resource: "*",
    region: REGION,
  },
  {
    name: "a human's member session isolates a case interface",
    caller: session(MEMBER, "quarantine", "human"),
    action: "ec2:ModifyNetworkInterfaceAttribute",
    resource: ec2(MEMBER, "network-interface", "eni-0123456789abcdef0"),
    region: REGION,
    context: caseTag(CASE),
  },
  {
    name: "a human's member session terminates a quarantined case instance",
    caller: session(MEMBER, "terminate", "human"),
    action: "ec2:TerminateInstances",
    resource: ec2(MEMBER, "instance", TARGET),
    region: REGION,
    context: caseTag(CASE, { "ops-rig:quarantined": "true" }),
  },
  {
    name: "a rig's member memory-capture session writes its case's capture to the security account",
    caller: session(MEMBER, "memory-capture", "rig"),
    action: "s3:PutObject",
    resource: evidence(CASE, `memory/${TARGET}.lime`),
    region: REGION,
  },
  {
    name: "a member inspect session stores its report in the security account",
    caller: session(MEMBER_B, "inspect", "human"),
    action: "s3:PutObject",
    resource: evidence(CASE, `inspect/${TARGET}-0123456789abcdef.json`),
    region: REGION,
  },
  {
    name: "a member snapshot session records custody in the security account",
    caller: session(MEMBER, "snapshot", "rig"),
    action: "s3:PutObject",
    resource: evidence(CASE, "custody/snapshot-snap-0a2.json"),
    region: REGION,
  },
  {
    name: "a member memory-capture session encrypts with the security account's evidence key",
    caller: session(MEMBER, "memory-capture", "rig"),
    action: "kms:GenerateDataKey",
    resource: "EVIDENCE_KEY",
    region: REGION,
    context: viaS3(),
  },
];

const ATTACKS: Attempt[] = [
  {
    name: "a rig's member session snapshots another case's volume",
    caller: session(MEMBER, "snapshot", "rig"),
    action: "ec2:CreateSnapshot",
    resource: ec2(MEMBER, "volume", "vol-0a1"),
    region: REGION,
    context: caseTag(OTHER),
  },
  {
    name: "a rig's member session reads another case's instance console",
    caller: session(MEMBER, "inspect", "rig"),
    action: "ec2:GetConsoleOutput",
    resource: ec2(MEMBER, "instance", TARGET),
    region: REGION,
    context: caseTag(OTHER),
  },
  {
    name: "a member session without the case tag snapshots a case volume",
    caller: session(MEMBER, "snapshot", "human", null),
    action: "ec2:CreateSnapshot",
    resource: ec2(MEMBER, "volume", "vol-0a1"),
    region: REGION,
    context: caseTag(CASE),
  },
  assume("the broker asks for a member session without the case tag", broker, MEMBER, "snapshot", {
    ...sessionTags("rig", null),
  }),
  assume("a human asks for a member session without the case tag", alice(true), MEMBER, "inspect", {
    ...sessionTags("human", null),
  }),
  assume("a security-account human without MFA", alice(false), MEMBER, "quarantine", sessionTags("human")),
  assume("the broker asks for a member quarantine session", broker, MEMBER, "quarantine", sessionTags("rig")),
  assume("the broker asks for a member terminate session", broker, MEMBER, "terminate", sessionTags("rig")),
  assume("the broker passes a rig session off as human", broker, MEMBER, "snapshot", sessionTags("human")),
  assume(
    "an administrator of the member account itself",
    foreignAdmin(MEMBER),
    MEMBER,
    "terminate",
    sessionTags("human"),
  ),
  assume(
    "an administrator of another member account",
    foreignAdmin(MEMBER_B),
    MEMBER,
    "snapshot",
    sessionTags("human"),
  ),
  assume(
    "a principal from outside the organization",
    foreignAdmin(OUTSIDER, "o-zzzzzzzzzz"),
    MEMBER,
    "inspect",
    sessionTags("human"),
  ),
  {
    name: "terminate from a rig session (had it one)",
    caller: session(MEMBER, "terminate", "rig"),
    action: "ec2:TerminateInstances",
    resource: ec2(MEMBER, "instance", TARGET),
    region: REGION,
    context: caseTag(CASE, { "ops-rig:quarantined": "true" }),
  },
  {
    name: "a member session acts in a region outside memberRegions",
    caller: session(MEMBER, "snapshot", "rig"),
    action: "ec2:CreateSnapshot",
    resource: `arn:aws:ec2:ap-southeast-2:${MEMBER}:volume/vol-0a1`,
    region: "ap-southeast-2",
    context: caseTag(CASE),
  },
  {
    name: "a member memory-capture session writes into another case",
    caller: session(MEMBER, "memory-capture", "rig"),
    action: "s3:PutObject",
    resource: evidence(OTHER, `memory/${TARGET}.lime`),
    region: REGION,
  },
  {
    name: "a member inspect session overwrites a memory capture",
    caller: session(MEMBER, "inspect", "human"),
    action: "s3:PutObject",
    resource: evidence(CASE, `memory/${TARGET}.lime`),
    region: REGION,
  },
  {
    name: "a member session reads evidence",
    caller: session(MEMBER, "memory-capture", "rig"),
    action: "s3:GetObject",
    resource: evidence(CASE, `memory/${TARGET}.lime`),
    region: REGION,
  },
  {
    name: "a member account's own administrator writes evidence",
    caller: foreignAdmin(MEMBER),
    action: "s3:PutObject",
    resource: evidence(CASE, `memory/${TARGET}.lime`),
    region: REGION,
  },
  {
    name: "a member account's administrator uses the evidence key",
    caller: foreignAdmin(MEMBER),
    action: "kms:GenerateDataKey",
    resource: "EVIDENCE_KEY",
    region: REGION,
    context: viaS3(),
  },
  {
    name: "a member session decrypts with the evidence key outside S3",
    caller: session(MEMBER, "memory-capture", "rig"),
    action: "kms:Decrypt",
    resource: "EVIDENCE_KEY",
    region: REGION,
  },
  {
    name: "a same-named role outside the organization writes evidence",
    caller: {
      account: OUTSIDER,
      principal: session(OUTSIDER, "memory-capture", "rig").principal,
      policies: [{ name: "all", policy: { Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] } }],
      context: {
        ...session(OUTSIDER, "memory-capture", "rig").context,
        "aws:PrincipalOrgID": "o-zzzzzzzzzz",
        "aws:PrincipalArn": memberRole(OUTSIDER, "memory-capture"),
      },
    },
    action: "s3:PutObject",
    resource: evidence(CASE, `memory/${TARGET}.lime`),
    region: REGION,
  },
];

async function worldOf(context: Record<string, unknown> = CONTEXT) {
  const s = await synth(context);
  const member = s.stack.memberTemplate as unknown as TemplateJson;
  const world = new World([
    { region: s.stack.region, json: s.json },
    ...s.regionalStacks.map((r) => ({ region: r.region, json: s.regionalJson(r.stackName) })),
    { region: HOME, json: member, account: MEMBER },
    { region: HOME, json: member, account: MEMBER_B },
  ]);
  return { s, member, world };
}

const withKey = (world: World, a: Attempt): Attempt =>
  a.resource === "EVIDENCE_KEY" ? { ...a, resource: world.keyArn(a.region ?? REGION) } : a;

async function outcomes(world: World, attempts: readonly Attempt[]) {
  return Promise.all(
    attempts.map(async (a) => ({
      name: a.name,
      outcome: (await evaluate(world, withKey(world, a))) as Outcome,
    })),
  );
}

describe("the member-account StackSet (synthesized)", { timeout: 240_000 }, () => {
  it("is absent without an organization", async () => {
    const s = await synth({});
    expect(resourcesOfType(s.json, "AWS::CloudFormation::StackSet")).toEqual([]);
    expect(s.stack.memberTemplate).toBeUndefined();
  });

  it("is service-managed, auto-deploys to the OUs, one instance per account in the home region", async () => {
    const { s, member } = await worldOf();
    const sets = resourcesOfType(s.json, "AWS::CloudFormation::StackSet");
    expect(sets).toHaveLength(1);
    const p = propsOf(sets[0]?.[1]);
    expect(p).toMatchObject({
      StackSetName: MEMBER_STACK_SET,
      PermissionModel: "SERVICE_MANAGED",
      CallAs: "DELEGATED_ADMIN",
      AutoDeployment: { Enabled: true, RetainStacksOnAccountRemoval: false },
      Capabilities: ["CAPABILITY_NAMED_IAM"],
      StackInstancesGroup: [{ DeploymentTargets: { OrganizationalUnitIds: [OU] }, Regions: [HOME] }],
    });
    // The template body is the member template, embedded (no bootstrap parameter: members have none).
    expect(JSON.parse(p.TemplateBody as string)).toEqual(member);
    expect(Buffer.byteLength(p.TemplateBody as string)).toBeLessThanOrEqual(51_200);
    expect(JSON.stringify(member)).not.toMatch(/BootstrapVersion|AWS::CDK::Metadata|Fn::ImportValue/);
    const roles = resourcesOfType(member, "AWS::IAM::Role").map(([, r]) => propsOf(r).RoleName);
    expect(roles.sort()).toEqual(RESPONDER_ACTIONS.map(responderRoleName).sort());
    // The roles act in memberRegions only and name the security account's evidence buckets.
    const text = JSON.stringify(member);
    expect(text).toContain(`"aws:RequestedRegion":["${HOME}","${REGION}"]`);
    expect(text).toContain(evidenceBucketName(ACCOUNT, REGION));
    expect(text).not.toContain("ap-southeast-2");
    console.log(`[member] template body ${Buffer.byteLength(p.TemplateBody as string)} bytes`);
  });

  it("trusts only the security account's broker, humans and SSO roles, within the organization", async () => {
    const { member } = await worldOf();
    for (const [, r] of resourcesOfType(member, "AWS::IAM::Role")) {
      const trust = propsOf(r).AssumeRolePolicyDocument as {
        Statement: { Principal: { AWS: unknown }; Condition: Record<string, Record<string, unknown>> }[];
      };
      for (const st of trust.Statement) {
        const principal = JSON.stringify(st.Principal.AWS);
        expect(principal).toMatch(
          new RegExp(`arn:aws:iam::${ACCOUNT}:(root|role/${CASE_SESSION_ROLE}|role/aws-reserved/sso)`),
        );
        expect(st.Condition.StringEquals?.["aws:PrincipalOrgID"]).toBe(ORG);
      }
    }
  });

  it("pins every anyone-principal the organization adds by principal ARN and organization", async () => {
    const { s } = await worldOf();
    const pinned: string[] = [];
    for (const r of s.regionalStacks) {
      for (const [, res] of Object.entries(s.regionalJson(r.stackName).Resources)) {
        const doc = (res.Properties?.PolicyDocument ?? res.Properties?.KeyPolicy) as
          | { Statement: { Sid?: string; Effect: string; Principal?: unknown; Condition?: unknown }[] }
          | undefined;
        for (const st of doc?.Statement ?? []) {
          if (st.Effect !== "Allow" || !st.Sid?.startsWith("Member")) continue;
          expect(JSON.stringify(st.Principal)).toBe('{"AWS":"*"}');
          expect(JSON.stringify(st.Condition)).toContain(`"aws:PrincipalOrgID":"${ORG}"`);
          expect(JSON.stringify(st.Condition)).toContain(
            '"aws:PrincipalArn":["arn:aws:iam::*:role/ops-rig-responder-',
          );
          pinned.push(`${r.region}/${st.Sid}`);
        }
      }
    }
    // Bucket and key, in each member region only (ap-southeast-2 is configured but not a member region).
    expect(pinned.sort()).toEqual(
      [HOME, REGION]
        .flatMap((region) => [
          `${region}/MemberCapturePathsEncryptThroughS3`,
          `${region}/MemberCapturePathsWriteTheirCase`,
        ])
        .sort(),
    );
  });

  it("passes cdk-nag with every finding acknowledged", async () => {
    const app = new App();
    const stack = new OpsRigMemberStack(app, "Probe", {
      securityAccount: ACCOUNT,
      organizationId: ORG,
      homeRegion: HOME,
      regions: [HOME, REGION],
      responderPrincipalArns: [SSO],
    });
    const before = new AwsSolutionsChecks(app).validateScope(stack);
    // Without the acknowledgements the wildcards are findings: the check is not vacuous.
    expect(before.violations.length).toBeGreaterThan(0);
    applySuppressions(stack, stack.acknowledgements);
    const after = new AwsSolutionsChecks(app).validateScope(stack);
    expect(after.violations.map((v) => v.ruleName)).toEqual([]);
  });
});

describe("member-account roles, simulated across accounts (iam-simulate)", { timeout: 240_000 }, () => {
  it(`allows the legitimate cross-account steps (${LEGITIMATE.length})`, async () => {
    const { world } = await worldOf();
    const results = await outcomes(world, LEGITIMATE);
    expect(results.filter((r) => r.outcome !== "Allowed")).toEqual([]);
  });

  it(`denies every attack on the member roles and the evidence path (${ATTACKS.length})`, async () => {
    const { world } = await worldOf();
    const results = await outcomes(world, ATTACKS);
    expect(results.filter((r) => r.outcome === "Allowed").map((r) => r.name)).toEqual([]);
    console.log(`[member] ${ATTACKS.length} attacks denied, ${LEGITIMATE.length} legitimate steps allowed`);
  });

  it("uses only condition keys the actions support, in every statement of the organization's templates", async () => {
    const { world } = await worldOf();
    const problems: string[] = [];
    let statements = 0;
    for (const { owner, doc } of world.documents) {
      for (const statement of doc.Statement) {
        statements++;
        for (const p of await unsupportedConditionKeys(statement))
          problems.push(`${owner}/${String(statement.Sid ?? "?")}: ${p}`);
      }
    }
    expect(problems).toEqual([]);
    expect(statements).toBeGreaterThan(100);
  });

  it("fails when the organization condition is dropped from the bucket's member allow", async () => {
    const { s } = await worldOf();
    const attempt = ATTACKS.find(
      (a) => a.name === "a same-named role outside the organization writes evidence",
    );
    if (!attempt) throw new Error("attempt missing");
    const regional = s.regionalStacks.find((r) => r.region === REGION);
    if (!regional) throw new Error("no regional stack");
    const widened = structuredClone(s.regionalJson(regional.stackName)) as TemplateJson;
    let found = 0;
    for (const r of Object.values(widened.Resources)) {
      const doc = r.Properties?.PolicyDocument as
        | { Statement?: { Sid?: string; Condition?: Record<string, Record<string, unknown>> }[] }
        | undefined;
      for (const st of doc?.Statement ?? []) {
        if (st.Sid === "MemberCapturePathsWriteTheirCase" && st.Condition?.StringEquals) {
          delete st.Condition.StringEquals["aws:PrincipalOrgID"];
          found++;
        }
      }
    }
    expect(found).toBe(1);
    const world = (json: TemplateJson) =>
      new World([
        { region: s.stack.region, json: s.json },
        { region: REGION, json },
      ]);
    expect(await evaluate(world(s.regionalJson(regional.stackName)), attempt)).not.toBe("Allowed");
    expect(await evaluate(world(widened), attempt)).toBe("Allowed");
  });
});
