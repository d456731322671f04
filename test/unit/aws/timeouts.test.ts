import { createServer, type Server, type Socket } from "node:net";
import { DescribeImagesCommand } from "@aws-sdk/client-ec2";
import { ListComponentsCommand } from "@aws-sdk/client-imagebuilder";
import { LambdaClient, ListFunctionsCommand } from "@aws-sdk/client-lambda";
import { ListBucketsCommand } from "@aws-sdk/client-s3";
import { ListTopicsCommand } from "@aws-sdk/client-sns";
import { DescribeParametersCommand } from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awsCall } from "../../../src/aws/call.js";
import { createAwsClients, DEFAULT_REQUEST_TIMEOUT_MS } from "../../../src/aws/clients.js";
import { createStsAdapter } from "../../../src/aws/sts.js";
import { AwsCallError } from "../../../src/errors.js";

/**
 * An endpoint that accepts connections and never answers (the ops-rig plan that printed nothing
 * for 150 s): every SDK client must give up after its request timeout and say where it waited.
 */
let server: Server;
let endpoint: string;
const sockets = new Set<Socket>();
const credentials = { accessKeyId: "testing", secretAccessKey: "testing" };

beforeAll(async () => {
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.resume(); // read the request, answer nothing
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("the silent server has no port");
  endpoint = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function failure(call: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  try {
    await call();
  } catch (error) {
    return { error, ms: performance.now() - started };
  }
  throw new Error("the call against a silent endpoint succeeded");
}

describe("SDK clients against an endpoint that never answers", () => {
  it("fail after the configured request timeout, naming service, region and endpoint", async () => {
    const clients = createAwsClients({ endpoint, credentials, requestTimeoutMs: 300, maxAttempts: 1 });
    const sts = createStsAdapter((region) => clients.sts(region));
    const { error, ms } = await failure(() => sts.identity("eu-west-1"));
    clients.destroy();
    expect(error).toBeInstanceOf(AwsCallError);
    const message = (error as Error).message;
    expect(message).toContain("sts:GetCallerIdentity in eu-west-1 failed");
    expect(message).toContain(`no answer from ${endpoint} within 300 ms (request timeout)`);
    // It gave up instead of waiting: well under the 30 s default, close to the 300 ms asked for.
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(5_000);
  });

  it("bounds the SDK's retries too: each attempt gets the timeout, then the call fails", async () => {
    const clients = createAwsClients({ endpoint, credentials, requestTimeoutMs: 200, maxAttempts: 3 });
    const { error, ms } = await failure(() =>
      awsCall("ec2", "DescribeImages", "us-east-1", () =>
        clients.ec2("us-east-1").send(new DescribeImagesCommand({ Owners: ["self"] })),
      ),
    );
    clients.destroy();
    expect((error as Error).message).toMatch(
      /^ec2:DescribeImages in us-east-1 failed \(TimeoutError\): no answer from http:\/\/127\.0\.0\.1:\d+ within 200 ms/,
    );
    // Three attempts of 200 ms and the SDK's short backoff; nothing near a hang.
    expect(ms).toBeGreaterThanOrEqual(3 * 190);
    expect(ms).toBeLessThan(10_000);
  });

  it("every client the factory makes has the timeout (EC2, SSM, SNS, Image Builder, S3, Lambda)", async () => {
    const clients = createAwsClients({ endpoint, credentials, requestTimeoutMs: 250, maxAttempts: 1 });
    const region = "ap-southeast-2";
    const calls: [string, () => Promise<unknown>][] = [
      ["ec2", () => clients.ec2(region).send(new DescribeImagesCommand({}))],
      ["ssm", () => clients.ssm(region).send(new DescribeParametersCommand({}))],
      ["sns", () => clients.sns(region).send(new ListTopicsCommand({}))],
      ["imagebuilder", () => clients.imageBuilder(region).send(new ListComponentsCommand({}))],
      ["s3", () => clients.s3(region).send(new ListBucketsCommand({}))],
      [
        "lambda",
        () =>
          clients
            .other("lambda", region, (config) => new LambdaClient(config))
            .send(new ListFunctionsCommand({})),
      ],
    ];
    const results = await Promise.all(calls.map(([, call]) => failure(call)));
    clients.destroy();
    for (const [index, { error, ms }] of results.entries()) {
      expect((error as Error).message, calls[index]?.[0]).toContain(
        `no answer from ${endpoint} within 250 ms`,
      );
      expect(ms).toBeLessThan(5_000);
    }
  });

  it("names the endpoint when nothing listens there", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const clients = createAwsClients({
      endpoint: `http://127.0.0.1:${port}`,
      credentials,
      maxAttempts: 1,
    });
    const sts = createStsAdapter((region) => clients.sts(region));
    const { error } = await failure(() => sts.identity("eu-central-1"));
    clients.destroy();
    expect((error as Error).message).toBe(
      `sts:GetCallerIdentity in eu-central-1 failed: http://127.0.0.1:${port} refused the connection`,
    );
  });

  it("defaults to a finite request timeout", () => {
    expect(DEFAULT_REQUEST_TIMEOUT_MS).toBeGreaterThan(0);
    expect(DEFAULT_REQUEST_TIMEOUT_MS).toBeLessThanOrEqual(60_000);
  });
});
