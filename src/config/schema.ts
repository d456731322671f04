// A namespace import, not `{ z }`: esbuild can then keep only the members used (not all of zod).
import * as z from "zod";
import { ARCHES, BASES } from "./bases.js";
import { REGION_PATTERN, SLUG_PATTERN } from "./patterns.js";
import { closestRegion, partitionOf } from "./regions.js";

export { REGION_PATTERN, SLUG_PATTERN } from "./patterns.js";

const HOUR_MS = 3_600_000;
const DURATION_PATTERN = /^(\d+)(m|h|d|w)$/;
const DURATION_UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

export interface Duration {
  /** As written in the file, e.g. `7d`. */
  readonly text: string;
  readonly ms: number;
}

export const durationSchema = z
  .string()
  .regex(DURATION_PATTERN, { message: 'expected a duration like "30m", "6h", "1d" or "2w"' })
  .transform((text): Duration => {
    const match = DURATION_PATTERN.exec(text);
    const count = Number(match?.[1]);
    const unit = match?.[2] as keyof typeof DURATION_UNIT_MS;
    return { text, ms: count * DURATION_UNIT_MS[unit] };
  })
  .refine((d) => d.ms > 0, { message: "duration must be greater than zero" });

const baseSchema = z.enum(BASES, { message: `expected one of ${BASES.join(", ")}` });
const archSchema = z.enum(ARCHES, { message: `expected one of ${ARCHES.join(", ")}` });
const regionSchema = z.string().regex(REGION_PATTERN, { message: "not an AWS region name (e.g. eu-west-1)" });
const instanceTypeSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, { message: "not an EC2 instance type (e.g. m7i.large)" });

function uniqueList<T extends z.ZodType>(item: T, what: string) {
  return z
    .array(item)
    .min(1, { message: `list at least one ${what}` })
    .superRefine((list, ctx) => {
      const seen = new Set<unknown>();
      list.forEach((value, index) => {
        if (seen.has(value))
          ctx.addIssue({
            code: "custom",
            path: [index],
            message: `duplicate ${what} ${JSON.stringify(value)}`,
          });
        seen.add(value);
      });
    });
}

/** AWSTOE parameter values are strings; numbers and booleans in YAML are accepted and stringified. */
const parameterValueSchema = z
  .union([z.string(), z.number(), z.boolean()])
  .transform((value) => String(value));

export const componentRefSchema = z.strictObject({
  name: z
    .string()
    .regex(SLUG_PATTERN, { message: "component names are lower-case letters, digits and dashes" }),
  parameters: z.record(z.string(), parameterValueSchema).optional(),
  /** Only on these bases (every base of the toolset when absent). */
  bases: uniqueList(baseSchema, "base").optional(),
  /** Not on these lines, written `<base>/<arch>` (e.g. a tool a base offers on amd64 only). */
  except: z
    .array(
      z.string().regex(/^(ubuntu-24\.04|ubuntu-22\.04|debian-12|debian-13)\/(amd64|arm64)$/, {
        message: "a line is <base>/<arch>, e.g. ubuntu-24.04/arm64",
      }),
    )
    .optional(),
  /** `false`: baked images only, never part of the cloud-init bootstrap of a stock instance. */
  cloudInit: z.boolean().optional(),
  local: z
    .strictObject({
      runnable: z.literal(false, { message: "only `runnable: false` (with a reason) needs saying" }),
      reason: z.string().min(3, { message: "say why the component cannot run in a local root" }),
      bases: uniqueList(baseSchema, "base").optional(),
      /** Only these steps are not run locally; the whole component when absent. */
      steps: z
        .array(z.string().regex(/^[A-Za-z0-9_-]+$/, { message: "a step name of the component" }))
        .min(1)
        .optional(),
    })
    .optional(),
});

