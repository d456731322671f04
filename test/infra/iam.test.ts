import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  isReadOnly,
  RESOURCE_POLICY_EXCEPTIONS,
  RESOURCE_STAR_EXCEPTIONS,
} from "../../infra/lib/iam-exceptions.js";
import { RESPONDER_ACTIONS, RIG_ACTIONS, responderRoleName } from "../../infra/lib/names.js";
import {
  actionMatches,
  bundleSdkCalls,
  IMPLIED_ACTIONS,
  NEEDS_NO_PERMISSION,
  requiredActions,
  type SdkCall,
  scanSdkCalls,
} from "../../infra/lib/sdk-actions.js";
import {
  ACCOUNT,
  actionsOf,
  cleanup,
  logicalIdOf,
  policyDocuments,
  REPO_ROOT,
  resourcesOf,
  resourcesOfType,
  type Statement,
  statementsOfRole,
  synth,
  synthShared,
  type TemplateJson,
} from "./helpers.js";

afterAll(cleanup);

const FIXTURES = join(REPO_ROOT, "test/infra/fixtures");

/** Actions a set of statements does not allow (Allow statements only; the stack has no Deny). */
function notAllowed(actions: readonly string[], statements: readonly Statement[]): string[] {
  return actions.filter(
    (action) =>
      !statements.some(
        (s) => s.Effect === "Allow" && actionsOf(s).some((pattern) => actionMatches(pattern, action)),
      ),
  );
}

async function pipelineStatements(json: TemplateJson): Promise<Statement[]> {
  const fn = resourcesOfType(json, "AWS::Lambda::Function").find(([id]) => id.startsWith("PipelineFunction"));
  const role = fn?.[1].Properties?.Role as { "Fn::GetAtt": [string, string] } | undefined;
  if (!role) throw new Error("no pipeline function with a role in the template");
  return statementsOfRole(json, role["Fn::GetAtt"][0]);
}

