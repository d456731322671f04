import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAwsClients, immediateRetries } from "../../../src/aws/clients.js";
import { createStsAdapter } from "../../../src/aws/sts.js";

/** STS over the query protocol: answers the queued statuses in order, then success. */
let server: Server;
let endpoint: string;
let answers: number[] = [];
let requests = 0;
const credentials = { accessKeyId: "testing", secretAccessKey: "testing" };

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      requests++;
      const status = answers.shift() ?? 200;
      res.setHeader("content-type", "text/xml");
      if (status === 200) {
        res.end(
          `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/t</Arn><UserId>U</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
        );
        return;
      }
      res.statusCode = status;
      const code = status === 400 ? "Throttling" : status === 403 ? "AccessDenied" : "InternalFailure";
      res.end(
        `<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${code}</Message></Error><RequestId>r</RequestId></ErrorResponse>`,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe("immediate retries (tests only: no back-off to sleep through)", () => {
  it("retries throttling and server errors at once, up to maxAttempts, and never a client error", async () => {
    const clients = createAwsClients({ endpoint, credentials, maxAttempts: 4, retryDelays: "none" });
    const sts = createStsAdapter((region) => clients.sts(region));
    try {
      answers = [400, 500, 400];
      requests = 0;
      expect((await sts.identity("eu-west-1")).accountId).toBe("123456789012");
      expect(requests).toBe(4);

      answers = [400, 400, 400, 400, 400];
      requests = 0;
      await expect(sts.identity("eu-west-1")).rejects.toThrow(/Throttling/);
      expect(requests).toBe(4);

      answers = [403];
      requests = 0;
      await expect(sts.identity("eu-west-1")).rejects.toThrow(/AccessDenied/);
      expect(requests).toBe(1);
    } finally {
      clients.destroy();
    }
  });

  it("its tokens ask for no delay", async () => {
    const strategy = immediateRetries(3);
    const first = await strategy.acquireInitialRetryToken("s");
    const second = await strategy.refreshRetryTokenForRetry(first, { errorType: "THROTTLING" });
    expect([second.getRetryCount(), second.getRetryDelay()]).toEqual([1, 0]);
    // Three attempts: two retries, then no more.
    const third = await strategy.refreshRetryTokenForRetry(second, { errorType: "SERVER_ERROR" });
    await expect(strategy.refreshRetryTokenForRetry(third, { errorType: "THROTTLING" })).rejects.toThrow();
    await expect(strategy.refreshRetryTokenForRetry(first, { errorType: "CLIENT_ERROR" })).rejects.toThrow();
  });
});
