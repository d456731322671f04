import { type Stack, Validations } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import type { IConstruct } from "constructs";

/** An ARN pattern whose account is a literal id or, in an account-agnostic template, the pseudo parameter. */
function arnPattern(body: string): RegExp {
  return new RegExp(`^arn:[^:]+:${body.replaceAll("ACCOUNT", "(?:\\d{12}|<AWS::AccountId>)")}$`);
}

/**
 * Why a wildcard in a resource ARN is as narrow as IAM allows, by the shape of the ARN. cdk-nag's
 * AwsSolutions-IAM5 wants every wildcard acknowledged with evidence; rather than a hand-kept list
 * that drifts, every identity policy in the stack is walked and each wildcard resource must match
 * one of these (or synth stops and says which ARN needs a reason).
 */
export const WILDCARD_REASONS: readonly { readonly match: RegExp; readonly reason: string }[] = [
  {
    match: /^\*$/,
    reason:
      "Actions the Service Authorization Reference defines without a resource type: read-only Describe/List/Lookup calls, and the four ssmmessages channel calls of Session Manager (RESOURCE_STAR_EXCEPTIONS); all limited to the configured regions by aws:RequestedRegion (asserted by test/infra/iam.test.ts).",
  },
  {
    match: /^arn:[^:]+:ec2:\*::(image|snapshot)\/\*$/,
    reason:
      "EC2 assigns AMI and snapshot ids at creation, so ARNs cannot name them in advance; each statement is narrowed by the ops-rig:toolset tag, by ec2:CreateAction, or by the Image Builder CreatedBy tag, and to the configured regions.",
  },
  {
    match: arnPattern("ec2:\\*:ACCOUNT:(instance|volume|security-group|network-interface|vpc|subnet)\\/\\*"),
    reason:
      "Incident resources are unknown at deploy time; mutating statements require the ops-rig:role, ops-rig:purpose, ops-rig:case or ops-rig:quarantined tag (or a request tag / ec2:CreateAction), read-only ones are limited to the configured regions.",
  },
  {
    match: arnPattern(
      "ec2:[a-z]+-[a-z]+-\\d:ACCOUNT:(instance|volume|network-interface|subnet|key-pair)\\/\\*",
    ),
    reason:
      "The regional API's RunInstances: the instance, volumes and interfaces it creates have no id yet, and the caller may name any subnet or key pair; every statement requires ec2:LaunchTemplate to be one of the region's rig templates (with IMDSv2, hop limit 1, the forensic profile and encryption by condition), CreateTags only at RunInstances.",
  },
  {
    match: /^arn:[^:]+:ec2:[a-z]+-[a-z]+-\d::image\/\*$/,
    reason:
      "The regional API launches the image the template's resolve:ssm parameter names, unknown at deploy time; only images this account owns (ec2:Owner), only through the region's rig templates.",
  },
  {
    match: arnPattern("kms:[^:]*:ACCOUNT:key\\/\\*"),
    reason:
      "The customer keys of AMIs and volumes belong to their owners and are unknown at deploy time; the key may only be used through EC2 (kms:ViaService) in the configured regions, and grants only for AWS resources. pipeline.yaml copy.kmsKeys narrows the pipeline to exact keys.",
  },
  {
    match: arnPattern("ssm:[^:]+:(ACCOUNT)?:parameter\\/.+\\/\\*"),
    reason:
      "The pipeline's own parameter tree (<prefix>/<toolset>/<base>/<arch>/ami-id), the forensic instance's break-glass parameters under <prefix>/break-glass/, or the publishers' public base-image parameters (read-only).",
  },
  {
    match: arnPattern("ram:\\*:ACCOUNT:resource-share\\/\\*"),
    reason:
      "RAM assigns resource-share ARNs (a UUID) at creation; the statements are narrowed to the share named ops-rig-parameters (ram:ResourceShareName), the configured regions, and for additions to pipeline.yaml's share principals, ops-rig's parameters and no external principals.",
  },
  {
    match: arnPattern("secretsmanager:\\*:ACCOUNT:secret:ops-rig\\/break-glass\\*"),
    reason:
      "Secrets Manager appends a random suffix to every secret ARN; only secrets named ops-rig/break-glass*, read-only.",
  },
  {
    match: arnPattern("logs:\\*:ACCOUNT:log-group:\\*:log-stream:\\*"),
    reason:
      "Log streams of the log groups under investigation; read-only (GetLogEvents), human responder sessions only.",
  },
  {
    match:
      /^arn:[^:]+:s3:::ops-rig-evidence-(?:\d{12}|<AWS::AccountId>)-[a-z0-9-]+\/cases\/<aws:PrincipalTag\/ops-rig:case>\/(?:(?:custody|inspect)\/)?\*$/,
    reason:
      "Evidence objects of the session's own case only (the case is the session tag the broker or a human set), for inspect, snapshot and terminate only its custody/ and inspect/ folders; the bucket's policy denies every read but the analyst's and every write but the evidence writers'.",
  },
  {
    match: arnPattern("iam::ACCOUNT:(instance-profile|role)\\/\\*"),
    reason:
      "Instance profiles and roles of the workloads under investigation are unknown at deploy time: inspect reads their policy names (human sessions only); release passes the recorded role back to EC2 only (iam:PassedToService), never one of ops-rig's own roles (explicit deny).",
  },
  {
    match: /^arn:[^:]+:iam::\*:role\/ops-rig-responder-(inspect|snapshot|memory-capture)$/,
    reason:
      "The case-session broker assumes the rig responder roles of member accounts, which join the organization after this deploy: only roles of these names, only in accounts of the configured organization (aws:ResourceOrgID), and the member roles' trust admits only the broker with the rig's own case tags.",
  },
  {
    match: arnPattern("iam::ACCOUNT:role\\/ops-rig-\\*"),
    reason: "An explicit deny: no responder passes one of ops-rig's own roles to a workload.",
  },
  {
    match: arnPattern("ssm:\\*:\\*:document\\/AWS-RunShellScript"),
    reason:
      "AWS's own shell document, the only one memory capture runs, in the configured regions (aws:RequestedRegion), human sessions only, on instances of the session's case (ssm:resourceTag).",
  },
  {
    match: arnPattern("logs:\\*:ACCOUNT:log-group:\\*"),
    reason:
      "Log groups under investigation are unknown at deploy time; read-only (describe, get, filter, query).",
  },
  {
    match: arnPattern("cloudtrail:\\*:ACCOUNT:trail\\/\\*"),
    reason: "Trails of the account under investigation; read-only (GetTrailStatus).",
  },
  {
    match: arnPattern("imagebuilder:[^:]+:ACCOUNT:[a-z-]+\\/ops-rig-\\*"),
    reason:
      "Image Builder appends version and build number to every ARN; the pipeline's resources are all named ops-rig-* (DESIGN), in the home region only.",
  },
  {
    match: /^<BuildLogsBucket[A-Za-z0-9]*\.Arn>\/reports\/\*$/,
    reason:
      "The pipeline's full run reports, one object per run named by its start time: write-only (s3:PutObject), under reports/ only, beside the Image Builder logs it cannot touch.",
  },
  {
    match: /^<[A-Za-z0-9]+\.Arn>\/\*$/,
    reason:
      "Objects of a bucket this stack creates (build logs, tools, memory captures): object keys are chosen at run time, so the ARN ends in /*.",
  },
  {
    match: /^<[A-Za-z0-9]+\.Arn>:\*$/,
    reason:
      "Versions and aliases of the pipeline function this stack creates (added by the Scheduler target).",
  },
];

