import { describe, expect, it } from "vitest";
import { type EventScope, parseEvent } from "../../../src/lambda/events.js";

const HOME = "us-east-1";
const TOPIC = `arn:aws:sns:${HOME}:111122223333:ops-rig-builds`;
const scope: EventScope = {
  buildTopic: "ops-rig-builds",
  homeRegion: HOME,
  images: new Map([
    ["ops-rig-light-debian-12-amd64", "light"],
    ["ops-rig-heavy-ubuntu-24-04-arm64", "heavy"],
  ]),
};
const IMAGE = `arn:aws:imagebuilder:${HOME}:111122223333:image/ops-rig-light-debian-12-amd64/1.0.3/1`;

/** Lambda's SNS event (AWS Lambda developer guide, "Using Lambda with Amazon SNS"). */
const sns = (messages: unknown[], topicArn = TOPIC) => ({
  Records: messages.map((m) => ({
    EventVersion: "1.0",
    EventSubscriptionArn: `${topicArn}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55`,
    EventSource: "aws:sns",
    Sns: {
      SignatureVersion: "1",
      Timestamp: "2026-11-29T03:13:45.000Z",
      MessageId: "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
      Type: "Notification",
      TopicArn: topicArn,
      Subject: null,
      Message: typeof m === "string" ? m : JSON.stringify(m),
    },
  })),
});

/** Image Builder's completion message: the Image object (EC2 Image Builder user guide, "SNS message format"). */
const completion = (arn: string, status: string, amis: { region: string; image: string }[] = []) => ({
  arn,
  name: "ops-rig-light-debian-12-amd64",
  version: "1.0.3",
  buildVersion: 1,
  type: "AMI",
  osVersion: "Debian 12",
  state: { status, ...(status === "FAILED" ? { reason: "test phase failed" } : {}) },
  imageRecipe: { parentImage: "ami-0base" },
  outputResources: { amis: amis.map((a) => ({ ...a, name: "ops-rig-x", accountId: "111122223333" })) },
  buildType: "USER_INITIATED",
  dateCreated: "Nov 29, 2026 3:13:45 AM",
});

/** EventBridge "EC2 Image Builder Image State Change", as in the Image Builder user guide's example. */
const stateChange = (arn: string, status: string, previous = "TESTING") => ({
  version: "0",
  id: "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
  "detail-type": "EC2 Image Builder Image State Change",
  source: "aws.imagebuilder",
  account: "111122223333",
  time: "2026-11-29T03:13:45Z",
  region: HOME,
  resources: [arn],
  detail: { "previous-state": { status: previous }, state: { status } },
});

