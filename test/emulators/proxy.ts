import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type CallLog,
  type CallRecord,
  credentialScope,
  isMutatingAction,
  type RecordedService,
} from "./calls.js";
import type { EmulatorClock } from "./clock.js";
import type { MotoServer } from "./moto.js";
import type { MotoDirect } from "./moto-direct.js";

/**
 * A small HTTP proxy in front of moto for the query and JSON protocols (EC2, SSM, SNS, STS, IAM,
 * SQS). It records every call, injects AWS errors per service/action/region, keeps CopyImage results
 * `pending` for a while, and emulates SSM's asynchronous `aws:ec2:image` validation. Everything
 * else is moto's own answer, passed through untouched. See EMULATOR.md.
 */

export interface InjectedError {
  code: string;
  message: string;
  status?: number;
}

export interface FailOptions {
  service: "ec2" | "ssm" | "sns";
  action: string;
  region?: string;
  /** How many matching calls fail; every matching call until `clear()` when omitted. */
  times?: number;
  error: InjectedError;
}

export interface PendingCopiesOptions {
  region: string;
  /** How long (on the local AWS clock) a copy stays `pending`; until released when omitted. */
  forMs?: number;
  outcome: "available" | "failed";
  /** StateReason message of a `failed` copy. */
  reason?: string;
}

interface FaultRule {
  readonly service: string;
  readonly action: string;
  readonly region: string | undefined;
  remaining: number;
  readonly error: InjectedError;
}

interface PendingCopy {
  released?: boolean;
  readonly region: string;
  readonly imageId: string;
  readonly releaseAt: number | undefined;
  readonly outcome: "available" | "failed";
  readonly reason: string;
}

