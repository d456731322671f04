import { InvokeCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import { awsCall } from "./call.js";

/** `ops-rig bake --remote`: invokes the deployed pipeline with the manual event (CLI only). */
export async function invokeFunction(
  client: LambdaClient,
  region: string,
  functionName: string,
  payload: unknown,
): Promise<{ readonly body: string; readonly functionError?: string }> {
  const out = await awsCall("lambda", "Invoke", region, () =>
    client.send(
      new InvokeCommand({
        FunctionName: functionName,
        Payload: new TextEncoder().encode(JSON.stringify(payload)),
      }),
    ),
  );
  return {
    body: out.Payload ? new TextDecoder().decode(out.Payload) : "",
    ...(out.FunctionError ? { functionError: out.FunctionError } : {}),
  };
}
