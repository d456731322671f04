import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createApiClient } from "../../src/aws/api-client.js";
import type { CommandAws } from "../../src/cli/context.js";
import { FakeAws } from "../fakes/fake-aws.js";
import { FakeTemplates } from "../fakes/fake-templates.js";
import { runCli } from "../helpers/project.js";

const REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"];
const EU = "eu-west-1";

function fake(): { aws: FakeAws; io: { aws: CommandAws } } {
  const aws = new FakeAws({ regions: REGIONS, homeRegion: "us-east-1", seedBases: true });
  aws.createTopic("ops-rig-notifications");
  const templates = new FakeTemplates();
  return {
    aws,
    io: {
      aws: {
        ports: () => aws.ports,
        launch: () => aws.launch,
        lambda: () => aws.lambda,
        templates: () => templates,
        api: (url, region) =>
          createApiClient({
            url,
            ...(region ? { region } : {}),
            credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
          }),
      },
    },
  };
}

/** Runs the CLI against a fresh in-memory AWS; returns the result and the AWS to inspect. */
async function cli(...args: string[]) {
  const { aws, io } = fake();
  const result = await runCli(args, {}, io);
  return { ...result, aws };
}

const launch = [
  "--region",
  EU,
  "launch",
  "--toolset",
  "light",
  "--stock",
  "--base",
  "debian-12",
  "--arch",
  "amd64",
];

describe("the command line refuses bad input: exit 2, the flag named, nothing changed in AWS", () => {
  const cases: [string, string[], RegExp][] = [
    ["--regions ''", ["--regions", "", "status"], /^ops-rig: --regions: empty region name in ""/],
    ["--region ''", ["--region", "", "status"], /^ops-rig: --region: empty region name/],
    [
      "--regions 'eu-west-1,,us-east-1'",
      ["--regions", "eu-west-1,,us-east-1", "plan"],
      /--regions: empty region name/,
    ],
    ["--ssh-cidr ' '", [...launch, "--ssh-cidr", " "], /^ops-rig: --ssh-cidr: empty range in " "/],
    [
      "--ssh-cidr 0.0.0.0/1 without --allow-anywhere",
      [...launch, "--ssh-cidr", "0.0.0.0/1"],
      /--ssh-cidr: 0\.0\.0\.0\/1 opens SSH to 2\^31 addresses, a large part of the internet .* --allow-anywhere/,
    ],
    [
      "--ssh-cidr ::/0",
      [...launch, "--ssh-cidr", "::/0"],
      /--ssh-cidr: ::\/0 opens SSH to the whole internet/,
    ],
    [
      "IPv6 host bits",
      [...launch, "--ssh-cidr", "2001:db8::1/48"],
      /--ssh-cidr: "2001:db8::1\/48" has host bits set \(did you mean 2001:db8::\/48\?\)/,
    ],
    [
      "--ssh-cidr 10.8.0.0/016",
      [...launch, "--ssh-cidr", "10.8.0.0/016"],
      /--ssh-cidr: "10\.8\.0\.0\/016" is not a CIDR block .*no leading zeros: 10\.8\.0\.0\/16/,
    ],
    [
      "--ssh-cidr 010.8.0.0/16",
      [...launch, "--ssh-cidr", "010.8.0.0/16"],
      /--ssh-cidr: "010\.8\.0\.0\/16" is not a CIDR/,
    ],
    ["--case ''", [...launch, "--case", ""], /^ops-rig: --case: the case id is empty/],
    ["--case '  '", [...launch, "--case", "  "], /--case: the case id is empty/],
    [
      "--case over the tag limit",
      [...launch, "--case", "é".repeat(257)],
      /--case: the case id has 257 characters; EC2 tag values hold at most 256/,
    ],
    [
      "--case with a character tags refuse",
      [...launch, "--case", "IR;42"],
      /--case: "IR;42" has characters EC2 tags do not allow \(";"\)/,
    ],
    [
      "--instance-type 'm7i.large; rm -rf /'",
      [...launch, "--instance-type", "m7i.large; rm -rf /"],
      /^ops-rig: --instance-type: "m7i\.large; rm -rf \/" is not an EC2 instance type/,
    ],
    ["--subnet", [...launch, "--subnet", "vpc-123"], /--subnet: "vpc-123" is not a subnet id/],
    [
      "--instance-profile",
      [...launch, "--instance-profile", "a b"],
      /--instance-profile: "a b" is not an instance profile name/,
    ],
    ["--keep", ["prune", "--keep", "2x"], /--keep: "2x" is not a whole number/],
    ["--poll", ["bake", "--wait", "--poll", "1e3"], /--poll: "1e3" is not a positive number/],
    ["render --out ''", ["render", "--out", ""], /^ops-rig: --out: the folder name is empty/],
    ["render --out /proc/x", ["render", "--out", "/proc/x"], /^ops-rig: --out: cannot create \/proc\/x/],
    [
      "render --out a file's folder",
      ["render", "--out", "/etc/hostname/sub"],
      /^ops-rig: --out: \/etc\/hostname exists and is not a folder/,
    ],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const result = await cli(...args);
      expect(result.stderr).toMatch(message);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.aws.calls()).toEqual([]);
    });
  }
});

