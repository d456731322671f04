import { SNSClient, SubscribeCommand } from "@aws-sdk/client-sns";
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import type { PipelineData } from "../../src/config/types.js";
import { createStackResources } from "../emulators/stack.js";

/** What the CDK stack would have created, made in the local AWS: topics, instance profiles, a queue to read notifications. */
export interface LocalDeployment {
  readonly notificationTopicArn: string;
  readonly buildTopicArn: string;
  /** Notifications received so far (subject and both the text and JSON forms). */
  notifications(): Promise<readonly Notification[]>;
  /** All notifications received by now, removed from the queue. */
  drain(): Promise<readonly Notification[]>;
  destroy(): void;
}

export interface Notification {
  readonly subject: string;
  /** The form SQS subscribers get (JSON: the run report). */
  readonly json: Record<string, unknown>;
}

interface ClientConfigSource {
  clientConfig(region: string): {
    region: string;
    endpoint: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
    maxAttempts: number;
  };
}

export async function deployLocally(
  aws: ClientConfigSource,
  pipeline: PipelineData,
): Promise<LocalDeployment> {
  const home = pipeline.homeRegion;
  const sns = new SNSClient(aws.clientConfig(home));
  const sqs = new SQSClient(aws.clientConfig(home));
  const { notificationTopicArn, buildTopicArn } = await createStackResources(aws, pipeline);
  const queueUrl =
    (await sqs.send(new CreateQueueCommand({ QueueName: "ops-rig-notifications-test" }))).QueueUrl ?? "";
  const queueArn =
    (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] })))
      .Attributes?.QueueArn ?? "";
  await sns.send(
    new SubscribeCommand({ TopicArn: notificationTopicArn, Protocol: "sqs", Endpoint: queueArn }),
  );

  const seen: Notification[] = [];
  const receive = async (): Promise<Notification[]> => {
    const fresh: Notification[] = [];
    for (;;) {
      const out = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      const messages = out.Messages ?? [];
      if (messages.length === 0) break;
      for (const m of messages) {
        const envelope = JSON.parse(m.Body ?? "{}") as { Subject?: string; Message?: string };
        fresh.push({
          subject: envelope.Subject ?? "",
          json: JSON.parse(envelope.Message ?? "{}") as Record<string, unknown>,
        });
      }
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? "" })),
        }),
      );
    }
    seen.push(...fresh);
    return fresh;
  };
  return {
    notificationTopicArn,
    buildTopicArn,
    notifications: async () => {
      await receive();
      return [...seen];
    },
    drain: receive,
    destroy: () => {
      sns.destroy();
      sqs.destroy();
    },
  };
}
