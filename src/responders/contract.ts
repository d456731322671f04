/**
 * The responder contract: the names, tags and session tags that the deployed roles (infra/) key on
 * and that every caller of them (the rig's case-session broker, responder commands, the API, member
 * account stacks) must use. Pure data, no imports: `infra/` re-exports it, and application code
 * imports it from here (the build's rootDir is src/).
 *
 * A responder session always carries the case it works on as a session tag; the roles act only on
 * resources tagged with that same case. How the session tag is trusted depends on who asks:
 * - a rig (the forensic instance) never assumes a responder role itself: the case-session broker
 *   reads the rig's own `ops-rig:case` instance tag and assumes the role for it, so a compromised
 *   rig cannot choose another case;
 * - a human assumes the role directly and must have MFA (or be one of the configured SSO roles);
 *   only humans may use the destructive and network-changing outcomes.
 */

/** Every outcome of the seed has one role `ops-rig-responder-<action>`. */
export const RESPONDER_ACTIONS = [
  "ssh-route",
  "snapshot",
  "memory-capture",
  "inspect",
  "quarantine",
  "terminate",
] as const;
export type ResponderAction = (typeof RESPONDER_ACTIONS)[number];

/** Outcomes a rig may get a session for (through the broker). The rest need a human. */
export const RIG_ACTIONS = [
  "inspect",
  "snapshot",
  "memory-capture",
] as const satisfies readonly ResponderAction[];
/** Outcomes that change a workload's network or destroy it: human principals only. */
export const HUMAN_ONLY_ACTIONS = [
  "ssh-route",
  "quarantine",
  "terminate",
] as const satisfies readonly ResponderAction[];

export const responderRoleName = (action: ResponderAction): string => `ops-rig-responder-${action}`;

/** Reads the evidence buckets (the only principal that may): humans, and rigs for their own case. */
export const EVIDENCE_ANALYST_ROLE = "ops-rig-evidence-analyst";
/** The forensic instance's role and instance profile (`ops-rig launch` starts rigs with the profile). */
export const FORENSIC_ROLE = "ops-rig-forensic";
export const FORENSIC_INSTANCE_PROFILE = "ops-rig-forensic";
/** The broker Lambda that turns a rig's instance credentials into a case session (function URL, IAM auth). */
export const CASE_SESSION_FUNCTION = "ops-rig-case-session";
export const CASE_SESSION_ROLE = "ops-rig-case-session";

/** Session tags every responder session carries. Request them with `Tags` on AssumeRole. */
export const SESSION_TAGS = {
  /** The case the session works on; resources must carry the same `ops-rig:case` tag. */
  case: "ops-rig:case",
  /** `rig` (issued by the broker) or `human` (assumed directly with MFA or a configured SSO role). */
  origin: "ops-rig:origin",
  /** The rig's instance id, on rig sessions only (also their SourceIdentity). */
  rig: "ops-rig:rig",
} as const;
export const ORIGINS = { rig: "rig", human: "human" } as const;
export type Origin = (typeof ORIGINS)[keyof typeof ORIGINS];

/** Resource tags the roles key on. */
export const RESOURCE_TAGS = {
  /** Incident id on everything that belongs to a case: the target instance, its volumes and interfaces, evidence. */
  case: "ops-rig:case",
  /** `forensic` on rigs (instance, root volume, interfaces) that `ops-rig launch` starts. */
  role: "ops-rig:role",
  /** `ssh-route` or `quarantine` on the security groups ops-rig owns. */
  purpose: "ops-rig:purpose",
  /** `ops-rig` on every security group the stacks create: only those may be swapped in. */
  managedBy: "ops-rig:managed-by",
  /** `true` on volumes made from evidence snapshots: the only volumes responders attach, detach or delete. */
  evidenceCopy: "ops-rig:evidence-copy",
  /** `true` on an instance a responder has quarantined (required before terminating a workload). */
  quarantined: "ops-rig:quarantined",
} as const;
export const FORENSIC = "forensic";
export const MANAGED_BY_OPS_RIG = "ops-rig";

/**
 * Case ids: what a session tag, an S3 key segment and an EC2 tag all accept, and never `none`
 * (what `ops-rig launch` tags a rig without a case with).
 */
export const CASE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const NO_CASE = "none";
export function isCaseId(value: string): boolean {
  return CASE_ID_PATTERN.test(value) && value !== NO_CASE;
}

/** Evidence: one write-only bucket per region, objects under `cases/<case>/`. */
export const evidenceBucketName = (account: string, region: string): string =>
  `ops-rig-evidence-${account}-${region}`;
export const EVIDENCE_KEY_ALIAS = "alias/ops-rig-evidence";
export const evidencePrefix = (caseId: string): string => `cases/${caseId}/`;

/** Security groups the regional stacks make in each listed VPC (group names). */
export const MANAGED_GROUPS = { "ssh-route": "ops-rig-ssh-route", quarantine: "ops-rig-quarantine" } as const;
/** The responders' VPN ranges, one managed prefix list per region. */
export const RESPONDER_PREFIX_LIST = "ops-rig-responders";

/** Longest session a broker issues (seconds). */
export const RIG_SESSION_SECONDS = 3600;

/**
 * Tags the responder commands keep their state in (besides the resource tags above). The roles allow
 * exactly these keys to be written and removed, on resources of the session's case.
 */
export const STATE_TAGS = {
  /** On an interface: its groups before `isolate` (long lists continue in `-2`, `-3`). */
  previousGroups: "ops-rig:previous-groups",
  /** On an instance: its instance profile ARN before `isolate` (continues in `-2`, ... when long). */
  previousProfile: "ops-rig:previous-profile",
  /** On an interface: the rig an `ssh-route` was opened for. */
  sshRoute: "ops-rig:ssh-route",
  /** On an instance: the SHA-256 of its completed memory capture. */
  memorySha256: "ops-rig:memory-sha256",
  /** On an instance: the multipart upload its capture streams into (continues in `-2`, ...). */
  memoryUpload: "ops-rig:memory-upload",
} as const;
/** Roles that write to the evidence buckets (each under its session's case only). */
export const EVIDENCE_WRITERS = ["memory-capture", "inspect", "snapshot", "terminate"] as const;
/** A tag key and the continuation keys a long value may spill into. */
export const withContinuations = (key: string): string[] => [key, `${key}-2`, `${key}-3`, `${key}-4`];

/** Memory capture runs this Run Command document, and no other. */
export const CAPTURE_DOCUMENT = "AWS-RunShellScript";
