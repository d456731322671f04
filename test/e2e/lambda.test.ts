import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHandler, type HandlerDeps } from "../../src/lambda/handler.js";
import type { PipelineProject } from "../../src/pipeline/run.js";
import { type LocalAws, startLocalAws } from "../emulators/local-aws.js";
import { readRegion } from "./inspect.js";
import { prepareWorld, REGIONS, shippedProject, type World } from "./world.js";

let aws: LocalAws;
beforeAll(async () => {
  aws = await startLocalAws({ regions: REGIONS, clock: "manual", moto: "lent" });
}, 60_000);
afterAll(async () => {
  await aws?.stop();
});

describe("the Lambda handler against the local AWS", () => {
  let project: PipelineProject;
  let world: World;
  const logs: { level: string; message: string; data?: Record<string, unknown> }[] = [];
  let handler: ReturnType<typeof createHandler>;
  const destroyers: (() => void)[] = [];

  beforeAll(async () => {
    // As the deployed function reads it: from project.json, without YAML.
    project = await shippedProject({
      toolsets: ["light"],
      bases: ["debian-12"],
      arches: ["amd64", "arm64"],
      asShipped: true,
    });
    world = await prepareWorld(aws, project);
    const deps: HandlerDeps = {
      project: async () => project,
      ports: () => {
        const { ports, destroy } = world.ports();
        destroyers.push(destroy);
        return ports;
      },
      now: world.clock.now,
      sleep: world.clock.sleep,
      log: (level, message, data) => {
        logs.push({ level, message, ...(data ? { data } : {}) });
      },
    };
    handler = createHandler(deps);
  });
  afterAll(() => {
    for (const destroy of destroyers) destroy();
  });

  it("the nightly schedule starts the builds and returns without waiting for them", async () => {
    const summary = await handler(
      { kind: "nightly" },
      { getRemainingTimeInMillis: () => 900_000, awsRequestId: "r-1" },
    );
    expect(summary).toMatchObject({
      outcome: "run",
      status: "ok",
      trigger: "nightly",
      changed: 2,
      failed: 0,
    });
    expect(aws.imageBuilder.images().map((i) => i.status)).toEqual(["PENDING", "PENDING"]);
    // One-line JSON-ready logs: the plan's actions and the summary.
    expect(logs.some((l) => l.message === "action done" && l.data?.kind === "build")).toBe(true);
    expect(logs.at(-1)?.message).toBe("run finished");
  });

  it("Image Builder's completion notification continues the work: copies and publishes", async () => {
    await aws.imageBuilder.settle();
    const image = aws.imageBuilder.images()[0];
    const message = {
      arn: image?.arn,
      state: { status: "AVAILABLE" },
      outputResources: {
        amis: Object.entries(image?.amiIds ?? {}).map(([region, ami]) => ({ region, image: ami })),
      },
      tags: { "ops-rig:toolset": "light" },
    };
    const summary = await handler({
      Records: [
        {
          EventSource: "aws:sns",
          Sns: { TopicArn: world.deployment.buildTopicArn, Message: JSON.stringify(message) },
        },
      ],
    });
    expect(summary).toMatchObject({ outcome: "run", trigger: "image-builder" });
    expect(summary.outcome === "run" && summary.changed).toBeGreaterThan(0);
    for (const region of REGIONS) {
      const state = await readRegion(aws, region);
      expect(state.parameters.get("/ops-rig/light/debian-12/arm64/ami-id")?.value).toMatch(/^ami-/);
    }
    const notes = await world.deployment.drain();
    expect(notes.map((n) => n.subject)).toContain("ops-rig image-builder: 6 published");
  });

  it("throws after notifying when an action failed in a way a retry could fix, so Lambda retries and counts it", async () => {
    await aws.bases.publishNewer("debian-12", "amd64");
    aws.faults.fail({
      service: "ec2",
      action: "CopyImage",
      region: "eu-west-1",
      error: { code: "InternalError", message: "copy backend unavailable", status: 500 },
    });
    await handler({ action: "bake" });
    await aws.imageBuilder.settle();
    await expect(handler({ kind: "tick" })).rejects.toThrow(
      /^ops-rig run failed \(1 retryable\): copy light\/debian-12\/amd64 eu-west-1: ec2:CopyImage in eu-west-1 failed \(InternalError\)/,
    );
    const notes = await world.deployment.drain();
    expect(notes.some((n) => /failed/.test(n.subject) && JSON.stringify(n.json).includes("eu-west-1"))).toBe(
      true,
    );
    aws.faults.clear();
    expect(await handler({ kind: "tick" })).toMatchObject({ outcome: "run", status: "ok" });
  });

  it("does nothing for notifications that need nothing or are not its own, ignores unknown events and refuses bad manual ones", async () => {
    aws.resetCalls();
    const building = {
      arn: aws.imageBuilder.images()[0]?.arn,
      state: { status: "BUILDING" },
    };
    expect(
      await handler({
        Records: [
          {
            EventSource: "aws:sns",
            Sns: { TopicArn: world.deployment.buildTopicArn, Message: JSON.stringify(building) },
          },
        ],
      }),
    ).toMatchObject({ outcome: "ignored" });
    const available = { ...building, state: { status: "AVAILABLE" } };
    expect(
      await handler({
        Records: [
          {
            EventSource: "aws:sns",
            Sns: { TopicArn: world.deployment.notificationTopicArn, Message: JSON.stringify(available) },
          },
        ],
      }),
    ).toMatchObject({ outcome: "ignored", reason: expect.stringContaining("not the build topic") });
    expect(await handler({})).toMatchObject({ outcome: "ignored" });
    expect(await handler({ hello: "world" })).toMatchObject({ outcome: "ignored" });
    expect(await handler({ action: "bake", toolsets: [] })).toMatchObject({
      outcome: "refused",
      code: "USAGE",
      message: expect.stringContaining("toolsets:"),
    });
    // None of these touched AWS.
    expect(aws.calls()).toEqual([]);
  });
});
