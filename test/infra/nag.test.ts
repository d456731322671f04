import { App, Stack } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { AwsSolutionsChecks } from "cdk-nag";
import { afterAll, describe, expect, it } from "vitest";
import { Arns } from "../../infra/lib/arns.js";
import { acknowledgements, applySuppressions, NamedAcknowledgements } from "../../infra/lib/nag.js";
import { copyKeyGroups } from "../../infra/lib/pipeline-policy.js";
import { removeProject, shippedFiles, writeProject } from "../helpers/project.js";
import { cleanup, REPO_ROOT, sharedApiBundle, sharedBrokerBundle, sharedBundle, synth } from "./helpers.js";

afterAll(cleanup);

/** Placeholders are not reasons. */
function isRealReason(reason: string): boolean {
  return reason.length >= 40 && !/^(todo|tbd|fixme|n\/?a|ok|suppressed?|ignore)/i.test(reason.trim());
}

const CONTEXTS: Record<string, Record<string, unknown>> = {
  defaults: {},
  "everything set": {
    notificationEmail: "sirt@example.com",
    responderCidrs: ["10.8.0.0/16", "2001:db8::/48"],
    buildVpcId: "vpc-0123456789abcdef0",
    buildSubnetId: "subnet-0123456789abcdef0",
    responderPrincipalArns: ["arn:aws:iam::222222222222:role/sso-sirt"],
    targetRegions: ["eu-central-1", "eu-west-1"],
  },
  "account-agnostic": { account: undefined },
  // The member template is checked by the same pack inside the home stack's synth (member.ts).
  organization: {
    organizationId: "o-a1b2c3d4e5",
    memberOrganizationalUnits: ["ou-ab12-cdef3456"],
    responderPrincipalArns: ["arn:aws:iam::111111111111:role/sso-sirt"],
  },
};

describe("cdk-nag AwsSolutions", { timeout: 180_000 }, () => {
  for (const [name, context] of Object.entries(CONTEXTS)) {
    it(`reports nothing unacknowledged (${name})`, async () => {
      const { app, stack } = await synth(context);
      const report = new AwsSolutionsChecks(app).validateScope(stack);
      const findings = report.violations.map(
        (v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(", ")}`,
      );
      expect(findings).toEqual([]);
      // The app carries the pack as a validation plugin, so `cdk synth` fails on any new finding.
      expect(() => app.synth()).not.toThrow();
    });
  }

  it("gives every acknowledgement a written reason, in the template as well", async () => {
    const { stack, json } = await synth();
    const acks = acknowledgements(stack);
    expect(acks.length).toBeGreaterThan(20);
    for (const ack of acks)
      expect(isRealReason(ack.reason), `${ack.path} ${ack.id}: "${ack.reason}"`).toBe(true);
    const inTemplate = Object.values(json.Resources).flatMap(
      (r) =>
        (r.Metadata?.cdk_nag as { rules_to_suppress?: { id: string; reason: string }[] } | undefined)
          ?.rules_to_suppress ?? [],
    );
    expect(inTemplate.length).toBeGreaterThan(20);
    for (const rule of inTemplate) expect(isRealReason(rule.reason), rule.id).toBe(true);
    const ids = new Set(acks.map((a) => a.id.replace(/\[.*$/, "")));
    console.log(`[nag] ${acks.length} acknowledgements: ${[...ids].sort().join(", ")}`);
  });

  it("fails synth on a finding nobody acknowledged", async () => {
    const { buildApp } = await import("../../infra/lib/app.js");
    const { app, stack } = await buildApp({
      projectRoot: REPO_ROOT,
      context: { account: "111111111111" },
      bundle: sharedBundle(),
      brokerBundle: sharedBrokerBundle(),
      apiBundle: sharedApiBundle(),
      cloudFormationRules: false,
    });
    new sqs.Queue(stack, "UnencryptedQueueWithoutDlq", { encryption: sqs.QueueEncryption.UNENCRYPTED });
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS2/);
  });

  it("refuses a wildcard resource that has no recorded reason", () => {
    const stack = new Stack(new App(), "Probe");
    new iam.Policy(stack, "Probe", {
      statements: [
        new iam.PolicyStatement({ actions: ["s3:GetObject"], resources: ["arn:aws:s3:::somebody-elses/*"] }),
      ],
      roles: [new iam.Role(stack, "Role", { assumedBy: new iam.ServicePrincipal("ec2.amazonaws.com") })],
    });
    expect(() => applySuppressions(stack, new NamedAcknowledgements())).toThrow(
      /no reason recorded for the wildcard resource arn:aws:s3:::somebody-elses\/\*/,
    );
  });
});

describe("customer keys for AMI copies from pipeline.yaml", () => {
  const arns = new Arns("us-east-1", ["us-east-1", "eu-west-1"], "111111111111");

  it("narrows KMS to the listed keys, aliases through kms:ResourceAliases", () => {
    expect(copyKeyGroups(arns, {})).toEqual([
      { resources: ["arn:aws:kms:*:111111111111:key/*"], conditions: {} },
    ]);
    expect(
      copyKeyGroups(arns, {
        "us-east-1": "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "eu-west-1": "alias/ops-rig-amis",
      }),
    ).toEqual([
      {
        resources: ["arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
        conditions: {},
      },
      {
        resources: ["arn:aws:kms:eu-west-1:111111111111:key/*"],
        conditions: { "ForAnyValue:StringEquals": { "kms:ResourceAliases": ["alias/ops-rig-amis"] } },
      },
    ]);
    expect(copyKeyGroups(arns, { "eu-west-1": "mrk-1234abcd12ab34cd56ef1234567890ab" })).toEqual([
      {
        resources: ["arn:aws:kms:eu-west-1:111111111111:key/mrk-1234abcd12ab34cd56ef1234567890ab"],
        conditions: {},
      },
    ]);
  });

  it("synthesizes with keys from a project's pipeline.yaml, nag-clean", async () => {
    const files = await shippedFiles();
    const pipeline = files.get("recipes/pipeline.yaml") ?? "";
    files.set(
      "recipes/pipeline.yaml",
      pipeline.replace(
        "copy:\n  concurrencyPerRegion: 5",
        'copy:\n  concurrencyPerRegion: 5\n  kmsKeys:\n    eu-west-1: alias/ops-rig-amis\n    us-east-1: "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"',
      ),
    );
    const dir = await writeProject(files);
    try {
      const { buildApp } = await import("../../infra/lib/app.js");
      const { app, stack } = await buildApp({
        projectRoot: dir,
        context: { account: "111111111111" },
        bundle: sharedBundle(),
        brokerBundle: sharedBrokerBundle(),
        apiBundle: sharedApiBundle(),
        cloudFormationRules: false,
      });
      expect(stack.node.tryFindChild("PipelinePolicy-kms")).toBeDefined();
      const json = JSON.stringify(app.synth().getStackByName(stack.stackName).template);
      expect(json).toContain("arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab");
      expect(json).toContain('"kms:ResourceAliases":["alias/ops-rig-amis"]');
      expect(json).not.toContain('arn:aws:kms:*:111111111111:key/*","Sid":"UseAmiKeysThroughEc2');
      expect(new AwsSolutionsChecks(app).validateScope(stack).violations).toEqual([]);
    } finally {
      await removeProject(dir);
    }
    expect(REPO_ROOT).toBeTruthy();
  });
});