describe("the command line against the in-memory AWS", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it("--case takes letters of any script EC2 tags allow, and tags the rig with it", async () => {
    const caseId = "Vorfall Müller 事件-42 Δ/ø:1=+@_.";
    const result = await cli("--json", ...launch, "--case", caseId, "--ssh-cidr", "2001:DB8::/32");
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const [instance] = result.aws.instances;
    expect(instance?.input.tags["ops-rig:case"]).toBe(caseId);
    expect(instance?.input.tags.Name).toBe(`ops-rig-light-${caseId}`);
    // The range as EC2 stores it: lower case, compressed.
    expect(result.aws.securityGroups(EU)[0]?.ingress).toEqual([
      { protocol: "tcp", fromPort: 22, toPort: 22, source: "2001:db8::/32" },
    ]);
  });

  it("wide private ranges are fine without --allow-anywhere; public ones need it", async () => {
    expect((await cli(...launch, "--ssh-cidr", "10.0.0.0/8")).code).toBe(0);
    expect((await cli(...launch, "--ssh-cidr", "fd00::/8")).code).toBe(0);
    const anywhere = await cli(...launch, "--ssh-cidr", "0.0.0.0/1", "--allow-anywhere");
    expect(anywhere.code).toBe(0);
    expect(anywhere.aws.securityGroups(EU)[0]?.ingress.map((r) => r.source)).toEqual(["0.0.0.0/1"]);
  });

  it("a group that differs is refused with what differs (exit 2); --repair-group fixes it", async () => {
    const { aws, io } = fake();
    aws.addSecurityGroup(EU, {
      name: "ops-rig-no-inbound",
      ingress: [{ protocol: "tcp", fromPort: 22, toPort: 22, source: "0.0.0.0/0" }],
    });
    const refused = await runCli(launch, {}, io);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/is not what ops-rig expects: .*it allows tcp 22 from 0\.0\.0\.0\/0/);
    expect(aws.instances).toEqual([]);
    const repaired = await runCli([...launch, "--repair-group"], {}, io);
    expect(repaired.code).toBe(0);
    expect(repaired.stdout).toMatch(
      /access: +no inbound; SSM session only \(ops-rig-no-inbound sg-\S+, repaired\)/,
    );
    expect(repaired.stdout).toMatch(/group: +revoked tcp 22 from 0\.0\.0\.0\/0/);
  });

  it("render --out writes into a new nested folder", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ops-rig-render-"));
    dirs.push(dir);
    await writeFile(join(dir, "keep.txt"), "mine");
    const result = await cli("render", "--toolset", "light", "--out", join(dir, "a", "b"));
    expect(result.code).toBe(0);
    expect((await readdir(join(dir, "a", "b"))).sort()).toEqual([
      "cloud-init",
      "components",
      "manifest.json",
      "recipes",
    ]);
  });

  it("bake: exit 3 when only the notification failed, and the report says so", async () => {
    const { aws, io } = fake();
    aws.fail({ operation: "Publish", code: "AuthorizationError", message: "not allowed to publish" });
    const result = await runCli(["bake", "--toolset", "light"], {}, io);
    expect(result.stdout).toMatch(/^ops-rig manual: \d+ builds started/);
    expect(result.stdout).toContain(
      "Notification failed: sns:Publish in us-east-1 failed (AuthorizationError)",
    );
    expect(result.stderr).toContain(
      "ops-rig: the run's work is done, but its notification could not be sent",
    );
    expect(result.code).toBe(3);
  });

  it("bake --remote: a refused request is a usage error; an unknown toolset is refused before invoking", async () => {
    const { aws, io } = fake();
    aws.functions.set("ops-rig-pipeline", async () => ({
      outcome: "refused",
      code: "USAGE",
      message: "toolsets: bad",
    }));
    const refused = await runCli(["bake", "--remote"], {}, io);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("ops-rig-pipeline refused the request: toolsets: bad");
    const unknown = await runCli(["bake", "--remote", "--toolset", "medium"], {}, io);
    expect(unknown.code).toBe(2);
    expect(aws.calls().filter((c) => c.operation === "Invoke")).toHaveLength(1);
  });

  it("rollback of a line never published: exit 2 naming the parameter", async () => {
    const result = await cli("--region", EU, "rollback", "--toolset", "heavy");
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("/ops-rig/heavy/ubuntu-24.04/amd64/ami-id does not exist in eu-west-1");
  });
});