describe("Lambda events", () => {
  it("understands the schedules", () => {
    expect(parseEvent({ kind: "nightly" }, scope)).toEqual({ kind: "run", request: { trigger: "nightly" } });
    expect(parseEvent({ kind: "tick" }, scope)).toEqual({ kind: "run", request: { trigger: "tick" } });
    expect(parseEvent({ source: "aws.events", "detail-type": "Scheduled Event", detail: {} }, scope)).toEqual(
      {
        kind: "run",
        request: { trigger: "tick" },
      },
    );
  });

  it("understands the manual trigger", () => {
    expect(parseEvent({ action: "bake" }, scope)).toEqual({ kind: "run", request: { trigger: "manual" } });
    expect(parseEvent({ action: "bake", toolsets: ["heavy"], force: true }, scope)).toEqual({
      kind: "run",
      request: { trigger: "manual", toolsets: ["heavy"], force: true },
    });
  });

  it("refuses a malformed manual request, naming the field, and never widens it to every toolset", () => {
    const refused = (event: unknown) => {
      const parsed = parseEvent(event, scope);
      if (parsed.kind !== "refused") throw new Error(`not refused: ${JSON.stringify(parsed)}`);
      return parsed.error.message;
    };
    expect(refused({ action: "bake", toolsets: [] })).toMatch(/^toolsets: name at least one toolset/);
    expect(refused({ action: "bake", toolsets: "heavy" })).toMatch(/^toolsets: /);
    expect(refused({ action: "bake", toolsets: ["medium"] })).toBe(
      'toolsets: unknown toolset "medium" (known: heavy, light)',
    );
    expect(refused({ action: "bake", force: "yes" })).toMatch(/^force: /);
    expect(refused({ action: "bake", toolset: ["heavy"] })).toMatch(/toolset/);
  });

  it("names the first problem of a manual request exactly (the messages the zod schema gave)", () => {
    const refused = (event: unknown) => {
      const parsed = parseEvent(event, scope);
      return parsed.kind === "refused" ? parsed.error.message : `not refused: ${JSON.stringify(parsed)}`;
    };
    expect(refused({ action: "bake", toolsets: "heavy" })).toBe(
      "toolsets: Invalid input: expected array, received string",
    );
    expect(refused({ action: "bake", toolsets: null })).toBe(
      "toolsets: Invalid input: expected array, received null",
    );
    expect(refused({ action: "bake", toolsets: ["light", 1] })).toBe(
      "toolsets.1: Invalid input: expected string, received number",
    );
    expect(refused({ action: "bake", toolsets: ["light", "Heavy"] })).toBe("toolsets.1: not a toolset name");
    expect(refused({ action: "bake", force: "yes" })).toBe(
      "force: Invalid input: expected boolean, received string",
    );
    expect(refused({ action: "bake", toolset: ["heavy"] })).toBe('event: Unrecognized key: "toolset"');
    expect(refused({ action: "bake", toolset: 1, other: 2 })).toBe(
      'event: Unrecognized keys: "toolset", "other"',
    );
    // Fields first, unknown keys last.
    expect(refused({ action: "bake", force: 1, toolset: 1 })).toMatch(/^force: /);
    // An optional field given as undefined is absent.
    expect(parseEvent({ action: "bake", toolsets: undefined, force: undefined }, scope)).toEqual({
      kind: "run",
      request: { trigger: "manual" },
    });
  });

  it("ignores notifications whose shape is not Image Builder's", () => {
    const ignored = (event: unknown) =>
      expect(parseEvent(event, scope).kind, JSON.stringify(event)).toBe("ignored");
    ignored({ Records: [] });
    ignored({
      Records: sns([completion(IMAGE, "AVAILABLE")]).Records.map((r) => ({ ...r, EventSource: "aws:sqs" })),
    });
    ignored({ Records: [{ EventSource: "aws:sns", Sns: { TopicArn: TOPIC, Message: 1 } }] });
    ignored(sns([{ ...completion(IMAGE, "AVAILABLE"), state: { status: "AVAILABLE", reason: 5 } }]));
    ignored(sns([{ ...completion(IMAGE, "AVAILABLE"), outputResources: { amis: [{ region: 3 }] } }]));
    ignored(sns([{ ...completion(IMAGE, "AVAILABLE"), outputResources: null }]));
    ignored(sns(["null"]));
    ignored({ ...stateChange(IMAGE, "AVAILABLE"), resources: [] });
    ignored({ ...stateChange(IMAGE, "AVAILABLE"), resources: [1] });
    ignored({ ...stateChange(IMAGE, "AVAILABLE"), detail: { state: {} } });
    // Missing fields of an AMI are shown as "?", not a reason to drop the build.
    expect(
      parseEvent(
        sns([
          { ...completion(IMAGE, "AVAILABLE"), outputResources: { amis: [{ region: "eu-west-1" }, {}] } },
        ]),
        scope,
      ),
    ).toMatchObject({ kind: "run", request: { images: [{ amis: ["eu-west-1:?", "?:?"] }] } });
  });

  it("logs and ignores anything else without an error: {}, unknown shapes, unknown actions", () => {
    for (const event of [{}, { hello: 1 }, "bake", null, [], 42, { action: "deploy" }]) {
      const parsed = parseEvent(event, scope);
      expect(parsed.kind, JSON.stringify(event)).toBe("ignored");
    }
    expect(parseEvent({}, scope)).toMatchObject({ reason: expect.stringContaining("an empty object") });
  });

  it("reads every AMI of an Image Builder completion and runs the toolset of the image", () => {
    const parsed = parseEvent(
      sns([
        completion(IMAGE, "AVAILABLE", [
          { region: "us-east-1", image: "ami-1" },
          { region: "eu-west-1", image: "ami-2" },
        ]),
      ]),
      scope,
    );
    expect(parsed).toEqual({
      kind: "run",
      request: {
        trigger: "image-builder",
        toolsets: ["light"],
        images: [{ arn: IMAGE, status: "AVAILABLE", amis: ["us-east-1:ami-1", "eu-west-1:ami-2"] }],
      },
    });
  });

  it("acts on a failed build too (it is reported), but not on statuses that need nothing", () => {
    expect(parseEvent(sns([completion(IMAGE, "FAILED")]), scope)).toMatchObject({
      kind: "run",
      request: { trigger: "image-builder", toolsets: ["light"] },
    });
    expect(parseEvent(sns([completion(IMAGE, "BUILDING"), "not json"]), scope)).toMatchObject({
      kind: "ignored",
      reason: expect.stringMatching(/not an Image Builder image.*is BUILDING, which needs nothing/),
    });
  });

  it("only the deployment's build topic and ops-rig's own images trigger work", () => {
    const other = parseEvent(
      sns([completion(IMAGE, "AVAILABLE")], "arn:aws:sns:us-east-1:111122223333:someone-elses"),
      scope,
    );
    expect(other).toMatchObject({ kind: "ignored", reason: expect.stringContaining("not the build topic") });
    const foreign = `arn:aws:imagebuilder:${HOME}:111122223333:image/payroll-golden-ami/1.0.0/1`;
    expect(parseEvent(sns([completion(foreign, "AVAILABLE")]), scope)).toMatchObject({
      kind: "ignored",
      reason: expect.stringContaining("not one of ops-rig's"),
    });
    // The same recipe name built in another region is not this deployment's build.
    const elsewhere = IMAGE.replace(HOME, "eu-west-1");
    expect(parseEvent(sns([completion(elsewhere, "AVAILABLE")]), scope).kind).toBe("ignored");
    // A topic given as an ARN must match exactly.
    expect(parseEvent(sns([completion(IMAGE, "AVAILABLE")]), { ...scope, buildTopic: TOPIC }).kind).toBe(
      "run",
    );
    expect(
      parseEvent(sns([completion(IMAGE, "AVAILABLE")]), { ...scope, buildTopic: `${TOPIC}-other` }).kind,
    ).toBe("ignored");
  });

  it("supports EventBridge's Image State Change for ops-rig's images", () => {
    expect(parseEvent(stateChange(IMAGE, "AVAILABLE"), scope)).toEqual({
      kind: "run",
      request: {
        trigger: "image-builder",
        toolsets: ["light"],
        images: [{ arn: IMAGE, status: "AVAILABLE", amis: [] }],
      },
    });
    expect(parseEvent(stateChange(IMAGE, "TESTING", "BUILDING"), scope).kind).toBe("ignored");
    const foreign = `arn:aws:imagebuilder:${HOME}:111122223333:image/payroll-golden-ami/1.0.0/1`;
    expect(parseEvent(stateChange(foreign, "AVAILABLE"), scope).kind).toBe("ignored");
  });
});
