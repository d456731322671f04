import { beforeAll, describe, expect, it } from "vitest";
import type { ApiCaller } from "../../src/api/requests.js";
import {
  type AuditLine,
  createApiHandler,
  type FunctionUrlEvent,
  type OutcomeRoute,
} from "../../src/lambda/api.js";
import type { PipelineProject } from "../../src/pipeline/run.js";
import type { LaunchTemplateData } from "../../src/responders/launch-template.js";
import { launchFromTemplate } from "../../src/services/launch-template.js";
import { FakeTemplates } from "../fakes/fake-templates.js";
import { shippedProject } from "../helpers/shipped.js";
import { converge, EU, type FakeWorld, fakeWorld, HOME } from "./fake-world.js";

const ACCOUNT = "123456789012";
const ALICE = `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_SIRT_0123456789abcdef/alice@example.com`;
const RIG_GROUP = "sg-0123456789abcdef0";
let project: PipelineProject;

beforeAll(async () => {
  project = await shippedProject({
    toolsets: ["light"],
    bases: ["ubuntu-24.04"],
    arches: ["amd64"],
    regions: [HOME, EU],
  });
});

/** The template data the regional stack deploys (the synth test checks the stack produces exactly this). */
const TEMPLATE: LaunchTemplateData = {
  imageId: "resolve:ssm:/ops-rig/light/ami-id",
  instanceType: "m7i.large",
  instanceProfileName: "ops-rig-forensic",
  metadata: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 },
  blockDevices: [{ deviceName: "/dev/sda1", encrypted: true, volumeSize: 16 }],
  securityGroupIds: [RIG_GROUP],
  networkInterfaces: 0,
  tags: { "ops-rig:role": "forensic", "ops-rig:toolset": "light", "ops-rig:case": "none" },
};

interface Setup {
  world: FakeWorld;
  templates: FakeTemplates;
  audit: AuditLine[];
  handler: ReturnType<typeof createApiHandler>;
}

async function setup(
  options: {
    data?: Partial<LaunchTemplateData>;
    outcomes?: Parameters<typeof createApiHandler>[0]["outcomes"];
  } = {},
): Promise<Setup> {
  const world = fakeWorld(project);
  await converge(world);
  const templates = new FakeTemplates();
  templates.put(EU, {
    templateId: "lt-0123456789abcdef0",
    name: "ops-rig-light",
    defaultVersion: 3,
    latestVersion: 3,
    data: { ...TEMPLATE, ...options.data },
  });
  const audit: AuditLine[] = [];
  const handler = createApiHandler({
    region: EU,
    account: ACCOUNT,
    instanceProfile: "ops-rig-forensic",
    toolsets: async () => ({ toolsets: project.toolsets, parameterPrefix: project.pipeline.parameterPrefix }),
    launch: {
      deps: () => ({ ports: world.aws.ports, launch: world.aws.launch, templates, events: () => {} }),
      service: launchFromTemplate,
    },
    outcomes: options.outcomes ?? {},
    audit: (line) => audit.push(line),
    log: () => {},
  });
  return { world, templates, audit, handler };
}

function event(
  body: unknown,
  extra: { path?: string; method?: string; caller?: string | null; account?: string; base64?: boolean } = {},
): FunctionUrlEvent {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return {
    rawPath: extra.path ?? "/launch",
    body: extra.base64 ? Buffer.from(text).toString("base64") : text,
    isBase64Encoded: Boolean(extra.base64),
    requestContext: {
      requestId: "req-1",
      http: { method: extra.method ?? "POST", sourceIp: "198.51.100.7" },
      ...(extra.caller === null
        ? {}
        : {
            authorizer: {
              iam: {
                userArn: extra.caller ?? ALICE,
                accountId: extra.account ?? ACCOUNT,
                userId: "AROAEXAMPLE:alice",
              },
            },
          }),
    },
  };
}

const bodyOf = (r: { body: string }) => JSON.parse(r.body) as Record<string, unknown>;

