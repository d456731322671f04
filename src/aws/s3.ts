import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { ReportStorePort } from "../pipeline/ports.js";
import { type AdapterOptions, awsCall, sendOptions } from "./call.js";

/** Full run reports as JSON objects in the logs bucket (encrypted by the bucket's default). */
export function createReportStoreAdapter(
  client: (region: string) => S3Client,
  options: AdapterOptions = {},
): ReportStorePort {
  const { signal } = options;
  return {
    putReport: (region, bucket, key, body) =>
      awsCall(
        "s3",
        "PutObject",
        region,
        async () => {
          await client(region).send(
            new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: "application/json" }),
            sendOptions(signal),
          );
          return `s3://${bucket}/${key}`;
        },
        signal,
      ),
  };
}
