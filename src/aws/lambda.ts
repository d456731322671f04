import { InvokeCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import type { LambdaPort } from "../services/ports.js";
import { type AdapterOptions, awsCall, sendOptions } from "./call.js";

/** `ops-rig bake --remote`: invokes the deployed pipeline with the manual event (CLI only). */
export function createLambdaAdapter(
  client: (region: string) => LambdaClient,
  options: AdapterOptions = {},
): LambdaPort {
  const { signal } = options;
  return {
    invoke: async (region, functionName, payload) => {
      const out = await awsCall(
        "lambda",
        "Invoke",
        region,
        () =>
          client(region).send(
            new InvokeCommand({
              FunctionName: functionName,
              Payload: new TextEncoder().encode(JSON.stringify(payload)),
            }),
            sendOptions(signal),
          ),
        signal,
      );
      return {
        body: out.Payload ? new TextDecoder().decode(out.Payload) : "",
        ...(out.FunctionError ? { functionError: out.FunctionError } : {}),
      };
    },
  };
}
