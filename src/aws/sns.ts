import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import type { SnsPort } from "../pipeline/ports.js";
import { type AdapterOptions, awsCall, sendOptions } from "./call.js";

export function createSnsAdapter(
  client: (region: string) => SNSClient,
  options: AdapterOptions = {},
): SnsPort {
  const { signal } = options;
  return {
    publish: (region, topicArn, body) =>
      awsCall(
        "sns",
        "Publish",
        region,
        async () => {
          const out = await client(region).send(
            new PublishCommand({
              TopicArn: topicArn,
              Subject: body.subject,
              MessageStructure: body.messageStructure,
              Message: body.message,
              MessageAttributes: Object.fromEntries(
                Object.entries(body.attributes).map(([name, value]) => [
                  name,
                  { DataType: "String", StringValue: value },
                ]),
              ),
            }),
            sendOptions(signal),
          );
          return out.MessageId ?? "";
        },
        signal,
      ),
  };
}
