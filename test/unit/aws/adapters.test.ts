import {
  CopyImageCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  EC2Client,
} from "@aws-sdk/client-ec2";
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import {
  GetParameterCommand,
  GetParametersByPathCommand,
  GetParametersCommand,
  ParameterNotFound,
  PutParameterCommand,
  SSMClient,
} from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { translateError } from "../../../src/aws/call.js";
import { createEc2Adapter } from "../../../src/aws/ec2.js";
import { createSnsAdapter } from "../../../src/aws/sns.js";
import { createSsmAdapter } from "../../../src/aws/ssm.js";
import { AwsCallError } from "../../../src/errors.js";
import { type RunSummary, snsPublishBody } from "../../../src/pipeline/notification.js";

const ec2Mock = mockClient(EC2Client);
const ssmMock = mockClient(SSMClient);
const snsMock = mockClient(SNSClient);
afterEach(() => {
  ec2Mock.reset();
  ssmMock.reset();
  snsMock.reset();
});
// The mocks patch the client classes: give them back to the other files sharing this worker.
afterAll(() => {
  ec2Mock.restore();
  ssmMock.restore();
  snsMock.restore();
});

const ec2 = createEc2Adapter((region) => new EC2Client({ region }));
const ssm = createSsmAdapter((region) => new SSMClient({ region }));

describe("EC2 adapter", () => {
  it("reads every page of our images, deprecated ones included", async () => {
    ec2Mock
      .on(DescribeImagesCommand)
      .resolvesOnce({
        Images: [
          {
            ImageId: "ami-1",
            Name: "ops-rig-a",
            State: "available",
            CreationDate: "2026-11-01T00:00:00.000Z",
          },
        ],
        NextToken: "t",
      })
      .resolvesOnce({
        Images: [
          {
            ImageId: "ami-2",
            Name: "ops-rig-b",
            State: "available",
            DeprecationTime: "2026-11-02T00:00:00.000Z",
            Tags: [{ Key: "ops-rig:toolset", Value: "light" }],
          },
        ],
      });
    const amis = await ec2.listOwnImages("eu-west-1", "ops-rig-*");
    expect(amis.map((a) => a.imageId)).toEqual(["ami-1", "ami-2"]);
    expect(amis[1]).toMatchObject({
      region: "eu-west-1",
      deprecationTime: "2026-11-02T00:00:00.000Z",
      tags: { "ops-rig:toolset": "light" },
    });
    const first = ec2Mock.commandCalls(DescribeImagesCommand)[0]?.args[0].input;
    expect(first).toMatchObject({
      Owners: ["self"],
      IncludeDeprecated: true,
      Filters: [{ Name: "name", Values: ["ops-rig-*"] }],
    });
    expect(ec2Mock.commandCalls(DescribeImagesCommand)[1]?.args[0].input.NextToken).toBe("t");
  });

  it("pins owners on every base image search", async () => {
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [] });
    await ec2.searchImages("us-east-1", {
      owners: ["136693071363"],
      namePattern: "debian-12-amd64-*",
      architecture: "x86_64",
    });
    expect(ec2Mock.commandCalls(DescribeImagesCommand)[0]?.args[0].input).toMatchObject({
      Owners: ["136693071363"],
      Filters: [
        { Name: "name", Values: ["debian-12-amd64-*"] },
        { Name: "architecture", Values: ["x86_64"] },
        { Name: "state", Values: ["available"] },
      ],
    });
  });

  it("copies with a client token and tags, encrypting only when a key is given", async () => {
    ec2Mock.on(CopyImageCommand).resolves({ ImageId: "ami-copy" });
    const id = await ec2.copyImage("eu-west-1", {
      sourceRegion: "us-east-1",
      sourceImageId: "ami-src",
      name: "ops-rig-x",
      description: "d",
      clientToken: "tok",
      tags: { b: "2", a: "1" },
    });
    expect(id).toBe("ami-copy");
    const input = ec2Mock.commandCalls(CopyImageCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      SourceRegion: "us-east-1",
      SourceImageId: "ami-src",
      Name: "ops-rig-x",
      ClientToken: "tok",
      CopyImageTags: false,
      TagSpecifications: ["image", "snapshot"].map((ResourceType) => ({
        ResourceType,
        Tags: [
          { Key: "a", Value: "1" },
          { Key: "b", Value: "2" },
        ],
      })),
    });
    expect(input?.Encrypted).toBeUndefined();
    await ec2.copyImage("eu-west-1", {
      sourceRegion: "us-east-1",
      sourceImageId: "ami-src",
      name: "n",
      description: "d",
      clientToken: "t2",
      tags: {},
      kmsKeyId: "alias/k",
    });
    expect(ec2Mock.commandCalls(CopyImageCommand)[1]?.args[0].input).toMatchObject({
      Encrypted: true,
      KmsKeyId: "alias/k",
    });
  });

  it("deregisters with the snapshots", async () => {
    ec2Mock.on(DeregisterImageCommand).resolves({});
    await ec2.deregisterImage("us-east-1", "ami-old");
    expect(ec2Mock.commandCalls(DeregisterImageCommand)[0]?.args[0].input).toEqual({
      ImageId: "ami-old",
      DeleteAssociatedSnapshots: true,
    });
  });

  it("names the call and region when EC2 refuses", async () => {
    ec2Mock.on(CopyImageCommand).rejects(
      Object.assign(new Error("Too many snapshot copies in progress"), {
        name: "ResourceLimitExceeded",
        $fault: "client",
      }),
    );
    const error = await ec2
      .copyImage("ap-southeast-2", {
        sourceRegion: "us-east-1",
        sourceImageId: "ami-1",
        name: "n",
        description: "d",
        clientToken: "t",
        tags: {},
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AwsCallError);
    expect((error as AwsCallError).message).toBe(
      "ec2:CopyImage in ap-southeast-2 failed (ResourceLimitExceeded): Too many snapshot copies in progress",
    );
  });
});

