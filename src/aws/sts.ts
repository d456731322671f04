import { GetCallerIdentityCommand, type STSClient } from "@aws-sdk/client-sts";
import type { StsPort } from "../pipeline/ports.js";
import { awsCall } from "./call.js";

export function createStsAdapter(client: (region: string) => STSClient): StsPort {
  const identity = (region: string) =>
    awsCall("sts", "GetCallerIdentity", region, async () => {
      const out = await client(region).send(new GetCallerIdentityCommand({}));
      if (!out.Account) throw new Error("GetCallerIdentity returned no account");
      return { accountId: out.Account, arn: out.Arn ?? "" };
    });
  return { identity, accountId: async (region) => (await identity(region)).accountId };
}
