import { AwsCallError, OpsRigError } from "../../errors.js";
import { ORIGINS, type ResponderAction, responderRoleName, SESSION_TAGS } from "../../responders/contract.js";
import type { ResponderCommand } from "./common.js";
import { ResponderRefusedError } from "./errors.js";

/**
 * Responder commands across accounts: the instance lives in a member account, the caller (a human
 * with MFA or an SSO responder role, or a rig's broker session) in the security account. The command
 * assumes the member account's `ops-rig-responder-<action>` role (deployed there by the StackSet) with
 * the case as a session tag, acts through it, and still writes evidence to the security account's
 * bucket in the instance's region.
 */

export const ACCOUNT_ID_PATTERN = /^\d{12}$/;

/** Which responder role each command acts through. */
export const COMMAND_ROLES: Readonly<Record<ResponderCommand, ResponderAction>> = {
  inspect: "inspect",
  isolate: "quarantine",
  release: "quarantine",
  snapshot: "snapshot",
  attach: "snapshot",
  "capture-memory": "memory-capture",
  "ssh-route": "ssh-route",
  terminate: "terminate",
};

export interface SessionCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
}

/** Where an instance is, by the organization's AWS Config aggregator. */
export interface InstanceLocation {
  readonly account: string;
  readonly region: string;
}

/** What crossing into a member account needs from AWS (the adapter: src/aws/responders/accounts.ts). */
export interface MemberAccessPort {
  identity(
    region: string,
  ): Promise<{ readonly account: string; readonly arn: string; readonly partition: string }>;
  assumeRole(
    region: string,
    request: {
      readonly roleArn: string;
      readonly sessionName: string;
      readonly tags: Readonly<Record<string, string>>;
    },
  ): Promise<SessionCredentials>;
  /** The instance's account and region as the aggregator recorded it; undefined when it knows none. */
  locate(aggregator: string, region: string, instanceId: string): Promise<InstanceLocation | undefined>;
}

/** AssumeRole of a member role was refused: the role is missing there or does not trust the caller. */
export class MemberRoleError extends OpsRigError {
  constructor(
    readonly account: string,
    readonly region: string,
    readonly roleArn: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(
      "MEMBER_ROLE_REFUSED",
      "user",
      `account ${account} (region ${region}): cannot assume ${roleArn}: ${detail}`,
      options,
    );
  }
}

/** `--account`: refused by name before any AWS call. */
export function checkAccount(value: string, flag = "--account"): string {
  if (!ACCOUNT_ID_PATTERN.test(value))
    throw new ResponderRefusedError("BAD_ACCOUNT_ID", `"${value}" is not a 12-digit AWS account id`, flag);
  return value;
}

/** `--aggregator`: a Config aggregator name (1-256 of letters, digits, `-` and `_`). */
export function checkAggregator(value: string, flag = "--aggregator"): string {
  if (!/^[\w-]{1,256}$/.test(value))
    throw new ResponderRefusedError("BAD_AGGREGATOR", `"${value}" is not a Config aggregator name`, flag);
  return value;
}

export const memberRoleArn = (partition: string, account: string, command: ResponderCommand): string =>
  `arn:${partition}:iam::${account}:role/${responderRoleName(COMMAND_ROLES[command])}`;

export interface MemberSessionRequest {
  readonly account: string;
  readonly region: string;
  readonly command: ResponderCommand;
  readonly caseId: string;
}

export interface MemberSession {
  readonly account: string;
  /** The role assumed; undefined when the caller already acts in that account (a broker session there). */
  readonly roleArn: string | undefined;
  readonly credentials: SessionCredentials | undefined;
  /** The caller's own account before crossing: where evidence is kept (the security account). */
  readonly callerAccount: string;
}

/**
 * The session a command acts through in `account`: the caller's own when it already is in that account,
 * else the member role of the command, assumed with `ops-rig:case` and `ops-rig:origin=human` (the
 * member roles' trust admits exactly these from the security account's humans; the broker gets rig
 * sessions for rigs). A refused AssumeRole names the account, region and role.
 */
export async function memberSession(
  port: MemberAccessPort,
  request: MemberSessionRequest,
): Promise<MemberSession> {
  checkAccount(request.account);
  const me = await port.identity(request.region);
  if (me.account === request.account)
    return {
      account: request.account,
      roleArn: undefined,
      credentials: undefined,
      callerAccount: me.account,
    };
  const roleArn = memberRoleArn(me.partition, request.account, request.command);
  try {
    const credentials = await port.assumeRole(request.region, {
      roleArn,
      // Session names show in the member account's CloudTrail next to the case.
      sessionName: `ops-rig-${request.caseId}`.slice(0, 64),
      tags: { [SESSION_TAGS.case]: request.caseId, [SESSION_TAGS.origin]: ORIGINS.human },
    });
    return { account: request.account, roleArn, credentials, callerAccount: me.account };
  } catch (error) {
    if (error instanceof AwsCallError && /AccessDenied/i.test(error.awsCode ?? "")) {
      throw new MemberRoleError(
        request.account,
        request.region,
        roleArn,
        `AccessDenied for ${me.arn} (the role is missing in that account, i.e. the StackSet has not reached it, or its trust refuses this caller: MFA or an SSO responder role of the security account, in the organization)`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * The instance's account (and region) from the organization's Config aggregator, for commands given
 * no `--account`. Not found: a user error naming the aggregator and the instance.
 */
export async function locateAccount(
  port: MemberAccessPort,
  aggregator: string,
  aggregatorRegion: string,
  instanceId: string,
): Promise<InstanceLocation> {
  checkAggregator(aggregator);
  if (!/^i-[0-9a-f]{8,17}$/.test(instanceId))
    throw new ResponderRefusedError(
      "BAD_INSTANCE_ID",
      `"${instanceId}" is not an instance id (i-...)`,
      "INSTANCE",
    );
  const found = await port.locate(aggregator, aggregatorRegion, instanceId);
  if (!found)
    throw new ResponderRefusedError(
      "INSTANCE_NOT_AGGREGATED",
      `${instanceId} is not in Config aggregator ${aggregator} (${aggregatorRegion}): name its account with --account`,
      "INSTANCE",
    );
  return found;
}
