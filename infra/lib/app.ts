import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { API_ENTRY, bundleLambda, CASE_SESSION_ENTRY, type LambdaBundle } from "./bundle.js";
import { applySuppressions } from "./nag.js";
import { OpsRigRegionalStack } from "./regional.js";
import { type DeploySettings, loadSettings } from "./settings.js";
import { OpsRigStack } from "./stack.js";

export const STACK_NAME = "OpsRig";

/**
 * CDK feature flags the stack relies on, set here (not in cdk.json) so `cdk synth` and the tests
 * build the same template. Server access logs through a bucket policy instead of the legacy
 * LogDeliveryWrite ACL, which BucketOwnerEnforced buckets refuse.
 */
export const FEATURE_FLAGS = {
  "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": true,
} as const;

export interface BuildAppOptions {
  readonly projectRoot: string;
  /** CDK context (what `-c` and cdk.json give the CLI); tests pass it directly. */
  readonly context?: Readonly<Record<string, unknown>>;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Reuse a bundle (tests bundle once per file); bundles afresh when absent. */
  readonly bundle?: LambdaBundle;
  readonly brokerBundle?: LambdaBundle;
  /** The API's bundle (one for every region). */
  readonly apiBundle?: LambdaBundle;
  readonly outdir?: string;
  /**
   * CDK's built-in CloudFormation rules (on by default, as in `cdk synth`). They only ever warn, and
   * load a WASM engine that costs seconds per process, so in-process tests turn them off (for the
   * member template's app too: it is synthesized apart, see member.ts).
   */
  readonly cloudFormationRules?: boolean;
}

export interface BuiltApp {
  readonly app: App;
  readonly stack: OpsRigStack;
  /** One per configured region: evidence bucket and key, prefix list, managed security groups. */
  readonly regionalStacks: readonly OpsRigRegionalStack[];
  readonly settings: DeploySettings;
  readonly bundle: LambdaBundle;
  readonly brokerBundle: LambdaBundle;
  readonly apiBundle: LambdaBundle;
}

/** The regional stack's name for a region. */
export const regionalStackName = (region: string) => `${STACK_NAME}-${region}`;

/** The one way the app is put together, for `cdk synth` (infra/bin) and the tests alike. */
export async function buildApp(options: BuildAppOptions): Promise<BuiltApp> {
  const app = new App({
    context: { ...(options.context ?? {}) },
    postCliContext: FEATURE_FLAGS,
    builtinCloudFormationValidation: options.cloudFormationRules ?? true,
    ...(options.outdir ? { outdir: options.outdir } : {}),
  });
  const settings = await loadSettings(
    options.projectRoot,
    (key) => app.node.tryGetContext(key),
    options.env ?? {},
  );
  const bundle = options.bundle ?? bundleLambda(options.projectRoot);
  const brokerBundle = options.brokerBundle ?? bundleLambda(options.projectRoot, CASE_SESSION_ENTRY);
  const apiBundle = options.apiBundle ?? bundleLambda(options.projectRoot, API_ENTRY);
  const stack = new OpsRigStack(app, STACK_NAME, {
    settings,
    bundle,
    brokerBundle,
    cloudFormationRules: options.cloudFormationRules ?? true,
    env: { region: settings.homeRegion, ...(settings.account ? { account: settings.account } : {}) },
    description: "ops-rig: forensic AMI bake pipeline, notifications and responder roles",
    tags: { "ops-rig:stack": STACK_NAME },
  });
  applySuppressions(stack, stack.acknowledgements);
  const regionalStacks = settings.regions.map((region) => {
    const regional = new OpsRigRegionalStack(app, regionalStackName(region), {
      env: { region, ...(settings.account ? { account: settings.account } : {}) },
      description: `ops-rig: evidence, prefix list, responder groups, rig launch templates and the API in ${region}`,
      tags: { "ops-rig:stack": regionalStackName(region) },
      lockDays: settings.evidenceLockDays,
      responderCidrs: settings.responderCidrs,
      vpcIds: settings.responderVpcs[region] ?? [],
      parameterPrefix: settings.parameterPrefix,
      rigs: settings.rigs,
      apiBundle,
      logDays: settings.lambdaLogDays,
      callerPrincipalArns: settings.responderPrincipalArns,
      ...(settings.organization?.regions.includes(region)
        ? { memberOrganizationId: settings.organization.id }
        : {}),
    });
    // The evidence key and bucket policies name the home stack's roles, which must exist first.
    regional.addDependency(stack);
    applySuppressions(regional, regional.acknowledgements);
    return regional;
  });
  // cdk-nag 3 runs as a CDK policy-validation plugin: unacknowledged findings fail `cdk synth`.
  // Acknowledgements are copied into the template metadata, so the reasons ship with the stack.
  Validations.of(app).addPlugins(
    new AwsSolutionsChecks(app, { verbose: true, writeSuppressionsToCloudFormation: true }),
  );
  return { app, stack, regionalStacks, settings, bundle, brokerBundle, apiBundle };
}
