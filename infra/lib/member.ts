import { join } from "node:path";
import {
  App,
  Aws,
  BootstraplessSynthesizer,
  type IStackSynthesizer,
  Stack,
  type StackProps,
  Stage,
  Validations,
} from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import { AwsSolutionsChecks } from "cdk-nag";
import { Construct } from "constructs";
import { Arns } from "./arns.js";
import { applySuppressions, NamedAcknowledgements } from "./nag.js";
import {
  CASE_SESSION_ROLE,
  RESPONDER_ACTIONS,
  type ResponderAction,
  RIG_ACTIONS,
  responderRoleName,
} from "./names.js";
import { humanPrincipals, responderStatements, setTrust, trustStatements } from "./responders.js";

/** The StackSet's name, and the stack each member account gets (CloudFormation names it `StackSet-<name>-<id>`). */
export const MEMBER_STACK_SET = "ops-rig-member-responders";
const MEMBER_STACK = "OpsRigMember";

export interface MemberRespondersProps {
  /** The security account: its humans, SSO roles and case-session broker are the only ones trusted. */
  readonly securityAccount: string;
  /** `o-...`: every trust statement also requires the caller to be of this organization. */
  readonly organizationId: string;
  /** Where the StackSet is managed (partition only). */
  readonly homeRegion: string;
  /** Regions the member roles may act in: each has the security account's evidence bucket. */
  readonly regions: readonly string[];
  /** The security account's SSO responder roles (as for its own responder roles). */
  readonly responderPrincipalArns: readonly string[];
}

/**
 * The responder roles of one member account: the same six `ops-rig-responder-<action>` roles and
 * statements as the security account's (responderStatements, one source), acting on this account's
 * resources in the chosen regions, writing evidence to the security account's same-region bucket.
 * They trust only the security account's principals that assume its own responder roles: its IAM
 * principals with MFA and its SSO responder roles (humans, every outcome), and its case-session
 * broker (rigs: inspect, snapshot, memory-capture), with the same session-tag conditions, and only
 * from inside the organization. No evidence analyst here: evidence is read in the security account.
 */
export class MemberResponders extends Construct {
  readonly roles: ReadonlyMap<ResponderAction, iam.Role>;

  constructor(scope: Construct, id: string, props: MemberRespondersProps) {
    super(scope, id);
    const arns = new Arns(props.homeRegion, props.regions, Aws.ACCOUNT_ID);
    const humans = humanPrincipals(arns, props.responderPrincipalArns, props.securityAccount);
    const broker = `arn:${arns.partition}:iam::${props.securityAccount}:role/${CASE_SESSION_ROLE}`;
    const inOrganization = { StringEquals: { "aws:PrincipalOrgID": props.organizationId } };
    const statements = responderStatements(arns, props.securityAccount);
    const rigActions: readonly ResponderAction[] = RIG_ACTIONS;
    const roles = new Map<ResponderAction, iam.Role>();
    for (const action of RESPONDER_ACTIONS) {
      const forRigs = rigActions.includes(action);
      const policy = new iam.ManagedPolicy(this, `Policy-${action}`, {
        description: `ops-rig member-account responder action "${action}"`,
        statements: statements[action],
      });
      const role = new iam.Role(this, `Role-${action}`, {
        roleName: responderRoleName(action),
        description: forRigs
          ? `ops-rig responder "${action}" for security account ${props.securityAccount}: its humans with a case tag, its rigs through the broker`
          : `ops-rig responder "${action}" for security account ${props.securityAccount}: its human responders only (MFA or SSO)`,
        assumedBy: new iam.AccountPrincipal(props.securityAccount),
        managedPolicies: [policy],
      });
      setTrust(role, trustStatements(humans, forRigs ? broker : undefined, inOrganization));
      roles.set(action, role);
    }
    this.roles = roles;
  }
}

export interface MemberStackProps extends StackProps, MemberRespondersProps {}

/** What each member account gets: the responder roles, nothing else (IAM is global: one instance per account). */
export class OpsRigMemberStack extends Stack {
  readonly responders: MemberResponders;
  readonly acknowledgements = new NamedAcknowledgements();

  constructor(scope: Construct, id: string, props: MemberStackProps) {
    super(scope, id, props);
    this.responders = new MemberResponders(this, "Responders", props);
  }
}

/**
 * The member template, synthesized in an app of its own: a StackSet deploys a template body, not a
 * CDK stack. No bootstrap resources (member accounts have none) and no CDK metadata; cdk-nag checks
 * it like the home stacks, so a finding stops `cdk synth` here too. `outdir` holds its cloud assembly
 * (beside the main app's). `cloudFormationRules` as the main app's (see BuildAppOptions).
 */
export function memberTemplate(
  props: MemberRespondersProps,
  outdir?: string,
  options: { readonly cloudFormationRules?: boolean } = {},
): Record<string, unknown> {
  const app = new App({
    analyticsReporting: false,
    builtinCloudFormationValidation: options.cloudFormationRules ?? true,
    ...(outdir ? { outdir } : {}),
  });
  const stack = new OpsRigMemberStack(app, MEMBER_STACK, {
    ...props,
    // (Cast: under exactOptionalPropertyTypes the jsii class is not assignable to its own interface.)
    synthesizer: new BootstraplessSynthesizer() as IStackSynthesizer,
    description: `ops-rig: member-account responder roles for security account ${props.securityAccount}`,
  });
  applySuppressions(stack, stack.acknowledgements);
  // The acknowledgements' reasons stay out of this template (they are in the code and the home
  // stack's): they would double it, and a TemplateBody holds at most 51,200 bytes.
  Validations.of(app).addPlugins(
    new AwsSolutionsChecks(app, { verbose: true, writeSuppressionsToCloudFormation: false }),
  );
  const assembly = app.synth();
  return assembly.getStackArtifact(stack.artifactId).template as Record<string, unknown>;
}

/** The member app's outdir for a stack: inside the main app's, so one `cdk.out` holds both. */
export function memberOutdir(scope: Construct): string | undefined {
  const outdir = Stage.of(scope)?.outdir;
  return outdir ? join(outdir, "member") : undefined;
}
