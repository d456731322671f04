import { rmSync } from "node:fs";
import { resolve } from "node:path";
import { Template } from "aws-cdk-lib/assertions";
import { type BuiltApp, buildApp } from "../../infra/lib/app.js";
import { API_ENTRY, bundleLambda, CASE_SESSION_ENTRY, type LambdaBundle } from "../../infra/lib/bundle.js";
import { cachedEsbuild } from "../helpers/bundle-cache.js";
import { shippedFiles, writeProject } from "../helpers/project.js";

export const REPO_ROOT = resolve(import.meta.dirname, "..", "..");
export const ACCOUNT = "111111111111";

/** A synthesized stack: the app, its template as JSON and as an assertions Template. */
export interface Synth extends BuiltApp {
  readonly template: Template;
  readonly json: TemplateJson;
  readonly millis: number;
  /** A regional stack's template, by stack name (`OpsRig-<region>`). */
  regionalJson(stackName: string): TemplateJson;
}

export interface TemplateJson {
  readonly Resources: Record<string, Resource>;
  readonly Outputs?: Record<string, { Value: unknown }>;
}
export interface Resource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
}

let bundle: LambdaBundle | undefined;
let brokerBundle: LambdaBundle | undefined;
let apiBundle: LambdaBundle | undefined;
const synths = new Map<string, Promise<Synth>>();

/** The Lambda bundle, made once per worker (see `cleanup`); esbuild's output comes from the tests' cache. */
export function sharedBundle(): LambdaBundle {
  bundle ??= bundleLambda(REPO_ROOT, undefined, { esbuild: cachedEsbuild });
  return bundle;
}

/** The case-session broker's bundle, made once per worker. */
export function sharedBrokerBundle(): LambdaBundle {
  brokerBundle ??= bundleLambda(REPO_ROOT, CASE_SESSION_ENTRY, { esbuild: cachedEsbuild });
  return brokerBundle;
}

/** The API's bundle, made once per worker. */
export function sharedApiBundle(): LambdaBundle {
  apiBundle ??= bundleLambda(REPO_ROOT, API_ENTRY, { esbuild: cachedEsbuild });
  return apiBundle;
}

/** Synthesizes the app once per worker and context (tests only read the result). */
export function synth(overrides: Record<string, unknown> = {}, projectRoot = REPO_ROOT): Promise<Synth> {
  const context = { account: ACCOUNT, ...overrides };
  const key = JSON.stringify({ context, projectRoot });
  let result = synths.get(key);
  if (!result) {
    result = (async () => {
      const started = performance.now();
      // CDK's built-in CloudFormation rules only ever warn and load a WASM engine (2-6 s per process):
      // `npm run synth` and the CLI test keep them, in-process synths skip them.
      const built = await buildApp({
        projectRoot,
        context,
        bundle: sharedBundle(),
        brokerBundle: sharedBrokerBundle(),
        apiBundle: sharedApiBundle(),
        cloudFormationRules: false,
      });
      const template = Template.fromStack(built.stack);
      const regional = new Map<string, TemplateJson>();
      return {
        ...built,
        template,
        json: template.toJSON() as TemplateJson,
        millis: performance.now() - started,
        regionalJson: (name: string) => {
          let json = regional.get(name);
          if (!json) {
            const stack = built.regionalStacks.find((s) => s.stackName === name);
            if (!stack) throw new Error(`no regional stack ${name}`);
            json = Template.fromStack(stack).toJSON() as TemplateJson;
            regional.set(name, json);
          }
          return json;
        },
      };
    })();
    synths.set(key, result);
  }
  return result;
}

/** The organization, OU and account the shared synth shares with (`SHARED_PIPELINE`). */
export const SHARE = {
  organization: "arn:aws:organizations::999999999999:organization/o-abc1234567",
  ou: "arn:aws:organizations::999999999999:ou/o-abc1234567/ou-ab12-aaaaaaaa",
  account: "222222222222",
} as const;

let sharedRoot: string | undefined;

/**
 * The shipped project with `share:` (an OU and an account) and a customer key per region: the
 * statements that only exist when sharing is configured.
 */
