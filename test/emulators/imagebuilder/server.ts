import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import * as imagebuilderSchemas from "@aws-sdk/client-imagebuilder";
import { type CallLog, credentialScope, isMutatingAction } from "../calls.js";
import type { ImageBuilderEmulator } from "./emulator.js";
import { ImageBuilderError } from "./errors.js";
import { Fields } from "./input.js";

/**
 * Image Builder's REST-JSON protocol on loopback: `PUT /CreateComponent` with a JSON body,
 * `GET /GetComponent?componentBuildVersionArn=…`, `POST|GET|DELETE /tags/{resourceArn}`, errors as
 * `x-amzn-ErrorType` + `{"message"}` with the modelled status code. Paths, methods and query names
 * are those of @aws-sdk/client-imagebuilder 3.1046.0's schema.
 */

type Method = "GET" | "PUT" | "POST" | "DELETE";

const ROUTES: Readonly<Record<string, Method>> = {
  CreateComponent: "PUT",
  GetComponent: "GET",
  ListComponents: "POST",
  ListComponentBuildVersions: "POST",
  DeleteComponent: "DELETE",
  CreateImageRecipe: "PUT",
  GetImageRecipe: "GET",
  ListImageRecipes: "POST",
  DeleteImageRecipe: "DELETE",
  CreateInfrastructureConfiguration: "PUT",
  UpdateInfrastructureConfiguration: "PUT",
  GetInfrastructureConfiguration: "GET",
  ListInfrastructureConfigurations: "POST",
  DeleteInfrastructureConfiguration: "DELETE",
  CreateDistributionConfiguration: "PUT",
  UpdateDistributionConfiguration: "PUT",
  GetDistributionConfiguration: "GET",
  ListDistributionConfigurations: "POST",
  DeleteDistributionConfiguration: "DELETE",
  CreateImage: "PUT",
  GetImage: "GET",
  ListImages: "POST",
  ListImageBuildVersions: "POST",
  CancelImageCreation: "PUT",
  DeleteImage: "DELETE",
};

const TAG_ROUTES: Readonly<Record<string, string>> = {
  POST: "TagResource",
  DELETE: "UntagResource",
  GET: "ListTagsForResource",
};

/** Every operation the emulator answers (tests check each response against the SDK's model). */
export const EMULATED_OPERATIONS: readonly string[] = [...Object.keys(ROUTES), ...Object.values(TAG_ROUTES)];

/** JSON without the undefined members (the SDK would read `null` as a value). */
function clean(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(clean);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) if (item !== undefined) out[key] = clean(item);
    return out;
  }
  return value;
}

export class ImageBuilderServer {
  private server: Server | undefined;
  private throttleFraction = 0;
  private throttleCount = 0;
  private latencyMs = 0;
  url = "";

  constructor(
    private readonly emulator: ImageBuilderEmulator,
    private readonly calls: CallLog,
    private readonly log: (line: string) => void,
  ) {}

  /**
   * Answers `fraction` of calls with 429 CallRateLimitExceededException, deterministically: the
   * n-th call is throttled when ⌈n·fraction⌉ grows (0.5 → the 1st, 3rd, 5th …; 1 → every call).
   */
  throttle(fraction: number): void {
    if (!(fraction >= 0 && fraction <= 1))
      throw new Error(`imageBuilder.throttle(${fraction}): the fraction must be from 0 to 1`);
    this.throttleFraction = fraction;
    this.throttleCount = 0;
  }

  latency(ms: number): void {
    if (!(ms >= 0))
      throw new Error(`imageBuilder.latency(${ms}): the delay must be a number of milliseconds ≥ 0`);
    this.latencyMs = ms;
  }

  resetFaults(): void {
    this.throttle(0);
    this.latency(0);
  }

