/**
 * The least-privilege rules the IAM test enforces on every statement of the synthesized template,
 * and the deliberate exceptions to them, each with its reason. The test fails both when a new
 * exception appears and when a listed one is no longer needed.
 */

/** Verbs of actions that read and change nothing. */
export const READ_ONLY_VERBS = [
  "Describe",
  "List",
  "Get",
  "Lookup",
  "Filter",
  "Search",
  "BatchGet",
  "Head",
] as const;

export function isReadOnly(action: string): boolean {
  const name = action.split(":")[1] ?? "";
  return READ_ONLY_VERBS.some((verb) => name.startsWith(verb));
}

const SSM_CHANNELS =
  "Session Manager's channel calls have no resource type (Service Authorization Reference: ssmmessages); the forensic instance needs them so responders reach it by SSM session instead of open SSH, limited to the configured regions.";

/**
 * Mutating actions allowed on `Resource: "*"` in identity policies, because AWS offers no narrower
 * resource for them, keyed by action.
 */
export const RESOURCE_STAR_EXCEPTIONS: Readonly<Record<string, string>> = {
  "ssmmessages:CreateControlChannel": SSM_CHANNELS,
  "ssmmessages:CreateDataChannel": SSM_CHANNELS,
  "ssmmessages:OpenControlChannel": SSM_CHANNELS,
  "ssmmessages:OpenDataChannel": SSM_CHANNELS,
  "ram:CreateResourceShare":
    "CreateResourceShare has no resource type (Service Authorization Reference: AWS RAM); the statement is narrowed by ram:Principal to pipeline.yaml's share principals, ram:ResourceArn to ops-rig's toolset parameters and ram:RequestedAllowsExternalPrincipals false.",
};

/**
 * Resource-policy statements (key policies) that would break the rules above if they were identity
 * policies, keyed by `<resource type>:<Sid or principal>`.
 */
export const RESOURCE_POLICY_EXCEPTIONS: Readonly<Record<string, string>> = {
  "AWS::KMS::Key:account-root":
    "The default key policy statement (kms:* for the account root) delegates the key to IAM policies; without it the account can lose control of the key (KMS developer guide: default key policy). Resource * in a key policy means this key only.",
  "AWS::KMS::Key:ImageBuilderPublishesBuildEvents":
    "Principal * narrowed by aws:PrincipalArn to Image Builder's service-linked role, which KMS would reject as a principal before it exists (it is created by the first build).",
  "AWS::SNS::TopicPolicy:ImageBuilderPublishesBuildEvents":
    "Principal * narrowed by aws:PrincipalArn to Image Builder's service-linked role (a principal that may not exist yet at deploy time), sns:Publish on the build-events topic only.",
};
