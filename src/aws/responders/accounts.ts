import {
  type ConfigServiceClient,
  SelectAggregateResourceConfigCommand,
} from "@aws-sdk/client-config-service";
import { AssumeRoleCommand, GetCallerIdentityCommand, type STSClient } from "@aws-sdk/client-sts";
import type { MemberAccessPort } from "../../services/responders/accounts.js";
import { type AdapterOptions, awsCall, sendOptions } from "../call.js";

/** The calls that cross into member accounts: who am I, AssumeRole, and the Config aggregator. */
export function createMemberAccessAdapter(
  sts: (region: string) => STSClient,
  config: (region: string) => ConfigServiceClient,
  options: AdapterOptions = {},
): MemberAccessPort {
  const { signal } = options;
  const opts = sendOptions(signal);
  return {
    identity: (region) =>
      awsCall(
        "sts",
        "GetCallerIdentity",
        region,
        async () => {
          const out = await sts(region).send(new GetCallerIdentityCommand({}), opts);
          const arn = out.Arn ?? "";
          return { account: out.Account ?? "", arn, partition: arn.split(":")[1] ?? "aws" };
        },
        signal,
      ),
    assumeRole: (region, request) =>
      awsCall(
        "sts",
        "AssumeRole",
        region,
        async () => {
          const out = await sts(region).send(
            new AssumeRoleCommand({
              RoleArn: request.roleArn,
              RoleSessionName: request.sessionName,
              Tags: Object.entries(request.tags).map(([Key, Value]) => ({ Key, Value })),
            }),
            opts,
          );
          const c = out.Credentials;
          if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration)
            throw new Error("AssumeRole returned no credentials");
          return {
            accessKeyId: c.AccessKeyId,
            secretAccessKey: c.SecretAccessKey,
            sessionToken: c.SessionToken,
            expiration: c.Expiration,
          };
        },
        signal,
      ),
    locate: (aggregator, region, instanceId) =>
      awsCall(
        "config",
        "SelectAggregateResourceConfig",
        region,
        async () => {
          // The id is checked by the service (i-<hex>) before it reaches this query.
          const out = await config(region).send(
            new SelectAggregateResourceConfigCommand({
              ConfigurationAggregatorName: aggregator,
              Expression: `SELECT accountId, awsRegion WHERE resourceType = 'AWS::EC2::Instance' AND resourceId = '${instanceId}'`,
              Limit: 1,
            }),
            opts,
          );
          const first = out.Results?.[0];
          if (!first) return undefined;
          const row = JSON.parse(first) as { accountId?: unknown; awsRegion?: unknown };
          return typeof row.accountId === "string" && typeof row.awsRegion === "string"
            ? { account: row.accountId, region: row.awsRegion }
            : undefined;
        },
        signal,
      ),
  };
}