export const toolsetSchema = z
  .strictObject({
    description: z.string().min(1, { message: "describe the toolset" }),
    maxAge: durationSchema,
    bases: uniqueList(baseSchema, "base"),
    arches: uniqueList(archSchema, "arch"),
    default: z.strictObject({ base: baseSchema, arch: archSchema }),
    rootVolume: z.strictObject({
      sizeGiB: z
        .int()
        .min(8, { message: "at least 8 GiB" })
        .max(16_384, { message: "at most 16384 GiB (gp3)" }),
      iops: z.int().min(3000).max(16_000).optional(),
      throughput: z.int().min(125).max(1000).optional(),
    }),
    instanceTypes: z.strictObject({
      amd64: uniqueList(instanceTypeSchema, "instance type").optional(),
      arm64: uniqueList(instanceTypeSchema, "instance type").optional(),
    }),
    cloudInit: z.boolean().optional(),
    /** Legal values that are almost always a mistake, accepted only when said out loud. */
    confirm: z
      .strictObject({
        maxAgeUnderAnHour: z.literal(true, { message: "only `maxAgeUnderAnHour: true` confirms anything" }),
      })
      .optional(),
    components: z
      .array(componentRefSchema)
      .min(1, { message: "a toolset needs at least one component" })
      .max(20, { message: "Image Builder allows at most 20 components per recipe" }),
  })
  .superRefine((toolset, ctx) => {
    if (toolset.maxAge.ms < HOUR_MS && toolset.confirm?.maxAgeUnderAnHour !== true) {
      const unit = toolset.maxAge.text.endsWith("m") ? " (m means minutes: write 30d for a month)" : "";
      ctx.addIssue({
        code: "custom",
        path: ["maxAge"],
        message:
          `maxAge ${toolset.maxAge.text} is under an hour${unit}: every scheduled tick would rebuild every line. ` +
          "If that is what you want, add `confirm: {maxAgeUnderAnHour: true}` to the toolset",
      });
    }
    if (!toolset.bases.includes(toolset.default.base)) {
      ctx.addIssue({
        code: "custom",
        path: ["default", "base"],
        message: `"${toolset.default.base}" is not in bases`,
      });
    }
    if (!toolset.arches.includes(toolset.default.arch)) {
      ctx.addIssue({
        code: "custom",
        path: ["default", "arch"],
        message: `"${toolset.default.arch}" is not in arches`,
      });
    }
    for (const arch of toolset.arches) {
      if (!toolset.instanceTypes[arch]) {
        ctx.addIssue({
          code: "custom",
          path: ["instanceTypes"],
          message: `no instance types for arch "${arch}"`,
        });
      }
    }
    const seen = new Set<string>();
    toolset.components.forEach((component, index) => {
      if (seen.has(component.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["components", index, "name"],
          message: `component "${component.name}" is listed twice`,
        });
      }
      seen.add(component.name);
    });
  });

export type ToolsetInput = z.output<typeof toolsetSchema>;

const PARAMETER_PREFIX_PATTERN = /^(\/[a-zA-Z0-9_.-]+)+$/;

/** `arn:aws:organizations::<management-account>:organization/o-<10-32 chars>` (Organizations API reference). */
export const ORGANIZATION_ARN_PATTERN =
  /^arn:aws(-cn|-us-gov)?:organizations::(\d{12}):organization\/(o-[a-z0-9]{10,32})$/;
/** `arn:aws:organizations::<management-account>:ou/o-<id>/ou-<root 4-32>-<8-32>`. */
export const OU_ARN_PATTERN =
  /^arn:aws(-cn|-us-gov)?:organizations::(\d{12}):ou\/(o-[a-z0-9]{10,32})\/(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32})$/;

/** The AWS-managed EBS key: snapshots encrypted with it cannot be shared with another account. */
export function isAwsManagedEbsKey(key: string): boolean {
  return /^(arn:[^:]+:kms:[^:]+:\d{12}:)?alias\/aws\/ebs$/.test(key);
}

