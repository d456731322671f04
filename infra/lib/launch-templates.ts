import { Stack, Tags } from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import { Construct } from "constructs";
import { BASE_INFO } from "../../src/config/bases.js";
import { aliasParameterName, lineTags } from "../../src/plan/names.js";
import {
  launchTemplateName,
  RIG_GROUP,
  RIG_METADATA_OPTIONS,
  type RigTemplateSpec,
  TEMPLATE_LAUNCHER,
} from "../../src/responders/launch-template.js";
import { FORENSIC, FORENSIC_INSTANCE_PROFILE, MANAGED_BY_OPS_RIG, NO_CASE, TAGS } from "./names.js";
import type { RigLine } from "./settings.js";

export interface RigLaunchTemplatesProps {
  readonly parameterPrefix: string;
  readonly rigs: readonly RigLine[];
  /** The responders' prefix list of this region (SSH source of the rig group). */
  readonly prefixListId: string;
  /** Configured responder VPCs of this region; the first one's rig group goes into the default templates. */
  readonly vpcIds: readonly string[];
}

/** What a rig's template holds for a toolset's default line (also what `ops-rig launch` sends). */
export function rigTemplateSpec(parameterPrefix: string, rig: RigLine): RigTemplateSpec {
  const parameter = aliasParameterName(parameterPrefix, rig.toolset);
  const imageId = `resolve:ssm:${parameter}`;
  return {
    name: launchTemplateName(rig.toolset),
    imageId,
    instanceType: rig.instanceType,
    rootDeviceName: BASE_INFO[rig.base].rootDeviceName,
    rootVolumeGiB: rig.rootVolumeGiB,
    instanceProfile: FORENSIC_INSTANCE_PROFILE,
    tags: {
      ...lineTags({ toolset: rig.toolset, base: rig.base, arch: rig.arch }),
      [TAGS.role]: FORENSIC,
      // The console user replaces `none` with the case id when launching (the tag is editable there).
      [TAGS.case]: NO_CASE,
      "ops-rig:launched-by": TEMPLATE_LAUNCHER,
      "ops-rig:image-request": imageId,
    },
  };
}

/**
 * One launch template per toolset in this region, so "Launch instance from template" in the EC2
 * console gives the same locked-down rig as `ops-rig launch`: the image by `resolve:ssm:` (never a
 * pinned AMI: the template follows the nightly bake without a deploy), IMDSv2 with hop limit 1, an
 * encrypted root volume, the forensic instance profile, and the region's `ops-rig-rig` group.
 *
 * A security group belongs to one VPC, so the default templates carry the rig group of the first
 * configured VPC; every further VPC gets `ops-rig-<toolset>-<vpc-id>`. A region with no configured
 * VPC gets templates without a group: `ops-rig launch --template` then supplies one, and the console
 * would fall back to the VPC's default group (the README says to configure `responderVpcs`).
 */
export class RigLaunchTemplates extends Construct {
  readonly templates: {
    readonly name: string;
    readonly vpcId?: string;
    readonly template: ec2.CfnLaunchTemplate;
  }[] = [];
  readonly rigGroups: ec2.SecurityGroup[] = [];

  constructor(scope: Construct, id: string, props: RigLaunchTemplatesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const groups = props.vpcIds.map((vpcId, index) => {
      const vpc = ec2.Vpc.fromVpcAttributes(this, `Vpc${index}`, {
        vpcId,
        availabilityZones: [stack.region],
      });
      const group = new ec2.SecurityGroup(this, `rig-${vpcId}`, {
        vpc,
        securityGroupName: RIG_GROUP,
        description: "ops-rig rig: SSH from the responders' prefix list, HTTPS out (SSM, tools, broker)",
        allowAllOutbound: false,
      });
      group.addIngressRule(ec2.Peer.prefixList(props.prefixListId), ec2.Port.tcp(22), "responders");
      group.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), "SSM sessions, S3, the case-session broker");
      Tags.of(group).add(TAGS.purpose, "rig");
      Tags.of(group).add(TAGS.managedBy, MANAGED_BY_OPS_RIG);
      this.rigGroups.push(group);
      return { vpcId, group };
    });

    for (const rig of props.rigs) {
      const spec = rigTemplateSpec(props.parameterPrefix, rig);
      const variants: { name: string; vpcId?: string; groupId?: string }[] =
        groups.length === 0
          ? [{ name: spec.name }]
          : groups.map(({ vpcId, group }, index) => ({
              name: index === 0 ? spec.name : `${spec.name}-${vpcId}`,
              vpcId,
              groupId: group.securityGroupId,
            }));
      for (const variant of variants) {
        const template = new ec2.CfnLaunchTemplate(this, `Template-${variant.name}`, {
          launchTemplateName: variant.name,
          versionDescription: `ops-rig ${rig.toolset} rig (${rig.base} ${rig.arch})`,
          launchTemplateData: {
            imageId: spec.imageId,
            instanceType: spec.instanceType,
            iamInstanceProfile: { name: spec.instanceProfile },
            metadataOptions: {
              httpTokens: RIG_METADATA_OPTIONS.httpTokens,
              httpEndpoint: RIG_METADATA_OPTIONS.httpEndpoint,
              httpPutResponseHopLimit: RIG_METADATA_OPTIONS.httpPutResponseHopLimit,
            },
            blockDeviceMappings: [
              {
                deviceName: spec.rootDeviceName,
                ebs: {
                  encrypted: true,
                  deleteOnTermination: true,
                  volumeType: "gp3",
                  volumeSize: spec.rootVolumeGiB,
                },
              },
            ],
            ...(variant.groupId ? { securityGroupIds: [variant.groupId] } : {}),
            tagSpecifications: (["instance", "volume", "network-interface"] as const).map((resourceType) => ({
              resourceType,
              tags: Object.entries(spec.tags).map(([key, value]) => ({ key, value })),
            })),
          },
          tagSpecifications: [
            {
              resourceType: "launch-template",
              tags: [
                { key: TAGS.managedBy, value: MANAGED_BY_OPS_RIG },
                { key: TAGS.toolset, value: rig.toolset },
              ],
            },
          ],
        });
        this.templates.push({
          name: variant.name,
          ...(variant.vpcId ? { vpcId: variant.vpcId } : {}),
          template,
        });
      }
    }
  }
}
