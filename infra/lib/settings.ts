import type { Arch, Base } from "../../src/config/bases.js";
import { loadProject } from "../../src/config/load.js";
import { REGION_PATTERN } from "../../src/config/schema.js";
import type { PipelineSettings, ShareSettings } from "../../src/config/types.js";
import { ConfigError, type Problem } from "../../src/errors.js";
import { renderProject } from "../../src/render/index.js";
import { BREAK_GLASS_PATH } from "./names.js";

/**
 * What a team sets when it deploys ops-rig: CDK context (`cdk.json` or `-c key=value`), with
 * defaults from the same `recipes/pipeline.yaml` the CLI and the Lambda read. Nothing here calls
 * AWS: `cdk synth` must work with no account and no credentials.
 */
export interface DeploySettings {
  /** 12-digit account, or undefined for an account-agnostic template (the CLI's current account). */
  readonly account: string | undefined;
  /** Where the stack, the Lambda and Image Builder live. */
  readonly homeRegion: string;
  /** Where copies and parameters go (the Lambda's `OPS_RIG_TARGET_REGIONS`). */
  readonly targetRegions: readonly string[];
  /** Home region first, then the target regions: every region any role here may act in. */
  readonly regions: readonly string[];
  /** Responders' VPN ranges: the only sources SSH may come from. */
  readonly responderCidrs: readonly string[];
  readonly notificationEmail: string | undefined;
  /** EventBridge Scheduler expression of the nightly run, e.g. `cron(0 2 * * ? *)`. */
  readonly nightlySchedule: string;
  /** IANA time zone the nightly cron is read in. */
  readonly nightlyTimeZone: string;
  /** Minutes between ticks that continue work in flight. */
  readonly tickMinutes: number;
  /** An existing VPC and subnet for builds; when absent the stack creates a small build VPC. */
  readonly buildNetwork: { readonly vpcId: string; readonly subnetId: string } | undefined;
  /** CIDR of the build VPC the stack creates (ignored with `buildVpcId`). */
  readonly buildVpcCidr: string;
  /** Days build logs (S3) are kept. */
  readonly buildLogDays: number;
  /** Days the Lambda's CloudWatch log group keeps events (one of CloudWatch's allowed values). */
  readonly lambdaLogDays: number;
  /** Days evidence stays locked (S3 Object Lock, COMPLIANCE mode: nobody, root included, can shorten it). */
  readonly evidenceLockDays: number;
  /**
   * SSO (or other federated) roles whose sessions count as human responders without an MFA flag (the
   * identity provider enforces MFA). IAM users and roles of the account need MFA instead.
   */
  readonly responderPrincipalArns: readonly string[];
  /** VPCs, by region, that get the ops-rig SSH-route and quarantine security groups. */
  readonly responderVpcs: Readonly<Record<string, readonly string[]>>;
  /** From the recipes: the toolset names, whose parameter subtrees are the only ones the pipeline writes. */
  readonly toolsets: readonly string[];
  /** From the recipes: each toolset's default line, what its regional launch template launches. */
  readonly rigs: readonly RigLine[];
  /** From pipeline.yaml: the SSM prefix the Lambda publishes under. */
  readonly parameterPrefix: string;
  /** From pipeline.yaml: customer KMS keys for AMI copies, by region. */
  readonly copyKmsKeys: Readonly<Record<string, string>>;
  /** Member-account responder roles through a StackSet; undefined when no organization is configured. */
  readonly organization: OrganizationSettings | undefined;
  /** From pipeline.yaml: who the images and parameters are shared with (absent: nobody). */
  readonly share?: ShareSettings;
}

/** Where the member-account responder roles go, and where they may act. */
export interface OrganizationSettings {
  /** `o-...`: member roles trust, and evidence admits, principals of this organization only. */
  readonly id: string;
  /** `r-...` (the root) or `ou-...`: accounts in these (now and later) get the member roles. */
  readonly units: readonly string[];
  /** Regions the member roles may act in: a subset of the deployment's regions (evidence stays in-region). */
  readonly regions: readonly string[];
}

/** A toolset's default line as its launch template launches it. */
export interface RigLine {
  readonly toolset: string;
  readonly base: Base;
  readonly arch: Arch;
  readonly instanceType: string;
  readonly rootVolumeGiB: number;
}

export type ContextReader = (key: string) => unknown;

