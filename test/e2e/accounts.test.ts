import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateSecurityGroupCommand,
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSnapshotsCommand,
  DescribeVpcsCommand,
  EC2Client,
  RunInstancesCommand,
} from "@aws-sdk/client-ec2";
import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  IAMClient,
} from "@aws-sdk/client-iam";
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCaseSessionAdapter } from "../../src/aws/case-session.js";
import { issueCaseSession } from "../../src/services/case-session.js";
import { lendMoto, type MotoServer } from "../emulators/moto.js";
import { type ResponderFront, startResponderFront } from "../emulators/responder-front.js";
import { runCli } from "../helpers/project.js";
import { cleanup, synth } from "../infra/helpers.js";
import { evaluate, World } from "../infra/simulate.js";

/**
 * A security account and two member accounts on one moto (moto keys the account by the caller's
 * access key; AssumeRole into `arn:aws:iam::<member>:role/...` hands out keys of that account). The
 * rig path (the case-session broker's member sessions) inspects and snapshots, a human's `--account`
 * path isolates, an instance in a member account; evidence lands in the security account's bucket.
 *
 * What moto 5.2.1 does with AssumeRole, observed here: it checks neither the trust policy nor the
 * session tags and does not even need the role to exist (the first test shows it), so the refusal of
 * a session without the case tag cannot be observed on moto. It is proved instead by simulating the
 * synthesized member template (iam-simulate) with the exact requests this test's commands make.
 */

const REGION = "eu-west-1";
const SECURITY = "123456789012";
const MEMBER = "111122223333";
const MEMBER_B = "444455556666";
const CASE = "IR-2026-0777";
const testing = { accessKeyId: "testing", secretAccessKey: "testing" };
let moto: MotoServer;
let front: ResponderFront;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "ops-rig-accounts-"));
  const memory = join(work, "memory.lime");
  await writeFile(memory, Buffer.concat([Buffer.from("EMiL"), randomBytes(1024)]));
  const lime = join(work, "lime.ko");
  await writeFile(lime, "not a module\n");
  moto = await lendMoto({ logFile: join(work, "moto.log") });
  front = await startResponderFront({ motoUrl: moto.url, memoryImage: memory, limeModule: lime });
}, 60_000);

afterAll(async () => {
  await front?.stop();
  await moto?.stop();
  cleanup();
  if (work) await rm(work, { recursive: true, force: true });
});

type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
const config = (credentials: Credentials, region = REGION) => ({
  region,
  endpoint: front.url,
  credentials,
  maxAttempts: 1,
});

