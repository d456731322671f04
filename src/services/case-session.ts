import { OpsRigError } from "../errors.js";
import {
  CASE_ID_PATTERN,
  EVIDENCE_ANALYST_ROLE,
  FORENSIC,
  FORENSIC_INSTANCE_PROFILE,
  FORENSIC_ROLE,
  NO_CASE,
  ORIGINS,
  RESOURCE_TAGS,
  RIG_ACTIONS,
  RIG_SESSION_SECONDS,
  responderRoleName,
  SESSION_TAGS,
} from "../responders/contract.js";

/**
 * The case-session broker: the only way a rig gets a responder session. The rig proves who it is by
 * signing the request with its instance credentials (the function URL's IAM auth gives us its
 * session ARN, whose session name EC2 sets to the instance id); the case comes from the instance's
 * own `ops-rig:case` tag, never from the request. A compromised rig can therefore act on its own case
 * or not at all, and only through the roles a rig may use.
 */

/** What a rig may ask for: a rig responder role, or the evidence analyst (read its own case). */
export const BROKERED_ROLES = [...RIG_ACTIONS, "evidence-analyst"] as const;
export type BrokeredRole = (typeof BROKERED_ROLES)[number];

export interface RigInstance {
  readonly instanceId: string;
  readonly state: string;
  readonly instanceProfileArn?: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface SessionCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
}

export interface AssumeRoleRequest {
  readonly roleArn: string;
  readonly sessionName: string;
  readonly sourceIdentity: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly durationSeconds: number;
}

export interface CaseSessionPort {
  findInstance(region: string, instanceId: string): Promise<RigInstance | undefined>;
  assumeRole(request: AssumeRoleRequest): Promise<SessionCredentials>;
}

export interface CaseSessionSettings {
  readonly account: string;
  readonly partition: string;
  /** Regions rigs may run in (the deployment's configured regions). */
  readonly regions: readonly string[];
  /** The organization's member accounts have responder roles (StackSet): rigs may ask for sessions there. */
  readonly memberAccounts?: boolean;
}

export interface CaseSessionRequest {
  /** The caller's ARN as IAM authenticated it (function URL requestContext.authorizer.iam.userArn). */
  readonly callerArn: string;
  readonly role: string;
  readonly region: string;
  /** A member account to act in (its rig responder role, same case); the broker's own when absent. */
  readonly account?: string;
}

export interface CaseSession {
  readonly caseId: string;
  readonly instanceId: string;
  readonly roleArn: string;
  readonly credentials: SessionCredentials;
}

/** Why the broker refused: `bad-request` (the caller's input) or `forbidden` (who the caller is). */
export class CaseSessionError extends OpsRigError {
  readonly reason: "bad-request" | "forbidden";
  constructor(reason: "bad-request" | "forbidden", message: string) {
    super(reason === "bad-request" ? "CASE_SESSION_BAD_REQUEST" : "CASE_SESSION_FORBIDDEN", "user", message);
    this.reason = reason;
  }
}

const RIG_SESSION_ARN = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([\w+=,.@-]+)\/(i-[0-9a-f]{8,17})$/;

export function isBrokeredRole(value: string): value is BrokeredRole {
  return (BROKERED_ROLES as readonly string[]).includes(value);
}

export function brokeredRoleArn(settings: CaseSessionSettings, role: BrokeredRole): string {
  const name = role === "evidence-analyst" ? EVIDENCE_ANALYST_ROLE : responderRoleName(role);
  return `arn:${settings.partition}:iam::${settings.account}:role/${name}`;
}

export async function issueCaseSession(
  request: CaseSessionRequest,
  settings: CaseSessionSettings,
  port: CaseSessionPort,
): Promise<CaseSession> {
  if (!isBrokeredRole(request.role)) {
    throw new CaseSessionError(
      "bad-request",
      `role: "${request.role}" is not one a rig may use (${BROKERED_ROLES.join(", ")})`,
    );
  }
  if (!settings.regions.includes(request.region)) {
    throw new CaseSessionError(
      "bad-request",
      `region: "${request.region}" is not one of the deployment's regions (${settings.regions.join(", ")})`,
    );
  }
  const target = request.account ?? settings.account;
  if (request.account !== undefined && request.account !== settings.account) {
    if (!/^\d{12}$/.test(request.account))
      throw new CaseSessionError(
        "bad-request",
        `account: "${request.account}" is not a 12-digit AWS account id`,
      );
    if (!settings.memberAccounts)
      throw new CaseSessionError(
        "bad-request",
        "account: this deployment has no member-account roles (organizationId is not configured)",
      );
    // Evidence is read in the security account only: member accounts have no analyst role.
    if (request.role === "evidence-analyst")
      throw new CaseSessionError(
        "bad-request",
        "account: the evidence analyst exists in the security account only",
      );
  }
  const caller = RIG_SESSION_ARN.exec(request.callerArn);
  const [, partition, account, roleName, instanceId = ""] = caller ?? [];
  if (
    !caller ||
    partition !== settings.partition ||
    account !== settings.account ||
    roleName !== FORENSIC_ROLE
  ) {
    throw new CaseSessionError(
      "forbidden",
      `${request.callerArn} is not a rig: only instance credentials of the ${FORENSIC_ROLE} role get case sessions`,
    );
  }
  const instance = await port.findInstance(request.region, instanceId);
  if (!instance)
    throw new CaseSessionError("forbidden", `${instanceId} is not an instance in ${request.region}`);
  if (instance.state !== "running") {
    throw new CaseSessionError("forbidden", `${instanceId} is ${instance.state}, not running`);
  }
  // Defence in depth: the session name alone says "an instance with the forensic role"; the rig must
  // also be tagged as one and run with the forensic instance profile.
  if (!instance.instanceProfileArn?.endsWith(`:instance-profile/${FORENSIC_INSTANCE_PROFILE}`)) {
    throw new CaseSessionError(
      "forbidden",
      `${instanceId} does not run with the ${FORENSIC_INSTANCE_PROFILE} profile`,
    );
  }
  if (instance.tags[RESOURCE_TAGS.role] !== FORENSIC) {
    throw new CaseSessionError("forbidden", `${instanceId} is not tagged ${RESOURCE_TAGS.role}=${FORENSIC}`);
  }
  const caseId = instance.tags[RESOURCE_TAGS.case] ?? "";
  if (!CASE_ID_PATTERN.test(caseId) || caseId === NO_CASE) {
    throw new CaseSessionError(
      "forbidden",
      `${instanceId} has no case (${RESOURCE_TAGS.case}=${caseId || "missing"}): launch rigs with --case`,
    );
  }
  const roleArn = brokeredRoleArn({ ...settings, account: target }, request.role);
  const credentials = await port.assumeRole({
    roleArn,
    sessionName: instanceId,
    sourceIdentity: instanceId,
    tags: { [SESSION_TAGS.case]: caseId, [SESSION_TAGS.origin]: ORIGINS.rig, [SESSION_TAGS.rig]: instanceId },
    durationSeconds: RIG_SESSION_SECONDS,
  });
  return { caseId, instanceId, roleArn, credentials };
}