/** Acknowledgements that are not about wildcards, each with its reason. */
function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/**
 * Acknowledges every cdk-nag finding of the stack that is deliberate, with its reason. Called once
 * the stack is complete, so grants added by constructs (SQS, Scheduler) are covered too.
 */
export function applySuppressions(stack: Stack, named: NamedAcknowledgements): void {
  for (const construct of stack.node.findAll()) {
    const document =
      construct instanceof iam.Policy || construct instanceof iam.ManagedPolicy
        ? construct.document
        : undefined;
    if (!document) continue;
    const resolved = stack.resolve(document.toJSON()) as { Statement?: { Resource?: unknown }[] } | undefined;
    for (const statement of resolved?.Statement ?? []) {
      const resources = Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
      for (const resource of resources) {
        if (resource === undefined) continue;
        const flat = flatten(resource);
        if (!flat.includes("*")) continue;
        const reason = WILDCARD_REASONS.find((entry) => entry.match.test(flat))?.reason;
        if (!reason) {
          throw new Error(
            `${construct.node.path}: no reason recorded for the wildcard resource ${flat}; add one to WILDCARD_REASONS in infra/lib/nag.ts`,
          );
        }
        acknowledge(construct, `AwsSolutions-IAM5[Resource::${flat}]`, reason);
      }
    }
  }
  for (const { scope, id, reason } of named.list) acknowledge(scope, id, reason);
}

export class NamedAcknowledgements {
  readonly list: { scope: IConstruct; id: string; reason: string }[] = [];
  add(scope: IConstruct, id: string, reason: string): this {
    this.list.push({ scope, id, reason });
    return this;
  }
}

/** cdk-nag's rendering of a resolved value: Fn::Join concatenated, Ref as <Id>, Fn::GetAtt as <Id.Attr>. */
export function flatten(value: unknown): string {
  // cdk-nag writes IAM policy variables `${aws:PrincipalTag/x}` as `<aws:PrincipalTag/x>`.
  if (typeof value === "string") return value.replace(/\$\{([^}]+)\}/g, "<$1>");
  if (value && typeof value === "object") {
    const object = value as Record<string, unknown>;
    if ("Ref" in object) return `<${String(object.Ref)}>`;
    if ("Fn::GetAtt" in object) {
      const attr = object["Fn::GetAtt"];
      return `<${Array.isArray(attr) ? attr.join(".") : String(attr)}>`;
    }
    if ("Fn::Join" in object) {
      const join = object["Fn::Join"] as [string, unknown[]];
      return join[1].map(flatten).join(join[0]);
    }
  }
  return JSON.stringify(value);
}

/** Every acknowledgement recorded in the tree (id → reason), for the tests and the report. */
export function acknowledgements(scope: IConstruct): { path: string; id: string; reason: string }[] {
  const out: { path: string; id: string; reason: string }[] = [];
  for (const construct of scope.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY || !entry.data) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        out.push({ path: construct.node.path, id: id.replace(/^annotation::/i, ""), reason });
      }
    }
  }
  return out;
}
