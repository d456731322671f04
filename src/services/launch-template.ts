import { BASE_INFO, type Base } from "../config/bases.js";
import type { ToolsetData } from "../config/types.js";
import {
  InterruptedError,
  LaunchTemplateMismatchError,
  LaunchTemplateNotFoundError,
  UsageError,
} from "../errors.js";
import { aliasParameterName, TAG } from "../plan/names.js";
import type { LineKey } from "../plan/types.js";
import { launchTemplateName, templateProblems } from "../responders/launch-template.js";
import {
  createdGroupId,
  ensureGroup,
  type LaunchDeps,
  resolveImage,
  runLaunch,
  type SecurityGroupOutcome,
  truncate,
} from "./launch.js";
import type { LaunchTemplateInfo, LaunchTemplatePort, TemplateRunInput } from "./ports.js";

export interface TemplateLaunchRequest {
  readonly region: string;
  readonly toolset: ToolsetData;
  /** The toolset's default line: what its template launches. */
  readonly line: LineKey;
  readonly parameterPrefix: string;
  /** The instance profile the template must name. */
  readonly instanceProfile: string;
  readonly caseId?: string;
  /** Used only when the template carries no security group (a region without a configured VPC). */
  readonly sshCidrs: readonly string[];
  readonly instanceType?: string;
  readonly keyName?: string;
  readonly subnet?: string;
  readonly dryRun?: boolean;
  /**
   * Who launches, for the `ops-rig:launched-by` tag. The API passes its SigV4-authenticated caller;
   * absent, the caller's own STS identity is used (the CLI).
   */
  readonly launchedBy?: string;
  /** The API never creates groups: it launches only from a template that carries the rig group. */
  readonly requireTemplateGroup?: boolean;
}

export interface TemplateLaunchDeps extends LaunchDeps {
  readonly templates: LaunchTemplatePort;
}

export interface TemplateLaunchResult {
  readonly region: string;
  readonly dryRun: boolean;
  readonly instanceId?: string;
  /** The checked template version the launch was pinned to. */
  readonly template: { readonly name: string; readonly id: string; readonly version: number };
  readonly imageRequest: string;
  readonly resolvesTo: string;
  readonly imageName: string;
  readonly instanceType: string;
  /** The template's group(s), or the group the launcher supplied for a template without one. */
  readonly securityGroup:
    | { readonly status: "template"; readonly groupIds: readonly string[] }
    | SecurityGroupOutcome;
  readonly user: string;
  readonly address?: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly request: TemplateRunInput;
}

/**
 * `ops-rig launch --template` and the API's launch: a rig from the region's `ops-rig-<toolset>`
 * launch template. The template's default version is read and checked first (it lives in the
 * account, where it could have been edited) and the launch is pinned to that version number, so a
 * version made between the check and the launch is never used.
 */