/** Every context key a team may set, with what it means: the README and the errors quote these. */
export const CONTEXT_KEYS = {
  account: "AWS account id to deploy to (default: the CLI's account, CDK_DEFAULT_ACCOUNT)",
  homeRegion:
    "region the stack, the Lambda and Image Builder run in (default: homeRegion of recipes/pipeline.yaml)",
  targetRegions:
    "regions AMIs are copied to and published in (default: targetRegions of recipes/pipeline.yaml)",
  responderCidrs: "responders' VPN CIDRs, the only SSH sources (default: none, so no SSH until set)",
  notificationEmail: "e-mail subscribed to the responders' topic (default: none)",
  nightlySchedule: "nightly run as a Scheduler expression (default: cron(0 2 * * ? *))",
  nightlyTimeZone: "IANA time zone of the nightly cron (default: UTC)",
  tickMinutes: "minutes between ticks that continue work in flight (default: 15)",
  buildVpcId: "existing VPC for builds, with buildSubnetId (default: the stack creates a small build VPC)",
  buildSubnetId: "subnet in buildVpcId with a route to the internet (NAT or public)",
  buildVpcCidr: "CIDR of the build VPC the stack creates (default: 10.213.0.0/24)",
  buildLogDays: "days build logs are kept in S3 (default: 30)",
  lambdaLogDays: "days the Lambda's log group keeps events (default: 90)",
  evidenceLockDays:
    "days evidence is locked in COMPLIANCE mode: nobody, root included, can delete it sooner (default: 90, at most 3650)",
  responderPrincipalArns:
    "SSO role ARNs whose sessions count as human responders without an MFA flag (default: none; IAM users and roles need MFA)",
  responderVpcs:
    'VPCs per region that get the ops-rig SSH-route and quarantine groups, as JSON: {"eu-west-1": ["vpc-0123..."]} (default: none)',
  organizationId:
    "AWS Organizations id (o-...): deploy the member-account responder roles with a service-managed StackSet (default: none, no member roles); needs account",
  memberOrganizationalUnits:
    "OU ids (ou-...) or the root (r-...) whose accounts, present and future, get the member roles (required with organizationId)",
  memberRegions:
    "regions the member roles may act in, a subset of the home and target regions: evidence goes to the security account's bucket in the same region (default: all of them)",
} as const;

export type ContextKey = keyof typeof CONTEXT_KEYS;

export const DEFAULTS = {
  nightlySchedule: "cron(0 2 * * ? *)",
  nightlyTimeZone: "UTC",
  tickMinutes: 15,
  buildVpcCidr: "10.213.0.0/24",
  buildLogDays: 30,
  lambdaLogDays: 90,
  evidenceLockDays: 90,
} as const;

/** CloudWatch Logs accepts only these retention values. */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

const CONTEXT_FILE = "cdk context";

/**
 * Reads and checks every context value; collects every problem before throwing, so a team fixes its
 * cdk.json in one pass. `pipeline` supplies the defaults (regions, parameter prefix, KMS keys).
 */
