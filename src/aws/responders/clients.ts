import { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import { ConfigServiceClient } from "@aws-sdk/client-config-service";
import { EC2Client } from "@aws-sdk/client-ec2";
import { IAMClient } from "@aws-sdk/client-iam";
import { S3Client } from "@aws-sdk/client-s3";
import { SNSClient } from "@aws-sdk/client-sns";
import { SSMClient } from "@aws-sdk/client-ssm";
import { STSClient } from "@aws-sdk/client-sts";
import {
  type AwsClientOptions,
  DEFAULT_CONNECTION_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
} from "../clients.js";

/**
 * The clients the responder commands use, one per service and region, made on first use. Kept apart
 * from the pipeline's factory: the pipeline Lambda never needs S3 writes, Run Command or CloudTrail.
 */
export interface ResponderClients {
  ec2(region: string): EC2Client;
  ssm(region: string): SSMClient;
  s3(region: string): S3Client;
  cloudTrail(region: string): CloudTrailClient;
  sns(region: string): SNSClient;
  sts(region: string): STSClient;
  /** AWS Config (the organization's aggregator: which account an instance is in). */
  config(region: string): ConfigServiceClient;
  /** IAM is global: one client. */
  iam(): IAMClient;
  destroy(): void;
}

type Client =
  | EC2Client
  | SSMClient
  | S3Client
  | CloudTrailClient
  | SNSClient
  | STSClient
  | IAMClient
  | ConfigServiceClient;

export function createResponderClients(options: AwsClientOptions = {}): ResponderClients {
  const cache = new Map<string, Client>();
  const config = (region: string) => ({
    region,
    retryMode: options.retryMode ?? "adaptive",
    maxAttempts: options.maxAttempts ?? 5,
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs ?? DEFAULT_CONNECTION_TIMEOUT_MS,
      requestTimeout: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      throwOnRequestTimeout: true,
    },
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
  });
  const get = <C extends Client>(key: string, make: () => C): C => {
    let client = cache.get(key) as C | undefined;
    if (!client) {
      client = make();
      cache.set(key, client);
    }
    return client;
  };
  return {
    ec2: (r) => get(`ec2:${r}`, () => new EC2Client(config(r))),
    ssm: (r) => get(`ssm:${r}`, () => new SSMClient(config(r))),
    // A local endpoint (moto) serves buckets by path, not by virtual host.
    s3: (r) =>
      get(`s3:${r}`, () => new S3Client({ ...config(r), forcePathStyle: Boolean(options.endpoint) })),
    cloudTrail: (r) => get(`cloudtrail:${r}`, () => new CloudTrailClient(config(r))),
    sns: (r) => get(`sns:${r}`, () => new SNSClient(config(r))),
    sts: (r) => get(`sts:${r}`, () => new STSClient(config(r))),
    config: (r) => get(`config:${r}`, () => new ConfigServiceClient(config(r))),
    iam: () => get("iam", () => new IAMClient(config("us-east-1"))),
    destroy: () => {
      for (const client of cache.values()) client.destroy();
      cache.clear();
    },
  };
}
