import { Sha256 } from "@aws-crypto/sha256-js";
import { defaultProvider } from "@aws-sdk/credential-provider-node";
import { SignatureV4 } from "@smithy/signature-v4";
import { API_PATHS, type ApiErrorBody, type ApiLaunchResponse } from "../api/requests.js";
import { ApiCallError, InterruptedError, UsageError } from "../errors.js";
import type { ApiPort } from "../services/ports.js";

export interface ApiClientOptions {
  readonly url: string;
  /** The region to sign for; taken from a `<id>.lambda-url.<region>.on.aws` URL when absent. */
  readonly region?: string;
  /** Static credentials; the SDK's default chain (profiles, SSO, instance roles) when absent. */
  readonly credentials?: {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly sessionToken?: string;
  };
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

/** `https://abc.lambda-url.eu-west-1.on.aws/` → `eu-west-1`. */
export function regionOfFunctionUrl(url: URL): string | undefined {
  return /^[a-z0-9]+\.lambda-url\.([a-z]{2}(?:-[a-z]+)+-\d)\.on\.aws$/.exec(url.hostname)?.[1];
}

/**
 * A client of the ops-rig API: every request SigV4-signed for the `lambda` service with the
 * caller's credentials, exactly what a function URL with AWS_IAM auth verifies.
 */
export function createApiClient(options: ApiClientOptions): ApiPort {
  let base: URL;
  try {
    base = new URL(options.url);
  } catch {
    throw new UsageError(`"${options.url}" is not a URL (the ApiUrl output of the region's stack)`, "--api");
  }
  const local = base.hostname === "127.0.0.1" || base.hostname === "localhost";
  if (base.protocol !== "https:" && !(local && base.protocol === "http:"))
    throw new UsageError(`${options.url}: the API is reached over https only`, "--api");
  const region = options.region ?? regionOfFunctionUrl(base);
  if (!region)
    throw new UsageError(`cannot tell the region of ${options.url}; give it with --region`, "--api");
  const signer = new SignatureV4({
    service: "lambda",
    region,
    sha256: Sha256,
    credentials: options.credentials ?? defaultProvider(),
  });
  const post = async <T>(path: string, body: unknown): Promise<T> => {
    const target = new URL(path, base);
    const text = JSON.stringify(body);
    const signed = await signer.sign({
      method: "POST",
      protocol: target.protocol,
      hostname: target.hostname,
      ...(target.port ? { port: Number(target.port) } : {}),
      path: target.pathname,
      query: {},
      headers: { host: target.host, "content-type": "application/json" },
      body: text,
    });
    const timeout = AbortSignal.timeout(options.timeoutMs ?? 30_000);
    let response: Response;
    try {
      response = await fetch(target, {
        method: "POST",
        headers: signed.headers,
        body: text,
        signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
      });
    } catch (error) {
      if (options.signal?.aborted)
        throw new InterruptedError(`interrupted calling ${target.href}`, { cause: error });
      throw new ApiCallError(
        base.href,
        0,
        "UNREACHABLE",
        error instanceof Error ? error.message : String(error),
      );
    }
    const answer = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer);
    } catch {
      throw new ApiCallError(base.href, response.status, "NOT_JSON", answer.slice(0, 200));
    }
    if (!response.ok) {
      // Lambda's own refusals (a bad signature: 403 {"Message": ...}) and the handler's answers alike.
      const error = parsed as Partial<ApiErrorBody> & { Message?: string; message?: string };
      throw new ApiCallError(
        base.href,
        response.status,
        error.code ?? "ERROR",
        error.error ?? error.Message ?? error.message ?? answer.slice(0, 200),
        error.problems ?? [],
      );
    }
    return parsed as T;
  };
  return { launch: (body) => post<ApiLaunchResponse>(API_PATHS.launch, body) };
}