export function readSettings(
  read: ContextReader,
  pipeline: PipelineSettings,
  env: Readonly<Record<string, string | undefined>> = {},
): DeploySettings {
  const problems: Problem[] = [];
  const fail = (key: ContextKey, message: string) =>
    problems.push({ file: CONTEXT_FILE, path: key, message });

  const text = (key: ContextKey): string | undefined => {
    const value = read(key);
    if (value === undefined || value === null || value === "") return undefined;
    if (typeof value !== "string") {
      fail(key, `expected a string, got ${JSON.stringify(value)}`);
      return undefined;
    }
    return value.trim();
  };
  // `-c key=a,b` arrives as a string, cdk.json may hold a JSON array: accept both.
  const list = (key: ContextKey): string[] | undefined => {
    const value = read(key);
    if (value === undefined || value === null) return undefined;
    if (Array.isArray(value)) {
      if (value.every((v) => typeof v === "string")) return value.map((v) => v.trim()).filter(Boolean);
      fail(key, `expected a list of strings, got ${JSON.stringify(value)}`);
      return undefined;
    }
    if (typeof value === "string") {
      const trimmed = value.trim();
      if (trimmed.startsWith("[")) {
        try {
          const parsed: unknown = JSON.parse(trimmed);
          if (Array.isArray(parsed) && parsed.every((v) => typeof v === "string")) return parsed;
        } catch {
          // reported below
        }
        fail(key, `expected a JSON list of strings, got ${trimmed}`);
        return undefined;
      }
      return trimmed
        .split(",")
        .map((v) => v.trim())
        .filter(Boolean);
    }
    fail(key, `expected a list of strings, got ${JSON.stringify(value)}`);
    return undefined;
  };
  const integer = (key: ContextKey, fallback: number, min: number, max: number): number => {
    const value = read(key);
    if (value === undefined || value === null || value === "") return fallback;
    const n =
      typeof value === "number" ? value : typeof value === "string" ? Number(value.trim()) : Number.NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      fail(key, `expected a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
      return fallback;
    }
    return n;
  };

  const account = text("account") ?? env.CDK_DEFAULT_ACCOUNT;
  if (account !== undefined && !/^\d{12}$/.test(account))
    fail("account", `not a 12-digit AWS account id: "${account}"`);

  const homeRegion = text("homeRegion") ?? pipeline.homeRegion;
  if (!REGION_PATTERN.test(homeRegion)) fail("homeRegion", `not an AWS region name: "${homeRegion}"`);
  const targetRegions = list("targetRegions") ?? [...pipeline.targetRegions];
  if (targetRegions.length === 0) fail("targetRegions", "list at least one region");
  for (const region of targetRegions) {
    if (!REGION_PATTERN.test(region)) fail("targetRegions", `not an AWS region name: "${region}"`);
  }
  if (new Set(targetRegions).size !== targetRegions.length) fail("targetRegions", "lists a region twice");
  const partitions = new Set([homeRegion, ...targetRegions].map(partitionOf));
  if (partitions.size > 1) fail("targetRegions", "home and target regions must be in one AWS partition");

  const responderCidrs = list("responderCidrs") ?? [];
  for (const cidr of responderCidrs) {
    const problem = cidrProblem(cidr);
    if (problem) fail("responderCidrs", `"${cidr}": ${problem}`);
  }
  if (new Set(responderCidrs).size !== responderCidrs.length) fail("responderCidrs", "lists a CIDR twice");

  const notificationEmail = text("notificationEmail");
  if (notificationEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(notificationEmail)) {
    fail("notificationEmail", `not an e-mail address: "${notificationEmail}"`);
  }

  const nightlySchedule = text("nightlySchedule") ?? DEFAULTS.nightlySchedule;
  const scheduleProblem = scheduleExpressionProblem(nightlySchedule);
  if (scheduleProblem) fail("nightlySchedule", scheduleProblem);
  const nightlyTimeZone = text("nightlyTimeZone") ?? DEFAULTS.nightlyTimeZone;
  if (!isTimeZone(nightlyTimeZone)) {
    fail("nightlyTimeZone", `not an IANA time zone (e.g. Europe/Berlin, UTC): "${nightlyTimeZone}"`);
  }
  const tickMinutes = integer("tickMinutes", DEFAULTS.tickMinutes, 5, 60);

  const vpcId = text("buildVpcId");
  const subnetId = text("buildSubnetId");
  let buildNetwork: DeploySettings["buildNetwork"];
  if (vpcId !== undefined || subnetId !== undefined) {
    if (vpcId === undefined) fail("buildVpcId", "set buildVpcId together with buildSubnetId");
    else if (!/^vpc-[0-9a-f]{8,17}$/.test(vpcId)) fail("buildVpcId", `not a VPC id: "${vpcId}"`);
    // Image Builder picks the default VPC's subnet when none is given, and the build security group
    // would then belong to another VPC: an existing VPC needs its subnet named.
    if (subnetId === undefined) fail("buildSubnetId", "set buildSubnetId together with buildVpcId");
    else if (!/^subnet-[0-9a-f]{8,17}$/.test(subnetId))
      fail("buildSubnetId", `not a subnet id: "${subnetId}"`);
    if (vpcId !== undefined && subnetId !== undefined) buildNetwork = { vpcId, subnetId };
  }
  const buildVpcCidr = text("buildVpcCidr") ?? DEFAULTS.buildVpcCidr;
  {
    const problem = cidrProblem(buildVpcCidr);
    const prefix = Number(buildVpcCidr.split("/")[1]);
    if (problem || buildVpcCidr.includes(":"))
      fail("buildVpcCidr", `"${buildVpcCidr}": ${problem ?? "IPv4 only"}`);
    else if (prefix < 16 || prefix > 28) fail("buildVpcCidr", "VPC CIDRs must be /16 to /28");
  }

  const buildLogDays = integer("buildLogDays", DEFAULTS.buildLogDays, 1, 3650);
  const lambdaLogDays = integer("lambdaLogDays", DEFAULTS.lambdaLogDays, 1, 3653);
  if (!LOG_RETENTION_DAYS.includes(lambdaLogDays)) {
    fail("lambdaLogDays", `CloudWatch Logs accepts only ${LOG_RETENTION_DAYS.join(", ")}`);
  }
  // COMPLIANCE mode cannot be shortened or lifted: a typo of 36500 would lock evidence for a century.
  const evidenceLockDays = integer("evidenceLockDays", DEFAULTS.evidenceLockDays, 1, 3650);

  const responderPrincipalArns = list("responderPrincipalArns") ?? [];
  for (const arn of responderPrincipalArns) {
    if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(arn)) {
      fail("responderPrincipalArns", `not an IAM role ARN: "${arn}"`);
    }
  }

  const responderVpcs: Record<string, string[]> = {};
  const vpcsValue = read("responderVpcs");
  if (vpcsValue !== undefined && vpcsValue !== null && vpcsValue !== "") {
    let parsed: unknown = vpcsValue;
    if (typeof vpcsValue === "string") {
      try {
        parsed = JSON.parse(vpcsValue);
      } catch {
        parsed = undefined;
      }
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      fail("responderVpcs", `expected a JSON object of region to VPC ids, got ${JSON.stringify(vpcsValue)}`);
    } else {
      const regions = new Set([homeRegion, ...targetRegions]);
      for (const [region, ids] of Object.entries(parsed as Record<string, unknown>)) {
        if (!regions.has(region)) fail("responderVpcs", `"${region}" is not one of the configured regions`);
        const list = Array.isArray(ids) ? ids : [ids];
        for (const id of list) {
          if (typeof id !== "string" || !/^vpc-[0-9a-f]{8,17}$/.test(id))
            fail("responderVpcs", `${region}: not a VPC id: ${JSON.stringify(id)}`);
        }
        responderVpcs[region] = list.filter((id): id is string => typeof id === "string");
      }
    }
  }

  const organization = readOrganization({ text, list, fail }, account, [
    ...new Set([homeRegion, ...targetRegions]),
  ]);

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    account,
    homeRegion,
    targetRegions,
    regions: [...new Set([homeRegion, ...targetRegions])],
    responderCidrs,
    notificationEmail,
    nightlySchedule,
    nightlyTimeZone,
    tickMinutes,
    buildNetwork,
    buildVpcCidr,
    buildLogDays,
    lambdaLogDays,
    evidenceLockDays,
    responderPrincipalArns,
    responderVpcs,
    toolsets: [],
    rigs: [],
    parameterPrefix: pipeline.parameterPrefix,
    copyKmsKeys: pipeline.copy.kmsKeys,
    organization,
    ...(pipeline.share ? { share: pipeline.share } : {}),
  };
}

/** The organization keys: all or nothing beyond the id, each value checked by its shape. */
function readOrganization(
  read: {
    text: (key: ContextKey) => string | undefined;
    list: (key: ContextKey) => string[] | undefined;
    fail: (key: ContextKey, message: string) => void;
  },
  account: string | undefined,
  regions: readonly string[],
): OrganizationSettings | undefined {
  const { text, list, fail } = read;
  const id = text("organizationId");
  const units = list("memberOrganizationalUnits");
  const memberRegions = list("memberRegions");
  if (id === undefined) {
    if (units !== undefined) fail("memberOrganizationalUnits", "set organizationId too");
    if (memberRegions !== undefined) fail("memberRegions", "set organizationId too");
    return undefined;
  }
  if (!/^o-[a-z0-9]{10,32}$/.test(id)) fail("organizationId", `not an organization id (o-...): "${id}"`);
  // The member roles name the security account's principals: an account-agnostic template cannot.
  if (account === undefined)
    fail(
      "organizationId",
      "needs account (or CDK_DEFAULT_ACCOUNT): member roles trust that account's principals",
    );
  if (!units || units.length === 0)
    fail("memberOrganizationalUnits", "list at least one OU (ou-...) or the root (r-...)");
  for (const unit of units ?? []) {
    if (!/^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$/.test(unit))
      fail("memberOrganizationalUnits", `not an OU id (ou-...) or root id (r-...): "${unit}"`);
  }
  if (units && new Set(units).size !== units.length) fail("memberOrganizationalUnits", "lists an OU twice");
  const chosen = memberRegions ?? [...regions];
  if (chosen.length === 0) fail("memberRegions", "list at least one region");
  for (const region of chosen) {
    if (!regions.includes(region))
      fail(
        "memberRegions",
        `"${region}" is not one of the home and target regions (${regions.join(", ")}): evidence has no bucket there`,
      );
  }
  if (new Set(chosen).size !== chosen.length) fail("memberRegions", "lists a region twice");
  return { id, units: units ?? [], regions: chosen };
}

/**
 * Loads and renders the project the Lambda will ship (so a broken component fails `cdk synth`, not
 * the first nightly run), then reads the context against its pipeline settings.
 */
export async function loadSettings(
  projectRoot: string,
  read: ContextReader,
  env: Readonly<Record<string, string | undefined>> = {},
): Promise<DeploySettings> {
  const config = await loadProject(projectRoot);
  renderProject(config);
  const toolsets = config.toolsets.map((t) => t.name).sort();
  const reserved = toolsets.filter((name) => `/${name}` === BREAK_GLASS_PATH);
  if (reserved.length > 0) {
    throw new ConfigError([
      {
        file: "recipes",
        path: reserved[0] ?? "",
        message: `a toolset may not be named like the break-glass parameter folder (${BREAK_GLASS_PATH})`,
      },
    ]);
  }
  const rigs = config.toolsets
    .map((t): RigLine => {
      const { base, arch } = t.default;
      const instanceType = t.instanceTypes[arch]?.[0];
      if (!instanceType)
        throw new ConfigError([
          { file: t.file, path: "instanceTypes", message: `no instance type for ${arch}, the default arch` },
        ]);
      return { toolset: t.name, base, arch, instanceType, rootVolumeGiB: t.rootVolume.sizeGiB };
    })
    .sort((a, b) => a.toolset.localeCompare(b.toolset));
  return { ...readSettings(read, config.pipeline, env), toolsets, rigs };
}

export function partitionOf(region: string): string {
  if (region.startsWith("cn-")) return "aws-cn";
  if (region.startsWith("us-gov-")) return "aws-us-gov";
  if (region.startsWith("us-iso-")) return "aws-iso";
  if (region.startsWith("us-isob-")) return "aws-iso-b";
  return "aws";
}

function cidrProblem(cidr: string): string | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (v4) {
    const octets = v4.slice(1, 5).map(Number);
    const prefix = Number(v4[5]);
    if (octets.some((o) => o > 255) || prefix > 32) return "not an IPv4 CIDR";
    if (prefix === 0) return "0.0.0.0/0 is the whole internet, not a VPN range";
    const address = octets.reduce((acc, o) => acc * 256 + o, 0);
    if (address % 2 ** (32 - prefix) !== 0) return "host bits are set (write the network address)";
    return undefined;
  }
  const v6 = /^([0-9a-fA-F:]+)\/(\d{1,3})$/.exec(cidr);
  if (v6?.[1]?.includes(":")) {
    const prefix = Number(v6[2]);
    if (prefix > 128) return "not an IPv6 CIDR";
    if (prefix === 0) return "::/0 is the whole internet, not a VPN range";
    return undefined;
  }
  return "not a CIDR (e.g. 10.8.0.0/16)";
}

/** EventBridge Scheduler: `cron(min hour day-of-month month day-of-week year)` or `rate(n unit)`. */
function scheduleExpressionProblem(expression: string): string | undefined {
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (rate) return Number(rate[1]) > 0 ? undefined : "rate must be positive";
  const cron = /^cron\((.*)\)$/.exec(expression);
  if (!cron?.[1])
    return `expected cron(min hour day-of-month month day-of-week year) or rate(...), got "${expression}"`;
  const fields = cron[1].trim().split(/\s+/);
  if (fields.length !== 6)
    return `a Scheduler cron has 6 fields (min hour dom month dow year), got ${fields.length}`;
  const [, , dom, , dow] = fields;
  if ((dom === "?") === (dow === "?")) return "exactly one of day-of-month and day-of-week must be ?";
  return undefined;
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
