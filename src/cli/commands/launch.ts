import type { Command } from "commander";
import { createLaunchAdapter } from "../../aws/launch.js";
import { ARCHES, BASE_INFO, BASES } from "../../config/bases.js";
import { AwsCallError, OpsRigError, UsageError } from "../../errors.js";
import { baseKey, discoverBases } from "../../pipeline/bases.js";
import { aliasParameterName, lineParameterName, TAG } from "../../plan/names.js";
import { sha256Hex } from "../../render/hash.js";
import { parseCidrs } from "../cidr.js";
import type { CommandContext } from "../context.js";
import { resolveLine } from "../lines.js";
import { pipelineProject } from "../project.js";

interface LaunchOptions {
  toolset: string;
  base?: string;
  arch?: string;
  case?: string;
  sshCidr?: string[];
  allowAnywhere?: boolean;
  keyName?: string;
  instanceType?: string;
  subnet?: string;
  instanceProfile?: string;
  version?: string;
  label?: string;
  stock?: boolean;
  dryRun?: boolean;
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
    .option("--allow-anywhere", "accept 0.0.0.0/0 or ::/0 in --ssh-cidr")
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
    .option("--dry-run", "ask EC2 whether the launch would succeed, launching nothing")
    .action(async (options: LaunchOptions) => {
      const ctx = context();
      const region = ctx.regions?.[0];
      if (!region || (ctx.regions?.length ?? 0) > 1)
        throw new UsageError("launch needs exactly one region: the incident's", "--region");
      const project = await pipelineProject(ctx);
      const { toolset, line, usesDefault } = resolveLine(project.toolsets, options);
      const { base, arch } = line;
      if (options.version !== undefined && !/^[1-9]\d*$/.test(options.version))
        throw new UsageError(`"${options.version}" is not a parameter version number`, "--version");
      if (options.label !== undefined && !/^[a-zA-Z][a-zA-Z0-9._-]{0,99}$/.test(options.label))
        throw new UsageError(`"${options.label}" is not a parameter label`, "--label");
      if (options.version && options.label)
        throw new UsageError("pin either a version or a label, not both", "--version");
      if (options.case !== undefined && !/^[\w.:/=+@ -]{1,128}$/.test(options.case))
        throw new UsageError(`"${options.case}" has characters EC2 tags do not allow`, "--case");
      if (options.stock && (options.version || options.label))
        throw new UsageError("--stock launches a base image; it has no parameter to pin", "--stock");
      const cidrs = parseCidrs(options.sshCidr, Boolean(options.allowAnywhere));

      const ports = ctx.ports(project.pipeline.homeRegion);
      const launch = createLaunchAdapter((r) => ctx.clients().ec2(r));
      const prefix = project.pipeline.parameterPrefix;
      const parameter = usesDefault
        ? aliasParameterName(prefix, toolset.name)
        : lineParameterName(prefix, line);
      const selector = options.version ? `:${options.version}` : options.label ? `:${options.label}` : "";

      let imageRequest: string;
      let resolved: string;
      let userData: string | undefined;
      if (options.stock) {
        const light = (await ctx.rendered()).toolsets.find((t) => t.cloudInit);
        if (!light?.cloudInit)
          throw new OpsRigError(
            "NO_CLOUD_INIT",
            "user",
            "no toolset renders cloud-init (set cloudInit: true in recipes/light.yaml)",
          );
        const found = (await discoverBases(ports, region, [{ base, arch }])).get(baseKey({ base, arch }));
        if (!found?.ok)
          throw new OpsRigError(
            "BASE_NOT_FOUND",
            "system",
            found?.ok === false ? found.error : `no ${base} ${arch} base in ${region}`,
          );
        imageRequest = found.image.imageId;
        resolved = found.image.imageId;
        userData = light.cloudInit.userData;
      } else {
        const value = await ports.ssm.getParameter(region, `${parameter}${selector}`);
        if (!value) {
          throw new OpsRigError(
            "PARAMETER_NOT_FOUND",
            "user",
            `parameter ${parameter}${selector} does not exist in ${region}: no baked ${toolset.name} image there yet (use --stock for a stock AMI with cloud-init)`,
          );
        }
        imageRequest = `resolve:ssm:${parameter}${selector}`;
        resolved = value.value;
      }
      const image = await launch.image(region, resolved);
      if (image?.state !== "available") {
        throw new OpsRigError(
          "IMAGE_NOT_AVAILABLE",
          "system",
          `${resolved} in ${region} is ${image?.state ?? "missing"}; refusing to launch it`,
        );
      }

      const subnet = options.subnet
        ? await launch.subnetOf(region, options.subnet)
        : await (async () => {
            const vpc = await launch.defaultVpc(region);
            const subnetId = vpc ? await launch.defaultSubnet(region, vpc) : undefined;
            return vpc && subnetId ? { subnetId, vpcId: vpc } : undefined;
          })();
      if (!subnet) {
        throw new UsageError(
          options.subnet
            ? `subnet ${options.subnet} does not exist in ${region}`
            : `${region} has no default VPC: name a subnet`,
          "--subnet",
        );
      }
      const groupName =
        cidrs.length > 0
          ? `ops-rig-ssh-${sha256Hex([...cidrs].sort().join(",")).slice(0, 10)}`
          : "ops-rig-no-inbound";
      let group = await launch.findSecurityGroup(region, subnet.vpcId, groupName);
      if (!group && !options.dryRun) {
        const groupId = await launch.createSecurityGroup(region, {
          vpcId: subnet.vpcId,
          name: groupName,
          description:
            cidrs.length > 0
              ? `ops-rig responder SSH from ${cidrs.join(", ")}`.slice(0, 255)
              : "ops-rig rig without inbound access (SSM sessions)",
          tags: { Name: groupName, "ops-rig:ssh-cidrs": cidrs.join(",") || "none" },
        });
        await launch.allowSsh(region, groupId, cidrs);
        group = { groupId, tags: {} };
      }

      const identity = await ports.sts.identity(region);
      const instanceType = options.instanceType ?? toolset.instanceTypes[arch]?.[0];
      if (!instanceType)
        throw new UsageError(`no instance type for ${arch} in ${toolset.file}`, "--instance-type");
      const tags: Record<string, string> = {
        Name: `ops-rig-${toolset.name}${options.case ? `-${options.case}` : ""}`.slice(0, 255),
        [TAG.toolset]: toolset.name,
        [TAG.base]: base,
        [TAG.arch]: arch,
        "ops-rig:case": options.case ?? "none",
        "ops-rig:launched-by": identity.arn,
        "ops-rig:image-request": imageRequest,
      };
      const instanceProfile =
        options.instanceProfile ?? ctx.env.OPS_RIG_FORENSIC_PROFILE ?? "ops-rig-forensic";
      const request = {
        imageId: imageRequest,
        instanceType,
        subnetId: subnet.subnetId,
        securityGroupIds: group ? [group.groupId] : [],
        ...(options.keyName ? { keyName: options.keyName } : {}),
        instanceProfile,
        rootDeviceName: image.rootDeviceName,
        rootVolumeGiB: toolset.rootVolume.sizeGiB,
        ...(userData ? { userData } : {}),
        tags,
        dryRun: Boolean(options.dryRun),
      };
      if (options.dryRun) {
        // EC2 checks permissions and parameters and answers DryRunOperation when the launch would succeed.
        try {
          await launch.runInstance(region, request);
        } catch (error) {
          if (!(error instanceof AwsCallError && error.awsCode === "DryRunOperation")) throw error;
        }
        const summary = {
          dryRun: true,
          region,
          imageRequest,
          resolvesTo: resolved,
          securityGroup: group?.groupId ?? `(would create ${groupName})`,
          request: { ...request, userData: userData ? `${userData.length} bytes of cloud-init` : undefined },
        };
        if (ctx.output.json) ctx.output.writeJson(summary);
        else
          ctx.output.out(
            `Dry run: would launch ${instanceType} in ${region} from ${imageRequest} (now ${resolved}, ${image.name}); nothing was launched.`,
          );
        return;
      }
      const instance = await launch.runInstance(region, request);
      const user = BASE_INFO[base].defaultUser;
      const address = instance.publicIp ?? instance.privateIp;
      const result = {
        region,
        instanceId: instance.instanceId,
        imageRequest,
        resolvesTo: resolved,
        imageName: image.name,
        securityGroup: group?.groupId,
        sshCidrs: cidrs,
        address,
        user,
      };
      if (ctx.output.json) {
        ctx.output.writeJson(result);
        return;
      }
      ctx.output.out(
        [
          `Launched ${instance.instanceId} (${instanceType}) in ${region}`,
          `  image:    ${imageRequest} → ${resolved} (${image.name})`,
          `  access:   ${cidrs.length > 0 ? `SSH from ${cidrs.join(", ")}` : "no inbound; SSM session only"} (${groupName}), IMDSv2 required, root volume encrypted`,
          ...(userData
            ? ["  setup:    light cloud-init runs at first boot; progress in /var/log/ops-rig-bootstrap.log"]
            : []),
          "Connect:",
          `  aws ssm start-session --region ${region} --target ${instance.instanceId}`,
          ...(cidrs.length > 0 && options.keyName && address
            ? [`  ssh -i ${options.keyName}.pem ${user}@${address}`]
            : []),
        ].join("\n"),
      );
    });
}
