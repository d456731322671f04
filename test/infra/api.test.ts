import { afterAll, describe, expect, it } from "vitest";
import { API_CONCURRENCY, API_FUNCTION_NAME, apiRoleName } from "../../infra/lib/api.js";
import { CASE_SESSION_ROLE, FORENSIC_ROLE, responderRoleName } from "../../infra/lib/names.js";
import { cleanup, propsOf, resourcesOfType, type Synth, synth } from "./helpers.js";
import { ACCOUNT, type Attempt, type Caller, evaluate, unsupportedConditionKeys, World } from "./simulate.js";

afterAll(cleanup);

const REGION = "eu-west-1";
const OTHER_REGION = "ap-southeast-2";
const SSO = `arn:aws:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_SIRT_0123456789abcdef`;
const CONTEXT = {
  responderCidrs: "10.8.0.0/16",
  responderVpcs: JSON.stringify({
    [REGION]: ["vpc-0bbbbbbbbbbbbbbb1"],
    [OTHER_REGION]: ["vpc-0ccccccccccccccc1"],
  }),
  responderPrincipalArns: SSO,
};

const ec2 = (type: string, id: string, region = REGION) => `arn:aws:ec2:${region}:${ACCOUNT}:${type}/${id}`;
const profileArn = (name: string) => `arn:aws:iam::${ACCOUNT}:instance-profile/${name}`;
const roleArn = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`;

describe("the API in every region (synthesized)", { timeout: 180_000 }, () => {
  it("is a function URL with AWS_IAM auth: unsigned calls never reach the function; no public permission", async () => {
    const built = await synth(CONTEXT);
    expect(built.regionalStacks.length).toBe(built.settings.regions.length);
    for (const stack of built.regionalStacks) {
      const json = built.regionalJson(stack.stackName);
      const urls = resourcesOfType(json, "AWS::Lambda::Url").map(([, r]) => propsOf(r));
      expect(urls).toHaveLength(1);
      expect(urls[0]?.AuthType).toBe("AWS_IAM");
      expect(urls[0]?.Cors).toBeUndefined();
      const permissions = resourcesOfType(json, "AWS::Lambda::Permission").map(([, r]) => propsOf(r));
      // Only the configured SSO role, only through the URL; never a public (`*`) or NONE-auth grant.
      expect(permissions).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Action: "lambda:InvokeFunctionUrl",
            Principal: SSO,
            FunctionUrlAuthType: "AWS_IAM",
          }),
          expect.objectContaining({
            Action: "lambda:InvokeFunction",
            Principal: SSO,
            InvokedViaFunctionUrl: true,
          }),
        ]),
      );
      expect(permissions).toHaveLength(2);
      expect(JSON.stringify(permissions)).not.toMatch(/"Principal":"\*"|"NONE"/);
      const [, fn] =
        resourcesOfType(json, "AWS::Lambda::Function").find(
          ([, r]) => propsOf(r).FunctionName === API_FUNCTION_NAME,
        ) ?? [];
      const props = propsOf(fn);
      expect(props.ReservedConcurrentExecutions).toBe(API_CONCURRENCY);
      expect(props.Timeout).toBeLessThanOrEqual(30);
      const logGroups = resourcesOfType(json, "AWS::Logs::LogGroup").map(([, r]) => propsOf(r));
      expect(logGroups.map((g) => g.RetentionInDays)).toEqual([built.settings.lambdaLogDays]);
      expect(json.Outputs?.ApiUrl).toBeDefined();
    }
  });

  it("ships the API handler with the recipes it reads, and no pipeline or CLI code", async () => {
    const { apiBundle } = await synth(CONTEXT);
    expect(apiBundle.sourceFiles).toContain("src/lambda/api.ts");
    expect(apiBundle.sourceFiles).toContain("src/services/launch-template.ts");
    expect(apiBundle.sourceFiles.filter((f) => f.startsWith("src/cli/"))).toEqual([]);
    expect(apiBundle.sourceFiles).not.toContain("src/lambda/handler.ts");
    // Only the adapters a template launch calls: no Image Builder, SNS or Lambda adapter to abuse.
    expect(apiBundle.sourceFiles.filter((f) => f.startsWith("src/aws/")).sort()).toEqual(
      [
        "src/aws/call.ts",
        "src/aws/client-factory.ts",
        "src/aws/clients.ts",
        "src/aws/ec2.ts",
        "src/aws/launch-templates.ts",
        "src/aws/launch.ts",
        "src/aws/ssm.ts",
        "src/aws/sts.ts",
      ].sort(),
    );
    expect(Object.keys(apiBundle.metafile.inputs).filter((f) => f.includes("@cloud-copilot"))).toEqual([]);
  });
});

// ---- IAM simulation: what the API's role (or a compromised function) and a compromised rig can do.

interface Cast {
  readonly api: Caller;
  readonly template: string;
  readonly otherRegionTemplate: string;
  readonly rigGroup: string;
}

function cast(built: Synth): Cast {
  const find = (region: string, type: string, match: (p: Record<string, unknown>) => boolean) => {
    const stack = built.regionalStacks.find((s) => s.region === region);
    if (!stack) throw new Error(`no stack in ${region}`);
    const [id] =
      resourcesOfType(built.regionalJson(stack.stackName), type).find(([, r]) => match(propsOf(r))) ?? [];
    if (!id) throw new Error(`no ${type} in ${region}`);
    return id;
  };
  const name = apiRoleName(REGION);
  return {
    api: { role: name, principal: `arn:aws:sts::${ACCOUNT}:assumed-role/${name}/${API_FUNCTION_NAME}` },
    // The simulator resolves a template's Ref to its logical id and a group's GroupId to `<id>.GroupId`.
    template: ec2(
      "launch-template",
      find(REGION, "AWS::EC2::LaunchTemplate", (p) => p.LaunchTemplateName === "ops-rig-light"),
    ),
    otherRegionTemplate: ec2(
      "launch-template",
      find(OTHER_REGION, "AWS::EC2::LaunchTemplate", (p) => p.LaunchTemplateName === "ops-rig-light"),
      OTHER_REGION,
    ),
    rigGroup: ec2(
      "security-group",
      `${find(REGION, "AWS::EC2::SecurityGroup", (p) => p.GroupName === "ops-rig-rig")}.GroupId`,
    ),
  };
}

/** What a legitimate launch from the rig template sends with each resource. */
const launchContext = (template: string, extra: Record<string, string> = {}) => ({
  "ec2:LaunchTemplate": template,
  "ec2:MetadataHttpTokens": "required",
  "ec2:MetadataHttpPutResponseHopLimit": "1",
  "ec2:InstanceProfile": profileArn("ops-rig-forensic"),
  ...extra,
});

function legitimate(c: Cast): Attempt[] {
  const run = (name: string, resource: string, extra: Record<string, string> = {}): Attempt => ({
    name,
    caller: c.api,
    action: "ec2:RunInstances",
    resource,
    region: REGION,
    context: launchContext(c.template, extra),
  });
  return [
    run("the instance", ec2("instance", "*")),
    run("its encrypted volume", ec2("volume", "*"), { "ec2:Encrypted": "true" }),
    run("its interface", ec2("network-interface", "*")),
    run("the subnet", ec2("subnet", "subnet-0123456789abcdef0")),
    run("the template", c.template),
    run("the rig group", c.rigGroup),
    run("an image of this account", `arn:aws:ec2:${REGION}::image/ami-0123456789abcdef0`, {
      "ec2:Owner": ACCOUNT,
    }),
    {
      name: "tags at launch",
      caller: c.api,
      action: "ec2:CreateTags",
      resource: ec2("instance", "i-0123456789abcdef0"),
      region: REGION,
      context: { "ec2:CreateAction": "RunInstances" },
    },
    {
      name: "pass the forensic role to EC2",
      caller: c.api,
      action: "iam:PassRole",
      resource: roleArn(FORENSIC_ROLE),
      context: { "iam:PassedToService": "ec2.amazonaws.com" },
    },
    {
      name: "read the published parameter",
      caller: c.api,
      action: "ssm:GetParameters",
      resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/ops-rig/light/ami-id`,
      region: REGION,
    },
    {
      name: "read the templates",
      caller: c.api,
      action: "ec2:DescribeLaunchTemplateVersions",
      resource: "*",
      region: REGION,
    },
  ];
}

