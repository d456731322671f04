import { Aws, Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import type * as ec2 from "aws-cdk-lib/aws-ec2";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { BUNDLE_FILE, LAMBDA_PROJECT_PATH, type LambdaBundle } from "./bundle.js";
import { NamedAcknowledgements } from "./nag.js";
import { FORENSIC_INSTANCE_PROFILE, FORENSIC_ROLE } from "./names.js";
import { partitionOf } from "./settings.js";

/** The API function's name (the same in every region: Lambda names are regional). */
export const API_FUNCTION_NAME = "ops-rig-api";
/** Its role, one per region (IAM names are global). */
export const apiRoleName = (region: string) => `ops-rig-api-${region}`;
/** Concurrent requests the API serves at most: its throttle (a burst is answered 429 by Lambda). */
export const API_CONCURRENCY = 5;

export interface RigApiProps {
  readonly bundle: LambdaBundle;
  readonly logDays: number;
  readonly parameterPrefix: string;
  /** This region's rig launch templates: the only ones the API may launch from. */
  readonly templates: readonly ec2.CfnLaunchTemplate[];
  /** The rig groups those templates carry: the only groups a launch may use. */
  readonly rigGroups: readonly ec2.SecurityGroup[];
  /** SSO roles (responderPrincipalArns) the URL's resource policy admits; same-account IAM principals need their own grant. */
  readonly callerPrincipalArns: readonly string[];
  /** The runtime the other Lambdas use. */
  readonly runtime: lambda.Runtime;
}

/**
 * The responders' API in this region: a Lambda function URL with AWS_IAM auth, chosen over an API
 * Gateway REST API with IAM authorization and a usage plan because
 * - the caller's SigV4 identity is what every call is audited with, and both give exactly that;
 * - usage plans throttle API keys, and API keys are not authentication: with IAM auth the
 *   throttle that matters is on the function (reserved concurrency), which the URL has too;
 * - request validation happens in the handler either way (zod, one schema shared with the CLI),
 *   so a REST API's models would be a second, drifting copy;
 * - one resource fewer per region to secure, log and pay for (no stage, deployment, account role).
 * Nothing is public: the URL refuses unsigned requests before the function runs, and the handler
 * refuses any event without the verified identity too.
 *
 * Its role can only launch from this region's rig templates (pinned by ARN), with IMDSv2, hop
 * limit 1, the forensic profile, encrypted volumes, the templates' rig groups and the account's own
 * images: even a compromised function cannot start anything else.
 */
export class RigApi extends Construct {
  readonly function: lambda.Function;
  readonly url: lambda.FunctionUrl;
  readonly role: iam.Role;
  readonly acknowledgements = new NamedAcknowledgements();

  constructor(scope: Construct, id: string, props: RigApiProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const region = stack.region;
    const partition = partitionOf(region);
    const ec2Arn = (resource: string, account: string = Aws.ACCOUNT_ID) =>
      `arn:${partition}:ec2:${region}:${account}:${resource}`;
    const templateArns = props.templates.map((t) => ec2Arn(`launch-template/${t.ref}`));
    const fromRigTemplate = { ArnEquals: { "ec2:LaunchTemplate": templateArns } };

    const logGroup = new logs.LogGroup(this, "LogGroup", {
      retention: props.logDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.role = new iam.Role(this, "Role", {
      roleName: apiRoleName(region),
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      description: "ops-rig API: launch rigs from this region's launch templates, nothing else",
    });
    const allow = (
      sid: string,
      actions: string[],
      resources: string[],
      conditions?: Record<string, unknown>,
    ) =>
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ sid, actions, resources, ...(conditions ? { conditions } : {}) }),
      );
    allow("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [logGroup.logGroupArn]);
    allow(
      "ReadTemplatesImagesSubnets",
      [
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:DescribeImages",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
      ],
      ["*"],
      { StringEquals: { "aws:RequestedRegion": region } },
    );
    allow(
      "ReadPublishedImageParameters",
      ["ssm:GetParameter", "ssm:GetParameters"],
      [`arn:${partition}:ssm:${region}:${Aws.ACCOUNT_ID}:parameter${props.parameterPrefix}/*`],
    );
    if (templateArns.length > 0 && props.rigGroups.length > 0) {
      allow("RunRigInstanceLockedDown", ["ec2:RunInstances"], [ec2Arn("instance/*")], {
        ...fromRigTemplate,
        StringEquals: { "ec2:MetadataHttpTokens": "required" },
        NumericLessThanEquals: { "ec2:MetadataHttpPutResponseHopLimit": "1" },
        ArnLike: {
          "ec2:InstanceProfile": `arn:${partition}:iam::${Aws.ACCOUNT_ID}:instance-profile/${FORENSIC_INSTANCE_PROFILE}`,
        },
      });
      allow("RunRigVolumesEncrypted", ["ec2:RunInstances"], [ec2Arn("volume/*")], {
        ...fromRigTemplate,
        Bool: { "ec2:Encrypted": "true" },
      });
      allow(
        "RunRigFromTemplateInRigGroup",
        ["ec2:RunInstances"],
        [
          ...templateArns,
          ec2Arn("network-interface/*"),
          ec2Arn("subnet/*"),
          ec2Arn("key-pair/*"),
          ...props.rigGroups.map((g) => ec2Arn(`security-group/${g.securityGroupId}`)),
        ],
        fromRigTemplate,
      );
      // The pipeline's AMIs (copies included) belong to this account; nobody else's image runs as a rig.
      allow("RunOwnImages", ["ec2:RunInstances"], [ec2Arn("image/*", "")], {
        ...fromRigTemplate,
        StringEquals: { "ec2:Owner": Aws.ACCOUNT_ID },
      });
      allow(
        "TagRigAtLaunch",
        ["ec2:CreateTags"],
        [ec2Arn("instance/*"), ec2Arn("volume/*"), ec2Arn("network-interface/*")],
        { StringEquals: { "ec2:CreateAction": "RunInstances" } },
      );
      allow(
        "PassForensicRole",
        ["iam:PassRole"],
        [`arn:${partition}:iam::${Aws.ACCOUNT_ID}:role/${FORENSIC_ROLE}`],
        {
          StringEquals: { "iam:PassedToService": "ec2.amazonaws.com" },
        },
      );
    }
    this.function = new lambda.Function(this, "Function", {
      functionName: API_FUNCTION_NAME,
      description: "ops-rig API: launch a rig from this region's template (function URL, IAM auth)",
      runtime: props.runtime,
      architecture: lambda.Architecture.ARM_64,
      code: lambda.Code.fromAsset(props.bundle.dir),
      handler: `${BUNDLE_FILE.replace(/\.mjs$/, "")}.handler`,
      role: this.role,
      memorySize: 512,
      timeout: Duration.seconds(30),
      // The throttle: at most this many requests at once; Lambda answers the rest 429.
      reservedConcurrentExecutions: API_CONCURRENCY,
      logGroup,
      environment: {
        OPS_RIG_PROJECT: LAMBDA_PROJECT_PATH,
        OPS_RIG_ACCOUNT: Aws.ACCOUNT_ID,
        OPS_RIG_FORENSIC_PROFILE: FORENSIC_INSTANCE_PROFILE,
        NODE_OPTIONS: "--enable-source-maps",
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      },
    });
    this.function.node.addDependency(this.role);
    // No CORS: browsers are not clients of this API.
    this.url = this.function.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
    props.callerPrincipalArns.forEach((arn, index) => {
      new lambda.CfnPermission(this, `Caller${index}Url`, {
        action: "lambda:InvokeFunctionUrl",
        functionName: this.function.functionArn,
        principal: arn,
        functionUrlAuthType: "AWS_IAM",
      });
      // Function URLs created since late 2025 also check lambda:InvokeFunction; only through the URL.
      new lambda.CfnPermission(this, `Caller${index}Invoke`, {
        action: "lambda:InvokeFunction",
        functionName: this.function.functionArn,
        principal: arn,
        invokedViaFunctionUrl: true,
      });
    });
  }
}