describe("SSM adapter", () => {
  it("batches GetParameters by 10 names", async () => {
    ssmMock.on(GetParametersCommand).callsFake((input: { Names: string[] }) => ({
      Parameters: input.Names.filter((n) => !n.endsWith("9")).map((Name) => ({
        Name,
        Value: `ami-${Name.length}`,
        Version: 1,
      })),
      InvalidParameters: input.Names.filter((n) => n.endsWith("9")),
    }));
    const names = Array.from({ length: 23 }, (_, i) => `/p/${i}`);
    const out = await ssm.getParameters("us-east-1", names);
    expect(ssmMock.commandCalls(GetParametersCommand).map((c) => c.args[0].input.Names?.length)).toEqual([
      10, 10, 3,
    ]);
    expect(out.found).toHaveLength(21);
    expect(out.invalid).toEqual(["/p/9", "/p/19"]);
  });

  it("reads every page under a path, recursively", async () => {
    ssmMock
      .on(GetParametersByPathCommand)
      .resolvesOnce({ Parameters: [{ Name: "/ops-rig/a", Value: "ami-1", Version: 2 }], NextToken: "n" })
      .resolvesOnce({ Parameters: [{ Name: "/ops-rig/b", Value: "ami-2", Version: 5 }] });
    const values = await ssm.getParametersByPath("eu-west-1", "/ops-rig");
    expect(values).toEqual([
      { name: "/ops-rig/a", value: "ami-1", version: 2 },
      { name: "/ops-rig/b", value: "ami-2", version: 5 },
    ]);
    expect(ssmMock.commandCalls(GetParametersByPathCommand)[0]?.args[0].input).toMatchObject({
      Path: "/ops-rig",
      Recursive: true,
      MaxResults: 10,
    });
  });

  it("publishes AMI ids as aws:ec2:image String parameters, overwriting", async () => {
    ssmMock.on(PutParameterCommand).resolves({ Version: 7 });
    expect(await ssm.putImageParameter("us-east-1", "/ops-rig/light/ami-id", "ami-1", "d")).toBe(7);
    expect(ssmMock.commandCalls(PutParameterCommand)[0]?.args[0].input).toMatchObject({
      Name: "/ops-rig/light/ami-id",
      Value: "ami-1",
      Type: "String",
      DataType: "aws:ec2:image",
      Overwrite: true,
    });
  });

  it("answers undefined for a parameter that does not exist", async () => {
    ssmMock.on(GetParameterCommand).rejects(new ParameterNotFound({ message: "nope", $metadata: {} }));
    expect(await ssm.getParameter("us-east-1", "/ops-rig/missing")).toBeUndefined();
  });
});

describe("SNS adapter", () => {
  it("sends the body it was given: text to e-mail, the JSON summary to every other protocol", async () => {
    snsMock.on(PublishCommand).resolves({ MessageId: "m-1" });
    const sns = createSnsAdapter((region) => new SNSClient({ region }));
    const body = snsPublishBody({
      subject: "s".repeat(150),
      text: "table",
      json: { ok: true } as unknown as RunSummary,
      attributes: { failed: "0" },
    });
    const id = await sns.publish("us-east-1", "arn:aws:sns:us-east-1:1:t", body);
    expect(id).toBe("m-1");
    const input = snsMock.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(input?.Subject).toHaveLength(100);
    expect(input?.MessageStructure).toBe("json");
    const message = JSON.parse(input?.Message ?? "{}") as Record<string, string>;
    expect(message.email).toBe("table");
    expect(JSON.parse(message.default ?? "")).toEqual({ ok: true });
    // One JSON form only (the envelope's size is what SNS counts).
    expect(Object.keys(message).sort()).toEqual(["default", "email", "sms"]);
    expect(input?.MessageAttributes).toEqual({ failed: { DataType: "String", StringValue: "0" } });
  });
});

describe("error translation", () => {
  it("marks throttling retryable and keeps the cause", () => {
    const cause = Object.assign(new Error("Rate exceeded"), {
      name: "ThrottlingException",
      $metadata: { httpStatusCode: 400 },
    });
    const error = translateError("ssm", "PutParameter", "eu-west-1", cause);
    expect(error.retryable).toBe(true);
    expect(error.awsCode).toBe("ThrottlingException");
    expect(error.cause).toBe(cause);
  });

  it("explains missing credentials", () => {
    const error = translateError(
      "sts",
      "GetCallerIdentity",
      "us-east-1",
      Object.assign(new Error("Could not load credentials from any providers"), {
        name: "CredentialsProviderError",
      }),
    );
    expect(error.message).toMatch(/no AWS credentials found \(set AWS_PROFILE/);
  });

  it("explains a non-AWS endpoint answering HTML", () => {
    const error = translateError(
      "imagebuilder",
      "ListComponents",
      "us-east-1",
      Object.assign(new Error("<html>500</html>"), { $metadata: { httpStatusCode: 500 } }),
    );
    expect(error.message).toMatch(/HTTP 500 with a non-AWS response/);
  });
});