export async function synthShared(overrides: Record<string, unknown> = {}): Promise<Synth> {
  if (!sharedRoot) {
    const files = await shippedFiles();
    // Key ARNs (the simulations' copy key in eu-west-1), not aliases.
    const key = (region: string) =>
      `arn:aws:kms:${region}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
    const pipeline = (files.get("recipes/pipeline.yaml") ?? "").replace(
      "copy:\n  concurrencyPerRegion: 5\n",
      `share:\n  organizationalUnits: [${SHARE.ou}]\n  accounts: ["${SHARE.account}"]\ncopy:\n  concurrencyPerRegion: 5\n  kmsKeys:\n    us-east-1: ${key("us-east-1")}\n    eu-west-1: ${key("eu-west-1")}\n    ap-southeast-2: ${key("ap-southeast-2")}\n`,
    );
    if (!pipeline.includes("share:"))
      throw new Error("recipes/pipeline.yaml changed: the shared synth cannot add share:");
    files.set("recipes/pipeline.yaml", pipeline);
    sharedRoot = await writeProject(files);
  }
  return synth(overrides, sharedRoot);
}

/**
 * The infra tier shares one module graph per worker (vitest `isolate: false`), so the bundles and
 * synths above are built once per worker, not once per file; the bundles are removed by the tier's
 * global teardown (test/infra/global-setup.ts).
 */
export function cleanup(): void {
  // The shared project lives in the system's temp folder, out of the global teardown's reach: it
  // goes with its file, and so do the synths made from it.
  if (sharedRoot) {
    const root = sharedRoot;
    rmSync(root, { recursive: true, force: true });
    for (const key of [...synths.keys()]) if (key.includes(JSON.stringify(root))) synths.delete(key);
  }
  sharedRoot = undefined;
}

/** A resource's properties; throws (failing the test) when the resource is missing. */
export function propsOf(resource: Resource | undefined): Record<string, unknown> {
  if (!resource?.Properties) throw new Error("resource or its properties missing from the template");
  return resource.Properties;
}

export function resourcesOfType(json: TemplateJson, type: string): [string, Resource][] {
  return Object.entries(json.Resources).filter(([, r]) => r.Type === type);
}

export function logicalIdOf(json: TemplateJson, type: string, pathPart: string): string {
  const found = Object.entries(json.Resources).filter(
    ([id, r]) =>
      r.Type === type && (id.includes(pathPart) || JSON.stringify(r.Metadata ?? {}).includes(pathPart)),
  );
  if (found.length !== 1) throw new Error(`expected one ${type} like "${pathPart}", found ${found.length}`);
  return found[0]?.[0] ?? "";
}

// ---- IAM policy documents in a template.

export interface Statement {
  readonly Sid?: string;
  readonly Effect: "Allow" | "Deny";
  readonly Action?: string | string[];
  readonly NotAction?: string | string[];
  readonly Resource?: unknown;
  readonly NotResource?: unknown;
  readonly Principal?: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

export interface PolicyDoc {
  /** Logical id of the resource that holds the document. */
  readonly owner: string;
  readonly type: string;
  readonly kind: "identity" | "resource" | "trust";
  readonly statements: readonly Statement[];
  /** Roles an identity policy applies to (logical ids). */
  readonly roles: readonly string[];
}

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

function refs(value: unknown): string[] {
  return asArray(value as unknown[]).flatMap((v) =>
    v && typeof v === "object" && "Ref" in v ? [String((v as { Ref: unknown }).Ref)] : [],
  );
}

/** Every policy document in the template, identity, resource and trust alike. */
export function policyDocuments(json: TemplateJson): PolicyDoc[] {
  const docs: PolicyDoc[] = [];
  const add = (owner: string, type: string, kind: PolicyDoc["kind"], doc: unknown, roles: string[] = []) => {
    const statements = asArray((doc as { Statement?: Statement | Statement[] } | undefined)?.Statement);
    docs.push({ owner, type, kind, statements, roles });
  };
  // Roles name the managed policies they have in ManagedPolicyArns; policies name roles in Roles.
  const attachedTo = (policyId: string) =>
    Object.entries(json.Resources)
      .filter(
        ([, r]) => r.Type === "AWS::IAM::Role" && refs(r.Properties?.ManagedPolicyArns).includes(policyId),
      )
      .map(([roleId]) => roleId);
  for (const [id, r] of Object.entries(json.Resources)) {
    const p = r.Properties ?? {};
    switch (r.Type) {
      case "AWS::IAM::Policy":
      case "AWS::IAM::ManagedPolicy":
        add(id, r.Type, "identity", p.PolicyDocument, [...refs(p.Roles), ...attachedTo(id)]);
        break;
      case "AWS::IAM::Role":
        add(id, r.Type, "trust", p.AssumeRolePolicyDocument, [id]);
        for (const inline of asArray(p.Policies as { PolicyDocument: unknown }[])) {
          add(id, r.Type, "identity", inline.PolicyDocument, [id]);
        }
        break;
      case "AWS::KMS::Key":
        add(id, r.Type, "resource", p.KeyPolicy);
        break;
      case "AWS::SNS::TopicPolicy":
      case "AWS::S3::BucketPolicy":
      case "AWS::SQS::QueuePolicy":
        add(id, r.Type, "resource", p.PolicyDocument);
        break;
      default:
        if (JSON.stringify(p).includes('"Statement"')) {
          throw new Error(`${id} (${r.Type}) holds a policy document the walker does not know`);
        }
    }
  }
  return docs;
}

export const actionsOf = (s: Statement): string[] => asArray(s.Action);
export const resourcesOf = (s: Statement): unknown[] => asArray(s.Resource as unknown[]);

/** Identity statements that apply to a role (its inline policies and every policy attached to it). */
export function statementsOfRole(json: TemplateJson, roleId: string): Statement[] {
  return policyDocuments(json)
    .filter((d) => d.kind === "identity" && d.roles.includes(roleId))
    .flatMap((d) => d.statements);
}
