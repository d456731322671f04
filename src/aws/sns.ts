import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import type { SnsPort } from "../pipeline/ports.js";
import { type AdapterOptions, awsCall, sendOptions } from "./call.js";
import type { ClientFactory } from "./client-factory.js";

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

/** The factory's SNSClient for a region (made on first use). */
export function snsClients(clients: ClientFactory): (region: string) => SNSClient {
  return (region) => clients.other("sns", region, (config) => new SNSClient(config));
}

/** The port over the factory's clients: what src/aws/index.ts loads at the port's first call. */
export function snsPort(clients: ClientFactory, options: AdapterOptions = {}): SnsPort {
  return createSnsAdapter(snsClients(clients), options);
}
