import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Sha256 } from "@aws-crypto/sha256-js";
import { SignatureV4 } from "@smithy/signature-v4";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiClient, regionOfFunctionUrl } from "../../src/aws/api-client.js";
import type { CommandAws } from "../../src/cli/context.js";
import { createApiHandler } from "../../src/lambda/api.js";
import type { PipelineProject } from "../../src/pipeline/run.js";
import { launchFromTemplate } from "../../src/services/launch-template.js";
import { FakeTemplates } from "../fakes/fake-templates.js";
import { runCli } from "../helpers/project.js";
import { shippedProject } from "../helpers/shipped.js";
import { converge, EU, type FakeWorld, fakeWorld, HOME } from "./fake-world.js";

const ACCOUNT = "123456789012";
const KEYS: Record<string, { secret: string; arn: string }> = {
  AKIAALICEEXAMPLE0001: {
    secret: "alice-secret",
    arn: `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_SIRT_0123456789abcdef/alice@example.com`,
  },
};

/**
 * A stand-in for a function URL with AWS_IAM auth on loopback: it verifies the SigV4 signature the
 * way Lambda does (recomputes it with the caller's secret for service `lambda` and the URL's
 * region), answers 403 like Lambda when it does not match, and otherwise hands the handler the
 * event Lambda would, with the verified identity in requestContext.authorizer.iam.
 */
function functionUrl(handler: ReturnType<typeof createApiHandler>, region: string) {
  const seen: { signed: boolean }[] = [];
  const server = createServer(async (req, res) => {
    const body = await read(req);
    const identity = await verify(req, body, region);
    seen.push({ signed: Boolean(identity) });
    if (!identity) {
      res
        .writeHead(403, { "content-type": "application/json" })
        .end(JSON.stringify({ Message: "Forbidden" }));
      return;
    }
    const answer = await handler({
      rawPath: req.url ?? "/",
      body,
      isBase64Encoded: false,
      requestContext: {
        requestId: `req-${seen.length}`,
        http: { method: req.method ?? "", sourceIp: "127.0.0.1" },
        authorizer: { iam: { userArn: identity.arn, accountId: ACCOUNT } },
      },
    });
    res.writeHead(answer.statusCode, answer.headers).end(answer.body);
  });
  return { server, seen };
}

