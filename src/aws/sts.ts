import { GetCallerIdentityCommand, type STSClient } from "@aws-sdk/client-sts";
import type { StsPort } from "../pipeline/ports.js";
import { type AdapterOptions, awsCall, sendOptions } from "./call.js";

export function createStsAdapter(
  client: (region: string) => STSClient,
  options: AdapterOptions = {},
): StsPort {
  const { signal } = options;
  const identity = (region: string) =>
    awsCall(
      "sts",
      "GetCallerIdentity",
      region,
      async () => {
        const out = await client(region).send(new GetCallerIdentityCommand({}), sendOptions(signal));
        if (!out.Account) throw new Error("GetCallerIdentity returned no account");
        return { accountId: out.Account, arn: out.Arn ?? "" };
      },
      signal,
    );
  return { identity, accountId: async (region) => (await identity(region)).accountId };
}
