import { describe, expect, it } from "vitest";
import { AwsCallError } from "../../src/errors.js";
import type {
  MemberAccessPort,
  ResponderPort,
  SessionCredentials,
} from "../../src/services/responders/index.js";
import { runCli } from "../helpers/project.js";
import { FakeResponderAws } from "./responders-fake.js";

/**
 * Responder commands across accounts, on in-memory accounts: the caller's (security) account, a member
 * account reached by AssumeRole, and a fake Config aggregator. What crosses, what stays home
 * (evidence, the audit event), and how refusals name the account, region and role.
 */
const SECURITY = "123456789012";
const MEMBER = "222222222222";
const REGION = "eu-west-1";
const CASE = "IR-2026-042";
const TOPIC = "arn:aws:sns:us-east-1:123456789012:ops-rig";

interface Setup {
  security: FakeResponderAws;
  member: FakeResponderAws;
  access: { calls: { name: string; args: unknown[] }[]; deny: boolean; aggregated: Map<string, string> };
  io: Parameters<typeof runCli>[2];
  target: string;
}

function setup(): Setup {
  const security = new FakeResponderAws(SECURITY);
  const member = new FakeResponderAws(MEMBER);
  const target = member.addInstance({
    vpcId: "vpc-1",
    groups: [member.addGroup("vpc-1", "web")],
    volumes: 1,
  });
  const access: Setup["access"] = { calls: [], deny: false, aggregated: new Map() };
  const credentials: SessionCredentials = {
    accessKeyId: "ASIAMEMBER",
    secretAccessKey: "s",
    sessionToken: "t",
    expiration: new Date("2026-11-29T13:00:00Z"),
  };
  const port: MemberAccessPort = {
    identity: async (region) => {
      access.calls.push({ name: "identity", args: [region] });
      return { account: SECURITY, arn: security.arn, partition: "aws" };
    },
    assumeRole: async (region, request) => {
      access.calls.push({ name: "assumeRole", args: [region, request] });
      if (access.deny || !request.roleArn.startsWith(`arn:aws:iam::${MEMBER}:`))
        throw new AwsCallError({
          service: "sts",
          operation: "AssumeRole",
          region,
          awsCode: "AccessDenied",
          message: "not authorized to perform sts:AssumeRole",
          kind: "user",
        });
      return credentials;
    },
    locate: async (aggregator, region, instanceId) => {
      access.calls.push({ name: "locate", args: [aggregator, region, instanceId] });
      const account = access.aggregated.get(instanceId);
      return account ? { account, region: REGION } : undefined;
    },
  };
  const unused = () => {
    throw new Error("not used by responder commands");
  };
  const io = {
    aws: {
      ports: unused,
      launch: unused,
      lambda: unused,
      templates: unused,
      api: unused,
      responders: (c?: SessionCredentials): ResponderPort => {
        if (!c) return security.port;
        expect(c).toBe(credentials);
        return member.port;
      },
      memberAccess: () => port,
    },
  };
  return { security, member, access, io, target };
}

const env = { AWS_REGION: REGION, OPS_RIG_AUDIT_TOPIC: TOPIC };