/** Keys of an account (moto: AssumeRole of any role there, checked by nothing). */
async function keysOf(account: string, role = "ops-rig-seed"): Promise<Credentials> {
  const out = await new STSClient(config(testing)).send(
    new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${account}:role/${role}`, RoleSessionName: "seed" }),
  );
  const c = out.Credentials;
  return {
    accessKeyId: c?.AccessKeyId ?? "",
    secretAccessKey: c?.SecretAccessKey ?? "",
    sessionToken: c?.SessionToken ?? "",
  };
}

/** A member account's workload: ops-rig's quarantine group (as the regional groups would be) and a target. */
async function workload(credentials: Credentials): Promise<string> {
  const ec2 = new EC2Client(config(credentials));
  const vpcId = (await ec2.send(new DescribeVpcsCommand({}))).Vpcs?.[0]?.VpcId ?? "";
  const group = async (name: string, tags: Record<string, string>) =>
    (
      await ec2.send(
        new CreateSecurityGroupCommand({
          GroupName: name,
          Description: name,
          VpcId: vpcId,
          TagSpecifications: [
            {
              ResourceType: "security-group",
              Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
            },
          ],
        }),
      )
    ).GroupId ?? "";
  const web = await group("web", { Name: "web" });
  await group("ops-rig-quarantine", { "ops-rig:purpose": "quarantine", "ops-rig:managed-by": "ops-rig" });
  const run = await ec2.send(
    new RunInstancesCommand({
      ImageId: "ami-12c6146b",
      InstanceType: "t3.micro",
      MinCount: 1,
      MaxCount: 1,
      SecurityGroupIds: [web],
      BlockDeviceMappings: [{ DeviceName: "/dev/xvda", Ebs: { VolumeSize: 8 } }],
      TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "Name", Value: "web-1" }] }],
    }),
  );
  return run.Instances?.[0]?.InstanceId ?? "";
}

const envFor = (c: Credentials, extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  AWS_ENDPOINT_URL: front.url,
  AWS_ACCESS_KEY_ID: c.accessKeyId,
  AWS_SECRET_ACCESS_KEY: c.secretAccessKey,
  ...(c.sessionToken ? { AWS_SESSION_TOKEN: c.sessionToken } : {}),
  AWS_REGION: REGION,
  AWS_MAX_ATTEMPTS: "1",
  OPS_RIG_POLL_MS: "100",
  OPS_RIG_AUDIT_TOPIC: `arn:aws:sns:us-east-1:${SECURITY}:ops-rig-audit`,
  ...extra,
});

const tagsOf = async (c: Credentials, id: string) =>
  Object.fromEntries(
    (
      (await new EC2Client(config(c)).send(new DescribeInstancesCommand({ InstanceIds: [id] })))
        .Reservations?.[0]?.Instances?.[0]?.Tags ?? []
    ).map((t) => [t.Key, t.Value]),
  );

describe("responders across accounts on the local AWS (a security and two member accounts)", {
  timeout: 300_000,
}, () => {
  let memberKeys: Credentials;
  let memberBKeys: Credentials;
  let target: string;
  let targetB: string;
  let rig: string;

  it("moto hands out member-account keys on AssumeRole, checking nothing (what the rest relies on)", async () => {
    memberKeys = await keysOf(MEMBER);
    memberBKeys = await keysOf(MEMBER_B);
    const who = async (c: Credentials) =>
      (await new STSClient(config(c)).send(new GetCallerIdentityCommand({}))).Account;
    expect(await who(testing)).toBe(SECURITY);
    expect(await who(memberKeys)).toBe(MEMBER);
    expect(await who(memberBKeys)).toBe(MEMBER_B);
    target = await workload(memberKeys);
    targetB = await workload(memberBKeys);
    // Accounts are apart: the security account does not see the member's instance.
    await expect(
      new EC2Client(config(testing)).send(new DescribeInstancesCommand({ InstanceIds: [target] })),
    ).rejects.toMatchObject({ name: "InvalidInstanceID.NotFound" });
    // The security account's evidence bucket and a rig there (tagged and profiled as `ops-rig launch` does).
    await new S3Client({ ...config(testing), forcePathStyle: true }).send(
      new CreateBucketCommand({
        Bucket: `ops-rig-evidence-${SECURITY}-${REGION}`,
        CreateBucketConfiguration: { LocationConstraint: REGION },
      }),
    );
    const iam = new IAMClient(config(testing, "us-east-1"));
    await iam.send(new CreateRoleCommand({ RoleName: "ops-rig-forensic", AssumeRolePolicyDocument: "{}" }));
    const profile = await iam.send(
      new CreateInstanceProfileCommand({ InstanceProfileName: "ops-rig-forensic" }),
    );
    await iam.send(
      new AddRoleToInstanceProfileCommand({
        InstanceProfileName: "ops-rig-forensic",
        RoleName: "ops-rig-forensic",
      }),
    );
    rig =
      (
        await new EC2Client(config(testing)).send(
          new RunInstancesCommand({
            ImageId: "ami-12c6146b",
            InstanceType: "t3.micro",
            MinCount: 1,
            MaxCount: 1,
            IamInstanceProfile: { Arn: profile.InstanceProfile?.Arn ?? "" },
            TagSpecifications: [
              {
                ResourceType: "instance",
                Tags: [
                  { Key: "ops-rig:role", Value: "forensic" },
                  { Key: "ops-rig:case", Value: CASE },
                ],
              },
            ],
          }),
        )
      ).Instances?.[0]?.InstanceId ?? "";
  });

  /** The broker's member session for the rig (the case from the rig's own tag), as a rig gets it. */
  async function rigSession(role: "inspect" | "snapshot", account: string): Promise<Credentials> {
    const ec2 = (region: string) => new EC2Client(config(testing, region));
    const port = createCaseSessionAdapter(ec2, new STSClient(config(testing)), REGION);
    const session = await issueCaseSession(
      {
        callerArn: `arn:aws:sts::${SECURITY}:assumed-role/ops-rig-forensic/${rig}`,
        role,
        region: REGION,
        account,
      },
      { account: SECURITY, partition: "aws", regions: [REGION], memberAccounts: true },
      port,
    );
    expect(session.roleArn).toBe(`arn:aws:iam::${account}:role/ops-rig-responder-${role}`);
    expect(session.caseId).toBe(CASE);
    return session.credentials;
  }

  it("the rig path inspects and snapshots the member's instance through the member role", async () => {
    expect(rig).toMatch(/^i-/);
    const env = (c: Credentials) => envFor(c, { OPS_RIG_SECURITY_ACCOUNT: SECURITY });
    const args = ["--case", CASE, "--account", MEMBER, "--region", REGION];
    // A rig session may not claim: a human brings the workload into the case first (inspect --account).
    const claim = await runCli(["--json", "inspect", target, ...args], envFor(testing));
    expect(claim.code, claim.stderr).toBe(0);
    const inspect = await runCli(
      ["--json", "inspect", target, ...args],
      env(await rigSession("inspect", MEMBER)),
    );
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(JSON.parse(inspect.stdout).report.instance.instanceId ?? target).toBe(target);
    const snap = await runCli(
      ["--json", "snapshot", target, ...args],
      env(await rigSession("snapshot", MEMBER)),
    );
    expect(snap.code, snap.stderr).toBe(0);
    // The snapshot is the member's, tagged with the case; the security account has none.
    const snapshots = async (c: Credentials) =>
      (await new EC2Client(config(c)).send(new DescribeSnapshotsCommand({ OwnerIds: ["self"] }))).Snapshots ??
      [];
    const mine = await snapshots(memberKeys);
    expect(mine.map((s) => s.Tags?.find((t) => t.Key === "ops-rig:case")?.Value)).toEqual([CASE]);
    expect(await snapshots(testing)).toEqual([]);
    // Evidence (reports, custody) in the security account's bucket of the region, under the case.
    const keys =
      (
        await new S3Client({ ...config(testing), forcePathStyle: true }).send(
          new ListObjectsV2Command({ Bucket: `ops-rig-evidence-${SECURITY}-${REGION}` }),
        )
      ).Contents?.map((o) => o.Key ?? "") ?? [];
    expect(keys.some((k) => k.startsWith(`cases/${CASE}/inspect/${target}-`))).toBe(true);
    expect(keys.some((k) => k.startsWith(`cases/${CASE}/custody/snapshot-`))).toBe(true);
  });

  it("a human in the security account isolates it with --account (quarantine is for humans only)", async () => {
    const r = await runCli(
      ["--json", "isolate", target, "--case", CASE, "--account", MEMBER, "--region", REGION],
      envFor(testing),
    );
    expect(r.code, r.stderr).toBe(0);
    const tags = await tagsOf(memberKeys, target);
    expect(tags).toMatchObject({ "ops-rig:case": CASE, "ops-rig:quarantined": "true" });
    const eni = (
      await new EC2Client(config(memberKeys)).send(new DescribeInstancesCommand({ InstanceIds: [target] }))
    ).Reservations?.[0]?.Instances?.[0]?.NetworkInterfaces?.[0]?.NetworkInterfaceId;
    const [iface] =
      (
        await new EC2Client(config(memberKeys)).send(
          new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eni ?? ""] }),
        )
      ).NetworkInterfaces ?? [];
    // The member's own quarantine group is on the interface and the groups it had are recorded there
    // for release. (moto 5.2.1 adds the groups ModifyNetworkInterfaceAttribute names to the old ones
    // instead of replacing them; the request isolate sends is [quarantine] alone, see JSON below.)
    expect(iface?.Groups?.map((g) => g.GroupName)).toContain("ops-rig-quarantine");
    const web = iface?.Groups?.find((g) => g.GroupName === "web")?.GroupId;
    expect(iface?.TagSet?.find((t) => t.Key === "ops-rig:previous-groups")?.Value).toBe(web);
    const result = JSON.parse(r.stdout) as { quarantineGroups: string[] };
    expect(result.quarantineGroups).toHaveLength(1);
    expect(result.quarantineGroups[0]).not.toBe(web);
    // The second member account is untouched by all of this, and reachable on its own.
    expect(await tagsOf(memberBKeys, targetB)).toEqual({ Name: "web-1" });
    const b = await runCli(
      ["--json", "inspect", targetB, "--case", CASE, "--account", MEMBER_B, "--region", REGION],
      envFor(testing),
    );
    expect(b.code, b.stderr).toBe(0);
    expect((await tagsOf(memberBKeys, targetB))["ops-rig:case"]).toBe(CASE);
  });

  it("names the account and role when the instance is in another account", async () => {
    const r = await runCli(
      ["snapshot", targetB, "--case", CASE, "--account", MEMBER, "--region", REGION, "--dry-run"],
      envFor(testing),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `${targetB} does not exist in ${REGION}: not in account ${MEMBER} (seen through arn:aws:iam::${MEMBER}:role/ops-rig-responder-snapshot)`,
    );
  });

  it("refuses the same calls without the case tag (moto enforces no IAM: simulated on the synthesized roles)", async () => {
    const s = await synth({
      account: SECURITY,
      organizationId: "o-a1b2c3d4e5",
      memberOrganizationalUnits: ["ou-ab12-cdef3456"],
      targetRegions: ["eu-west-1"],
    });
    const world = new World([
      { region: s.stack.region, json: s.json, account: SECURITY },
      ...s.regionalStacks.map((r) => ({
        region: r.region,
        json: s.regionalJson(r.stackName),
        account: SECURITY,
      })),
      { region: s.stack.region, json: s.stack.memberTemplate as never, account: MEMBER },
    ]);
    const broker = {
      role: `arn:aws:iam::${SECURITY}:role/ops-rig-case-session`,
      principal: `arn:aws:sts::${SECURITY}:assumed-role/ops-rig-case-session/ops-rig-case-session`,
      context: { "aws:PrincipalOrgID": "o-a1b2c3d4e5" },
    };
    const assume = (t: Record<string, string>) => ({
      name: "AssumeRole of the member snapshot role",
      caller: broker,
      action: "sts:AssumeRole",
      resource: `arn:aws:iam::${MEMBER}:role/ops-rig-responder-snapshot`,
      context: {
        ...Object.fromEntries(Object.entries(t).map(([k, v]) => [`aws:RequestTag/${k}`, v])),
        "aws:TagKeys": Object.keys(t),
        "aws:ResourceOrgID": "o-a1b2c3d4e5",
      },
    });
    const rigTags = { "ops-rig:case": CASE, "ops-rig:origin": "rig", "ops-rig:rig": rig };
    const { "ops-rig:case": _, ...withoutCase } = rigTags;
    const simulate = evaluate;
    expect(await simulate(world, assume(rigTags))).toBe("Allowed");
    expect(await simulate(world, assume(withoutCase))).not.toBe("Allowed");
    const session = (caseTag: boolean) => ({
      role: `arn:aws:iam::${MEMBER}:role/ops-rig-responder-snapshot`,
      account: MEMBER,
      principal: `arn:aws:sts::${MEMBER}:assumed-role/ops-rig-responder-snapshot/${rig}`,
      context: {
        "aws:PrincipalOrgID": "o-a1b2c3d4e5",
        "aws:PrincipalTag/ops-rig:origin": "rig",
        ...(caseTag ? { "aws:PrincipalTag/ops-rig:case": CASE } : {}),
      },
    });
    const volume = (
      await new EC2Client(config(memberKeys)).send(new DescribeInstancesCommand({ InstanceIds: [target] }))
    ).Reservations?.[0]?.Instances?.[0]?.BlockDeviceMappings?.[0]?.Ebs?.VolumeId;
    const createSnapshot = (caseTag: boolean) => ({
      name: "CreateSnapshot of the target's volume",
      caller: session(caseTag),
      action: "ec2:CreateSnapshot",
      resource: `arn:aws:ec2:${REGION}:${MEMBER}:volume/${volume}`,
      region: REGION,
      context: { "aws:ResourceTag/ops-rig:case": CASE },
    });
    expect(await simulate(world, createSnapshot(true))).toBe("Allowed");
    expect(await simulate(world, createSnapshot(false))).not.toBe("Allowed");
  });
});
