import { Fn, Tags } from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import type * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";

export interface BuildNetworkProps {
  /** An existing VPC and subnet; when absent a small build VPC is created. */
  readonly existing: { readonly vpcId: string; readonly subnetId: string } | undefined;
  readonly cidr: string;
  /** VPC flow logs of a created VPC go here. */
  readonly flowLogBucket: s3.IBucket;
}

/**
 * Where Image Builder's build instances run: a security group with no inbound rules and egress only
 * to HTTPS and HTTP (package mirrors, SSM, S3), in either the team's VPC or a one-subnet VPC made
 * here. Security accounts often delete the default VPC, and builds need no NAT: the instances get a
 * public address, and nothing can reach them.
 *
 * Built from L1 resources with `Fn::GetAZs` so synth never looks availability zones up.
 */
export class BuildNetwork extends Construct {
  readonly vpc: ec2.IVpc;
  readonly subnetId: string;
  readonly securityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: BuildNetworkProps) {
    super(scope, id);
    if (props.existing) {
      // Only the security group needs the VPC, and only its id: no lookup, no subnets.
      this.vpc = ec2.Vpc.fromVpcAttributes(this, "Vpc", {
        vpcId: props.existing.vpcId,
        availabilityZones: [Fn.select(0, Fn.getAzs())],
      });
      this.subnetId = props.existing.subnetId;
    } else {
      const vpc = new ec2.CfnVPC(this, "Vpc", {
        cidrBlock: props.cidr,
        enableDnsHostnames: true,
        enableDnsSupport: true,
      });
      Tags.of(vpc).add("Name", "ops-rig-build");
      const gateway = new ec2.CfnInternetGateway(this, "InternetGateway");
      const attachment = new ec2.CfnVPCGatewayAttachment(this, "GatewayAttachment", {
        vpcId: vpc.ref,
        internetGatewayId: gateway.ref,
      });
      const subnet = new ec2.CfnSubnet(this, "Subnet", {
        vpcId: vpc.ref,
        cidrBlock: props.cidr,
        availabilityZone: Fn.select(0, Fn.getAzs()),
        mapPublicIpOnLaunch: true,
      });
      Tags.of(subnet).add("Name", "ops-rig-build");
      const routes = new ec2.CfnRouteTable(this, "RouteTable", { vpcId: vpc.ref });
      const defaultRoute = new ec2.CfnRoute(this, "DefaultRoute", {
        routeTableId: routes.ref,
        destinationCidrBlock: "0.0.0.0/0",
        gatewayId: gateway.ref,
      });
      defaultRoute.addResourceDependency(attachment);
      new ec2.CfnSubnetRouteTableAssociation(this, "RouteTableAssociation", {
        subnetId: subnet.ref,
        routeTableId: routes.ref,
      });
      this.vpc = ec2.Vpc.fromVpcAttributes(this, "VpcRef", {
        vpcId: vpc.ref,
        availabilityZones: [subnet.attrAvailabilityZone],
        publicSubnetIds: [subnet.ref],
        publicSubnetRouteTableIds: [routes.ref],
      });
      this.subnetId = subnet.ref;
      new ec2.FlowLog(this, "FlowLog", {
        resourceType: ec2.FlowLogResourceType.fromVpc(this.vpc),
        destination: ec2.FlowLogDestination.toS3(props.flowLogBucket, "vpc-flow-logs/"),
        trafficType: ec2.FlowLogTrafficType.ALL,
      });
    }

    this.securityGroup = new ec2.SecurityGroup(this, "BuildSecurityGroup", {
      vpc: this.vpc,
      description: "ops-rig Image Builder build instances: no inbound, HTTPS/HTTP out",
      allowAllOutbound: false,
    });
    // Package mirrors (apt over HTTP is signed), SSM and S3 endpoints, GitHub releases, PyPI.
    this.securityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(443),
      "HTTPS: SSM, S3, mirrors, releases",
    );
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(80), "HTTP: signed package mirrors");
  }
}
