import type { Command } from "commander";
import { checkLaunchBody } from "../../api/requests.js";
import { ARCHES, BASES } from "../../config/bases.js";
import { NoCloudInitError, UsageError } from "../../errors.js";
import { launch } from "../../services/launch.js";
import { launchFromTemplate, type TemplateLaunchResult } from "../../services/launch-template.js";
import { parseCidrs } from "../cidr.js";
import type { CommandContext } from "../context.js";
import { resolveLine } from "../lines.js";
import { createProgress } from "../progress.js";
import { pipelineProject } from "../project.js";

interface LaunchOptions {
  toolset: string;
  base?: string;
  arch?: string;
  case?: string;
  sshCidr?: string[];
  allowAnywhere?: boolean;
  repairGroup?: boolean;
  keyName?: string;
  instanceType?: string;
  subnet?: string;
  instanceProfile?: string;
  version?: string;
  label?: string;
  stock?: boolean;
  dryRun?: boolean;
  template?: boolean;
}

/** The flag behind each field of the API's launch request. */
const API_FLAGS: Record<string, string> = {
  toolset: "--toolset",
  region: "--region",
  caseId: "--case",
  instanceType: "--instance-type",
  keyName: "--key-name",
  subnet: "--subnet",
};

/** EC2 tag values: up to 256 Unicode characters of letters, numbers, spaces and `_ . : / = + - @`. */
const TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
/** `m7i.large`, `c7gn.16xlarge`, `u-6tb1.metal`, `m7i-flex.large`, `c7i.metal-24xl`. */
const INSTANCE_TYPE = /^[a-z][a-z0-9]*(-[a-z0-9]+)*\.[a-z0-9]+(-[a-z0-9]+)*$/;

/** Checks `--case`: what the `ops-rig:case` tag can hold, whatever the script of the case id. */
function parseCase(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === "") throw new UsageError("the case id is empty", "--case");
  const length = Array.from(value).length;
  if (length > 256)
    throw new UsageError(`the case id has ${length} characters; EC2 tag values hold at most 256`, "--case");
  if (!TAG_VALUE.test(value)) {
    const bad = Array.from(value).filter((c) => !TAG_VALUE.test(c));
    throw new UsageError(
      `"${value}" has characters EC2 tags do not allow (${[...new Set(bad)].map((c) => JSON.stringify(c)).join(", ")}); letters, digits, spaces and _ . : / = + - @ are fine`,
      "--case",
    );
  }
  return value;
}

function parseInstanceType(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.length > 64 || !INSTANCE_TYPE.test(value))
    throw new UsageError(
      `"${value}" is not an EC2 instance type (like m7i.large or c7g.xlarge)`,
      "--instance-type",
    );
  return value;
}