describe("the API handler", () => {
  it("launches from the region's template for a signed caller, tags and audits the caller", async () => {
    const s = await setup();
    const answer = await s.handler(event({ toolset: "light", caseId: "IR-7" }, { base64: true }));
    expect(answer.statusCode, answer.body).toBe(200);
    const body = bodyOf(answer);
    expect(body).toMatchObject({
      region: EU,
      dryRun: false,
      template: { name: "ops-rig-light", version: 3 },
      imageRequest: "resolve:ssm:/ops-rig/light/ami-id",
      launchedBy: ALICE,
    });
    expect(s.templates.runs).toHaveLength(1);
    const run = s.templates.runs[0]?.input;
    // Pinned to the version that was checked; no group of its own (the template's rig group applies).
    expect(run).toMatchObject({ templateId: "lt-0123456789abcdef0", version: 3 });
    expect(run?.securityGroupIds).toBeUndefined();
    expect(run?.tags).toMatchObject({
      "ops-rig:case": "IR-7",
      "ops-rig:launched-by": ALICE,
      "ops-rig:role": "forensic",
    });
    expect(s.audit).toEqual([
      expect.objectContaining({
        caller: ALICE,
        callerAccount: ACCOUNT,
        sourceIp: "198.51.100.7",
        status: 200,
        outcome: "done",
        path: "/launch",
      }),
    ]);
  });

  it("refuses an unsigned-shaped event and a foreign account, launching nothing, auditing both", async () => {
    const s = await setup();
    const unsigned = await s.handler(event({ toolset: "light" }, { caller: null }));
    expect(unsigned.statusCode).toBe(403);
    expect(bodyOf(unsigned).code).toBe("UNSIGNED");
    const foreign = await s.handler(
      event(
        { toolset: "light" },
        { account: "999999999999", caller: "arn:aws:sts::999999999999:assumed-role/x/y" },
      ),
    );
    expect(foreign.statusCode).toBe(403);
    expect(bodyOf(foreign).code).toBe("FOREIGN_ACCOUNT");
    expect(s.templates.runs).toEqual([]);
    expect(s.audit.map((a) => [a.caller, a.status, a.outcome])).toEqual([
      ["(unsigned)", 403, "refused"],
      ["arn:aws:sts::999999999999:assumed-role/x/y", 403, "refused"],
    ]);
  });

  it("refuses bad requests naming the field, and changes nothing", async () => {
    const s = await setup();
    const cases: [FunctionUrlEvent, number, string][] = [
      [event({ toolset: "light", caseId: "IR;42" }), 400, "caseId"],
      [event({ toolset: "light", caseId: "none" }), 400, "caseId"],
      [event({ toolset: "light", instanceType: "m7i.large; rm -rf /" }), 400, "instanceType"],
      [event({ toolset: "light", subnet: "vpc-123" }), 400, "subnet"],
      [event({ toolset: "light", sshCidr: "0.0.0.0/0" }), 400, "body"],
      [event({ toolset: "medium" }), 400, "toolset"],
      [event({ toolset: "light", region: "ap-southeast-2" }), 400, "region"],
      [event("{not json"), 400, "body"],
      [event({ toolset: "light" }, { method: "GET" }), 405, "method"],
      [event({ toolset: "light" }, { path: "/admin" }), 404, "path"],
      [event({ toolset: "light", keyName: "k".repeat(9000) }), 413, "body"],
    ];
    for (const [e, status, field] of cases) {
      const answer = await s.handler(e);
      expect(answer.statusCode, `${e.body?.slice(0, 60)}`).toBe(status);
      const problems = bodyOf(answer).problems as { field: string }[];
      expect(
        problems.map((p) => p.field),
        e.body?.slice(0, 60),
      ).toContain(field);
    }
    expect(s.templates.runs).toEqual([]);
    expect(s.audit.every((a) => a.outcome === "refused" && a.caller === ALICE)).toBe(true);
  });

  it("refuses a template someone edited (IMDSv1) or one without the rig group: 409, nothing launched", async () => {
    const edited = await setup({
      data: { metadata: { httpTokens: "optional", httpPutResponseHopLimit: 1 } },
    });
    const a = await edited.handler(event({ toolset: "light" }));
    expect(a.statusCode).toBe(409);
    expect(bodyOf(a)).toMatchObject({ code: "LAUNCH_TEMPLATE_MISMATCH" });
    expect(String(bodyOf(a).error)).toContain("HttpTokens");
    const groupless = await setup({ data: { securityGroupIds: [] } });
    const b = await groupless.handler(event({ toolset: "light" }));
    expect(b.statusCode).toBe(409);
    expect(String(bodyOf(b).error)).toContain("no security group");
    expect([...edited.templates.runs, ...groupless.templates.runs]).toEqual([]);
    expect(edited.audit[0]).toMatchObject({
      outcome: "failed",
      code: "LAUNCH_TEMPLATE_MISMATCH",
      caller: ALICE,
    });
  });

  it("a dry run asks EC2 with the same pinned request and launches nothing", async () => {
    const s = await setup();
    const answer = await s.handler(event({ toolset: "light", dryRun: true }));
    expect(answer.statusCode).toBe(200);
    expect(s.templates.runs.map((r) => r.dryRun)).toEqual([true]);
  });

  it("answers 501 for an outcome not plugged in, and passes caller and region to one that is", async () => {
    const none = await setup();
    const answer = await none.handler(
      event({ caseId: "IR-7", instanceId: "i-0123456789abcdef0" }, { path: "/outcomes/inspect" }),
    );
    expect(answer.statusCode).toBe(501);
    const seen: unknown[] = [];
    const inspect: OutcomeRoute<{ actor: string }, { caseId: string; region: string }, { ok: true }> = {
      humanOnly: false,
      deps: (caller: ApiCaller) => ({ actor: caller.arn }),
      request: (body, _caller, region) => ({ caseId: body.caseId, region }),
      service: async (deps, request) => {
        seen.push({ deps, request });
        return { ok: true };
      },
    };
    const wired = await setup({ outcomes: { inspect: inspect as OutcomeRoute } });
    const done = await wired.handler(
      event({ caseId: "IR-7", instanceId: "i-0123456789abcdef0" }, { path: "/outcomes/inspect" }),
    );
    expect(done.statusCode).toBe(200);
    expect(seen).toEqual([{ deps: { actor: ALICE }, request: { caseId: "IR-7", region: EU } }]);
    const bad = await wired.handler(
      event({ caseId: "IR-7", instanceId: "vol-1" }, { path: "/outcomes/inspect" }),
    );
    expect(bad.statusCode).toBe(400);
    expect(seen).toHaveLength(1);
  });
});
