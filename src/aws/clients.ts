import { EC2Client } from "@aws-sdk/client-ec2";
import { ImagebuilderClient } from "@aws-sdk/client-imagebuilder";
import { S3Client } from "@aws-sdk/client-s3";
import { SNSClient } from "@aws-sdk/client-sns";
import { SSMClient } from "@aws-sdk/client-ssm";
import { STSClient } from "@aws-sdk/client-sts";
import { type AwsClientOptions, type ClientFactory, createClientFactory } from "./client-factory.js";

export {
  type AnyClient,
  type AwsClientOptions,
  type ClientConfig,
  type ClientFactory,
  createClientFactory,
  DEFAULT_CONNECTION_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type ImmediateRetries,
  immediateRetries,
  type ServiceName,
} from "./client-factory.js";

/**
 * The client factory with a typed accessor per service the CLI and the tests call (all loaded up
 * front). Code that wants a client loaded only when it is first called uses the factory alone
 * (src/aws/index.ts's pipeline ports, for the Lambda).
 */
export interface AwsClients extends ClientFactory {
  ec2(region: string): EC2Client;
  ssm(region: string): SSMClient;
  sns(region: string): SNSClient;
  sts(region: string): STSClient;
  imageBuilder(region: string): ImagebuilderClient;
  s3(region: string): S3Client;
}

export function createAwsClients(options: AwsClientOptions = {}): AwsClients {
  const factory = createClientFactory(options);
  return {
    ...factory,
    ec2: (region) => factory.other("ec2", region, (config) => new EC2Client(config)),
    ssm: (region) => factory.other("ssm", region, (config) => new SSMClient(config)),
    sns: (region) => factory.other("sns", region, (config) => new SNSClient(config)),
    sts: (region) => factory.other("sts", region, (config) => new STSClient(config)),
    s3: (region) => factory.other("s3", region, (config) => new S3Client(config)),
    imageBuilder: (region) =>
      factory.other("imagebuilder", region, (config) => new ImagebuilderClient(config)),
  };
}