export function registerLaunch(program: Command, context: () => CommandContext): void {
  program
    .command("launch")
    .description(
      "launch a rig in the incident's region from the published AMI (ImageId resolve:ssm:...), locked down",
    )
    .requiredOption("-t, --toolset <name>", "light or heavy")
    .option("-b, --base <base>", `base (${BASES.join(", ")}); default: the toolset's default`)
    .option("-a, --arch <arch>", `arch (${ARCHES.join(", ")}); default: the toolset's default`)
    .option("--case <id>", "incident or case id, tagged on the instance and volume")
    .option(
      "--ssh-cidr <cidr...>",
      "allow SSH from these ranges only (repeat; none = no inbound, use SSM sessions)",
    )
    .option("--allow-anywhere", "accept ranges wider than a /8 (IPv4) or /32 (IPv6) of public addresses")
    .option(
      "--repair-group",
      "make an existing ops-rig security group that differs (other rules, no ops-rig tag) match, instead of refusing it",
    )
    .option("--key-name <name>", "EC2 key pair for SSH")
    .option("--instance-type <type>", "instance type (default: the toolset's first for the arch)")
    .option("--subnet <id>", "subnet (default: a subnet of the default VPC)")
    .option(
      "--instance-profile <name>",
      "instance profile (default: $OPS_RIG_FORENSIC_PROFILE or ops-rig-forensic)",
    )
    .option("--version <n>", "pin a parameter version (resolve:ssm:<name>:<n>)")
    .option("--label <label>", "pin a parameter label (resolve:ssm:<name>:<label>)")
    .option("--stock", "no baked image: launch the stock base AMI with the light cloud-init user data")
    .option(
      "--template",
      "launch from the region's ops-rig-<toolset> launch template (checked, and pinned to its current version)",
    )
    .option(
      "--dry-run",
      "ask EC2 whether the launch would succeed (the same request, DryRun), changing nothing",
    )
    .action(async (options: LaunchOptions) => {
      const ctx = context();
      // Every flag is checked before the first AWS call: bad input changes nothing.
      const region = ctx.regions?.[0];
      if (!region || (ctx.regions?.length ?? 0) > 1)
        throw new UsageError("launch needs exactly one region: the incident's", "--region");
      const project = await pipelineProject(ctx);
      const { toolset, line, usesDefault } = resolveLine(project.toolsets, options);
      if (options.version !== undefined && !/^[1-9]\d*$/.test(options.version))
        throw new UsageError(`"${options.version}" is not a parameter version number`, "--version");
      if (options.label !== undefined && !/^[a-zA-Z][a-zA-Z0-9._-]{0,99}$/.test(options.label))
        throw new UsageError(`"${options.label}" is not a parameter label`, "--label");
      if (options.version && options.label)
        throw new UsageError("pin either a version or a label, not both", "--version");
      if (options.stock && (options.version || options.label))
        throw new UsageError("--stock launches a base image; it has no parameter to pin", "--stock");
      const caseId = parseCase(options.case);
      const cidrs = parseCidrs(options.sshCidr, Boolean(options.allowAnywhere));
      const instanceType = parseInstanceType(options.instanceType) ?? toolset.instanceTypes[line.arch]?.[0];
      if (!instanceType)
        throw new UsageError(`no instance type for ${line.arch} in ${toolset.file}`, "--instance-type");
      if (options.keyName !== undefined && !/^[\x20-\x7e]{1,255}$/.test(options.keyName))
        throw new UsageError(`"${options.keyName}" is not an EC2 key pair name`, "--key-name");
      if (options.subnet !== undefined && !/^subnet-[0-9a-f]{8,17}$/.test(options.subnet))
        throw new UsageError(`"${options.subnet}" is not a subnet id (subnet-...)`, "--subnet");
      const instanceProfile =
        options.instanceProfile ?? ctx.env.OPS_RIG_FORENSIC_PROFILE ?? "ops-rig-forensic";
      if (!/^[\w+=,.@-]{1,128}$/.test(instanceProfile))
        throw new UsageError(`"${instanceProfile}" is not an instance profile name`, "--instance-profile");
      if (ctx.api) {
        // The API launches from the region's template with its own (template-bound) role.
        for (const [flag, set] of [
          ["--stock", options.stock],
          ["--version", options.version],
          ["--label", options.label],
          ["--ssh-cidr", options.sshCidr],
          ["--instance-profile", options.instanceProfile],
          ["--repair-group", options.repairGroup],
        ] as const) {
          if (set)
            throw new UsageError(
              `the API launches from the region's launch template; ${flag} does not apply`,
              flag,
            );
        }
        if (!usesDefault)
          throw new UsageError(
            `the API launches the ${toolset.name} template's ${toolset.default.base} ${toolset.default.arch}; drop --base/--arch`,
            "--api",
          );
        const body = {
          toolset: toolset.name,
          region,
          ...(caseId !== undefined ? { caseId } : {}),
          ...(options.instanceType ? { instanceType } : {}),
          ...(options.keyName ? { keyName: options.keyName } : {}),
          ...(options.subnet ? { subnet: options.subnet } : {}),
          ...(options.dryRun ? { dryRun: true } : {}),
        };
        // The API's own schema, checked here first: a bad flag fails before anything is sent.
        const checked = checkLaunchBody(body);
        if (!checked.ok) {
          const problem = checked.problems[0];
          const field = problem?.field ?? "body";
          throw new UsageError(
            `${problem?.message ?? "invalid"} (the API's ${field})`,
            API_FLAGS[field] ?? "--api",
          );
        }
        const answer = await ctx.aws.api(ctx.api, region).launch(checked.data);
        if (ctx.output.json) {
          ctx.output.writeJson(answer);
          return;
        }
        ctx.output.out(
          answer.dryRun
            ? `Dry run through the API: EC2 would launch ${answer.instanceType} in ${answer.region} from ${answer.template.name} version ${answer.template.version}; nothing was launched.`
            : [
                `Launched ${answer.instanceId} (${answer.instanceType}) in ${answer.region} through the API, from ${answer.template.name} version ${answer.template.version}`,
                `  image:    ${answer.imageRequest} → ${answer.resolvesTo}`,
                `  launched by: ${answer.launchedBy}`,
                "Connect:",
                `  aws ssm start-session --region ${answer.region} --target ${answer.instanceId}`,
              ].join("\n"),
        );
        return;
      }
      if (options.template) {
        for (const [flag, set] of [
          ["--stock", options.stock],
          ["--version", options.version],
          ["--label", options.label],
        ] as const) {
          if (set)
            throw new UsageError(
              `the launch template launches the published image; ${flag} does not apply`,
              flag,
            );
        }
        if (!usesDefault)
          throw new UsageError(
            `the ${toolset.name} launch template launches ${toolset.default.base} ${toolset.default.arch}; drop --base/--arch or --template`,
            "--template",
          );
        const progress = createProgress(ctx.output);
        const result = await launchFromTemplate(
          {
            ports: ctx.aws.ports(project.pipeline.homeRegion),
            launch: ctx.aws.launch(),
            templates: ctx.aws.templates(),
            events: progress.sink,
          },
          {
            region,
            toolset,
            line,
            parameterPrefix: project.pipeline.parameterPrefix,
            instanceProfile,
            ...(caseId !== undefined ? { caseId } : {}),
            sshCidrs: cidrs,
            ...(options.instanceType ? { instanceType } : {}),
            ...(options.keyName ? { keyName: options.keyName } : {}),
            ...(options.subnet ? { subnet: options.subnet } : {}),
            ...(options.repairGroup ? { repairGroup: true } : {}),
            ...(options.dryRun ? { dryRun: true } : {}),
          },
        ).finally(() => progress.stop());
        renderTemplateLaunch(ctx, result);
        return;
      }
      let userData: string | undefined;
      if (options.stock) {
        const light = (await ctx.rendered()).toolsets.find((t) => t.cloudInit);
        if (!light?.cloudInit) throw new NoCloudInitError();
        userData = light.cloudInit.userData;
      }

      const progress = createProgress(ctx.output);
      const result = await launch(
        {
          ports: ctx.aws.ports(project.pipeline.homeRegion),
          launch: ctx.aws.launch(),
          events: progress.sink,
        },
        {
          region,
          toolset,
          line,
          usesDefault,
          parameterPrefix: project.pipeline.parameterPrefix,
          ...(caseId !== undefined ? { caseId } : {}),
          sshCidrs: cidrs,
          ...(options.keyName ? { keyName: options.keyName } : {}),
          instanceType,
          ...(options.subnet ? { subnet: options.subnet } : {}),
          instanceProfile,
          ...(options.version ? { pin: { version: Number(options.version) } } : {}),
          ...(options.label ? { pin: { label: options.label } } : {}),
          ...(userData ? { stock: { userData } } : {}),
          ...(options.repairGroup ? { repairGroup: true } : {}),
          ...(options.dryRun ? { dryRun: true } : {}),
        },
      ).finally(() => progress.stop());

      const group = result.securityGroup;
      if (ctx.output.json) {
        ctx.output.writeJson({
          ...result,
          securityGroup: group.groupId ?? `(would create ${group.name})`,
          securityGroupStatus: group.status,
          request: {
            ...result.request,
            userData: result.request.userData
              ? `${result.request.userData.length} bytes of cloud-init`
              : undefined,
          },
        });
        return;
      }
      const access = `${cidrs.length > 0 ? `SSH from ${cidrs.join(", ")}` : "no inbound; SSM session only"} (${group.name}${group.groupId ? ` ${group.groupId}` : ""}, ${group.status})`;
      if (result.dryRun) {
        ctx.output.out(
          [
            `Dry run: EC2 would launch ${result.instanceType} in ${region} from ${result.imageRequest} (now ${result.resolvesTo}, ${result.imageName}); nothing was launched.`,
            `  access:   ${access}`,
            ...group.changes.map((c) => `  group:    ${c}`),
          ].join("\n"),
        );
        return;
      }
      ctx.output.out(
        [
          `Launched ${result.instanceId} (${result.instanceType}) in ${region}`,
          `  image:    ${result.imageRequest} → ${result.resolvesTo} (${result.imageName})`,
          `  access:   ${access}, IMDSv2 required, root volume encrypted`,
          ...group.changes.map((c) => `  group:    ${c}`),
          ...(result.stock
            ? ["  setup:    light cloud-init runs at first boot; progress in /var/log/ops-rig-bootstrap.log"]
            : []),
          "Connect:",
          `  aws ssm start-session --region ${region} --target ${result.instanceId}`,
          ...(cidrs.length > 0 && options.keyName && result.address
            ? [`  ssh -i ${options.keyName}.pem ${result.user}@${result.address}`]
            : []),
        ].join("\n"),
      );
    });
}

function renderTemplateLaunch(ctx: CommandContext, result: TemplateLaunchResult): void {
  if (ctx.output.json) {
    ctx.output.writeJson(result);
    return;
  }
  const group = result.securityGroup;
  const access =
    group.status === "template"
      ? `the template's group ${group.groupIds.join(", ") || "(none)"}`
      : `${group.name}${group.groupId ? ` ${group.groupId}` : ""} (${group.status})`;
  const from = `${result.template.name} version ${result.template.version} (${result.template.id})`;
  if (result.dryRun) {
    ctx.output.out(
      `Dry run: EC2 would launch ${result.instanceType} in ${result.region} from ${from}, image ${result.imageRequest} (now ${result.resolvesTo}); nothing was launched.\n  access:   ${access}`,
    );
    return;
  }
  ctx.output.out(
    [
      `Launched ${result.instanceId} (${result.instanceType}) in ${result.region} from ${from}`,
      `  image:    ${result.imageRequest} → ${result.resolvesTo} (${result.imageName})`,
      `  access:   ${access}, IMDSv2 required, root volume encrypted`,
      "Connect:",
      `  aws ssm start-session --region ${result.region} --target ${result.instanceId}`,
    ].join("\n"),
  );
}
