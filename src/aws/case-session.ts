import { DescribeInstancesCommand, type EC2Client } from "@aws-sdk/client-ec2";
import { AssumeRoleCommand, type STSClient } from "@aws-sdk/client-sts";
import type { CaseSessionPort } from "../services/case-session.js";
import { awsCall, tagMap } from "./call.js";

/** The broker's two calls: find the calling rig, assume the role for its case. */
export function createCaseSessionAdapter(
  ec2: (region: string) => EC2Client,
  sts: STSClient,
  stsRegion: string,
): CaseSessionPort {
  return {
    findInstance: (region, instanceId) =>
      awsCall("ec2", "DescribeInstances", region, async () => {
        try {
          const out = await ec2(region).send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
          const instance = out.Reservations?.flatMap((r) => r.Instances ?? []).find(
            (i) => i.InstanceId === instanceId,
          );
          if (!instance) return undefined;
          return {
            instanceId,
            state: instance.State?.Name ?? "unknown",
            ...(instance.IamInstanceProfile?.Arn
              ? { instanceProfileArn: instance.IamInstanceProfile.Arn }
              : {}),
            tags: tagMap(instance.Tags),
          };
        } catch (error) {
          // An id from another region is "not found", not a failure of the broker.
          if ((error as { name?: string }).name === "InvalidInstanceID.NotFound") return undefined;
          throw error;
        }
      }),
    assumeRole: (request) =>
      awsCall("sts", "AssumeRole", stsRegion, async () => {
        const out = await sts.send(
          new AssumeRoleCommand({
            RoleArn: request.roleArn,
            RoleSessionName: request.sessionName,
            SourceIdentity: request.sourceIdentity,
            DurationSeconds: request.durationSeconds,
            Tags: Object.entries(request.tags).map(([Key, Value]) => ({ Key, Value })),
          }),
        );
        const c = out.Credentials;
        if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
          throw new Error("AssumeRole returned no credentials");
        }
        return {
          accessKeyId: c.AccessKeyId,
          secretAccessKey: c.SecretAccessKey,
          sessionToken: c.SessionToken,
          expiration: c.Expiration,
        };
      }),
  };
}
