import { beforeAll, describe, expect, it } from "vitest";
import type { Toolset } from "../../src/config/types.js";
import { AwsCallError, SecurityGroupMismatchError } from "../../src/errors.js";
import type { PipelineProject } from "../../src/pipeline/run.js";
import { GROUP_CIDRS_TAG, type LaunchRequest, launch, securityGroupName } from "../../src/services/launch.js";
import { FakeCrash } from "../fakes/fake-aws.js";
import { shippedProject } from "../helpers/shipped.js";
import { converge, EU, type FakeWorld, fakeWorld, HOME } from "./fake-world.js";

const VPN = "10.8.0.0/16";
let project: PipelineProject;
let toolset: Toolset;
beforeAll(async () => {
  project = await shippedProject({
    toolsets: ["light"],
    bases: ["debian-12"],
    arches: ["amd64"],
    regions: [HOME, EU],
  });
  toolset = project.toolsets[0] as Toolset;
});

/** A world with the light line published in EU (launches resolve its parameter). */
async function published(): Promise<FakeWorld> {
  const world = fakeWorld(project);
  await converge(world);
  world.aws.resetCalls();
  return world;
}

function request(extra: Partial<LaunchRequest> = {}): LaunchRequest {
  return {
    region: EU,
    toolset,
    line: { toolset: "light", base: "debian-12", arch: "amd64" },
    usesDefault: true,
    parameterPrefix: "/ops-rig",
    sshCidrs: [VPN],
    instanceType: "m7i.large",
    instanceProfile: "ops-rig-forensic",
    ...extra,
  };
}

const go = (world: FakeWorld, extra: Partial<LaunchRequest> = {}) =>
  launch({ ports: world.aws.ports, launch: world.aws.launch, events: world.deps().events }, request(extra));

const ssh = (source: string) => ({ protocol: "tcp", fromPort: 22, toPort: 22, source });