const shareSchema = z.strictObject({
  organization: z
    .string()
    .regex(ORGANIZATION_ARN_PATTERN, {
      message:
        "expected an organization ARN: arn:aws:organizations::<management-account>:organization/o-xxxxxxxxxx",
    })
    .optional(),
  organizationalUnits: uniqueList(
    z.string().regex(OU_ARN_PATTERN, {
      message:
        "expected an OU ARN: arn:aws:organizations::<management-account>:ou/o-xxxxxxxxxx/ou-xxxx-xxxxxxxx",
    }),
    "organizational unit",
  ).optional(),
  accounts: uniqueList(
    z.string().regex(/^\d{12}$/, { message: "an AWS account id is 12 digits (quote it in YAML)" }),
    "account",
  ).optional(),
});

const pipelineSchemaBase = z.strictObject({
  homeRegion: regionSchema,
  targetRegions: uniqueList(regionSchema, "region"),
  parameterPrefix: z
    .string()
    .regex(PARAMETER_PREFIX_PATTERN, {
      message: 'expected a path like "/ops-rig" (letters, digits, _ . -)',
    })
    .refine((prefix) => !/^\/(aws|ssm)/i.test(prefix), {
      message: 'parameter names may not start with "aws" or "ssm"',
    })
    // <prefix>/<toolset>/<base>/<arch>/ami-id must stay within SSM's 15 levels.
    .refine((prefix) => prefix.split("/").length - 1 <= 11, {
      message: "too deep: parameters allow 15 levels in all",
    }),
  retention: z.strictObject({
    keep: z.int().min(2, { message: "keep at least 2 (the published AMI and its rollback)" }).max(100),
    gracePeriod: durationSchema,
  }),
  notifications: z.strictObject({
    topic: z.string().min(1),
  }),
  build: z.strictObject({
    instanceProfileName: z
      .string()
      .regex(/^[\w+=,.@-]{1,128}$/, { message: "not an IAM instance profile name" }),
    notificationTopic: z.string().min(1),
    securityGroupIds: z
      .array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, { message: "not a security group id" }))
      .optional(),
    subnetId: z
      .string()
      .regex(/^subnet-[0-9a-f]{8,17}$/, { message: "not a subnet id" })
      .optional(),
    terminateInstanceOnFailure: z.boolean(),
    logsBucket: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { message: "not an S3 bucket name" })
      .optional(),
    failureBackoff: durationSchema,
  }),
  copy: z.strictObject({
    concurrencyPerRegion: z.int().min(1).max(50),
    kmsKeys: z.record(regionSchema, z.string().min(1)).optional(),
  }),
  /** Other accounts of the organization that may launch the images and read the parameters. */
  share: shareSchema.optional(),
  /** Regions newer than ops-rig's region list, used on purpose. */
  confirm: z
    .strictObject({
      unlistedRegions: uniqueList(regionSchema, "region"),
    })
    .optional(),
});

export const pipelineSchema = pipelineSchemaBase.superRefine((pipeline, ctx) => {
  checkRegions(pipeline, ctx);
  for (const region of Object.keys(pipeline.copy.kmsKeys ?? {})) {
    if (!pipeline.targetRegions.includes(region) && region !== pipeline.homeRegion) {
      ctx.addIssue({
        code: "custom",
        path: ["copy", "kmsKeys", region],
        message: `"${region}" is not a target region`,
      });
    }
  }
  checkShare(pipeline, ctx);
});

export type PipelineInput = z.output<typeof pipelineSchema>;

/**
 * Sharing needs somebody to share with, one organization, and AMIs the other accounts can decrypt:
 * the recipes always encrypt, and snapshots under the AWS-managed `aws/ebs` key cannot be shared
 * with another account at all (EC2 user guide: sharing an AMI with encrypted snapshots), so every
 * region needs a customer managed key in `copy.kmsKeys`.
 */
