import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { ReportStorePort } from "../pipeline/ports.js";
import { type AdapterOptions, awsCall, sendOptions } from "./call.js";
import type { ClientFactory } from "./client-factory.js";

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

/** The factory's S3Client for a region (made on first use). */
export function s3Clients(clients: ClientFactory): (region: string) => S3Client {
  return (region) => clients.other("s3", region, (config) => new S3Client(config));
}

/** The port over the factory's clients: what src/aws/index.ts loads at the port's first call. */
export function reportStorePort(clients: ClientFactory, options: AdapterOptions = {}): ReportStorePort {
  return createReportStoreAdapter(s3Clients(clients), options);
}