describe("launch: the security group", () => {
  it("creates the group with exactly SSH from the ranges, tagged as ops-rig's, and reuses it next time", async () => {
    const world = await published();
    const first = await go(world);
    expect(first.securityGroup).toMatchObject({ status: "created", name: securityGroupName([VPN]) });
    const [group] = world.aws.securityGroups(EU);
    expect(group?.ingress).toEqual([ssh(VPN)]);
    expect(group?.tags[GROUP_CIDRS_TAG]).toBe(VPN);
    const second = await go(world);
    expect(second.securityGroup).toMatchObject({ status: "reused", groupId: group?.groupId });
    expect(world.aws.instances.map((i) => i.input.securityGroupIds)).toEqual([
      [group?.groupId],
      [group?.groupId],
    ]);
    expect(world.aws.instances[0]?.input.imageId).toBe("resolve:ssm:/ops-rig/light/ami-id");
  });

  it("refuses a pre-existing ops-rig-no-inbound group that lets the internet in, saying what differs; nothing launches or changes", async () => {
    const world = await published();
    const groupId = world.aws.addSecurityGroup(EU, {
      name: "ops-rig-no-inbound",
      ingress: [ssh("0.0.0.0/0")],
    });
    const error = await go(world, { sshCidrs: [] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecurityGroupMismatchError);
    expect((error as Error).message).toBe(
      `security group ${groupId} in eu-west-1 is not what ops-rig expects: it does not carry ops-rig's ${GROUP_CIDRS_TAG} tag for these ranges; it allows tcp 22 from 0.0.0.0/0. Refusing to launch into it; --repair-group makes it match (or delete it)`,
    );
    expect((error as SecurityGroupMismatchError).kind).toBe("user");
    expect(world.aws.instances).toEqual([]);
    expect(world.aws.calls().filter((c) => c.mutating)).toEqual([]);
  });

  it("refuses an ops-rig group with an extra rule someone added, even with the tag; --repair-group revokes it", async () => {
    const world = await published();
    await go(world);
    const [group] = world.aws.securityGroups(EU);
    await world.aws.launch.authorizeSsh(EU, group?.groupId ?? "", ["0.0.0.0/0"]);
    await expect(go(world)).rejects.toThrow(/it allows tcp 22 from 0\.0\.0\.0\/0/);
    const repaired = await go(world, { repairGroup: true });
    expect(repaired.securityGroup).toMatchObject({
      status: "repaired",
      changes: ["revoked tcp 22 from 0.0.0.0/0"],
    });
    expect(world.aws.securityGroups(EU)[0]?.ingress).toEqual([ssh(VPN)]);
  });

  it("--repair-group adopts an untagged group: tags it and makes the rules exact", async () => {
    const world = await published();
    world.aws.addSecurityGroup(EU, { name: "ops-rig-no-inbound", ingress: [ssh("0.0.0.0/0")] });
    const result = await go(world, { sshCidrs: [], repairGroup: true });
    expect(result.securityGroup.changes).toEqual([
      `tagged ${GROUP_CIDRS_TAG}`,
      "revoked tcp 22 from 0.0.0.0/0",
    ]);
    expect(world.aws.securityGroups(EU)).toMatchObject([
      { ingress: [], tags: { [GROUP_CIDRS_TAG]: "none" } },
    ]);
    expect(world.aws.instances).toHaveLength(1);
  });

  it("AuthorizeSecurityGroupIngress failing after the group was created: the group goes again, the next launch is right", async () => {
    const world = await published();
    world.aws.fail({
      operation: "AuthorizeSecurityGroupIngress",
      times: 1,
      code: "InvalidParameterValue",
      message: "bad CIDR",
    });
    await expect(go(world)).rejects.toThrow(
      /AuthorizeSecurityGroupIngress in eu-west-1 failed \(InvalidParameterValue\)/,
    );
    expect(world.aws.securityGroups(EU)).toEqual([]);
    expect(world.aws.instances).toEqual([]);
    const next = await go(world);
    expect(next.securityGroup.status).toBe("created");
    expect(world.aws.securityGroups(EU)[0]?.ingress).toEqual([ssh(VPN)]);
  });

  it("a crash between CreateSecurityGroup and the rules: the next launch completes the group and says so", async () => {
    const world = await published();
    world.aws.crashAfter(1);
    await expect(go(world)).rejects.toBeInstanceOf(FakeCrash);
    world.aws.recover();
    expect(world.aws.securityGroups(EU)[0]?.ingress).toEqual([]);
    const next = await go(world);
    expect(next.securityGroup).toMatchObject({
      status: "completed",
      changes: [`allowed tcp 22 from ${VPN}`],
    });
    expect(world.aws.securityGroups(EU)[0]?.ingress).toEqual([ssh(VPN)]);
  });

  it("crash after every mutating call, then launch again: one group with exactly the expected rules", async () => {
    const reference = await published();
    reference.aws.crashAfter(Number.POSITIVE_INFINITY);
    await go(reference);
    const total = reference.aws.mutatingCalls;
    expect(total).toBe(3); // CreateSecurityGroup, AuthorizeSecurityGroupIngress, RunInstances
    for (let k = 1; k <= total; k++) {
      const world = await published();
      world.aws.crashAfter(k);
      await expect(go(world)).rejects.toBeInstanceOf(FakeCrash);
      world.aws.recover();
      const again = await go(world);
      expect(again.instanceId, `after crash ${k}`).toMatch(/^i-/);
      expect(world.aws.securityGroups(EU).map((g) => [g.name, g.ingress, g.tags[GROUP_CIDRS_TAG]])).toEqual([
        [securityGroupName([VPN]), [ssh(VPN)], VPN],
      ]);
    }
  });

  it("nothing is left behind when RunInstances fails; a reused group stays", async () => {
    const world = await published();
    await expect(go(world, { instanceProfile: "no-such-profile" })).rejects.toThrow(
      /Invalid IAM Instance Profile name/,
    );
    expect(world.aws.securityGroups(EU)).toEqual([]);
    expect(world.events.map((e) => e.type).filter((t) => t.startsWith("security-group"))).toEqual([
      "security-group-created",
      "security-group-changed",
      "security-group-removed",
    ]);
    await go(world);
    await expect(go(world, { instanceType: "t3.nonexistent" })).rejects.toBeInstanceOf(AwsCallError);
    expect(world.aws.securityGroups(EU)).toHaveLength(1);
  });

  it("two launches racing on CreateSecurityGroup both succeed, with one group of exactly the expected rules", async () => {
    const world = await published();
    // Both look for the group before either creates it; A creates it, B collides and finds it without
    // rules, and only then does A's AuthorizeSecurityGroupIngress arrive.
    const gate = () => {
      let open: () => void = () => {};
      const opened = new Promise<void>((resolve) => {
        open = resolve;
      });
      return { open, opened };
    };
    const bothLooked = gate();
    const bAuthorized = gate();
    let describes = 0;
    let authorizes = 0;
    world.aws.onCall = async (call) => {
      if (call.operation === "DescribeSecurityGroups" && ++describes <= 2) {
        if (describes === 2) bothLooked.open();
        await bothLooked.opened;
      }
      if (call.operation === "AuthorizeSecurityGroupIngress") {
        authorizes++;
        if (authorizes === 1) await bAuthorized.opened;
        else bAuthorized.open();
      }
    };
    const [a, b] = await Promise.all([go(world), go(world)]);
    expect([a.securityGroup.status, b.securityGroup.status]).toEqual(["created", "completed"]);
    expect(a.securityGroup.groupId).toBe(b.securityGroup.groupId);
    expect(world.aws.securityGroups(EU).map((g) => g.ingress)).toEqual([[ssh(VPN)]]);
    expect(world.aws.instances).toHaveLength(2);
    expect(world.aws.calls().filter((c) => c.operation === "CreateSecurityGroup")).toHaveLength(2);
    expect(world.aws.calls().filter((c) => c.operation === "AuthorizeSecurityGroupIngress")).toHaveLength(2);
  });

  it("--dry-run checks the very request a launch sends, and changes nothing", async () => {
    const world = await published();
    await go(world, { dryRun: true });
    expect(world.aws.calls().filter((c) => c.mutating)).toEqual([]);
    await go(world); // creates the group
    const dry = await go(world, { dryRun: true, caseId: "IR-7" });
    const real = await go(world, { caseId: "IR-7" });
    expect(dry.request).toEqual(real.request);
    expect(
      world.aws
        .calls()
        .filter((c) => c.operation === "RunInstances")
        .map((c) => c.mutating),
    ).toEqual([false, true, false, true]);
    // The dry run sees what the launch would see: a bad instance type or a tampered group fails it too.
    await expect(go(world, { dryRun: true, instanceType: "t3.nonexistent" })).rejects.toThrow(/InstanceType/);
    await world.aws.launch.authorizeSsh(EU, real.securityGroup.groupId ?? "", ["0.0.0.0/0"]);
    await expect(go(world, { dryRun: true })).rejects.toBeInstanceOf(SecurityGroupMismatchError);
  });
});

describe("launch: the image", () => {
  it("a line that was never published: a user error, no change", async () => {
    const world = fakeWorld(project);
    const error = await go(world).catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      "parameter /ops-rig/light/ami-id does not exist in eu-west-1: no baked light image there yet (use --stock for a stock AMI with cloud-init)",
    );
    expect(world.aws.calls().filter((c) => c.mutating)).toEqual([]);
  });

  it("--stock launches the newest publisher image with the user data", async () => {
    const world = fakeWorld(project);
    const result = await go(world, { stock: { userData: "#cloud-config\n" } });
    expect(result.imageRequest).toMatch(/^ami-/);
    expect(world.aws.image(result.resolvesTo)?.name).toMatch(/^debian-12-amd64-/);
    expect(world.aws.instances[0]?.input.userData).toBe("#cloud-config\n");
  });
});
