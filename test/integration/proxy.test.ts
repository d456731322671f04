import {
  CopyImageCommand,
  CreateTagsCommand,
  DescribeImagesCommand,
  EC2Client,
  EnableImageDeprecationCommand,
  RegisterImageCommand,
} from "@aws-sdk/client-ec2";
import { CreateTopicCommand, PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { CreateQueueCommand, SQSClient } from "@aws-sdk/client-sqs";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { describe, expect, it } from "vitest";
import { isMutatingAction } from "../emulators/calls.js";
import { rejection, useLocalAws } from "./helpers.js";

const local = useLocalAws(import.meta.filename);

async function sourceImage(): Promise<string> {
  const bases = await local.aws.bases.list("us-east-1");
  const image = bases.find((b) => b.base === "debian-12" && b.arch === "amd64" && !b.deprecated);
  if (!image) throw new Error("no seeded debian-12 image");
  return image.imageId;
}

async function copyInto(region: string, clientToken?: string): Promise<string> {
  const ec2 = new EC2Client(local.aws.clientConfig(region));
  const out = await ec2.send(
    new CopyImageCommand({
      SourceRegion: "us-east-1",
      SourceImageId: await sourceImage(),
      Name: `ops-rig-copy-${region}-${clientToken ?? "x"}`,
      ...(clientToken ? { ClientToken: clientToken } : {}),
    }),
  );
  if (!out.ImageId) throw new Error("CopyImage returned no ImageId");
  return out.ImageId;
}

async function imageState(region: string, imageId: string) {
  const ec2 = new EC2Client(local.aws.clientConfig(region));
  const image = (await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0];
  return { state: image?.State, reason: image?.StateReason?.Message };
}

describe("the fault proxy in front of moto", () => {
  it("records every call: service, action, region from the signature, mutating, status", async () => {
    const { aws } = local;
    const ec2 = new EC2Client(aws.clientConfig("us-east-1"));
    await ec2.send(new DescribeImagesCommand({ Owners: ["self"] }));
    const copy = await copyInto("eu-west-1");
    const ssm = new SSMClient(aws.clientConfig("ap-southeast-2"));
    await rejection(ssm.send(new GetParameterCommand({ Name: "/ops-rig/missing" })));
    await ssm.send(new PutParameterCommand({ Name: "/ops-rig/note", Value: "x", Type: "String" }));
    const sns = new SNSClient(aws.clientConfig("eu-west-1"));
    const topic = await sns.send(new CreateTopicCommand({ Name: "ops-rig-test" }));
    await sns.send(new PublishCommand({ TopicArn: topic.TopicArn, Message: "hello" }));
    await new SQSClient(aws.clientConfig("us-east-1")).send(
      new CreateQueueCommand({ QueueName: "ops-rig-q" }),
    );
    await new EC2Client(aws.clientConfig("eu-west-1")).send(
      new CreateTagsCommand({ Resources: [copy], Tags: [{ Key: "ops-rig:toolset", Value: "light" }] }),
    );

    const calls = aws.calls();
    expect(calls.map(({ at: _at, ...rest }) => rest)).toEqual([
      { service: "ec2", action: "DescribeImages", region: "us-east-1", mutating: false, status: 200 },
      { service: "ec2", action: "CopyImage", region: "eu-west-1", mutating: true, status: 200 },
      { service: "ssm", action: "GetParameter", region: "ap-southeast-2", mutating: false, status: 400 },
      { service: "ssm", action: "PutParameter", region: "ap-southeast-2", mutating: true, status: 200 },
      { service: "sns", action: "CreateTopic", region: "eu-west-1", mutating: true, status: 200 },
      { service: "sns", action: "Publish", region: "eu-west-1", mutating: true, status: 200 },
      { service: "sqs", action: "CreateQueue", region: "us-east-1", mutating: true, status: 200 },
      { service: "ec2", action: "CreateTags", region: "eu-west-1", mutating: true, status: 200 },
    ]);
    const times = calls.map((c) => c.at);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    aws.resetCalls();
    expect(aws.calls()).toEqual([]);
  });

  it("classifies mutating actions by their verb", () => {
    const mutating = [
      "CreateImage",
      "CopyImage",
      "PutParameter",
      "DeleteParameter",
      "DeregisterImage",
      "EnableImageDeprecation",
      "DisableImageDeprecation",
      "RegisterImage",
      "Publish",
      "LabelParameterVersion",
      "UnlabelParameterVersion",
      "CreateTags",
      "TagResource",
      "UntagResource",
      "RunInstances",
      "AuthorizeSecurityGroupIngress",
      "RevokeSecurityGroupEgress",
      "ModifyImageAttribute",
      "UpdateInfrastructureConfiguration",
      "CancelImageCreation",
      "StartImagePipelineExecution",
      "TerminateInstances",
      "Subscribe",
      "SendMessage",
      "AddTagsToResource",
      "RemoveTagsFromResource",
    ];
    const reading = [
      "DescribeImages",
      "GetParameter",
      "GetParametersByPath",
      "GetParameterHistory",
      "ListImages",
      "ListTagsForResource",
      "GetCallerIdentity",
      "ReceiveMessage",
      "AssumeRole",
      "Tagline",
      "Putative",
    ];
    for (const action of mutating) expect(isMutatingAction(action), action).toBe(true);
    for (const action of reading) expect(isMutatingAction(action), action).toBe(false);
  });

  it("fails CopyImage in one region only, with EC2's error, as often as asked", async () => {
    const { aws } = local;
    aws.faults.fail({
      service: "ec2",
      action: "CopyImage",
      region: "eu-west-1",
      times: 2,
      error: {
        code: "ResourceLimitExceeded",
        message: "Too many snapshot copies in progress. The limit is 5",
      },
    });
    await copyInto("us-east-1");
    await copyInto("ap-southeast-2");
    for (let i = 0; i < 2; i += 1) {
      const error = await rejection(copyInto("eu-west-1"));
      expect(error.name).toBe("ResourceLimitExceeded");
      expect(error.message).toBe("Too many snapshot copies in progress. The limit is 5");
      expect(error.$metadata?.httpStatusCode).toBe(400);
    }
    await copyInto("eu-west-1"); // the third one goes through
    const copies = aws.calls().filter((c) => c.action === "CopyImage");
    expect(copies.map((c) => [c.region, c.status, c.injected ?? "-"])).toEqual([
      ["us-east-1", 200, "-"],
      ["ap-southeast-2", 200, "-"],
      ["eu-west-1", 400, "error"],
      ["eu-west-1", 400, "error"],
      ["eu-west-1", 200, "-"],
    ]);
  });

  it("injects SSM (JSON) and SNS (query) errors the SDK deserialises, and retries count as calls", async () => {
    const { aws } = local;
    aws.faults.fail({
      service: "ssm",
      action: "GetParameter",
      times: 2,
      error: { code: "InternalServerError", message: "We encountered an internal error", status: 500 },
    });
    const retrying = new SSMClient({ ...aws.clientConfig("eu-west-1"), maxAttempts: 3 });
    await retrying.send(new PutParameterCommand({ Name: "/ops-rig/x", Value: "1", Type: "String" }));
    const got = await retrying.send(new GetParameterCommand({ Name: "/ops-rig/x" }));
    expect(got.Parameter?.Value).toBe("1");
    expect(got.$metadata.attempts).toBe(3);
    expect(
      aws
        .calls()
        .filter((c) => c.action === "GetParameter")
        .map((c) => c.status),
    ).toEqual([500, 500, 200]);

    aws.faults.fail({
      service: "sns",
      action: "Publish",
      region: "eu-west-1",
      error: { code: "KMSDisabled", message: "The key is disabled", status: 400 },
    });
    const sns = new SNSClient(aws.clientConfig("eu-west-1"));
    const topic = await sns.send(new CreateTopicCommand({ Name: "ops-rig-x" }));
    const error = await rejection(sns.send(new PublishCommand({ TopicArn: topic.TopicArn, Message: "m" })));
    expect(error.name).toBe("KMSDisabledException");
    expect(error.message).toBe("The key is disabled");
    aws.faults.clear();
    await sns.send(new PublishCommand({ TopicArn: topic.TopicArn, Message: "m" }));
  });

  it("refuses fault settings that could never match, naming the problem", () => {
    const { aws } = local;
    const error = { code: "X", message: "y" };
    expect(() => aws.faults.fail({ service: "ec2", action: "copyImage", error })).toThrow(
      /action must be an API action name/,
    );
    expect(() =>
      aws.faults.fail({ service: "ec2", action: "CopyImage", region: "eu-west-3", error }),
    ).toThrow(/eu-west-3 is not among the local AWS regions/);
    expect(() => aws.faults.pendingCopies({ region: "us-west-2", outcome: "available" })).toThrow(
      /us-west-2 is not among/,
    );
  });

  it("keeps copies pending on the clock, then available; other regions are unaffected", async () => {
    const { aws } = local;
    aws.faults.pendingCopies({ region: "eu-west-1", forMs: 60_000, outcome: "available" });
    const pending = await copyInto("eu-west-1");
    const other = await copyInto("ap-southeast-2");
    expect(await imageState("eu-west-1", pending)).toEqual({ state: "pending", reason: undefined });
    expect((await imageState("ap-southeast-2", other)).state).toBe("available");
    const ec2 = new EC2Client(aws.clientConfig("eu-west-1"));
    const availableOnly = await ec2.send(
      new DescribeImagesCommand({ Owners: ["self"], Filters: [{ Name: "state", Values: ["available"] }] }),
    );
    expect(availableOnly.Images?.some((i) => i.ImageId === pending)).toBe(false);
    expect(aws.calls().find((c) => c.action === "CopyImage" && c.region === "eu-west-1")?.injected).toBe(
      "pending-copy",
    );

    await aws.imageBuilder.advance(59_999);
    expect((await imageState("eu-west-1", pending)).state).toBe("pending");
    await aws.imageBuilder.advance(1);
    expect((await imageState("eu-west-1", pending)).state).toBe("available");
  });

  it("fails a pending copy when released with outcome failed", async () => {
    const { aws } = local;
    aws.faults.pendingCopies({ region: "ap-southeast-2", outcome: "failed", reason: "KMS key not usable" });
    const copy = await copyInto("ap-southeast-2");
    await aws.imageBuilder.advance(10 * 3_600_000);
    expect((await imageState("ap-southeast-2", copy)).state).toBe("pending");
    await aws.faults.releaseCopies("ap-southeast-2");
    expect(await imageState("ap-southeast-2", copy)).toEqual({
      state: "failed",
      reason: "KMS key not usable",
    });
  });

  it("answers 200 to an aws:ec2:image PutParameter whose value is not an available AMI, and writes nothing", async () => {
    const { aws } = local;
    const ssm = new SSMClient(aws.clientConfig("eu-west-1"));
    const name = "/ops-rig/light/ami-id";
    const put = (value: string, overwrite = false) =>
      ssm.send(
        new PutParameterCommand({
          Name: name,
          Value: value,
          Type: "String",
          DataType: "aws:ec2:image",
          Overwrite: overwrite,
        }),
      );

    const bogus = await put("ami-0123456789abcdef0");
    expect(bogus.Version).toBe(1);
    expect((await rejection(ssm.send(new GetParameterCommand({ Name: name })))).name).toBe(
      "ParameterNotFound",
    );

    // An AMI of another region is not an AMI here.
    const usEast = await sourceImage();
    await put(usEast);
    expect((await rejection(ssm.send(new GetParameterCommand({ Name: name })))).name).toBe(
      "ParameterNotFound",
    );

    aws.faults.pendingCopies({ region: "eu-west-1", outcome: "available" });
    const pending = await copyInto("eu-west-1");
    await put(pending);
    expect((await rejection(ssm.send(new GetParameterCommand({ Name: name })))).name).toBe(
      "ParameterNotFound",
    );

    await aws.faults.releaseCopies("eu-west-1");
    const written = await put(pending);
    expect(written.Version).toBe(1);
    const parameter = (await ssm.send(new GetParameterCommand({ Name: name }))).Parameter;
    expect([parameter?.Value, parameter?.Version, parameter?.DataType]).toEqual([
      pending,
      1,
      "aws:ec2:image",
    ]);

    // An overwrite with a bad value is dropped too: the parameter keeps pointing at a good AMI.
    const dropped = await put("ami-0fffffffffffffff0", true);
    expect(dropped.Version).toBe(2);
    expect((await ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Version).toBe(1);
    expect(aws.calls().filter((c) => c.injected === "dropped-parameter")).toHaveLength(4);

    // Without Overwrite, an existing name is still ParameterAlreadyExists, synchronously.
    expect((await rejection(put(pending))).name).toBe("ParameterAlreadyExists");

    // Overwriting without DataType makes it text again.
    await ssm.send(
      new PutParameterCommand({ Name: name, Value: "not-an-ami", Type: "String", Overwrite: true }),
    );
    expect((await ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.DataType).toBe("text");
  });

  it("gives moto the EC2 behaviour the pipeline relies on: copy tokens, copy tags, registration, deprecation", async () => {
    const { aws } = local;
    const ec2 = new EC2Client(aws.clientConfig("eu-west-1"));
    const first = await copyInto("eu-west-1", "line-light-debian-12-amd64-abc");
    const again = await copyInto("eu-west-1", "line-light-debian-12-amd64-abc");
    expect(again).toBe(first);

    const registered = await ec2.send(
      new RegisterImageCommand({
        Name: "ops-rig-registered",
        Architecture: "arm64",
        RootDeviceName: "/dev/xvda",
        TagSpecifications: [{ ResourceType: "image", Tags: [{ Key: "ops-rig:toolset", Value: "heavy" }] }],
      }),
    );
    const tagged = await ec2.send(
      new CopyImageCommand({
        SourceRegion: "eu-west-1",
        SourceImageId: registered.ImageId,
        Name: "ops-rig-copy-tagged",
        CopyImageTags: true,
        TagSpecifications: [
          { ResourceType: "image", Tags: [{ Key: "ops-rig:source-ami", Value: registered.ImageId ?? "" }] },
        ],
      }),
    );
    await ec2.send(
      new EnableImageDeprecationCommand({
        ImageId: tagged.ImageId,
        DeprecateAt: new Date("2031-01-01T00:00:00Z"),
      }),
    );
    const images =
      (
        await ec2.send(
          new DescribeImagesCommand({ ImageIds: [registered.ImageId ?? "", tagged.ImageId ?? ""] }),
        )
      ).Images ?? [];
    const byId = new Map(images.map((i) => [i.ImageId, i]));
    expect(byId.get(registered.ImageId)?.Architecture).toBe("arm64");
    expect(byId.get(registered.ImageId)?.Tags).toEqual([{ Key: "ops-rig:toolset", Value: "heavy" }]);
    const copied = byId.get(tagged.ImageId);
    expect(copied?.Architecture).toBe("arm64");
    expect(new Map(copied?.Tags?.map((t) => [t.Key, t.Value]))).toEqual(
      new Map([
        ["ops-rig:toolset", "heavy"],
        ["ops-rig:source-ami", registered.ImageId],
      ]),
    );
    expect(copied?.DeprecationTime).toBe("2031-01-01T00:00:00.000Z");
  });
});