function attacks(c: Cast): Attempt[] {
  const run = (
    name: string,
    resource: string,
    context: Record<string, string | string[]>,
    region = REGION,
  ): Attempt => ({
    name,
    caller: c.api,
    action: "ec2:RunInstances",
    resource,
    region,
    context,
  });
  const rigInstance: Caller = {
    role: FORENSIC_ROLE,
    principal: `arn:aws:sts::${ACCOUNT}:assumed-role/${FORENSIC_ROLE}/i-0a1b2c3d4e5f60718`,
  };
  const pipeline: Caller = {
    role: "ops-rig-pipeline",
    principal: `arn:aws:sts::${ACCOUNT}:assumed-role/ops-rig-pipeline/ops-rig-pipeline`,
  };
  const broker: Caller = {
    role: CASE_SESSION_ROLE,
    principal: `arn:aws:sts::${ACCOUNT}:assumed-role/${CASE_SESSION_ROLE}/x`,
  };
  const apiFunction = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${API_FUNCTION_NAME}`;
  return [
    run("API launches an instance without any template", ec2("instance", "*"), {
      "ec2:MetadataHttpTokens": "required",
      "ec2:MetadataHttpPutResponseHopLimit": "1",
      "ec2:InstanceProfile": profileArn("ops-rig-forensic"),
    }),
    run(
      "API launches from an attacker's template",
      ec2("instance", "*"),
      launchContext(ec2("launch-template", "lt-0badbadbadbadbad0")),
    ),
    run(
      "API launches with IMDSv1",
      ec2("instance", "*"),
      launchContext(c.template, { "ec2:MetadataHttpTokens": "optional" }),
    ),
    run(
      "API launches with metadata hop limit 2 (containers reach IMDS)",
      ec2("instance", "*"),
      launchContext(c.template, { "ec2:MetadataHttpPutResponseHopLimit": "2" }),
    ),
    run(
      "API launches with an administrator instance profile",
      ec2("instance", "*"),
      launchContext(c.template, { "ec2:InstanceProfile": profileArn("admin") }),
    ),
    run("API launches without an instance profile", ec2("instance", "*"), {
      "ec2:LaunchTemplate": c.template,
      "ec2:MetadataHttpTokens": "required",
      "ec2:MetadataHttpPutResponseHopLimit": "1",
    }),
    run(
      "API launches an unencrypted volume",
      ec2("volume", "*"),
      launchContext(c.template, { "ec2:Encrypted": "false" }),
    ),
    run(
      "API launches somebody else's AMI",
      `arn:aws:ec2:${REGION}::image/ami-0badbadbadbadbad0`,
      launchContext(c.template, { "ec2:Owner": "999999999999" }),
    ),
    run(
      "API launches into an attacker's open security group",
      ec2("security-group", "sg-0badbadbadbadbad0"),
      launchContext(c.template),
    ),
    run(
      "API launches from another region's template in that region",
      ec2("instance", "*", OTHER_REGION),
      launchContext(c.otherRegionTemplate),
      OTHER_REGION,
    ),
    {
      name: "API passes an administrator role to EC2",
      caller: c.api,
      action: "iam:PassRole",
      resource: roleArn("admin"),
      context: { "iam:PassedToService": "ec2.amazonaws.com" },
    },
    {
      name: "API passes the forensic role to Lambda",
      caller: c.api,
      action: "iam:PassRole",
      resource: roleArn(FORENSIC_ROLE),
      context: { "iam:PassedToService": "lambda.amazonaws.com" },
    },
    {
      name: "API retags a workload into a case",
      caller: c.api,
      action: "ec2:CreateTags",
      resource: ec2("instance", "i-0123456789abcdef0"),
      region: REGION,
    },
    {
      name: "API terminates an instance",
      caller: c.api,
      action: "ec2:TerminateInstances",
      resource: ec2("instance", "i-0123456789abcdef0"),
      region: REGION,
    },
    {
      name: "API turns IMDSv1 back on for a rig",
      caller: c.api,
      action: "ec2:ModifyInstanceMetadataOptions",
      resource: ec2("instance", "i-0123456789abcdef0"),
      region: REGION,
    },
    {
      name: "API edits the rig template",
      caller: c.api,
      action: "ec2:CreateLaunchTemplateVersion",
      resource: c.template,
      region: REGION,
    },
    {
      name: "API changes the template's default version",
      caller: c.api,
      action: "ec2:ModifyLaunchTemplate",
      resource: c.template,
      region: REGION,
    },
    {
      name: "API opens the rig group",
      caller: c.api,
      action: "ec2:AuthorizeSecurityGroupIngress",
      resource: c.rigGroup,
      region: REGION,
    },
    {
      name: "API points the parameter at another AMI",
      caller: c.api,
      action: "ssm:PutParameter",
      resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/ops-rig/light/ami-id`,
      region: REGION,
    },
    {
      name: "API reads a parameter outside the tree",
      caller: c.api,
      action: "ssm:GetParameter",
      resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/prod/db-password`,
      region: REGION,
    },
    {
      name: "API describes another region",
      caller: c.api,
      action: "ec2:DescribeInstances",
      resource: "*",
      region: "us-east-1",
    },
    {
      name: "API assumes the terminate responder role",
      caller: c.api,
      action: "sts:AssumeRole",
      resource: roleArn(responderRoleName("terminate")),
    },
    {
      name: "API replaces its own code",
      caller: c.api,
      action: "lambda:UpdateFunctionCode",
      resource: apiFunction,
      region: REGION,
    },
    {
      name: "a compromised rig calls the API URL",
      caller: rigInstance,
      action: "lambda:InvokeFunctionUrl",
      resource: apiFunction,
      region: REGION,
      context: { "lambda:FunctionUrlAuthType": "AWS_IAM" },
    },
    {
      name: "a compromised rig invokes the API function directly",
      caller: rigInstance,
      action: "lambda:InvokeFunction",
      resource: apiFunction,
      region: REGION,
    },
    {
      name: "the pipeline calls the API URL",
      caller: pipeline,
      action: "lambda:InvokeFunctionUrl",
      resource: apiFunction,
      region: REGION,
      context: { "lambda:FunctionUrlAuthType": "AWS_IAM" },
    },
    {
      name: "the case-session broker calls the API URL",
      caller: broker,
      action: "lambda:InvokeFunctionUrl",
      resource: apiFunction,
      region: REGION,
      context: { "lambda:FunctionUrlAuthType": "AWS_IAM" },
    },
  ];
}

describe("the API's permissions, simulated against the synthesized templates (iam-simulate)", {
  timeout: 180_000,
}, () => {
  it("allows the launch path, and denies every abuse of it", async () => {
    const built = await synth(CONTEXT);
    const world = World.of(built);
    const c = cast(built);
    const allowed = await Promise.all(
      legitimate(c).map(async (a) => ({ name: a.name, outcome: await evaluate(world, a) })),
    );
    expect(allowed.filter((r) => r.outcome !== "Allowed")).toEqual([]);
    const list = attacks(c);
    expect(list.length).toBeGreaterThanOrEqual(25);
    const results = await Promise.all(
      list.map(async (a) => ({ name: a.name, outcome: await evaluate(world, a) })),
    );
    expect(results.filter((r) => r.outcome === "Allowed").map((r) => r.name)).toEqual([]);
    console.log(
      `[api attacks] ${results.length} attempts denied, ${allowed.length} legitimate steps allowed`,
    );
  });

  it("uses only condition keys each of its actions supports (iam-data)", async () => {
    const world = World.of(await synth(CONTEXT));
    const statements = world.role(apiRoleName(REGION)).identity.flatMap((p) => p.policy.Statement);
    expect(statements.some((st) => JSON.stringify(st).includes("ec2:MetadataHttpTokens"))).toBe(true);
    const problems = (await Promise.all(statements.map((st) => unsupportedConditionKeys(st)))).flat();
    expect(problems).toEqual([]);
  });

  it("fails when the template condition is dropped: a template-less launch becomes allowed", async () => {
    const built = await synth(CONTEXT);
    const c = cast(built);
    const stack = built.regionalStacks.find((s) => s.region === REGION);
    if (!stack) throw new Error("no stack");
    const json = structuredClone(built.regionalJson(stack.stackName));
    let dropped = 0;
    for (const r of Object.values(json.Resources)) {
      const doc = r.Properties?.PolicyDocument as
        | { Statement?: { Sid?: string; Condition?: Record<string, unknown> }[] }
        | undefined;
      for (const s of doc?.Statement ?? []) {
        if (s.Sid === "RunRigInstanceLockedDown" && s.Condition) {
          delete s.Condition.ArnEquals;
          dropped++;
        }
      }
    }
    expect(dropped).toBe(1);
    const attempt = attacks(c).find((a) => a.name === "API launches an instance without any template");
    if (!attempt) throw new Error("attempt missing");
    const widened = new World([
      { region: built.stack.region, json: built.json },
      ...built.regionalStacks.map((s) => ({
        region: s.region,
        json: s.region === REGION ? json : built.regionalJson(s.stackName),
      })),
    ]);
    expect(await evaluate(World.of(built), attempt)).not.toBe("Allowed");
    expect(await evaluate(widened, attempt)).toBe("Allowed");
  });
});
