import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  GetInstanceProfileCommand,
  IAMClient,
} from "@aws-sdk/client-iam";
import { CreateTopicCommand, SNSClient } from "@aws-sdk/client-sns";
import { FORENSIC_INSTANCE_PROFILE, RESPONDER_ACTIONS, responderRoleName } from "../../infra/lib/names.js";
import type { PipelineData } from "../../src/config/types.js";

/**
 * What the deployed CDK stack (infra/) provides that ops-rig's commands use, made in the local AWS
 * under the names the configuration and infra/ give them: the responders' notification topic and
 * Image Builder's completion topic (home region), Image Builder's instance profile, the forensic
 * instance profile `ops-rig launch` attaches, and the responder roles. Idempotent: calling it again
 * (a second `npm run local-aws` against the same moto, a reset) changes nothing.
 */
export interface StackResources {
  readonly notificationTopicArn: string;
  readonly buildTopicArn: string;
  readonly instanceProfiles: readonly string[];
  readonly roles: readonly string[];
}

interface ClientConfigSource {
  clientConfig(region: string): {
    region: string;
    endpoint: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
    maxAttempts: number;
  };
}

const EC2_TRUST = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
});

export async function createStackResources(
  aws: ClientConfigSource,
  pipeline: Pick<PipelineData, "homeRegion" | "notifications" | "build">,
): Promise<StackResources> {
  const home = pipeline.homeRegion;
  const sns = new SNSClient(aws.clientConfig(home));
  const iam = new IAMClient({ ...aws.clientConfig(home), region: "us-east-1" });
  try {
    // CreateTopic is idempotent: the same name answers the same ARN.
    const topic = async (name: string) =>
      (await sns.send(new CreateTopicCommand({ Name: name }))).TopicArn ?? "";
    const notificationTopicArn = await topic(topicName(pipeline.notifications.topic));
    const buildTopicArn = await topic(topicName(pipeline.build.notificationTopic));

    const role = async (name: string) => {
      try {
        await iam.send(new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: EC2_TRUST }));
      } catch (error) {
        if ((error as Error).name !== "EntityAlreadyExistsException") throw error;
      }
    };
    const instanceProfiles = [pipeline.build.instanceProfileName, FORENSIC_INSTANCE_PROFILE];
    for (const name of instanceProfiles) {
      await role(name);
      const existing = await iam
        .send(new GetInstanceProfileCommand({ InstanceProfileName: name }))
        .catch(() => undefined);
      if (existing) continue;
      await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: name }));
      await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: name }));
    }
    const roles = RESPONDER_ACTIONS.map(responderRoleName);
    for (const name of roles) await role(name);
    return { notificationTopicArn, buildTopicArn, instanceProfiles, roles: [...instanceProfiles, ...roles] };
  } finally {
    sns.destroy();
    iam.destroy();
  }
}

/** A topic given as an ARN (as the deployed Lambda's environment gives it) or a name. */
function topicName(topic: string): string {
  return topic.startsWith("arn:") ? (topic.split(":").pop() ?? topic) : topic;
}
