import { describe, expect, it } from "vitest";
import {
  CONTEXT_KEYS,
  DEFAULTS,
  type DeploySettings,
  loadSettings,
  readSettings,
} from "../../infra/lib/settings.js";
import { loadProject } from "../../src/config/load.js";
import { ConfigError, formatProblem } from "../../src/errors.js";
import { REPO_ROOT } from "./helpers.js";

const pipeline = (await loadProject(REPO_ROOT)).pipeline;
const read = (context: Record<string, unknown>) => (key: string) => context[key];
const settings = (context: Record<string, unknown>, env: Record<string, string> = {}): DeploySettings =>
  readSettings(read(context), pipeline, env);

function problems(context: Record<string, unknown>): string[] {
  try {
    settings(context);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map(formatProblem);
    throw error;
  }
  throw new Error("expected the context to be refused");
}

describe("deploy settings from CDK context", () => {
  it("default to recipes/pipeline.yaml and sensible values", () => {
    const s = settings({});
    expect(s).toMatchObject({
      account: undefined,
      homeRegion: pipeline.homeRegion,
      targetRegions: pipeline.targetRegions,
      responderCidrs: [],
      notificationEmail: undefined,
      nightlySchedule: DEFAULTS.nightlySchedule,
      nightlyTimeZone: "UTC",
      tickMinutes: 15,
      buildNetwork: undefined,
      parameterPrefix: "/ops-rig",
    });
    expect(s.regions[0]).toBe(pipeline.homeRegion);
  });

  it("take -c strings and cdk.json values alike", () => {
    const s = settings({
      account: "123456789012",
      homeRegion: "eu-central-1",
      targetRegions: "eu-central-1, eu-west-1",
      responderCidrs: '["10.8.0.0/16"]',
      tickMinutes: "5",
      notificationEmail: "sirt@example.com",
    });
    expect(s).toMatchObject({
      account: "123456789012",
      homeRegion: "eu-central-1",
      targetRegions: ["eu-central-1", "eu-west-1"],
      regions: ["eu-central-1", "eu-west-1"],
      responderCidrs: ["10.8.0.0/16"],
      tickMinutes: 5,
    });
    expect(settings({ targetRegions: ["eu-west-1"] }).regions).toEqual([pipeline.homeRegion, "eu-west-1"]);
  });

  it("take the account from CDK_DEFAULT_ACCOUNT when the context has none", () => {
    expect(settings({}, { CDK_DEFAULT_ACCOUNT: "210987654321" }).account).toBe("210987654321");
  });

  it("report every bad value at once, naming the context key", () => {
    expect(
      problems({
        account: "12345",
        homeRegion: "mars-1",
        targetRegions: ["eu-west-1", "eu-west-1"],
        responderCidrs: ["0.0.0.0/0", "10.8.0.1/16", "vpn"],
        notificationEmail: "sirt",
        nightlySchedule: "cron(0 2 * * *)",
        nightlyTimeZone: "Mars/Olympus",
        tickMinutes: 2,
        buildVpcId: "vpc-0123456789abcdef0",
        lambdaLogDays: 45,
        responderPrincipalArns: ["sirt"],
      }),
    ).toEqual([
      'cdk context: account: not a 12-digit AWS account id: "12345"',
      'cdk context: homeRegion: not an AWS region name: "mars-1"',
      "cdk context: targetRegions: lists a region twice",
      'cdk context: responderCidrs: "0.0.0.0/0": 0.0.0.0/0 is the whole internet, not a VPN range',
      'cdk context: responderCidrs: "10.8.0.1/16": host bits are set (write the network address)',
      'cdk context: responderCidrs: "vpn": not a CIDR (e.g. 10.8.0.0/16)',
      'cdk context: notificationEmail: not an e-mail address: "sirt"',
      "cdk context: nightlySchedule: a Scheduler cron has 6 fields (min hour dom month dow year), got 5",
      'cdk context: nightlyTimeZone: not an IANA time zone (e.g. Europe/Berlin, UTC): "Mars/Olympus"',
      "cdk context: tickMinutes: expected a whole number from 5 to 60, got 2",
      "cdk context: buildSubnetId: set buildSubnetId together with buildVpcId",
      expect.stringMatching(/^cdk context: lambdaLogDays: CloudWatch Logs accepts only 1, 3, 5/),
      'cdk context: responderPrincipalArns: not an IAM role ARN: "sirt"',
    ]);
  });

  it("refuse crons with both or neither day field as ?, regions across partitions, and lists that are not lists", () => {
    expect(problems({ nightlySchedule: "cron(0 2 * * * *)" })).toEqual([
      "cdk context: nightlySchedule: exactly one of day-of-month and day-of-week must be ?",
    ]);
    expect(problems({ targetRegions: ["cn-north-1"] })).toEqual([
      "cdk context: targetRegions: home and target regions must be in one AWS partition",
    ]);
    expect(problems({ responderCidrs: 42 })).toEqual([
      "cdk context: responderCidrs: expected a list of strings, got 42",
    ]);
    expect(settings({ nightlySchedule: "rate(1 day)" }).nightlySchedule).toBe("rate(1 day)");
  });

  it("read the organization: OUs and member regions, all regions by default", () => {
    const org = { account: "123456789012", organizationId: "o-a1b2c3d4e5" };
    expect(settings({ ...org, memberOrganizationalUnits: "ou-ab12-cdef3456, r-ab12" }).organization).toEqual({
      id: "o-a1b2c3d4e5",
      units: ["ou-ab12-cdef3456", "r-ab12"],
      regions: [pipeline.homeRegion, ...pipeline.targetRegions.filter((r) => r !== pipeline.homeRegion)],
    });
    expect(
      settings({ ...org, memberOrganizationalUnits: ["r-ab12"], memberRegions: ["eu-west-1"] }).organization
        ?.regions,
    ).toEqual(["eu-west-1"]);
    expect(settings({}).organization).toBeUndefined();
  });

  it("refuse bad organization values by key", () => {
    expect(
      problems({
        organizationId: "org-1",
        memberOrganizationalUnits: ["ou-1", "ou-ab12-cdef3456", "ou-ab12-cdef3456"],
        memberRegions: ["eu-west-1", "sa-east-1"],
      }),
    ).toEqual([
      'cdk context: organizationId: not an organization id (o-...): "org-1"',
      "cdk context: organizationId: needs account (or CDK_DEFAULT_ACCOUNT): member roles trust that account's principals",
      'cdk context: memberOrganizationalUnits: not an OU id (ou-...) or root id (r-...): "ou-1"',
      "cdk context: memberOrganizationalUnits: lists an OU twice",
      expect.stringMatching(
        /^cdk context: memberRegions: "sa-east-1" is not one of the home and target regions .*evidence has no bucket there$/,
      ),
    ]);
    expect(problems({ account: "123456789012", organizationId: "o-a1b2c3d4e5" })).toEqual([
      "cdk context: memberOrganizationalUnits: list at least one OU (ou-...) or the root (r-...)",
    ]);
    expect(problems({ memberOrganizationalUnits: ["r-ab12"], memberRegions: ["eu-west-1"] })).toEqual([
      "cdk context: memberOrganizationalUnits: set organizationId too",
      "cdk context: memberRegions: set organizationId too",
    ]);
  });

  it("documents every key it reads", () => {
    const seen = new Set<string>();
    readSettings((key) => {
      seen.add(key);
      return undefined;
    }, pipeline);
    expect([...seen].sort()).toEqual(Object.keys(CONTEXT_KEYS).sort());
  });

  it("fail synth on a broken project, naming the file", async () => {
    const { removeProject, shippedFiles, writeProject } = await import("../helpers/project.js");
    const files = await shippedFiles();
    files.set(
      "recipes/pipeline.yaml",
      (files.get("recipes/pipeline.yaml") ?? "").replace("homeRegion: us-east-1", "homeRegion: nowhere"),
    );
    const dir = await writeProject(files);
    try {
      await expect(loadSettings(dir, () => undefined)).rejects.toThrow(
        /recipes\/pipeline\.yaml.*homeRegion/s,
      );
    } finally {
      await removeProject(dir);
    }
  });
});
