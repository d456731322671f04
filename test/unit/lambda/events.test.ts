import { describe, expect, it } from "vitest";
import { UsageError } from "../../../src/errors.js";
import { parseEvent } from "../../../src/lambda/events.js";

const sns = (...messages: unknown[]) => ({
  Records: messages.map((m) => ({
    EventSource: "aws:sns",
    Sns: { TopicArn: "arn:aws:sns:us-east-1:1:ib", Message: typeof m === "string" ? m : JSON.stringify(m) },
  })),
});

describe("Lambda events", () => {
  it("understands the schedules", () => {
    expect(parseEvent({ kind: "nightly" })).toEqual({ trigger: "nightly" });
    expect(parseEvent({ kind: "tick" })).toEqual({ trigger: "tick" });
    expect(parseEvent({ source: "aws.events", "detail-type": "Scheduled Event" })).toEqual({
      trigger: "tick",
    });
  });

  it("understands the manual trigger", () => {
    expect(parseEvent({ action: "bake" })).toEqual({ trigger: "manual" });
    expect(parseEvent({ action: "bake", toolsets: ["heavy"], force: true })).toEqual({
      trigger: "manual",
      toolsets: ["heavy"],
      force: true,
    });
  });

  it("rejects a malformed manual event, naming the field", () => {
    expect(() => parseEvent({ action: "bake", toolsets: "heavy" })).toThrow(
      new UsageError("toolsets must be a list of toolset names", "toolsets"),
    );
    expect(() => parseEvent({ action: "bake", force: "yes" })).toThrow(/force: force must be true or false/);
    expect(() => parseEvent({ hello: 1 })).toThrow(/unknown event/);
    expect(() => parseEvent("bake")).toThrow(/event must be a JSON object/);
  });

  it("reads every AMI of an Image Builder completion and runs the toolsets it names", () => {
    const request = parseEvent(
      sns({
        arn: "arn:aws:imagebuilder:us-east-1:1:image/ops-rig-light-debian-12-amd64/1.0.0/1",
        state: { status: "AVAILABLE" },
        outputResources: {
          amis: [
            { region: "us-east-1", image: "ami-1" },
            { region: "eu-west-1", image: "ami-2" },
          ],
        },
        tags: { "ops-rig:toolset": "light" },
        dateCreated: "Jul 28, 2022 1:13:45 AM",
      }),
    );
    expect(request).toEqual({
      trigger: "image-builder",
      toolsets: ["light"],
      images: [
        {
          arn: "arn:aws:imagebuilder:us-east-1:1:image/ops-rig-light-debian-12-amd64/1.0.0/1",
          status: "AVAILABLE",
          amis: ["us-east-1:ami-1", "eu-west-1:ami-2"],
        },
      ],
    });
  });

  it("runs every toolset for a failure without ops-rig tags, and ignores statuses that need nothing", () => {
    expect(
      parseEvent(sns({ arn: "a", state: { status: "FAILED", reason: "x" }, outputResources: { amis: [] } })),
    ).toEqual({
      trigger: "image-builder",
      images: [{ arn: "a", status: "FAILED", amis: [] }],
    });
    expect(parseEvent(sns({ arn: "a", state: { status: "BUILDING" } }, "not json"))).toBeUndefined();
  });
});