export async function launchFromTemplate(
  deps: TemplateLaunchDeps,
  request: TemplateLaunchRequest,
): Promise<TemplateLaunchResult> {
  const { region, toolset } = request;
  const name = launchTemplateName(toolset.name);
  const template = await deps.templates.template(region, name);
  if (!template) throw new LaunchTemplateNotFoundError(name, region);
  checkTemplate(template, request);
  const image = await resolveImage(deps, {
    region,
    toolset,
    line: request.line,
    usesDefault: true,
    parameterPrefix: request.parameterPrefix,
  });
  const templateGroups = template.data.securityGroupIds;
  if (templateGroups.length > 0 && request.sshCidrs.length > 0)
    throw new UsageError(
      `${name} carries the rig group (SSH from the responders' prefix list only); SSH ranges do not apply to a template launch`,
      "--ssh-cidr",
    );
  if (templateGroups.length === 0 && request.requireTemplateGroup)
    throw new LaunchTemplateMismatchError(name, region, template.defaultVersion, [
      "it carries no security group (configure responderVpcs for this region and redeploy)",
    ]);

  let subnetId: string | undefined;
  let group: TemplateLaunchResult["securityGroup"] = { status: "template", groupIds: templateGroups };
  if (request.subnet) {
    const subnet = await deps.launch.subnetOf(region, request.subnet);
    if (!subnet) throw new UsageError(`subnet ${request.subnet} does not exist in ${region}`, "--subnet");
    subnetId = subnet.subnetId;
    if (templateGroups.length === 0) group = await ensureGroup(deps, request, subnet.vpcId);
  } else if (templateGroups.length === 0) {
    // No group in the template: the launcher's own, in the default VPC (as `ops-rig launch` does).
    const vpc = await deps.launch.defaultVpc(region);
    const subnet = vpc ? await deps.launch.defaultSubnet(region, vpc) : undefined;
    if (!vpc || !subnet) throw new UsageError(`${region} has no default VPC: name a subnet`, "--subnet");
    subnetId = subnet;
    group = await ensureGroup(deps, request, vpc);
  }
  const launchedBy = request.launchedBy ?? (await deps.ports.sts.identity(region)).arn;
  // The complete tag set, template tags included: whether EC2 merges or replaces a resource type's
  // template tags with the request's, the rig ends up with all of them.
  const tags: Record<string, string> = {
    ...template.data.tags,
    Name: truncate(`ops-rig-${toolset.name}${request.caseId ? `-${request.caseId}` : ""}`, 256),
    "ops-rig:case": request.caseId ?? "none",
    "ops-rig:launched-by": truncate(launchedBy, 256),
    "ops-rig:image-request": truncate(image.request, 256),
    "ops-rig:launch-template": `${name}:${template.defaultVersion}`,
    [TAG.toolset]: toolset.name,
  };
  const ownGroup = group.status === "template" ? undefined : group.groupId;
  const input: TemplateRunInput = {
    templateId: template.templateId,
    version: template.defaultVersion,
    ...(subnetId ? { subnetId } : {}),
    ...(ownGroup ? { securityGroupIds: [ownGroup] } : {}),
    ...(request.instanceType ? { instanceType: request.instanceType } : {}),
    ...(request.keyName ? { keyName: request.keyName } : {}),
    tags,
  };
  const result = {
    region,
    template: { name, id: template.templateId, version: template.defaultVersion },
    imageRequest: image.request,
    resolvesTo: image.imageId,
    imageName: image.name,
    instanceType: request.instanceType ?? template.data.instanceType ?? "",
    securityGroup: group,
    user: BASE_INFO[request.line.base as Base].defaultUser,
    tags,
    request: input,
  };
  if (request.dryRun) {
    await deps.templates.checkRunFromTemplate(region, input);
    return { ...result, dryRun: true };
  }
  return {
    ...result,
    dryRun: false,
    ...(await runLaunch(deps, region, createdGroupId(group), () =>
      deps.templates.runFromTemplate(region, input),
    )),
  };
}

function checkTemplate(template: LaunchTemplateInfo, request: TemplateLaunchRequest): void {
  const problems = templateProblems(template.data, {
    parameter: aliasParameterName(request.parameterPrefix, request.toolset.name),
    instanceProfile: request.instanceProfile,
  });
  if (problems.length > 0)
    throw new LaunchTemplateMismatchError(template.name, request.region, template.defaultVersion, problems);
}

/** `status`: the template's default version in a region, and whether it is still a locked-down rig. */
export interface TemplateState {
  readonly name: string;
  readonly version?: number;
  readonly latestVersion?: number;
  readonly problems: readonly string[];
}

/** One template per toolset and region, for `status`; a failed read is reported, not thrown. */
export async function templateStatus(
  templates: LaunchTemplatePort,
  request: {
    readonly regions: readonly string[];
    readonly toolsets: readonly string[];
    readonly parameterPrefix: string;
    readonly instanceProfile: string;
  },
): Promise<(TemplateState & { readonly region: string; readonly toolset: string })[]> {
  const pairs = request.regions.flatMap((region) => request.toolsets.map((toolset) => ({ region, toolset })));
  return Promise.all(
    pairs.map(async ({ region, toolset }) => {
      try {
        return { region, toolset, ...(await templateState(templates, region, toolset, request)) };
      } catch (error) {
        // Ctrl-C ends the command; anything else (say, no DescribeLaunchTemplates permission) is reported.
        if (error instanceof InterruptedError) throw error;
        const message = error instanceof Error ? error.message : String(error);
        return { region, toolset, name: launchTemplateName(toolset), problems: [`unreadable: ${message}`] };
      }
    }),
  );
}

export async function templateState(
  templates: LaunchTemplatePort,
  region: string,
  toolset: string,
  expected: { readonly parameterPrefix: string; readonly instanceProfile: string },
): Promise<TemplateState> {
  const name = launchTemplateName(toolset);
  const template = await templates.template(region, name);
  if (!template) return { name, problems: ["missing"] };
  return {
    name,
    version: template.defaultVersion,
    latestVersion: template.latestVersion,
    problems: templateProblems(template.data, {
      parameter: aliasParameterName(expected.parameterPrefix, toolset),
      instanceProfile: expected.instanceProfile,
    }),
  };
}