async function read(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function verify(
  req: IncomingMessage,
  body: string,
  region: string,
): Promise<{ arn: string } | undefined> {
  const auth = String(req.headers.authorization ?? "");
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/\d{8}\/([^/]+)\/lambda\/aws4_request, SignedHeaders=([^,]+), Signature=[0-9a-f]{64}$/.exec(
      auth,
    );
  const date = String(req.headers["x-amz-date"] ?? "");
  const key = m?.[1] ? KEYS[m[1]] : undefined;
  if (!m?.[1] || !key || m[2] !== region || !/^\d{8}T\d{6}Z$/.test(date)) return undefined;
  const signingDate = new Date(
    `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}T${date.slice(9, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`,
  );
  const headers = Object.fromEntries((m[3] ?? "").split(";").map((h) => [h, String(req.headers[h] ?? "")]));
  const signer = new SignatureV4({
    service: "lambda",
    region,
    sha256: Sha256,
    credentials: { accessKeyId: m[1], secretAccessKey: key.secret },
  });
  const [host, port] = String(req.headers.host).split(":");
  const expected = await signer.sign(
    {
      method: req.method ?? "",
      protocol: "http:",
      hostname: host ?? "",
      ...(port ? { port: Number(port) } : {}),
      path: req.url ?? "/",
      query: {},
      headers,
      body,
    },
    { signingDate },
  );
  return expected.headers.authorization === auth ? { arn: key.arn } : undefined;
}

let project: PipelineProject;
let world: FakeWorld;
let templates: FakeTemplates;
let server: Server;
let seen: { signed: boolean }[];
let url: string;

beforeAll(async () => {
  project = await shippedProject({
    toolsets: ["light"],
    bases: ["ubuntu-24.04"],
    arches: ["amd64"],
    regions: [HOME, EU],
  });
  world = fakeWorld(project);
  await converge(world);
  templates = new FakeTemplates();
  templates.put(EU, {
    templateId: "lt-0123456789abcdef0",
    name: "ops-rig-light",
    defaultVersion: 2,
    latestVersion: 2,
    data: {
      imageId: "resolve:ssm:/ops-rig/light/ami-id",
      instanceType: "m7i.large",
      instanceProfileName: "ops-rig-forensic",
      metadata: { httpTokens: "required", httpPutResponseHopLimit: 1 },
      blockDevices: [{ deviceName: "/dev/sda1", encrypted: true }],
      securityGroupIds: ["sg-0123456789abcdef0"],
      networkInterfaces: 0,
      tags: { "ops-rig:role": "forensic" },
    },
  });
  const handler = createApiHandler({
    region: EU,
    account: ACCOUNT,
    instanceProfile: "ops-rig-forensic",
    toolsets: async () => ({ toolsets: project.toolsets, parameterPrefix: project.pipeline.parameterPrefix }),
    launch: {
      deps: () => ({ ports: world.aws.ports, launch: world.aws.launch, templates, events: () => {} }),
      service: launchFromTemplate,
    },
    outcomes: {},
    audit: () => {},
    log: () => {},
  });
  ({ server, seen } = functionUrl(handler, EU));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** The CLI's AWS, with only the API real (the other ports are never reached on the --api path). */
function cliAws(secret: string): CommandAws {
  return {
    ports: () => world.aws.ports,
    launch: () => world.aws.launch,
    lambda: () => world.aws.lambda,
    templates: () => templates,
    api: (u, region) =>
      createApiClient({
        url: u,
        ...(region ? { region } : {}),
        credentials: { accessKeyId: "AKIAALICEEXAMPLE0001", secretAccessKey: secret },
      }),
  };
}

const cli = (args: string[], secret = "alice-secret") =>
  runCli(["--api", url, "--region", EU, ...args], {}, { aws: cliAws(secret) });

describe("ops-rig --api URL", () => {
  it("launches through the API, SigV4-signed; the rig is tagged with the caller the signature proved", async () => {
    const before = templates.runs.length;
    const result = await cli(["--json", "launch", "--toolset", "light", "--case", "IR-7"]);
    expect(result.code, result.stderr).toBe(0);
    const answer = JSON.parse(result.stdout) as {
      instanceId: string;
      launchedBy: string;
      template: { version: number };
    };
    expect(answer.launchedBy).toBe(KEYS.AKIAALICEEXAMPLE0001?.arn);
    expect(answer.template.version).toBe(2);
    expect(templates.runs.slice(before).map((r) => r.input.tags["ops-rig:launched-by"])).toEqual([
      answer.launchedBy,
    ]);
    expect(seen.at(-1)).toEqual({ signed: true });
  });

  it("a wrong secret is refused like Lambda refuses it: exit 2, nothing launched", async () => {
    const before = templates.runs.length;
    const result = await cli(["launch", "--toolset", "light"], "not-the-secret");
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/answered 403 ERROR: Forbidden/);
    expect(templates.runs.length).toBe(before);
    expect(seen.at(-1)).toEqual({ signed: false });
  });

  it("an unsigned request never reaches the handler", async () => {
    const response = await fetch(`${url}launch`, {
      method: "POST",
      body: JSON.stringify({ toolset: "light" }),
    });
    expect(response.status).toBe(403);
    expect(seen.at(-1)).toEqual({ signed: false });
  });

  it("checks flags against the API's schema before sending anything", async () => {
    const count = seen.length;
    const space = await cli(["launch", "--toolset", "light", "--case", "IR 7"]);
    expect(space.code).toBe(2);
    expect(space.stderr).toMatch(/--case: .*the API's caseId/);
    const cidr = await cli(["launch", "--toolset", "light", "--ssh-cidr", "10.8.0.0/16"]);
    expect(cidr.code).toBe(2);
    expect(cidr.stderr).toMatch(/--ssh-cidr: the API launches from the region's launch template/);
    expect(seen.length).toBe(count);
  });

  it("reads the region from a function URL and refuses plain http to a remote host", () => {
    expect(
      regionOfFunctionUrl(new URL("https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/")),
    ).toBe("eu-west-1");
    expect(() => createApiClient({ url: "http://abc.lambda-url.eu-west-1.on.aws/" })).toThrow(/https only/);
    expect(() => createApiClient({ url: "https://example.com/" })).toThrow(/--region/);
  });
});
