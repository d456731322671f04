// The client factory without any SDK client in it: the constructor comes from the caller, so code
// that loads a service's client only when it first calls the service (src/aws/index.ts, for the
// Lambda's cold start) can share one factory. clients.ts adds the typed accessors the CLI uses.

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
  /**
   * Milliseconds to establish a TCP/TLS connection (default 3,000) and to wait for the answer to
   * one attempt (default 30,000). Without them the SDK waits forever on an endpoint that accepts
   * the connection and never answers; every attempt of the SDK's retries gets its own budget.
   */
  readonly connectionTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  /**
   * `none`: retry what the SDK would retry (throttling, transient and server errors), at once and
   * without client-side rate limiting. For tests, so a throttling test does not sleep through the
   * SDK's back-off; never for AWS itself.
   */
  readonly retryDelays?: "sdk" | "none";
  /** Called once per created client, e.g. to add middleware in tests. */
  readonly onClient?: (client: AnyClient, service: ServiceName, region: string) => void;
}

export type ServiceName = "ec2" | "ssm" | "sns" | "sts" | "imagebuilder" | "s3" | "lambda" | (string & {});

/** What every SDK client has that the factory uses (its middleware stack, `destroy`). */
export interface AnyClient {
  readonly middlewareStack: unknown;
  destroy(): void;
}

/** The configuration every client gets (region, retries, timeouts, credentials, endpoint). */
export interface ClientConfig {
  readonly region: string;
  readonly retryMode: "adaptive" | "standard";
  readonly maxAttempts: number;
  readonly requestHandler: {
    readonly connectionTimeout: number;
    readonly requestTimeout: number;
    readonly throwOnRequestTimeout: boolean;
  };
  readonly credentials?: NonNullable<AwsClientOptions["credentials"]>;
  readonly endpoint?: string;
  /** S3 only, with an explicit endpoint: local endpoints (moto) have no per-bucket host names. */
  readonly forcePathStyle?: boolean;
  readonly retryStrategy?: ImmediateRetries;
}

interface RetryToken {
  getRetryCount(): number;
  getRetryDelay(): number;
}

/** The SDK's retry strategy interface (RetryStrategyV2), as far as `immediateRetries` needs it. */
export interface ImmediateRetries {
  readonly mode: "standard";
  acquireInitialRetryToken(scope: string): Promise<RetryToken>;
  refreshRetryTokenForRetry(token: RetryToken, error: { errorType: string }): Promise<RetryToken>;
  recordSuccess(token: RetryToken): void;
}

/** Retries throttling, transient and server errors up to `maxAttempts` attempts, with no delay. */
export function immediateRetries(maxAttempts: number): ImmediateRetries {
  const token = (count: number): RetryToken => ({ getRetryCount: () => count, getRetryDelay: () => 0 });
  return {
    mode: "standard",
    acquireInitialRetryToken: async () => token(0),
    refreshRetryTokenForRetry: async (previous, error) => {
      const count = previous.getRetryCount() + 1;
      if (count >= maxAttempts || !["THROTTLING", "TRANSIENT", "SERVER_ERROR"].includes(error.errorType))
        throw new Error("no more retries");
      return token(count);
    },
    recordSuccess: () => {},
  };
}

/** Clients by service and region, each made once with the same configuration. */
export interface ClientFactory {
  /**
   * The client of `service` in `region`, made by `make` on first use (the caller brings the SDK
   * client's constructor, so a bundle carries only the clients it calls).
   */
  other<C extends AnyClient>(service: ServiceName, region: string, make: (config: ClientConfig) => C): C;
  /** Closes every client's connections. */
  destroy(): void;
}

export const DEFAULT_CONNECTION_TIMEOUT_MS = 3_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export function createClientFactory(options: AwsClientOptions = {}): ClientFactory {
  const cache = new Map<string, AnyClient>();
  const timeouts = {
    connectionMs: options.connectionTimeoutMs ?? DEFAULT_CONNECTION_TIMEOUT_MS,
    requestMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
  };
  const config = (service: ServiceName, region: string): ClientConfig => {
    const endpoint =
      service === "imagebuilder" ? (options.imageBuilderEndpoint ?? options.endpoint) : options.endpoint;
    return {
      region,
      retryMode: options.retryMode ?? "adaptive",
      maxAttempts: options.maxAttempts ?? 5,
      requestHandler: {
        connectionTimeout: timeouts.connectionMs,
        requestTimeout: timeouts.requestMs,
        // Without this the handler only logs a warning when requestTimeout passes, and waits on.
        throwOnRequestTimeout: true,
      },
      ...(options.credentials ? { credentials: options.credentials } : {}),
      ...(endpoint ? { endpoint } : {}),
      ...(service === "s3" && endpoint ? { forcePathStyle: true } : {}),
      ...(options.retryDelays === "none"
        ? { retryStrategy: immediateRetries(options.maxAttempts ?? 5) }
        : {}),
    };
  };
  return {
    other: <C extends AnyClient>(
      service: ServiceName,
      region: string,
      make: (config: ClientConfig) => C,
    ): C => {
      const key = `${service}:${region}`;
      let client = cache.get(key) as C | undefined;
      if (!client) {
        client = make(config(service, region));
        nameEndpointInNetworkErrors(client, timeouts);
        options.onClient?.(client, service, region);
        cache.set(key, client);
      }
      return client;
    },
    destroy: () => {
      for (const client of cache.values()) client.destroy();
      cache.clear();
    },
  };
}

interface NetworkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

interface RequestShape {
  protocol?: string;
  hostname?: string;
  port?: number;
  path?: string;
}

/**
 * Rewrites errors that never reached AWS (timeouts, refused or reset connections) so they name the
 * endpoint and the timeout that expired; the adapters' awsCall then adds service, operation and
 * region. Runs in the build step, outside the retry loop, so it sees the final error once.
 */
function nameEndpointInNetworkErrors(
  client: AnyClient,
  timeouts: { readonly connectionMs: number; readonly requestMs: number },
): void {
  const stack = client.middlewareStack as unknown as {
    add(
      middleware: (next: (args: unknown) => Promise<unknown>) => (args: unknown) => Promise<unknown>,
      options: { step: "build"; name: string; priority: "low" },
    ): void;
  };
  stack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        const e = error as NetworkErrorShape;
        if (e && typeof e === "object" && e.$metadata?.httpStatusCode === undefined) {
          const request = (args as { request?: RequestShape }).request;
          const endpoint = request?.hostname
            ? `${request.protocol ?? "https:"}//${request.hostname}${request.port ? `:${request.port}` : ""}`
            : "the endpoint";
          const connecting = /did not establish a connection/.test(e.message ?? "");
          let message: string | undefined;
          if (e.name === "TimeoutError")
            message = connecting
              ? `could not connect to ${endpoint} within ${timeouts.connectionMs} ms (connection timeout)`
              : `no answer from ${endpoint} within ${timeouts.requestMs} ms (request timeout)`;
          else if (e.code === "ECONNREFUSED") message = `${endpoint} refused the connection`;
          else if (e.code === "ECONNRESET" || e.code === "EPIPE")
            message = `${endpoint} closed the connection without an answer`;
          else if (e.code === "ENOTFOUND" || e.code === "EAI_AGAIN")
            message = `the name of ${endpoint} does not resolve`;
          if (message) {
            try {
              (e as { message: string }).message = message;
            } catch {
              // A frozen error keeps its own message; the cause chain still has it.
            }
          }
        }
        throw error;
      }
    },
    { step: "build", name: "opsRigNameEndpointInNetworkErrors", priority: "low" },
  );
}