const RECORDED: ReadonlySet<string> = new Set(["ec2", "ssm", "sns", "sts", "iam", "sqs"]);
const DEFAULT_COPY_FAILURE = "Internal error while copying the image (injected by the local AWS fault proxy)";

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** An error body in the service's own protocol, so the SDK deserialises it into the named exception. */
export function awsErrorResponse(
  protocol: "ec2" | "query" | "json",
  error: InjectedError,
): { status: number; headers: Record<string, string>; body: string } {
  const status = error.status ?? 400;
  const requestId = randomUUID();
  if (protocol === "json") {
    return {
      status,
      headers: {
        "content-type": "application/x-amz-json-1.1",
        "x-amzn-errortype": error.code,
        "x-amzn-requestid": requestId,
      },
      body: JSON.stringify({ __type: error.code, message: error.message }),
    };
  }
  if (protocol === "ec2") {
    return {
      status,
      headers: { "content-type": "text/xml;charset=UTF-8" },
      body:
        `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${escapeXml(error.code)}</Code>` +
        `<Message>${escapeXml(error.message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`,
    };
  }
  return {
    status,
    headers: { "content-type": "text/xml" },
    body:
      `<ErrorResponse><Error><Type>${status >= 500 ? "Receiver" : "Sender"}</Type><Code>${escapeXml(error.code)}</Code>` +
      `<Message>${escapeXml(error.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

interface Answer {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

export class FaultProxy {
  private server: Server | undefined;
  private rules: FaultRule[] = [];
  private copyRules = new Map<string, PendingCopiesOptions>();
  private pending: PendingCopy[] = [];
  private timer: NodeJS.Timeout | undefined;
  private work: Promise<void> = Promise.resolve();
  url = "";
  /** Where Image Builder requests that reach the proxy are sent (the emulator). */
  imageBuilderUrl: string | undefined;

  constructor(
    private readonly deps: {
      moto: MotoServer;
      direct: MotoDirect;
      clock: EmulatorClock;
      calls: CallLog;
      log: (line: string) => void;
    },
  ) {}

  async start(): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.deps.log(`proxy error: ${(error as Error).stack ?? String(error)}`);
        if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
        res.end(`local AWS proxy error: ${(error as Error).message}`);
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (this.deps.clock.kind === "real") {
      this.timer = setInterval(() => {
        this.processDue().catch(() => undefined);
      }, 250);
      this.timer.unref();
    }
    return this.url;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.server = undefined;
  }

  fail(options: FailOptions): void {
    this.rules.push({
      service: options.service,
      action: options.action,
      region: options.region,
      remaining: options.times ?? Number.POSITIVE_INFINITY,
      error: options.error,
    });
  }

  pendingCopies(options: PendingCopiesOptions): void {
    this.copyRules.set(options.region, options);
  }

  /** Ends every pending copy (in `region`, or everywhere) now, with its rule's outcome. */
  releaseCopies(region?: string): Promise<void> {
    for (const copy of this.pending) if (region === undefined || copy.region === region) copy.released = true;
    return this.processDue();
  }

  /**
   * Ends the pending copies that were released or whose time is up on the clock. Serialised: every
   * proxied request waits for it first, so no caller sees a copy that should have ended.
   */
  processDue(): Promise<void> {
    const run = this.work.then(async () => {
      const now = this.deps.clock.now();
      const due = this.pending.filter((p) => p.released || (p.releaseAt !== undefined && p.releaseAt <= now));
      if (due.length === 0) return;
      this.pending = this.pending.filter((p) => !due.includes(p));
      for (const copy of due) await this.finish(copy);
    });
    this.work = run.catch((error: unknown) => this.deps.log(`pending copies: ${String(error)}`));
    return run;
  }

  /** Copies still pending, for the harness's own assertions and logs. */
  pendingImageIds(): readonly { region: string; imageId: string }[] {
    return this.pending.map(({ region, imageId }) => ({ region, imageId }));
  }

  clear(): void {
    this.rules = [];
    this.copyRules.clear();
    this.pending = [];
  }

  private async finish(copy: PendingCopy): Promise<void> {
    await this.deps.direct.setImageState(
      copy.region,
      copy.imageId,
      copy.outcome,
      copy.outcome === "failed" ? { code: "Server.InternalError", message: copy.reason } : undefined,
    );
    this.deps.log(`copy ${copy.imageId} in ${copy.region} is now ${copy.outcome}`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    let body = await readBody(req);
    const scope = credentialScope(req.headers.authorization);
    const service = scope && RECORDED.has(scope.service) ? (scope.service as RecordedService) : undefined;
    if (scope?.service === "imagebuilder" && this.imageBuilderUrl) {
      // An Image Builder client given the generic endpoint: hand it to the emulator (which records it).
      this.send(res, await this.forward(req, body, this.imageBuilderUrl));
      return;
    }
    if (!scope || !service) {
      this.send(res, await this.forward(req, body));
      return;
    }
    const region = scope.region;
    const target = req.headers["x-amz-target"];
    const isJson = typeof target === "string";
    const action = isJson
      ? (target.split(".").pop() ?? "")
      : (new URLSearchParams(body.toString("utf8")).get("Action") ??
        new URL(req.url ?? "/", "http://x").searchParams.get("Action") ??
        "");
    const protocol = service === "ec2" ? "ec2" : isJson ? "json" : "query";
    const record = (status: number, injected?: CallRecord["injected"]) =>
      this.deps.calls.add({
        service,
        action,
        region,
        mutating: isMutatingAction(action),
        status,
        at,
        ...(injected ? { injected } : {}),
      });

    await this.processDue();

    const rule = this.rules.find(
      (r) =>
        r.remaining > 0 &&
        r.service === service &&
        r.action === action &&
        (r.region === undefined || r.region === region),
    );
    if (rule) {
      rule.remaining -= 1;
      const answer = awsErrorResponse(protocol, rule.error);
      record(answer.status, "error");
      this.deps.log(`${service} ${action} ${region}: injected ${rule.error.code} (${answer.status})`);
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
      return;
    }

    if (service === "ssm" && action === "PutParameter") {
      const rewritten = await this.putParameter(region, body);
      if (rewritten.dropped) {
        record(200, "dropped-parameter");
        res.writeHead(200, {
          "content-type": "application/x-amz-json-1.1",
          "x-amzn-requestid": randomUUID(),
        });
        res.end(rewritten.dropped);
        return;
      }
      body = rewritten.body;
    }

    const answer = await this.forward(req, body);
    let injected: CallRecord["injected"];
    if (service === "ec2" && action === "CopyImage" && answer.status === 200) {
      const copyRule = this.copyRules.get(region);
      const imageId = /<imageId>(ami-[0-9a-f]+)<\/imageId>/.exec(answer.body.toString("utf8"))?.[1];
      if (copyRule && imageId && !this.pending.some((p) => p.imageId === imageId)) {
        await this.deps.direct.setImageState(region, imageId, "pending");
        this.pending.push({
          region,
          imageId,
          releaseAt: copyRule.forMs === undefined ? undefined : this.deps.clock.now() + copyRule.forMs,
          outcome: copyRule.outcome,
          reason: copyRule.reason ?? DEFAULT_COPY_FAILURE,
        });
        injected = "pending-copy";
        this.deps.log(`copy ${imageId} in ${region} is pending (then ${copyRule.outcome})`);
      }
    }
    record(answer.status, injected);
    this.send(res, answer);
  }

  /**
   * SSM validates `aws:ec2:image` values after answering: PutParameter says 200 and then, when the
   * value is not an available AMI this account can use in the region, silently writes nothing.
   * Also, an overwrite without DataType makes the parameter `text` again (moto keeps the old type).
   */
  private async putParameter(region: string, body: Buffer): Promise<{ body: Buffer; dropped?: string }> {
    let input: Record<string, unknown>;
    try {
      input = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
    } catch {
      return { body };
    }
    const name = typeof input.Name === "string" ? input.Name : undefined;
    const value = typeof input.Value === "string" ? input.Value : undefined;
    if (!name || value === undefined) return { body };
    if (input.DataType === undefined && input.Overwrite === true) {
      return { body: Buffer.from(JSON.stringify({ ...input, DataType: "text" })) };
    }
    if (input.DataType !== "aws:ec2:image") return { body };
    const existing = await this.deps.direct.getParameter(region, name);
    if (existing && input.Overwrite !== true) return { body }; // moto answers ParameterAlreadyExists
    const image = await this.deps.direct.describeImage(region, value);
    if (image?.State === "available") return { body };
    this.deps.log(
      `ssm PutParameter ${name} in ${region}: ${value} is ${image ? `an AMI in state ${image.State}` : "not an AMI here"}; answered 200 and wrote nothing (aws:ec2:image validation)`,
    );
    return {
      body,
      dropped: JSON.stringify({ Version: (existing?.version ?? 0) + 1, Tier: "Standard" }),
    };
  }

  private forward(req: IncomingMessage, body: Buffer, to: string = this.deps.moto.url): Promise<Answer> {
    const target = new URL(to);
    const headers = { ...req.headers, host: target.host, "content-length": String(body.length) };
    delete headers["transfer-encoding"];
    return new Promise<Answer>((resolve, reject) => {
      const upstream = request(
        { hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers },
        (response) => {
          readBody(response)
            .then((data) => {
              const out: Record<string, string | string[]> = {};
              for (const [key, value] of Object.entries(response.headers)) {
                if (value !== undefined && key !== "transfer-encoding" && key !== "connection")
                  out[key] = value;
              }
              out["content-length"] = String(data.length);
              resolve({ status: response.statusCode ?? 502, headers: out, body: data });
            })
            .catch(reject);
        },
      );
      upstream.once("error", reject);
      upstream.end(body);
    });
  }

  private send(res: ServerResponse, answer: Answer): void {
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body);
  }
}
