import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import type { StsPort } from "../pipeline/ports.js";
import { type AdapterOptions, awsCall, sendOptions } from "./call.js";
import type { ClientFactory } from "./client-factory.js";

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

/** The factory's STSClient for a region (made on first use). */
export function stsClients(clients: ClientFactory): (region: string) => STSClient {
  return (region) => clients.other("sts", region, (config) => new STSClient(config));
}

/** The port over the factory's clients: what src/aws/index.ts loads at the port's first call. */
export function stsPort(clients: ClientFactory, options: AdapterOptions = {}): StsPort {
  return createStsAdapter(stsClients(clients), options);
}
