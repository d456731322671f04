import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import type { SnsPort } from "../pipeline/ports.js";
import { type AdapterOptions, awsCall, sendOptions } from "./call.js";

export function createSnsAdapter(
  client: (region: string) => SNSClient,
  options: AdapterOptions = {},
): SnsPort {
  const { signal } = options;
  return {
    publish: (region, topicArn, message) =>
      awsCall(
        "sns",
        "Publish",
        region,
        async () => {
          const out = await client(region).send(
            new PublishCommand({
              TopicArn: topicArn,
              Subject: message.subject.slice(0, 100),
              // One message, a form per protocol: people read text, machines (SQS, Lambda, HTTPS) get JSON.
              MessageStructure: "json",
              Message: JSON.stringify({
                default: message.text,
                email: message.text,
                sqs: JSON.stringify(message.json),
                lambda: JSON.stringify(message.json),
                https: JSON.stringify(message.json),
              }),
              MessageAttributes: Object.fromEntries(
                Object.entries(message.attributes).map(([name, value]) => [
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
