import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../helpers/project.js";

/** An endpoint that accepts every request and never answers (a hung AWS endpoint or proxy). */
let server: Server;
let endpoint: string;
const sockets = new Set<Socket>();
let onRequest: () => void = () => {};
beforeAll(async () => {
  server = createServer(() => onRequest());
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

describe("Ctrl-C", () => {
  it("aborts the AWS call in flight: the command ends at once with exit 130, naming the call", async () => {
    const controller = new AbortController();
    let abortedAt = 0;
    onRequest = () => {
      if (abortedAt === 0) {
        abortedAt = performance.now();
        controller.abort(new Error("SIGINT"));
      }
    };
    const result = await runCli(
      ["plan", "--toolset", "light"],
      {
        AWS_ENDPOINT_URL: endpoint,
        AWS_ENDPOINT_URL_IMAGEBUILDER: endpoint,
        AWS_ACCESS_KEY_ID: "testing",
        AWS_SECRET_ACCESS_KEY: "testing",
        AWS_REGION: "us-east-1",
      },
      { signal: controller.signal },
    );
    const ms = performance.now() - abortedAt;
    console.log(
      `[interrupt] the command returned ${ms.toFixed(0)} ms after Ctrl-C (in flight: a call that never answers)`,
    );
    expect(abortedAt).toBeGreaterThan(0);
    expect(result.stderr).toMatch(
      /^ops-rig: interrupted during (sts:GetCallerIdentity|ec2:DescribeRegions) in us-east-1/,
    );
    expect(result.code).toBe(130);
  });
});
