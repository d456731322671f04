import { AwsCallError, InterruptedError } from "../errors.js";

interface SdkErrorShape {
  name?: string;
  message?: string;
  Code?: string;
  $fault?: "client" | "server";
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

const THROTTLING = new Set([
  "ThrottlingException",
  "Throttling",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "CallRateLimitExceededException",
  "ThrottledException",
]);

/**
 * Runs one SDK call and translates its failure into an AwsCallError that names the service, the
 * operation and the region, keeping the SDK error as the cause. With an abort signal (Ctrl-C), an
 * aborted call ends at once as an InterruptedError, and no call starts after the abort.
 */
export async function awsCall<T>(
  service: string,
  operation: string,
  region: string,
  call: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const interrupted = (cause?: unknown) =>
    new InterruptedError(`interrupted during ${service}:${operation} in ${region}`, { cause });
  if (signal?.aborted) throw interrupted(signal.reason);
  try {
    return await call();
  } catch (error) {
    if (signal?.aborted || (error as { name?: string } | undefined)?.name === "AbortError")
      throw interrupted(error);
    throw translateError(service, operation, region, error);
  }
}

/** The SDK's per-call options for an abort signal (send's and paginators' extra argument). */
export function sendOptions(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal ? { abortSignal: signal } : {};
}

export function translateError(
  service: string,
  operation: string,
  region: string,
  error: unknown,
): AwsCallError {
  const sdk = (error ?? {}) as SdkErrorShape;
  const code = sdk.name && sdk.name !== "Error" ? sdk.name : sdk.Code;
  const status = sdk.$metadata?.httpStatusCode;
  let message = sdk.message || String(error);
  if (code === "CredentialsProviderError" || /Could not load credentials/i.test(message)) {
    message =
      "no AWS credentials found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run in a role)";
  } else if (
    code === "AuthFailure" ||
    code === "UnrecognizedClientException" ||
    code === "InvalidClientTokenId"
  ) {
    message = `${message} (region not enabled for the account, or credentials not valid there)`;
  } else if (
    code === "AccessDeniedException" ||
    code === "AccessDenied" ||
    code === "UnauthorizedOperation"
  ) {
    message = `${message} (the caller lacks permission for ${service}:${operation})`;
  } else if (status !== undefined && status >= 500 && /^\s*</.test(message)) {
    message = `the endpoint answered HTTP ${status} with a non-AWS response`;
  } else if (error instanceof SyntaxError) {
    message = `the endpoint's answer could not be parsed (${message}); is it really ${service}?`;
  }
  return new AwsCallError(
    {
      service,
      operation,
      region,
      awsCode: code,
      message,
      // Throttling, server faults and answers that never came (reset, timeout) may work next time.
      retryable:
        THROTTLING.has(code ?? "") ||
        sdk.$fault === "server" ||
        Boolean(sdk.$retryable) ||
        (status === undefined && !(error instanceof SyntaxError) && code !== "CredentialsProviderError"),
    },
    { cause: error },
  );
}

export function tagList(tags: Readonly<Record<string, string>>): { Key: string; Value: string }[] {
  return Object.keys(tags)
    .sort()
    .map((Key) => ({ Key, Value: tags[Key] ?? "" }));
}

export function tagMap(
  tags: readonly { Key?: string | undefined; Value?: string | undefined }[] | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const tag of tags ?? []) if (tag.Key) out[tag.Key] = tag.Value ?? "";
  return out;
}

/** What every adapter takes besides its clients. */
export interface AdapterOptions {
  /** Aborts in-flight calls (Ctrl-C; the Lambda's deadline). */
  readonly signal?: AbortSignal;
}
