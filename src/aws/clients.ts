import { EC2Client } from "@aws-sdk/client-ec2";
import { ImagebuilderClient } from "@aws-sdk/client-imagebuilder";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { SNSClient } from "@aws-sdk/client-sns";
import { SSMClient } from "@aws-sdk/client-ssm";
import { STSClient } from "@aws-sdk/client-sts";

/**
 * SDK clients, one per service and region, created on first use and reused for the life of the
 * process. Only src/aws constructs clients; composition roots (CLI, Lambda) own the factory.
 * Endpoints come from the SDK's own configuration (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>),
 * so local emulators need no code change.
 */
export interface AwsClientOptions {
  /** Adaptive retry mode: client-side rate limiting on throttling (Image Builder and SSM throttle early). */
  readonly retryMode?: "adaptive" | "standard";
  readonly maxAttempts?: number;
  readonly credentials?: {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly sessionToken?: string;
  };
  /** Explicit endpoint for every service except Image Builder (tests). */
  readonly endpoint?: string;
  readonly imageBuilderEndpoint?: string;
  /** Called once per created client, e.g. to add middleware in tests. */
  readonly onClient?: (client: AnyClient, service: ServiceName, region: string) => void;
}

export type ServiceName = "ec2" | "ssm" | "sns" | "sts" | "imagebuilder" | "lambda";
export type AnyClient = EC2Client | SSMClient | SNSClient | STSClient | ImagebuilderClient | LambdaClient;

export interface AwsClients {
  ec2(region: string): EC2Client;
  ssm(region: string): SSMClient;
  sns(region: string): SNSClient;
  sts(region: string): STSClient;
  imageBuilder(region: string): ImagebuilderClient;
  lambda(region: string): LambdaClient;
  /** Closes every client's connections. */
  destroy(): void;
}

export function createAwsClients(options: AwsClientOptions = {}): AwsClients {
  const cache = new Map<string, AnyClient>();
  const base = (region: string, endpoint: string | undefined) => ({
    region,
    retryMode: options.retryMode ?? "adaptive",
    maxAttempts: options.maxAttempts ?? 5,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(endpoint ? { endpoint } : {}),
  });
  const get = <C extends AnyClient>(service: ServiceName, region: string, make: () => C): C => {
    const key = `${service}:${region}`;
    let client = cache.get(key) as C | undefined;
    if (!client) {
      client = make();
      options.onClient?.(client, service, region);
      cache.set(key, client);
    }
    return client;
  };
  return {
    ec2: (region) => get("ec2", region, () => new EC2Client(base(region, options.endpoint))),
    ssm: (region) => get("ssm", region, () => new SSMClient(base(region, options.endpoint))),
    sns: (region) => get("sns", region, () => new SNSClient(base(region, options.endpoint))),
    sts: (region) => get("sts", region, () => new STSClient(base(region, options.endpoint))),
    lambda: (region) => get("lambda", region, () => new LambdaClient(base(region, options.endpoint))),
    imageBuilder: (region) =>
      get(
        "imagebuilder",
        region,
        () => new ImagebuilderClient(base(region, options.imageBuilderEndpoint ?? options.endpoint)),
      ),
    destroy: () => {
      for (const client of cache.values()) client.destroy();
      cache.clear();
    },
  };
}