describe("every IAM statement in the template", { timeout: 180_000 }, () => {
  it("never allows Action * or a whole service, and never uses NotAction/NotResource in an Allow", async () => {
    const { json } = await synth();
    const problems: string[] = [];
    for (const doc of policyDocuments(json)) {
      // Deny statements may be as wide as they like (enforceSSL denies s3:* without TLS).
      for (const s of doc.statements.filter((st) => st.Effect === "Allow")) {
        if (s.NotAction || s.NotResource) problems.push(`${doc.owner}/${s.Sid}: NotAction/NotResource`);
        for (const action of actionsOf(s)) {
          const wholeService = action === "*" || /^[a-z0-9-]+:\*$/.test(action);
          const exempt = doc.kind === "resource" && isAccountRootKeyStatement(doc.type, s);
          if (wholeService && !exempt) problems.push(`${doc.owner}/${s.Sid ?? "?"}: ${action}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('allows Resource "*" only for read-only actions, or the listed exceptions', async () => {
    const { json } = await synth();
    // ram:CreateResourceShare exists only with share: configured.
    const { json: shared } = await synthShared();
    const found = new Set<string>();
    const readOnlyStar: string[] = [];
    for (const doc of [...policyDocuments(json), ...policyDocuments(shared)].filter(
      (d) => d.kind === "identity",
    )) {
      for (const s of doc.statements) {
        if (!resourcesOf(s).includes("*")) continue;
        for (const action of actionsOf(s)) {
          if (isReadOnly(action)) readOnlyStar.push(action);
          else found.add(action);
        }
      }
    }
    expect([...found].sort()).toEqual(Object.keys(RESOURCE_STAR_EXCEPTIONS).sort());
    for (const reason of Object.values(RESOURCE_STAR_EXCEPTIONS)) expect(reason.length).toBeGreaterThan(40);
    // The walk did see the read-only ones (Describe*, List*): the check above is not vacuous.
    expect(readOnlyStar).toContain("ec2:DescribeImages");
    expect(readOnlyStar).toContain("imagebuilder:ListImages");
  });

  it("scopes every wildcard-region or Resource * statement of the pipeline and responders to the configured regions", async () => {
    const { json, settings } = await synth();
    const unscoped: string[] = [];
    for (const doc of policyDocuments(json).filter((d) => d.kind === "identity")) {
      // A Deny narrows nothing by being regional: only Allow statements need the region scope.
      for (const s of doc.statements.filter((st) => st.Effect === "Allow")) {
        const regional = actionsOf(s).every((a) => !/^(iam|sts|s3|lambda):/.test(a));
        const wide = resourcesOf(s).some(
          (r) => r === "*" || (typeof r === "string" && /^arn:[^:]+:[^:]+:\*:/.test(r)),
        );
        if (!regional || !wide) continue;
        const regions = s.Condition?.StringEquals?.["aws:RequestedRegion"];
        const expected =
          s.Sid?.startsWith("DeleteSnapshotsOfOwnBuilds") || actionsOf(s)[0]?.startsWith("imagebuilder:")
            ? settings.homeRegion
            : settings.regions;
        if (JSON.stringify(regions) !== JSON.stringify(expected)) unscoped.push(`${doc.owner}/${s.Sid}`);
      }
    }
    expect(unscoped).toEqual([]);
  });

  it("lets the pipeline pass exactly one role: the Image Builder instance role, to EC2/Image Builder only", async () => {
    const { json } = await synth();
    const buildRole = logicalIdOf(json, "AWS::IAM::Role", "BuildInstanceRole");
    const passing = policyDocuments(json)
      .filter((d) => d.kind === "identity")
      .flatMap((d) => d.statements.filter((s) => actionsOf(s).some((a) => actionMatches(a, "iam:PassRole"))));
    // The quarantine role's release passes a workload's recorded role back to EC2 (never ops-rig's own).
    const release = passing.filter(
      (s) => s.Sid === "RestoreTheRecordedProfilesRole" || s.Sid === "NeverPassOpsRigsOwnRoles",
    );
    expect(release.map((s) => [s.Sid, s.Effect, s.Condition ?? null])).toEqual([
      [
        "RestoreTheRecordedProfilesRole",
        "Allow",
        { StringEquals: { "iam:PassedToService": "ec2.amazonaws.com" } },
      ],
      ["NeverPassOpsRigsOwnRoles", "Deny", null],
    ]);
    passing.splice(0, passing.length, ...passing.filter((s) => !release.includes(s)));
    expect(passing).toHaveLength(1);
    expect(passing[0]?.Resource).toEqual({ "Fn::GetAtt": [buildRole, "Arn"] });
    expect(passing[0]?.Condition).toEqual({
      StringEquals: { "iam:PassedToService": ["ec2.amazonaws.com", "imagebuilder.amazonaws.com"] },
    });
  });

  it("keeps mutating EC2 image calls to ops-rig-tagged images and Image Builder calls to ops-rig-* names", async () => {
    const { json } = await synth();
    const statements = await pipelineStatements(json);
    const retire = statements.find((s) => s.Sid === "RetireOwnImages");
    expect(retire?.Condition?.Null).toEqual({ "aws:ResourceTag/ops-rig:toolset": "false" });
    const manage = statements.find((s) => s.Sid === "ManageOwnImageBuilderResources");
    for (const resource of resourcesOf(manage as Statement)) {
      expect(resource).toMatch(new RegExp(`^arn:aws:imagebuilder:us-east-1:${ACCOUNT}:[a-z-]+/ops-rig-\\*$`));
    }
    const deleteSnapshots = statements.filter((s) => actionsOf(s).includes("ec2:DeleteSnapshot"));
    // Copies by our tag; home-region builds by the Image Builder ARN of our own images, never by
    // CreatedBy=EC2 Image Builder (which every team's builds carry).
    expect(
      deleteSnapshots.map(
        (s) => s.Condition?.Null ?? s.Condition?.StringLike?.["aws:ResourceTag/Ec2ImageBuilderArn"],
      ),
    ).toEqual([
      { "aws:ResourceTag/ops-rig:toolset": "false" },
      `arn:aws:imagebuilder:us-east-1:${ACCOUNT}:image/ops-rig-*`,
    ]);
    expect(JSON.stringify(deleteSnapshots)).not.toContain("CreatedBy");
  });

  it("keeps resource policies within the listed exceptions", async () => {
    const { json } = await synth();
    const found = new Set<string>();
    for (const doc of policyDocuments(json).filter((d) => d.kind === "resource")) {
      for (const s of doc.statements) {
        if (s.Effect !== "Allow") continue;
        if (isAccountRootKeyStatement(doc.type, s)) found.add(`${doc.type}:account-root`);
        else if (JSON.stringify(s.Principal) === JSON.stringify({ AWS: "*" })) {
          // Anyone-principals must be pinned by a principal condition.
          expect(JSON.stringify(s.Condition)).toMatch(/aws:PrincipalArn/);
          found.add(`${doc.type}:${s.Sid}`);
        }
      }
    }
    expect([...found].sort()).toEqual(Object.keys(RESOURCE_POLICY_EXCEPTIONS).sort());
  });

  it("trusts only the intended principals", async () => {
    const { json } = await synth();
    const trust = (pathPart: string) => {
      const id = logicalIdOf(json, "AWS::IAM::Role", pathPart);
      return JSON.stringify(json.Resources[id]?.Properties?.AssumeRolePolicyDocument);
    };
    expect(trust("PipelineRole")).toContain('"Service":"lambda.amazonaws.com"');
    expect(trust("BuildInstanceRole")).toContain('"Service":"ec2.amazonaws.com"');
    const broker = logicalIdOf(json, "AWS::IAM::Role", "CaseSessionRole");
    for (const action of RESPONDER_ACTIONS) {
      const [, role] = resourcesOfType(json, "AWS::IAM::Role").find(
        ([, r]) => r.Properties?.RoleName === responderRoleName(action),
      ) ?? [undefined, undefined];
      const trust = role?.Properties?.AssumeRolePolicyDocument as { Statement: Statement[] } | undefined;
      const statements = trust?.Statement ?? [];
      expect(statements.length).toBeGreaterThan(0);
      const principals = statements.map((s) => JSON.stringify(s.Principal));
      // Never the rig's instance role: rigs come through the broker, and only for the rig roles.
      expect(JSON.stringify(statements)).not.toContain("ForensicInstanceRole");
      expect(principals.some((p) => p.includes(broker))).toBe(
        (RIG_ACTIONS as readonly string[]).includes(action),
      );
      for (const s of statements.filter((st) => JSON.stringify(st.Principal).includes(":root"))) {
        expect(s.Condition?.Bool).toEqual({ "aws:MultiFactorAuthPresent": "true" });
      }
    }
    for (const doc of policyDocuments(json).filter((d) => d.kind === "trust")) {
      for (const s of doc.statements) expect(JSON.stringify(s.Principal)).not.toBe('{"AWS":"*"}');
    }
  });

  it("fits IAM's size quotas (6,144 characters a managed policy, 10,240 inline per role)", async () => {
    const { json } = await synth();
    const sizes: Record<string, number> = {};
    for (const [id, r] of resourcesOfType(json, "AWS::IAM::ManagedPolicy")) {
      sizes[id] = JSON.stringify(r.Properties?.PolicyDocument).length;
      expect(sizes[id], id).toBeLessThanOrEqual(6144);
    }
    const inline = new Map<string, number>();
    for (const doc of policyDocuments(json).filter((d) => d.type === "AWS::IAM::Policy")) {
      for (const role of doc.roles)
        inline.set(role, (inline.get(role) ?? 0) + JSON.stringify(doc.statements).length);
    }
    for (const [role, size] of inline) expect(size, role).toBeLessThanOrEqual(10240);
    console.log(`[iam] largest managed policy: ${Math.max(...Object.values(sizes))} characters`);
  });
});

describe("the SDK-call scanner", () => {
  it("finds every command, paginator and waiter of the fixture adapters, and nothing else", async () => {
    const text = await readFile(join(FIXTURES, "pipeline-adapters.ts.txt"), "utf8");
    const calls = scanSdkCalls("pipeline-adapters.ts", text);
    const actions = [...new Set(calls.flatMap((c) => c.actions))].sort();
    expect(actions).toEqual(
      [
        "ec2:CopyImage",
        "ec2:CreateTags",
        "ec2:DeregisterImage",
        "ec2:DescribeImages",
        "ec2:DescribeRegions",
        "ec2:DisableImageDeprecation",
        "ec2:EnableImageDeprecation",
        "imagebuilder:CancelImageCreation",
        "imagebuilder:CreateComponent",
        "imagebuilder:CreateDistributionConfiguration",
        "imagebuilder:CreateImage",
        "imagebuilder:CreateImageRecipe",
        "imagebuilder:CreateInfrastructureConfiguration",
        "imagebuilder:GetComponent",
        "imagebuilder:GetDistributionConfiguration",
        "imagebuilder:GetImage",
        "imagebuilder:GetImageRecipe",
        "imagebuilder:GetInfrastructureConfiguration",
        "imagebuilder:ListComponentBuildVersions",
        "imagebuilder:ListComponents",
        "imagebuilder:ListDistributionConfigurations",
        "imagebuilder:ListImageBuildVersions",
        "imagebuilder:ListImageRecipes",
        "imagebuilder:ListImages",
        "imagebuilder:ListInfrastructureConfigurations",
        "imagebuilder:ListTagsForResource",
        "imagebuilder:TagResource",
        "imagebuilder:UpdateDistributionConfiguration",
        "imagebuilder:UpdateInfrastructureConfiguration",
        "sns:Publish",
        "ssm:GetParameter",
        "ssm:GetParameterHistory",
        "ssm:GetParameters",
        "ssm:GetParametersByPath",
        "ssm:LabelParameterVersion",
        "ssm:PutParameter",
        "sts:GetCallerIdentity",
      ].sort(),
    );
    // The waiter is seen as the describe call it polls; the type-only import brings no call.
    expect(calls.find((c) => c.symbol === "waitUntilImageAvailable")?.actions).toEqual([
      "ec2:DescribeImages",
    ]);
    expect(calls.some((c) => c.symbol.includes("Output") || c.symbol === "Image")).toBe(false);
  });

  it("reads aliases, inline type imports, re-exports and namespace imports", () => {
    const text = [
      'import { type CopyImageCommandInput, CopyImageCommand as Copy } from "@aws-sdk/client-ec2";',
      'import type { PublishCommand } from "@aws-sdk/client-sns";',
      'export { GetParameterCommand } from "@aws-sdk/client-ssm";',
      'import * as ib from "@aws-sdk/client-imagebuilder";',
      "const x = new ib.GetImageCommand({}); const c: ib.ImagebuilderClient = y;",
    ].join("\n");
    expect(scanSdkCalls("f.ts", text).map((c) => c.actions[0])).toEqual([
      "ec2:CopyImage",
      "ssm:GetParameter",
      "imagebuilder:GetImage",
    ]);
  });

  it("refuses what it cannot see through: unknown clients, unknown waiters, dynamic imports", () => {
    expect(() => scanSdkCalls("f.ts", 'import { FooCommand } from "@aws-sdk/client-foo";')).toThrow(
      /client-foo has no IAM service prefix/,
    );
    expect(() => scanSdkCalls("f.ts", 'import { waitUntilVolumeInUse } from "@aws-sdk/client-ec2";')).toThrow(
      /waitUntilVolumeInUse .* not in WAITER_ACTIONS/,
    );
    expect(() => scanSdkCalls("f.ts", 'const m = await import("@aws-sdk/client-ec2");')).toThrow(
      /dynamically/,
    );
  });

  it("fails loudly when a bundle ships adapters it finds no call in", () => {
    const sources = ["src/lambda/handler.ts", "src/aws/ec2.ts", "node_modules/x/index.js"];
    const files: Record<string, string> = {
      "src/lambda/handler.ts": 'import { run } from "../aws/ec2.js";',
      // Calls AWS some way the scanner cannot see (the aggregated client's methods, say).
      "src/aws/ec2.ts":
        'import { EC2 } from "@aws-sdk/client-ec2";\nexport const run = (c: EC2) => c.describeImages({});',
    };
    expect(() => bundleSdkCalls(sources, (f) => files[f] ?? "")).toThrow(
      /includes adapters \(src\/aws\/ec2\.ts\) but no AWS SDK command/,
    );
    files["src/aws/ec2.ts"] = 'import { DescribeImagesCommand } from "@aws-sdk/client-ec2";';
    expect(bundleSdkCalls(sources, (f) => files[f] ?? "").map((c) => c.actions[0])).toEqual([
      "ec2:DescribeImages",
    ]);
  });

  it("adds the implied permissions and drops calls that need none", () => {
    const calls: SdkCall[] = [
      { file: "f", client: "ec2", symbol: "DeregisterImageCommand", actions: ["ec2:DeregisterImage"] },
      { file: "f", client: "sts", symbol: "GetCallerIdentityCommand", actions: ["sts:GetCallerIdentity"] },
    ];
    expect(requiredActions(calls)).toEqual(["ec2:DeleteSnapshot", "ec2:DeregisterImage"]);
    for (const { why } of Object.values(IMPLIED_ACTIONS)) expect(why.length).toBeGreaterThan(20);
    expect(Object.keys(NEEDS_NO_PERMISSION)).toEqual(["sts:GetCallerIdentity"]);
  });
});

describe("the pipeline Lambda's policy allows every call the pipeline makes", { timeout: 180_000 }, () => {
  it("allows every call (and implied permission) of the specified adapters", async () => {
    const { json } = await synth();
    const text = await readFile(join(FIXTURES, "pipeline-adapters.ts.txt"), "utf8");
    const required = requiredActions(scanSdkCalls("pipeline-adapters.ts", text));
    expect(required.length).toBeGreaterThan(40);
    expect(notAllowed(required, await pipelineStatements(json))).toEqual([]);
  });

  it("fails for calls the policy does not allow (the CLI-only launch adapter)", async () => {
    const { json } = await synth();
    const text = await readFile(join(FIXTURES, "launch-adapter.ts.txt"), "utf8");
    const required = requiredActions(scanSdkCalls("launch-adapter.ts", text));
    expect(notAllowed(required, await pipelineStatements(json))).toEqual([
      "ec2:AuthorizeSecurityGroupIngress",
      "ec2:CreateSecurityGroup",
      "ec2:RunInstances",
    ]);
  });

  it("allows every call of the source files in the Lambda bundle", async () => {
    // With share: configured: sharing (RAM CreateResourceShare, KMS grants to accounts) exists only then.
    const { json, bundle } = await synthShared();
    const sources = bundle.sourceFiles.filter((f) => f.startsWith("src/"));
    expect(sources).toContain("src/lambda/handler.ts");
    // The CLI-only launch adapter (RunInstances, security groups) must never ride along.
    expect(sources).not.toContain("src/aws/launch.ts");
    expect(sources.filter((f) => f.startsWith("src/cli/"))).toEqual([]);
    const adapters = sources.filter((f) => f.startsWith("src/aws/"));
    // Throws when adapters ship but none of their calls can be found.
    const calls = bundleSdkCalls(bundle.sourceFiles, (file) => readFileSync(join(REPO_ROOT, file), "utf8"));
    const required = requiredActions(calls);
    console.log(
      `[iam] Lambda bundle: ${sources.length} source files, ${adapters.length} adapters, ${calls.length} SDK calls, ${required.length} actions required`,
    );
    expect(notAllowed(required, await pipelineStatements(json))).toEqual([]);
  });
});

function isAccountRootKeyStatement(type: string, s: Statement): boolean {
  return (
    type === "AWS::KMS::Key" &&
    JSON.stringify(actionsOf(s)) === '["kms:*"]' &&
    JSON.stringify(s.Principal ?? {}).includes(':root"')
  );
}
