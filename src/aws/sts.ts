import { GetCallerIdentityCommand, type STSClient } from "@aws-sdk/client-sts";
import type { StsPort } from "../pipeline/ports.js";
import { awsCall } from "./call.js";

export function createStsAdapter(client: (region: string) => STSClient): StsPort {
  return {
    accountId: (region) =>
      awsCall("sts", "GetCallerIdentity", region, async () => {
        const out = await client(region).send(new GetCallerIdentityCommand({}));
        if (!out.Account) throw new Error("GetCallerIdentity returned no account");
        return out.Account;
      }),
  };
}
