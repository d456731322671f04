import { describe, expect, it } from "vitest";
import { createCaseSessionHandler } from "../../../src/lambda/case-session.js";
import {
  type AssumeRoleRequest,
  CaseSessionError,
  type CaseSessionPort,
  issueCaseSession,
  type RigInstance,
} from "../../../src/services/case-session.js";

const SETTINGS = { account: "111111111111", partition: "aws", regions: ["us-east-1", "eu-west-1"] };
const RIG = "i-0a1b2c3d4e5f60718";
const CALLER = `arn:aws:sts::111111111111:assumed-role/ops-rig-forensic/${RIG}`;
const RIG_INSTANCE: RigInstance = {
  instanceId: RIG,
  state: "running",
  instanceProfileArn: "arn:aws:iam::111111111111:instance-profile/ops-rig-forensic",
  tags: { "ops-rig:case": "IR-2026-0042", "ops-rig:role": "forensic" },
};

/** An in-memory EC2 + STS: instances by region, and every AssumeRole it was asked for. */
function fakePort(instances: Record<string, RigInstance[]>) {
  const assumed: AssumeRoleRequest[] = [];
  const port: CaseSessionPort = {
    findInstance: async (region, id) => instances[region]?.find((i) => i.instanceId === id),
    assumeRole: async (request) => {
      assumed.push(request);
      return {
        accessKeyId: "ASIA",
        secretAccessKey: "secret",
        sessionToken: "token",
        expiration: new Date(0),
      };
    },
  };
  return { port, assumed };
}

describe("the case-session broker", () => {
  it("assumes the role with the case of the rig's own tag, never one from the request", async () => {
    const { port, assumed } = fakePort({ "eu-west-1": [RIG_INSTANCE] });
    const session = await issueCaseSession(
      { callerArn: CALLER, role: "snapshot", region: "eu-west-1" },
      SETTINGS,
      port,
    );
    expect(session.caseId).toBe("IR-2026-0042");
    expect(assumed).toEqual([
      {
        roleArn: "arn:aws:iam::111111111111:role/ops-rig-responder-snapshot",
        sessionName: RIG,
        sourceIdentity: RIG,
        tags: { "ops-rig:case": "IR-2026-0042", "ops-rig:origin": "rig", "ops-rig:rig": RIG },
        durationSeconds: 3600,
      },
    ]);
  });

  it("assumes a member account's rig role for the same case when the deployment has member accounts", async () => {
    const { port, assumed } = fakePort({ "eu-west-1": [RIG_INSTANCE] });
    const members = { ...SETTINGS, memberAccounts: true };
    const session = await issueCaseSession(
      { callerArn: CALLER, role: "inspect", region: "eu-west-1", account: "222222222222" },
      members,
      port,
    );
    expect(session.roleArn).toBe("arn:aws:iam::222222222222:role/ops-rig-responder-inspect");
    expect(assumed[0]?.tags).toEqual({
      "ops-rig:case": "IR-2026-0042",
      "ops-rig:origin": "rig",
      "ops-rig:rig": RIG,
    });
    const refused = async (settings: typeof members, role: string, account: string) =>
      issueCaseSession({ callerArn: CALLER, role, region: "eu-west-1", account }, settings, port).catch(
        (e: unknown) => e,
      );
    expect(String(await refused(SETTINGS as typeof members, "inspect", "222222222222"))).toMatch(
      /no member-account roles/,
    );
    expect(String(await refused(members, "inspect", "2222"))).toMatch(/account: "2222" is not a 12-digit/);
    expect(String(await refused(members, "evidence-analyst", "222222222222"))).toMatch(
      /security account only/,
    );
    expect(String(await refused(members, "quarantine", "222222222222"))).toMatch(/not one a rig may use/);
    expect(assumed).toHaveLength(1);
  });

  const refusals: [
    string,
    Partial<{ callerArn: string; role: string; region: string }>,
    RigInstance | undefined,
    RegExp,
  ][] = [
    ["a human-only role", { role: "terminate" }, RIG_INSTANCE, /not one a rig may use/],
    [
      "a region outside the deployment",
      { region: "sa-east-1" },
      RIG_INSTANCE,
      /not one of the deployment's regions/,
    ],
    [
      "a caller that is no rig session",
      { callerArn: "arn:aws:iam::111111111111:user/mallory" },
      RIG_INSTANCE,
      /is not a rig/,
    ],
    [
      "a rig session of another account",
      { callerArn: CALLER.replace("111111111111", "222222222222") },
      RIG_INSTANCE,
      /is not a rig/,
    ],
    [
      "another role's instance session",
      { callerArn: CALLER.replace("ops-rig-forensic", "web") },
      RIG_INSTANCE,
      /is not a rig/,
    ],
    ["an instance that is not there", {}, undefined, /is not an instance in eu-west-1/],
    ["a stopped rig", {}, { ...RIG_INSTANCE, state: "stopped" }, /stopped, not running/],
    [
      "another instance profile",
      {},
      { ...RIG_INSTANCE, instanceProfileArn: "arn:aws:iam::111111111111:instance-profile/web" },
      /profile/,
    ],
    [
      "a rig without the forensic tag",
      {},
      { ...RIG_INSTANCE, tags: { "ops-rig:case": "IR-1" } },
      /not tagged ops-rig:role=forensic/,
    ],
    [
      "a rig launched without a case",
      {},
      { ...RIG_INSTANCE, tags: { ...RIG_INSTANCE.tags, "ops-rig:case": "none" } },
      /has no case/,
    ],
    [
      "a case id no session tag or S3 key can carry",
      {},
      { ...RIG_INSTANCE, tags: { ...RIG_INSTANCE.tags, "ops-rig:case": "../x" } },
      /has no case/,
    ],
  ];
  for (const [what, request, instance, message] of refusals) {
    it(`refuses ${what}, and assumes nothing`, async () => {
      const { port, assumed } = fakePort({ "eu-west-1": instance ? [instance] : [] });
      const call = issueCaseSession(
        { callerArn: CALLER, role: "snapshot", region: "eu-west-1", ...request },
        SETTINGS,
        port,
      );
      await expect(call).rejects.toThrow(CaseSessionError);
      await expect(call).rejects.toThrow(message);
      expect(assumed).toEqual([]);
    });
  }

  it("answers the function URL in credential_process form, 403 for strangers, 400 for bad input", async () => {
    const { port } = fakePort({ "eu-west-1": [RIG_INSTANCE] });
    const logs: string[] = [];
    const handler = createCaseSessionHandler({ settings: SETTINGS, port, log: (_l, m) => logs.push(m) });
    const event = (userArn: string, body: string) => ({
      body,
      requestContext: { authorizer: { iam: { userArn } } },
    });
    const ok = await handler(event(CALLER, JSON.stringify({ role: "memory-capture", region: "eu-west-1" })));
    expect(ok.statusCode).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ Version: 1, AccessKeyId: "ASIA", Case: "IR-2026-0042" });
    expect(
      (
        await handler(
          event("arn:aws:iam::111111111111:user/mallory", '{"role":"inspect","region":"eu-west-1"}'),
        )
      ).statusCode,
    ).toBe(403);
    expect((await handler(event(CALLER, "{not json"))).statusCode).toBe(400);
    expect((await handler(event(CALLER, '{"role":"terminate","region":"eu-west-1"}'))).statusCode).toBe(400);
    expect(logs).toEqual(["case session issued", "case session refused", "case session refused"]);
  });
});