  async start(): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.log(`imagebuilder internal error: ${(error as Error).stack ?? String(error)}`);
        if (!res.headersSent)
          this.sendError(
            res,
            new ImageBuilderError("ServiceException", `Emulator error: ${(error as Error).message}`),
          );
        else res.end();
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.server = undefined;
  }

  private takeThrottle(): boolean {
    if (this.throttleFraction <= 0) return false;
    this.throttleCount += 1;
    const n = this.throttleCount;
    return Math.ceil(n * this.throttleFraction - 1e-9) > Math.ceil((n - 1) * this.throttleFraction - 1e-9);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const url = new URL(req.url ?? "/", "http://localhost");
    const method = (req.method ?? "GET").toUpperCase();
    const region = credentialScope(req.headers.authorization)?.region ?? "us-east-1";
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const bodyText = Buffer.concat(chunks).toString("utf8");

    let action: string;
    let input: Record<string, unknown> = {};
    const tagArn = url.pathname.startsWith("/tags/")
      ? decodeURIComponent(url.pathname.slice("/tags/".length))
      : undefined;
    if (tagArn !== undefined) {
      action = TAG_ROUTES[method] ?? `Unknown ${method} /tags`;
      input.resourceArn = tagArn;
      if (method === "DELETE") input.tagKeys = url.searchParams.getAll("tagKeys");
    } else {
      action = url.pathname.replace(/^\//, "");
    }

    const record = (status: number, injected?: "throttle") =>
      this.calls.add({
        service: "imagebuilder",
        action,
        region,
        mutating: isMutatingAction(action),
        status,
        at,
        ...(injected ? { injected } : {}),
      });

    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));

    if (this.takeThrottle()) {
      record(429, "throttle");
      this.log(`${action} ${region}: throttled (429)`);
      this.sendError(res, new ImageBuilderError("CallRateLimitExceededException", "Rate exceeded"));
      return;
    }

    try {
      const expected = tagArn !== undefined ? (TAG_ROUTES[method] ? method : undefined) : ROUTES[action];
      const operation = this.emulator.operations[action];
      if (!operation || !expected)
        throw new ImageBuilderError(
          "InvalidRequestException",
          `The local Image Builder emulator does not implement ${method} ${url.pathname}.`,
        );
      if (expected !== method)
        throw new ImageBuilderError(
          "InvalidRequestException",
          `${action} is called with ${expected}, not ${method}.`,
        );
      if (method === "GET" || method === "DELETE") {
        for (const [key, value] of url.searchParams) if (key !== "tagKeys") input[key] = value;
      }
      if (bodyText.trim() !== "") {
        let parsed: unknown;
        try {
          parsed = JSON.parse(bodyText);
        } catch {
          throw new ImageBuilderError("InvalidRequestException", "The request body is not valid JSON.");
        }
        input = { ...(Fields.root(parsed).value as Record<string, unknown>), ...input };
      }
      const output = await operation(Fields.root(input), region);
      // Most outputs carry a requestId member; TagResource, UntagResource and ListTagsForResource
      // do not, and Image Builder sends exactly the members of each output shape.
      const body = JSON.stringify(
        clean(outputHasRequestId(action) ? { requestId: randomUUID(), ...output } : { ...output }),
      );
      record(200);
      this.log(`${action} ${region}: 200`);
      res.writeHead(200, { "content-type": "application/json", "x-amzn-requestid": randomUUID() });
      res.end(body);
    } catch (error) {
      if (!(error instanceof ImageBuilderError)) throw error;
      record(error.status);
      this.log(`${action} ${region}: ${error.status} ${error.code}: ${error.message}`);
      this.sendError(res, error);
    }
  }

  private sendError(res: ServerResponse, error: ImageBuilderError): void {
    res.writeHead(error.status, {
      "content-type": "application/json",
      "x-amzn-errortype": error.code,
      "x-amzn-requestid": randomUUID(),
    });
    res.end(JSON.stringify({ message: error.message }));
  }
}

/** Whether the SDK's output shape of `action` has a `requestId` member. */
function outputHasRequestId(action: string): boolean {
  const shape = (imagebuilderSchemas as unknown as Record<string, unknown>)[`${action}Response$`];
  return Array.isArray(shape) && Array.isArray(shape[4]) && (shape[4] as unknown[]).includes("requestId");
}
