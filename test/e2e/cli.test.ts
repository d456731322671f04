import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeImagesCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcsCommand,
  EC2Client,
} from "@aws-sdk/client-ec2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadProject } from "../../src/config/load.js";
import { TAG } from "../../src/plan/names.js";
import { type LocalAws, startLocalAws } from "../emulators/local-aws.js";
import { deployLocally, type LocalDeployment } from "../helpers/deployment.js";
import { REPO_ROOT, runCli } from "../helpers/project.js";
import { parameterHistory, readRegion } from "./inspect.js";

const REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"];
const EU = "eu-west-1";
const AP = "ap-southeast-2";
let aws: LocalAws;
let deployment: LocalDeployment;
let env: NodeJS.ProcessEnv;
const started = Date.now();

beforeAll(async () => {
  // The local AWS's own clock: `bake --wait` polls by moving it forward, never by sleeping.
  aws = await startLocalAws({
    regions: REGIONS,
    clock: "manual",
    phaseMs: { PENDING: 50, BUILDING: 150, TESTING: 50, DISTRIBUTING: 50 },
    moto: "lent",
  });
  deployment = await deployLocally(aws, (await loadProject(REPO_ROOT)).pipeline);
  env = { ...aws.env, AWS_MAX_ATTEMPTS: "3" };
}, 60_000);
afterAll(async () => {
  deployment?.destroy();
  await aws?.stop();
  console.log(`[e2e cli] ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

/** The CLI's clock: the local AWS's, moved forward by what the CLI would have slept. */
let advancedMs = 0;
const clock = {
  now: () => new Date(started + advancedMs),
  sleep: async (ms: number) => {
    advancedMs += ms;
    await aws.imageBuilder.advance(ms);
  },
};
const cli = (...args: string[]) => runCli(args, env, { clock });
const ec2 = (region: string) => new EC2Client(aws.clientConfig(region, { maxAttempts: 3 }));

describe("ops-rig against the local AWS", () => {
  it("bases: the newest publisher image per base, arch and region; bad flags exit 2", async () => {
    const result = await cli("--json", "bases");
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const rows = JSON.parse(result.stdout) as {
      region: string;
      base: string;
      arch: string;
      imageId: string;
      ownerId: string;
      source: string;
    }[];
    expect(rows).toHaveLength(3 * 4 * 2);
    for (const region of REGIONS) {
      const seeded = await aws.bases.list(region);
      const newest = (base: string, arch: string) =>
        seeded
          .filter((b) => b.base === base && b.arch === arch && !b.deprecated)
          .sort((a, b) => b.creationDate.localeCompare(a.creationDate))[0];
      for (const row of rows.filter((r) => r.region === region)) {
        expect(row.imageId, `${row.base}/${row.arch} in ${region}`).toBe(newest(row.base, row.arch)?.imageId);
        expect(["099720109477", "136693071363"]).toContain(row.ownerId);
      }
    }
    const table = await cli("--region", EU, "bases", "--base", "debian-13", "--arch", "arm64");
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/debian-13\s+arm64\s+eu-west-1\s+ami-[0-9a-f]+\s+debian-13-arm64-/);
    expect(await cli("bases", "--base", "ubuntu-20.04")).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--base: unknown base "ubuntu-20.04"'),
    });
    expect(await cli("--region", "mars-north-1x", "bases")).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--region: "mars-north-1x" is not an AWS region name'),
    });
  });

  it("plan: shows the builds an empty account needs, with reasons, and changes nothing", async () => {
    aws.resetCalls();
    const result = await cli("plan", "--toolset", "light");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /build\s+light\/debian-12\/amd64\s+us-east-1\s+first build of this line \(base ami-/,
    );
    expect(result.stdout).toMatch(/8 actions, 8 would change something\. Nothing was changed\./);
    expect(aws.calls().filter((c) => c.mutating)).toEqual([]);
    const json = JSON.parse((await cli("--json", "plan", "--toolset", "light")).stdout) as {
      actions: { kind: string; line: string }[];
    };
    expect(json.actions.map((a) => a.kind)).toEqual(Array(8).fill("build"));
    expect(await cli("plan", "--toolset", "medium")).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--toolset: unknown toolset "medium"'),
    });
  });

  it("bake --wait: reconciles until every light line is published in every region, with progress", async () => {
    const result = await cli("bake", "--toolset", "light", "--wait", "--poll", "0.2");
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      /done build light\/ubuntu-24\.04\/amd64 us-east-1: started arn:aws:imagebuilder/,
    );
    expect(result.stdout).toMatch(/^ops-rig manual: \d+ published, 8 builds started/);
    for (const region of REGIONS) {
      const state = await readRegion(aws, region);
      for (const base of ["ubuntu-24.04", "ubuntu-22.04", "debian-12", "debian-13"]) {
        for (const arch of ["amd64", "arm64"]) {
          const value = state.parameters.get(`/ops-rig/light/${base}/${arch}/ami-id`)?.value;
          expect(state.amis.find((a) => a.imageId === value)?.state, `${base}/${arch} in ${region}`).toBe(
            "available",
          );
        }
      }
    }
  }, 60_000);

  it("status: a table of lines × regions; missing entries stand out", async () => {
    const result = await cli("status");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /light\/ubuntu-24\.04\/amd64\s+eu-west-1\s+published\s+ami-[0-9a-f]+\s+\d+[mhd]\s+ami-[0-9a-f]+\s+1/,
    );
    expect(result.stdout).toMatch(/heavy\/debian-12\/amd64\s+us-east-1\s+missing\s+-/);
    expect(result.stdout).toMatch(/24 of 48 line\/region\(s\) need attention \(missing\)\./);
    const rows = JSON.parse((await cli("--json", "status", "--toolset", "light")).stdout) as {
      state: string;
      parameterVersion: number;
    }[];
    expect(rows).toHaveLength(24);
    expect(rows.every((r) => r.state === "published" && r.parameterVersion === 1)).toBe(true);
  });

  it("launch: RunInstances with resolve:ssm:, SSH only from the given range, IMDSv2, encrypted root, tags", async () => {
    const result = await cli(
      "--json",
      "--region",
      EU,
      "launch",
      "--toolset",
      "light",
      "--case",
      "IR-2026-042",
      "--ssh-cidr",
      "198.51.100.0/24",
      "--key-name",
      "responder",
    );
    expect(result.code, result.stderr).toBe(0);
    const launched = JSON.parse(result.stdout) as {
      instanceId: string;
      imageRequest: string;
      resolvesTo: string;
      securityGroup: string;
    };
    expect(launched.imageRequest).toBe("resolve:ssm:/ops-rig/light/ami-id");
    const client = ec2(EU);
    try {
      const instance = (
        await client.send(new DescribeInstancesCommand({ InstanceIds: [launched.instanceId] }))
      ).Reservations?.[0]?.Instances?.[0];
      // moto stores the literal request; the resolution is checked against the parameter separately.
      expect(instance?.ImageId).toBe("resolve:ssm:/ops-rig/light/ami-id");
      expect(instance?.MetadataOptions?.HttpTokens).toBe("required");
      const tags = Object.fromEntries((instance?.Tags ?? []).map((t) => [t.Key, t.Value]));
      expect(tags).toMatchObject({
        "ops-rig:case": "IR-2026-042",
        "ops-rig:toolset": "light",
        "ops-rig:role": "forensic",
      });
      const state = await readRegion(aws, EU);
      expect(state.parameters.get("/ops-rig/light/ami-id")?.value).toBe(launched.resolvesTo);
      const ami = state.amis.find((a) => a.imageId === launched.resolvesTo);
      expect(ami?.state).toBe("available");
      expect(ami?.tags[TAG.sourceAmi]).toMatch(/^ami-/); // the eu-west-1 copy, not the home AMI
      const group = (
        await client.send(new DescribeSecurityGroupsCommand({ GroupIds: [launched.securityGroup] }))
      ).SecurityGroups?.[0];
      expect(
        group?.IpPermissions?.map((p) => [p.FromPort, p.ToPort, p.IpRanges?.map((r) => r.CidrIp)]),
      ).toEqual([[22, 22, ["198.51.100.0/24"]]]);
      // The same ranges reuse the same group.
      const again = JSON.parse(
        (await cli("--json", "--region", EU, "launch", "--toolset", "light", "--ssh-cidr", "198.51.100.0/24"))
          .stdout,
      ) as { securityGroup: string };
      expect(again.securityGroup).toBe(launched.securityGroup);
      // A pinned version is part of the request.
      const pinned = JSON.parse(
        (await cli("--json", "--region", EU, "launch", "--toolset", "light", "--version", "1")).stdout,
      ) as { imageRequest: string };
      expect(pinned.imageRequest).toBe("resolve:ssm:/ops-rig/light/ami-id:1");
    } finally {
      client.destroy();
    }
  });

  it("launch refuses an ops-rig group someone opened to the internet, saying so; --repair-group fixes it", async () => {
    const client = ec2(EU);
    try {
      // The no-inbound group an earlier launch made (or one made by hand with that name).
      const vpc = (
        await client.send(new DescribeVpcsCommand({ Filters: [{ Name: "is-default", Values: ["true"] }] }))
      ).Vpcs?.[0]?.VpcId;
      const found = (
        await client.send(
          new DescribeSecurityGroupsCommand({
            Filters: [
              { Name: "group-name", Values: ["ops-rig-no-inbound"] },
              { Name: "vpc-id", Values: [vpc ?? ""] },
            ],
          }),
        )
      ).SecurityGroups?.[0]?.GroupId;
      const groupId =
        found ??
        (
          await client.send(
            new CreateSecurityGroupCommand({
              GroupName: "ops-rig-no-inbound",
              Description: "by hand",
              VpcId: vpc,
            }),
          )
        ).GroupId;
      await client.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: groupId,
          IpPermissions: [
            { IpProtocol: "tcp", FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: "0.0.0.0/0" }] },
          ],
        }),
      );
      aws.resetCalls();
      const refused = await cli("--region", EU, "launch", "--toolset", "light");
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(
        `security group ${groupId} in eu-west-1 is not what ops-rig expects: `,
      );
      expect(refused.stderr).toContain("it allows tcp 22 from 0.0.0.0/0");
      expect(aws.calls().filter((c) => c.mutating)).toEqual([]);
      const repaired = await cli("--json", "--region", EU, "launch", "--toolset", "light", "--repair-group");
      expect(repaired.code, repaired.stderr).toBe(0);
      expect(JSON.parse(repaired.stdout)).toMatchObject({
        securityGroup: groupId,
        securityGroupStatus: "repaired",
      });
      const group = (await client.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId ?? ""] })))
        .SecurityGroups?.[0];
      expect(group?.IpPermissions ?? []).toEqual([]);
      expect(group?.Tags).toContainEqual({ Key: "ops-rig:ssh-cidrs", Value: "none" });
    } finally {
      client.destroy();
    }
  });

  it("launch --stock: the stock base image with the light cloud-init user data", async () => {
    const result = await cli(
      "--json",
      "--region",
      "ap-southeast-2",
      "launch",
      "--toolset",
      "light",
      "--base",
      "debian-12",
      "--arch",
      "amd64",
      "--stock",
    );
    expect(result.code, result.stderr).toBe(0);
    const launched = JSON.parse(result.stdout) as { instanceId: string; resolvesTo: string };
    const client = ec2("ap-southeast-2");
    try {
      const seeded = (await aws.bases.list("ap-southeast-2")).filter(
        (b) => b.base === "debian-12" && b.arch === "amd64" && !b.deprecated,
      );
      expect(launched.resolvesTo).toBe(
        seeded.sort((a, b) => b.creationDate.localeCompare(a.creationDate))[0]?.imageId,
      );
      const attribute = await client.send(
        new DescribeInstanceAttributeCommand({ InstanceId: launched.instanceId, Attribute: "userData" }),
      );
      const userData = Buffer.from(attribute.UserData?.Value ?? "", "base64").toString();
      expect(userData.startsWith("#cloud-config\n")).toBe(true);
      expect(userData).toContain("/usr/local/sbin/ops-rig-bootstrap");
    } finally {
      client.destroy();
    }
  });

  it("launch refuses bad input before touching AWS", async () => {
    aws.resetCalls();
    const base = ["--region", EU, "launch", "--toolset", "light"];
    expect(await cli(...base, "--ssh-cidr", "0.0.0.0/0")).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--ssh-cidr: 0.0.0.0/0 opens SSH to the whole internet"),
    });
    expect(await cli(...base, "--ssh-cidr", "10.0.0.1/33")).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--ssh-cidr: "10.0.0.1/33" is not a CIDR block'),
    });
    expect(await cli(...base, "--ssh-cidr", "10.0.0.1/8")).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("host bits set (did you mean 10.0.0.0/8?)"),
    });
    expect(await cli("--region", EU, "launch", "--toolset", "medium")).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--toolset: unknown toolset "medium"'),
    });
    expect(await cli(...base, "--base", "centos-7")).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--base: unknown base "centos-7"'),
    });
    expect(await cli("--region", "eu-west-9x", "launch", "--toolset", "light")).toMatchObject({ code: 2 });
    expect(await cli("launch", "--toolset", "light")).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--region: launch needs exactly one region"),
    });
    expect(aws.calls().filter((c) => c.mutating)).toEqual([]);
    // A parameter that does not exist: no heavy image was baked.
    expect(await cli("--region", EU, "launch", "--toolset", "heavy")).toMatchObject({
      code: 2,
      stderr: expect.stringContaining(
        "parameter /ops-rig/heavy/ami-id does not exist in eu-west-1: no baked heavy image there yet (use --stock",
      ),
    });
    expect(aws.calls().filter((c) => c.action === "RunInstances")).toEqual([]);
  });

  it("rollback: points the parameters back at the previous AMI, which must be available; the bad one is withdrawn", async () => {
    await aws.bases.publishNewer("ubuntu-24.04", "amd64");
    expect((await cli("bake", "--toolset", "light", "--wait", "--poll", "0.2")).code).toBe(0);
    const before = await readRegion(aws, EU);
    const bad = before.parameters.get("/ops-rig/light/ami-id")?.value;
    const badAp = (await readRegion(aws, AP)).parameters.get("/ops-rig/light/ami-id")?.value;
    // PutParameter failing in one region: that region is named, keeps its AMI, and nothing there is withdrawn.
    aws.faults.fail({
      service: "ssm",
      action: "PutParameter",
      region: AP,
      error: { code: "InternalServerError", message: "SSM is having a bad day", status: 500 },
    });
    const partial = await cli("--regions", `${EU},${AP}`, "rollback", "--toolset", "light");
    aws.faults.clear();
    expect(partial.code).toBe(1);
    expect(partial.stderr).toMatch(
      /rollback failed: ap-southeast-2: ssm:PutParameter in ap-southeast-2 failed .*run it again to finish/,
    );
    const apPartial = await readRegion(aws, AP);
    expect(apPartial.parameters.get("/ops-rig/light/ami-id")?.value).toBe(badAp);
    expect(apPartial.amis.find((a) => a.imageId === badAp)?.tags[TAG.withdrawn]).toBeUndefined();
    // The re-run finishes AP and leaves EU as the first run left it.
    const result = await cli("--regions", `${EU},${AP}`, "rollback", "--toolset", "light");
    expect(result.code, result.stderr + result.stdout).toBe(0);
    const ap = await readRegion(aws, AP);
    const apValue = ap.parameters.get("/ops-rig/light/ami-id")?.value;
    expect(apValue).not.toBe(badAp);
    expect(ap.amis.find((a) => a.imageId === apValue)?.state).toBe("available");
    expect(ap.amis.find((a) => a.imageId === badAp)?.tags[TAG.withdrawn]).toMatch(/ by arn:aws:/);
    const after = await readRegion(aws, EU);
    const history = await parameterHistory(aws, EU, "/ops-rig/light/ubuntu-24.04/amd64/ami-id");
    expect(history.map((h) => h.version)).toEqual([1, 2, 3]);
    expect(after.parameters.get("/ops-rig/light/ubuntu-24.04/amd64/ami-id")?.value).toBe(history[0]?.value);
    expect(after.parameters.get("/ops-rig/light/ami-id")?.value).toBe(history[0]?.value);
    expect(history[2]?.labels.some((l) => l.startsWith("rollback-"))).toBe(true);
    expect(after.amis.find((a) => a.imageId === bad)?.tags[TAG.withdrawn]).toMatch(/ by arn:aws:/);
    // The pipeline leaves the rollback alone.
    const plan = JSON.parse((await cli("--json", "--region", EU, "plan", "--toolset", "light")).stdout) as {
      actions: { kind: string; region?: string }[];
      lines: { region: string; state: string }[];
    };
    expect(plan.actions.filter((a) => a.kind === "publish" && a.region === EU)).toEqual([]);
    expect(plan.lines.some((l) => l.region === EU && l.state === "withdrawn")).toBe(true);
    expect(await cli("--region", EU, "rollback", "--toolset", "light", "--to", "99")).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("has no version 99"),
    });
    expect(await cli("--region", EU, "rollback", "--toolset", "heavy")).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("/ops-rig/heavy/ubuntu-24.04/amd64/ami-id does not exist in eu-west-1"),
    });
  }, 60_000);

  it("prune: retention on demand, with the pipeline's rules (deprecate, then deregister)", async () => {
    // Builds minutes apart, as real ones always are: names carry the build time to the second.
    for (let generation = 0; generation < 2; generation++) {
      await clock.sleep(60_000);
      await aws.bases.publishNewer("debian-13", "arm64");
      expect((await cli("bake", "--toolset", "light", "--wait", "--poll", "0.2")).code).toBe(0);
    }
    // Three generations of light/debian-13/arm64; keep 2 — and nothing is older than the grace period yet.
    expect((await cli("prune", "--keep", "2", "--dry-run")).stdout).toMatch(/Nothing to prune\./);
    const later = { ...env, OPS_RIG_NOW: new Date(Date.now() + 4 * 86_400_000).toISOString() };
    const dry = await runCli(["--region", "ap-southeast-2", "prune", "--keep", "2", "--dry-run"], later);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(
      /deprecate\s+light\/debian-13\/arm64\s+ap-southeast-2\s+ami-[0-9a-f]+\s+planned/,
    );
    expect(dry.stdout).toContain("Dry run: nothing was changed.");
    const pruned = await runCli(["--region", "ap-southeast-2", "prune", "--keep", "2"], later);
    expect(pruned.code, pruned.stderr).toBe(0);
    const deprecatedId = /deprecate\s+light\/debian-13\/arm64\s+ap-southeast-2\s+(ami-[0-9a-f]+)\s+done/.exec(
      pruned.stdout,
    )?.[1];
    expect(deprecatedId).toBeDefined();
    const evenLater = {
      ...env,
      OPS_RIG_NOW: new Date(Date.now() + 4 * 86_400_000 + 5 * 60_000).toISOString(),
    };
    const second = await runCli(["--region", "ap-southeast-2", "prune", "--keep", "2"], evenLater);
    expect(second.stdout).toMatch(
      new RegExp(`deregister\\s+light/debian-13/arm64\\s+ap-southeast-2\\s+${deprecatedId}\\s+done`),
    );
    const client = ec2("ap-southeast-2");
    try {
      const images = await client.send(
        new DescribeImagesCommand({
          Owners: ["self"],
          Filters: [
            { Name: "tag:ops-rig:base", Values: ["debian-13"] },
            { Name: "tag:ops-rig:arch", Values: ["arm64"] },
            { Name: "tag:ops-rig:toolset", Values: ["light"] },
          ],
        }),
      );
      expect(images.Images?.map((i) => i.ImageId)).not.toContain(deprecatedId);
      expect(images.Images).toHaveLength(2);
    } finally {
      client.destroy();
    }
    expect(await cli("prune", "--keep", "1")).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--keep:"),
    });
  }, 90_000);

  it("bake --remote refuses --wait (the deployed pipeline continues on its own)", async () => {
    expect(await cli("bake", "--remote", "--wait")).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--wait: the deployed pipeline continues by itself"),
    });
  });

  it("bake --remote names the function it could not invoke", async () => {
    const result = await cli("bake", "--remote", "--function", "ops-rig-missing");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/lambda:Invoke in us-east-1 failed .*ops-rig-missing|ResourceNotFound/);
  });
});