function checkShare(pipeline: z.output<typeof pipelineSchemaBase>, ctx: z.RefinementCtx): void {
  const share = pipeline.share;
  if (!share) return;
  const ous = share.organizationalUnits ?? [];
  if (!share.organization && ous.length === 0 && (share.accounts ?? []).length === 0) {
    ctx.addIssue({
      code: "custom",
      path: ["share"],
      message: "share with something: organization, organizationalUnits or accounts (or remove `share`)",
    });
    return;
  }
  const org = share.organization ? ORGANIZATION_ARN_PATTERN.exec(share.organization) : null;
  const first = org ?? (ous[0] ? OU_ARN_PATTERN.exec(ous[0]) : null);
  ous.forEach((ou, index) => {
    const match = OU_ARN_PATTERN.exec(ou);
    if (!match || !first) return;
    if (match[2] !== first[2] || match[3] !== first[3])
      ctx.addIssue({
        code: "custom",
        path: ["share", "organizationalUnits", index],
        message: `${match[4]} is in organization ${match[3]} (management account ${match[2]}), not ${first[3]} (${first[2]}): ops-rig shares within one organization`,
      });
  });
  const keys = pipeline.copy.kmsKeys ?? {};
  const regions = [...new Set([pipeline.homeRegion, ...pipeline.targetRegions])];
  const missing = regions.filter((region) => !keys[region]);
  if (missing.length > 0)
    ctx.addIssue({
      code: "custom",
      path: ["share"],
      message: `shared AMIs need a customer managed KMS key in every region: without copy.kmsKeys for ${missing.join(", ")} they are encrypted with the AWS-managed aws/ebs key, which cannot be shared with other accounts`,
    });
  for (const [region, key] of Object.entries(keys))
    if (isAwsManagedEbsKey(key))
      ctx.addIssue({
        code: "custom",
        path: ["copy", "kmsKeys", region],
        message:
          "alias/aws/ebs is the AWS-managed EBS key: AMIs encrypted with it cannot be shared with other accounts (use a customer managed key)",
      });
}

/**
 * Every region must be one AWS lists, in the home region's partition (copies and parameters do not
 * cross partitions). A region the list does not have yet is accepted when `confirm.unlistedRegions`
 * names it; a misspelt one (eu-wset-1) gets a "did you mean".
 */
function checkRegions(
  pipeline: {
    readonly homeRegion: string;
    readonly targetRegions: readonly string[];
    readonly copy: { readonly kmsKeys?: Readonly<Record<string, string>> | undefined };
    readonly confirm?: { readonly unlistedRegions: readonly string[] } | undefined;
  },
  ctx: z.RefinementCtx,
): void {
  const confirmed = new Set(pipeline.confirm?.unlistedRegions ?? []);
  const used = new Set<string>();
  const homePartition = partitionOf(pipeline.homeRegion);
  const check = (region: string, path: (string | number)[]) => {
    used.add(region);
    const partition = partitionOf(region);
    if (partition === undefined) {
      if (confirmed.has(region)) return;
      const hint = closestRegion(region);
      ctx.addIssue({
        code: "custom",
        path,
        message:
          `"${region}" is not an AWS region${hint ? ` (did you mean "${hint}"?)` : ""}. ` +
          `If AWS opened it after this release, confirm it: confirm: {unlistedRegions: [${region}]}`,
      });
      return;
    }
    if (homePartition !== undefined && partition !== homePartition)
      ctx.addIssue({
        code: "custom",
        path,
        message: `"${region}" is in the ${partition} partition, the home region ${pipeline.homeRegion} in ${homePartition}: images cannot be copied across partitions`,
      });
  };
  check(pipeline.homeRegion, ["homeRegion"]);
  pipeline.targetRegions.forEach((region, index) => {
    check(region, ["targetRegions", index]);
  });
  for (const region of Object.keys(pipeline.copy.kmsKeys ?? {})) check(region, ["copy", "kmsKeys", region]);
  (pipeline.confirm?.unlistedRegions ?? []).forEach((region, index) => {
    if (partitionOf(region) !== undefined)
      ctx.addIssue({
        code: "custom",
        path: ["confirm", "unlistedRegions", index],
        message: `"${region}" is a listed AWS region: it needs no confirmation`,
      });
    else if (!used.has(region))
      ctx.addIssue({
        code: "custom",
        path: ["confirm", "unlistedRegions", index],
        message: `"${region}" is confirmed but not used as home or target region`,
      });
  });
}