describe("responder commands across accounts", () => {
  it("inspect --account acts through the member role; evidence and audit stay in the security account", async () => {
    const s = setup();
    const r = await runCli(["--json", "inspect", s.target, "--case", CASE, "--account", MEMBER], env, s.io);
    expect(r.code, r.stderr).toBe(0);
    const assumed = s.access.calls.find((c) => c.name === "assumeRole");
    expect(assumed?.args).toEqual([
      REGION,
      {
        roleArn: `arn:aws:iam::${MEMBER}:role/ops-rig-responder-inspect`,
        sessionName: `ops-rig-${CASE}`,
        tags: { "ops-rig:case": CASE, "ops-rig:origin": "human" },
      },
    ]);
    // The member's instance was claimed for the case there; nothing touched the security account's EC2.
    expect(s.member.instances.get(s.target)?.tags["ops-rig:case"]).toBe(CASE);
    expect(s.security.mutatingCalls().map((c) => c.name)).toEqual(["publish"]);
    // The report went to the security account's bucket of the instance's region (through the member session).
    const keys = [...s.member.objects.keys()];
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys)
      expect(key).toMatch(new RegExp(`^ops-rig-evidence-${SECURITY}-${REGION}/cases/${CASE}/`));
    expect(s.security.published).toHaveLength(1);
    expect(s.member.published).toHaveLength(0);
  });

  it("isolate maps to the quarantine role, snapshot to snapshot", async () => {
    const s = setup();
    s.member.addGroup("vpc-1", "ops-rig-quarantine", {
      "ops-rig:purpose": "quarantine",
      "ops-rig:managed-by": "ops-rig",
    });
    // (--no-wait: the CLI's clock is the wall clock; the fake's snapshots complete on settle only.)
    for (const command of [["isolate"], ["snapshot", "--no-wait"]]) {
      const r = await runCli(
        ["--json", ...command, s.target, "--case", CASE, "--account", MEMBER],
        env,
        s.io,
      );
      expect(r.code, r.stderr).toBe(0);
    }
    const roles = s.access.calls
      .filter((c) => c.name === "assumeRole")
      .map((c) => (c.args[1] as { roleArn: string }).roleArn.split("/")[1]);
    expect(roles).toEqual(["ops-rig-responder-quarantine", "ops-rig-responder-snapshot"]);
    expect(s.member.snapshots.size).toBe(1);
  });

  it("finds the account and region in the Config aggregator when no --account is given", async () => {
    const s = setup();
    s.access.aggregated.set(s.target, MEMBER);
    const r = await runCli(
      ["--json", "inspect", s.target, "--case", CASE, "--aggregator", "org-all"],
      env,
      s.io,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(s.access.calls.find((c) => c.name === "locate")?.args).toEqual(["org-all", "us-east-1", s.target]);
    expect(s.member.instances.get(s.target)?.tags["ops-rig:case"]).toBe(CASE);
    const missing = await runCli(
      ["inspect", "i-0fedcba9876543210", "--case", CASE],
      { ...env, OPS_RIG_CONFIG_AGGREGATOR: "org-all" },
      s.io,
    );
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(
      /i-0fedcba9876543210 is not in Config aggregator org-all \(us-east-1\): name its account with --account/,
    );
  });

  it("names the account, region and role when AssumeRole is refused, changing nothing", async () => {
    const s = setup();
    s.access.deny = true;
    const r = await runCli(["isolate", s.target, "--case", CASE, "--account", MEMBER], env, s.io);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `account ${MEMBER} (region ${REGION}): cannot assume arn:aws:iam::${MEMBER}:role/ops-rig-responder-quarantine: AccessDenied`,
    );
    expect(s.member.mutatingCalls()).toEqual([]);
    expect(s.security.mutatingCalls()).toEqual([]);
  });

  it("names the account and role when the instance is not in that account", async () => {
    const s = setup();
    const r = await runCli(
      ["snapshot", "i-0fedcba9876543210", "--case", CASE, "--account", MEMBER, "--region", REGION],
      env,
      s.io,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `i-0fedcba9876543210 does not exist in ${REGION}: not in account ${MEMBER} (seen through arn:aws:iam::${MEMBER}:role/ops-rig-responder-snapshot)`,
    );
  });

  it("refuses bad --account, --aggregator and OPS_RIG_SECURITY_ACCOUNT by name before any AWS call", async () => {
    const s = setup();
    const cases: [string[], Record<string, string>, RegExp][] = [
      [
        ["inspect", s.target, "--case", CASE, "--account", "12345"],
        {},
        /--account: "12345" is not a 12-digit AWS account id/,
      ],
      [
        ["terminate", s.target, "--case", CASE, "--account", "arn:aws:iam::222222222222:root"],
        {},
        /--account:/,
      ],
      [
        ["inspect", s.target, "--case", CASE, "--aggregator", "org all"],
        {},
        /--aggregator: "org all" is not a Config aggregator name/,
      ],
      [
        ["inspect", s.target, "--case", CASE],
        { OPS_RIG_CONFIG_AGGREGATOR: "a/b" },
        /OPS_RIG_CONFIG_AGGREGATOR:/,
      ],
      [
        ["inspect", s.target, "--case", CASE, "--account", MEMBER],
        { OPS_RIG_SECURITY_ACCOUNT: "x" },
        /OPS_RIG_SECURITY_ACCOUNT: "x"/,
      ],
    ];
    for (const [args, extra, message] of cases) {
      const r = await runCli(args, { ...env, ...extra }, s.io);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    expect(s.access.calls).toEqual([]);
    expect(s.member.calls).toEqual([]);
    expect(s.security.calls).toEqual([]);
  });
});
