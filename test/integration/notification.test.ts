import { CreateBucketCommand, GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { SNSClient } from "@aws-sdk/client-sns";
import { describe, expect, it } from "vitest";
import { createAwsClients } from "../../src/aws/clients.js";
import { createReportStoreAdapter } from "../../src/aws/s3.js";
import { createSnsAdapter } from "../../src/aws/sns.js";
import { loadProject } from "../../src/config/load.js";
import {
  notificationFor,
  publishBytes,
  SNS_PUBLISH_LIMIT_BYTES,
  snsPublishBody,
} from "../../src/pipeline/notification.js";
import type { ReportedAction, RunReport } from "../../src/pipeline/report.js";
import { deployLocally } from "../helpers/deployment.js";
import { REPO_ROOT } from "../helpers/paths.js";
import { rejection, useLocalAws } from "./helpers.js";

const local = useLocalAws(import.meta.filename);

/** 16 lines × 17 regions, every copy failed with a long AWS message, every publish elsewhere done. */
function fleetReport(): RunReport {
  const actions: ReportedAction[] = [];
  for (let region = 0; region < 17; region++)
    for (let line = 0; line < 16; line++)
      actions.push({
        kind: "copy",
        line: `heavy/ubuntu-24.04/arm64#${line}`,
        region: `xx-region-${region}`,
        reason: "the line's newest AMI is not in this region",
        status: "failed",
        error: `ec2:CopyImage in xx-region-${region} failed (InternalError): ${"the copy backend is unavailable; ".repeat(12)}`,
        code: "AWS_CALL_FAILED",
        failure: true,
        retryable: true,
        ms: 120,
      });
  return {
    trigger: "nightly",
    startedAt: "2026-11-29T02:00:00.000Z",
    finishedAt: "2026-11-29T02:10:00.000Z",
    passes: 3,
    actions,
    lines: [],
    counts: { changed: 0, failed: actions.length, waiting: 0, skipped: 0 },
    ok: false,
    retryable: true,
    interrupted: false,
    notification: { status: "skipped" },
  };
}

describe("the run's notification through SNS (moto) to an SQS subscriber", () => {
  it("a fleet-scale summary is accepted and arrives as its JSON form; a message over the limit is refused", async () => {
    const deployment = await deployLocally(local.aws, (await loadProject(REPO_ROOT)).pipeline);
    const sns = createSnsAdapter((region) => new SNSClient(local.aws.clientConfig(region)));
    try {
      const message = notificationFor(fleetReport(), { fullReport: "s3://ops-rig-logs/reports/x.json" });
      const body = snsPublishBody(message);
      expect(publishBytes(body)).toBeLessThanOrEqual(SNS_PUBLISH_LIMIT_BYTES);
      expect(message.json.failuresOmitted).toBeGreaterThan(0);
      await sns.publish("us-east-1", deployment.notificationTopicArn, body);
      const received = await deployment.drain();
      expect(received).toHaveLength(1);
      expect(received[0]?.json).toEqual(JSON.parse(JSON.stringify(message.json)));

      // The same envelope one character over the limit: SNS (and moto) refuse it.
      const over = {
        ...body,
        message: JSON.stringify({ default: "x".repeat(SNS_PUBLISH_LIMIT_BYTES), email: "t" }),
      };
      const error = await rejection(sns.publish("us-east-1", deployment.notificationTopicArn, over));
      expect(error.message).toMatch(/Message too long/);
    } finally {
      deployment.destroy();
    }
  });
});

describe("the full report in the logs bucket (moto's S3)", () => {
  it("stores the report as JSON under reports/ and answers its s3:// location", async () => {
    const config = local.aws.clientConfig("us-east-1");
    const clients = createAwsClients({
      endpoint: config.endpoint,
      credentials: config.credentials,
      maxAttempts: 1,
    });
    const s3 = new S3Client({ ...config, forcePathStyle: true });
    try {
      await s3.send(new CreateBucketCommand({ Bucket: "ops-rig-logs" }));
      const store = createReportStoreAdapter((region) => clients.s3(region));
      const body = JSON.stringify(fleetReport());
      const location = await store.putReport(
        "us-east-1",
        "ops-rig-logs",
        "reports/2026-11-29T02-00-00-000Z-nightly.json",
        body,
      );
      expect(location).toBe("s3://ops-rig-logs/reports/2026-11-29T02-00-00-000Z-nightly.json");
      const stored = await s3.send(
        new GetObjectCommand({
          Bucket: "ops-rig-logs",
          Key: "reports/2026-11-29T02-00-00-000Z-nightly.json",
        }),
      );
      expect(stored.ContentType).toBe("application/json");
      expect(await stored.Body?.transformToString()).toBe(body);
      // A bucket that does not exist: an AwsCallError naming the call and region, not a crash.
      await expect(store.putReport("us-east-1", "ops-rig-missing", "reports/x.json", "{}")).rejects.toThrow(
        /s3:PutObject in us-east-1 failed/,
      );
    } finally {
      clients.destroy();
      s3.destroy();
    }
  });
});
