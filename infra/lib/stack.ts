import { Aws, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, TimeZone } from "aws-cdk-lib";
import * as cloudformation from "aws-cdk-lib/aws-cloudformation";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as cwActions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as destinations from "aws-cdk-lib/aws-lambda-destinations";
import * as logs from "aws-cdk-lib/aws-logs";
import * as s3 from "aws-cdk-lib/aws-s3";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import * as targets from "aws-cdk-lib/aws-scheduler-targets";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subscriptions from "aws-cdk-lib/aws-sns-subscriptions";
import * as sqs from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";
import { Arns } from "./arns.js";
import { BUNDLE_FILE, LAMBDA_PROJECT_PATH, type LambdaBundle } from "./bundle.js";
import { MEMBER_STACK_SET, memberOutdir, memberTemplate } from "./member.js";
import { NamedAcknowledgements } from "./nag.js";
import { CASE_SESSION_FUNCTION, PIPELINE_FUNCTION_NAME, RIG_ACTIONS, responderRoleName } from "./names.js";
import { BuildNetwork } from "./network.js";
import { pipelineStatements } from "./pipeline-policy.js";
import { Responders } from "./responders.js";
import type { DeploySettings } from "./settings.js";

export interface OpsRigStackProps extends StackProps {
  readonly settings: DeploySettings;
  readonly bundle: LambdaBundle;
  /** The case-session broker's bundle. */
  readonly brokerBundle: LambdaBundle;
  /** CDK's CloudFormation rules for the member template's own app, as for the main app (default on). */
  readonly cloudFormationRules?: boolean;
}

/**
 * The Lambdas' Node version: nodejs24.x (Node 24 LTS, supported into 2028; nodejs20.x is past its end
 * of life). The bundles are lowered to Node 20 syntax (BUNDLE_TARGET) so that the tests can import
 * them on the developers' Node 20.
 */
export const RUNTIME = lambda.Runtime.NODEJS_24_X;

/** Events the schedules send; the handler tells them apart by `kind`. */
export const NIGHTLY_INPUT = { kind: "nightly" } as const;
export const TICK_INPUT = { kind: "tick" } as const;

/**
 * Everything ops-rig needs in its (security) account: the pipeline Lambda and what triggers it, the
 * topics it talks through, what Image Builder builds with, and the forensic instance's roles.
 */
export class OpsRigStack extends Stack {
  readonly pipelineFunction: lambda.Function;
  readonly pipelineRole: iam.Role;
  readonly pipelinePolicies: Readonly<Record<string, iam.ManagedPolicy>>;
  readonly notificationTopic: sns.Topic;
  readonly buildTopic: sns.Topic;
  readonly notificationKey: kms.Key;
  readonly deadLetterQueue: sqs.Queue;
  readonly logsBucket: s3.IBucket;
  readonly accessLogsBucket: s3.IBucket;
  readonly toolsBucket: s3.IBucket;
  readonly caseSessionFunction: lambda.Function;
  readonly caseSessionUrl: lambda.FunctionUrl;
  readonly buildRole: iam.Role;
  readonly buildInstanceProfile: iam.CfnInstanceProfile;
  readonly network: BuildNetwork;
  readonly responders: Responders;
  /** The member-account roles' StackSet and its template, when an organization is configured. */
  readonly memberStackSet: cloudformation.CfnStackSet | undefined;
  readonly memberTemplate: Readonly<Record<string, unknown>> | undefined;
  /** cdk-nag findings that are deliberate, each with its reason (applied with the wildcard ones). */
  readonly acknowledgements = new NamedAcknowledgements();

  constructor(scope: Construct, id: string, props: OpsRigStackProps) {
    super(scope, id, props);
    const { settings } = props;
    const arns = new Arns(settings.homeRegion, settings.regions, this.account);

    // ---- Buckets: server access logs, build logs, tools. (Evidence lives in each region's stack.) (Held as IBucket: under
    // exactOptionalPropertyTypes the jsii class Bucket is not assignable to its own interface.)
    const secureBucket = {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
    } satisfies s3.BucketProps;
    this.accessLogsBucket = new s3.Bucket(this, "AccessLogsBucket", {
      ...secureBucket,
      lifecycleRules: [{ id: "expire", expiration: Duration.days(365) }],
    }) as s3.IBucket;
    this.logsBucket = new s3.Bucket(this, "BuildLogsBucket", {
      ...secureBucket,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: "build-logs/",
      lifecycleRules: [
        {
          id: "expire",
          expiration: Duration.days(settings.buildLogDays),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    }) as s3.IBucket;
    this.toolsBucket = new s3.Bucket(this, "ToolsBucket", {
      ...secureBucket,
      versioned: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: "tools/",
      lifecycleRules: [{ id: "old-versions", noncurrentVersionExpiration: Duration.days(30) }],
    }) as s3.IBucket;
    const imageBuilderServiceRole = arns.iam(
      "role/aws-service-role/imagebuilder.amazonaws.com/AWSServiceRoleForImageBuilder",
    );

    // ---- Notifications: one customer key for both topics (same account, as Image Builder requires).
    this.notificationKey = new kms.Key(this, "NotificationKey", {
      description: "ops-rig SNS topics",
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Image Builder publishes with its service-linked role, which KMS would refuse to name as a
    // principal until it exists (it appears on the first build): match it by ARN instead.
    // https://docs.aws.amazon.com/imagebuilder/latest/userguide/integ-sns.html#integ-sns-encrypted
    this.notificationKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "ImageBuilderPublishesBuildEvents",
        principals: [new iam.AnyPrincipal()],
        actions: ["kms:GenerateDataKey*", "kms:Decrypt"],
        resources: ["*"],
        conditions: {
          ArnEquals: { "aws:PrincipalArn": imageBuilderServiceRole },
        },
      }),
    );
    // CloudWatch alarms publish to encrypted topics only with the key policy's leave, in exactly this
    // form: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
    this.notificationKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "CloudWatchAlarmsNotify",
        principals: [new iam.ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["kms:GenerateDataKey*", "kms:Decrypt"],
        resources: ["*"],
      }),
    );
    this.notificationTopic = new sns.Topic(this, "NotificationTopic", {
      displayName: "ops-rig notifications",
      masterKey: this.notificationKey,
      enforceSSL: true,
    });
    if (settings.notificationEmail) {
      this.notificationTopic.addSubscription(new subscriptions.EmailSubscription(settings.notificationEmail));
    }
    this.buildTopic = new sns.Topic(this, "BuildEventsTopic", {
      displayName: "ops-rig Image Builder build events",
      masterKey: this.notificationKey,
      enforceSSL: true,
    });
    // A topic policy (enforceSSL makes one) replaces SNS's default policy, so the service principals
    // that publish here need their own statement: CloudWatch alarms from this account, and Image
    // Builder's service-linked role (matched by ARN: it may not exist yet at deploy time).
    this.notificationTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "CloudWatchAlarmsPublish",
        principals: [new iam.ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["sns:Publish"],
        resources: [this.notificationTopic.topicArn],
        conditions: {
          StringEquals: { "aws:SourceAccount": this.account },
          ArnLike: { "aws:SourceArn": arns.arn("cloudwatch", settings.homeRegion, this.account, "alarm:*") },
        },
      }),
    );
    this.buildTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "ImageBuilderPublishesBuildEvents",
        principals: [new iam.AnyPrincipal()],
        actions: ["sns:Publish"],
        resources: [this.buildTopic.topicArn],
        conditions: { ArnEquals: { "aws:PrincipalArn": imageBuilderServiceRole } },
      }),
    );

    // ---- Failures that must not go unnoticed land here: schedules that could not invoke, invocations
    // that failed after Lambda's retries, notifications SNS could not deliver.
    this.deadLetterQueue = new sqs.Queue(this, "DeadLetterQueue", {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.acknowledgements.add(
      this.deadLetterQueue,
      "AwsSolutions-SQS3",
      "This queue is itself the dead-letter queue of the schedules, the Lambda's failed async invocations and the build-events subscription; an alarm watches its depth.",
    );

    // ---- Image Builder: build instance role/profile and network.
    this.buildRole = new iam.Role(this, "BuildInstanceRole", {
      assumedBy: new iam.ServicePrincipal("ec2.amazonaws.com"),
      description: "ops-rig Image Builder build instances",
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName("AmazonSSMManagedInstanceCore"),
        iam.ManagedPolicy.fromAwsManagedPolicyName("EC2InstanceProfileForImageBuilder"),
      ],
    });
    this.buildRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "WriteBuildLogs",
        actions: ["s3:PutObject"],
        resources: [this.logsBucket.arnForObjects("*")],
      }),
    );
    for (const policy of ["AmazonSSMManagedInstanceCore", "EC2InstanceProfileForImageBuilder"]) {
      this.acknowledgements.add(
        this.buildRole,
        `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${policy}]`,
        "Image Builder documents these two AWS managed policies as the build instance's requirements (SSM agent to drive the build, AWSTOE to fetch components and report); AWS keeps them current as Image Builder changes.",
      );
    }
    this.buildInstanceProfile = new iam.CfnInstanceProfile(this, "BuildInstanceProfile", {
      roles: [this.buildRole.roleName],
    });
    this.network = new BuildNetwork(this, "BuildNetwork", {
      existing: settings.buildNetwork,
      cidr: settings.buildVpcCidr,
      flowLogBucket: this.accessLogsBucket,
    });

    // ---- The pipeline Lambda.
    const logGroup = new logs.LogGroup(this, "PipelineLogGroup", {
      retention: settings.lambdaLogDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.pipelineRole = new iam.Role(this, "PipelineRole", {
      roleName: PIPELINE_FUNCTION_NAME,
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      description: "ops-rig pipeline Lambda: exactly the calls of src/aws/",
    });
    this.pipelineRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "WriteOwnLogs",
        actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
        resources: [logGroup.logGroupArn],
      }),
    );
    // The key policy names the pipeline too (its identity policy alone would do, through the account
    // statement), so reading the key policy tells who may encrypt notifications.
    this.notificationKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "PipelinePublishesNotifications",
        principals: [new iam.ArnPrincipal(this.pipelineRole.roleArn)],
        actions: ["kms:GenerateDataKey", "kms:Decrypt"],
        resources: ["*"],
        conditions: { StringEquals: { "kms:ViaService": arns.via("sns", [settings.homeRegion]) } },
      }),
    );
    const buildInstanceProfileArn = arns.iam(`instance-profile/${this.buildInstanceProfile.ref}`);
    const statements = pipelineStatements({
      arns,
      parameterPrefix: settings.parameterPrefix,
      notificationTopicArn: this.notificationTopic.topicArn,
      notificationKeyArn: this.notificationKey.keyArn,
      buildRoleArn: this.buildRole.roleArn,
      buildInstanceProfileArn,
      copyKmsKeys: settings.copyKmsKeys,
      ...(settings.share ? { share: settings.share } : {}),
      toolsets: settings.toolsets,
      logsBucketArn: this.logsBucket.bucketArn,
    });
    const policies: Record<string, iam.ManagedPolicy> = {};
    for (const [area, list] of Object.entries(statements)) {
      policies[area] = new iam.ManagedPolicy(this, `PipelinePolicy-${area}`, {
        description: `ops-rig pipeline Lambda: ${area}`,
        statements: list,
        roles: [this.pipelineRole],
      });
    }
    this.pipelinePolicies = policies;

    this.pipelineFunction = new lambda.Function(this, "PipelineFunction", {
      functionName: PIPELINE_FUNCTION_NAME,
      description: "ops-rig: observe, plan and apply the AMI bake pipeline",
      runtime: RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      code: lambda.Code.fromAsset(props.bundle.dir),
      handler: `${BUNDLE_FILE.replace(/\.mjs$/, "")}.handler`,
      role: this.pipelineRole,
      memorySize: 1024,
      // A run starts builds and copies and returns; it never waits for a build.
      timeout: Duration.minutes(15),
      // Runs must not overlap: a second trigger waits in Lambda's async queue instead.
      reservedConcurrentExecutions: 1,
      logGroup,
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
      onFailure: new destinations.SqsDestination(this.deadLetterQueue),
      environment: {
        OPS_RIG_PROJECT: LAMBDA_PROJECT_PATH,
        OPS_RIG_HOME_REGION: settings.homeRegion,
        OPS_RIG_TARGET_REGIONS: settings.targetRegions.join(","),
        OPS_RIG_NOTIFICATION_TOPIC_ARN: this.notificationTopic.topicArn,
        OPS_RIG_BUILD_TOPIC_ARN: this.buildTopic.topicArn,
        OPS_RIG_INSTANCE_PROFILE: this.buildInstanceProfile.ref,
        OPS_RIG_BUILD_SECURITY_GROUP_IDS: this.network.securityGroup.securityGroupId,
        OPS_RIG_BUILD_SUBNET_ID: this.network.subnetId,
        OPS_RIG_LOGS_BUCKET: this.logsBucket.bucketName,
        AWS_RETRY_MODE: "adaptive",
        POWERTOOLS_SERVICE_NAME: "ops-rig",
        // No --enable-source-maps: Node would parse the whole map at every cold start. The map
        // ships beside the bundle for reading stack traces offline.
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      },
    });
    // The policies must exist before the function can run with them.
    for (const policy of Object.values(policies)) this.pipelineFunction.node.addDependency(policy);

    this.buildTopic.addSubscription(
      new subscriptions.LambdaSubscription(this.pipelineFunction, { deadLetterQueue: this.deadLetterQueue }),
    );

    // ---- Schedules: nightly, and a tick that continues work in flight.
    const target = (input: object) =>
      new targets.LambdaInvoke(this.pipelineFunction, {
        input: scheduler.ScheduleTargetInput.fromObject(input),
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 3,
        maxEventAge: Duration.hours(1),
      });
    new scheduler.Schedule(this, "NightlySchedule", {
      description: "ops-rig nightly run",
      schedule: scheduler.ScheduleExpression.expression(
        settings.nightlySchedule,
        TimeZone.of(settings.nightlyTimeZone),
      ),
      target: target(NIGHTLY_INPUT),
    });
    new scheduler.Schedule(this, "TickSchedule", {
      description: "ops-rig tick: continue builds, copies and publishing in flight",
      schedule: scheduler.ScheduleExpression.rate(Duration.minutes(settings.tickMinutes)),
      target: target(TICK_INPUT),
    });

    // ---- Alarms to the responders' topic.
    const notify = new cwActions.SnsAction(this.notificationTopic);
    const errors = new cloudwatch.Alarm(this, "PipelineErrorsAlarm", {
      alarmDescription: "ops-rig pipeline Lambda failed",
      metric: this.pipelineFunction.metricErrors({ period: Duration.minutes(5), statistic: "Sum" }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const dlq = new cloudwatch.Alarm(this, "DeadLetterAlarm", {
      alarmDescription:
        "ops-rig: a schedule, invocation or build notification ended in the dead-letter queue",
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: "Maximum",
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const alarm of [errors, dlq]) alarm.addAlarmAction(notify);

    // ---- Forensic instance, responder roles, and the broker that gives rigs case sessions.
    this.responders = new Responders(this, "Responders", {
      arns,
      toolsBucket: this.toolsBucket,
      parameterPrefix: settings.parameterPrefix,
      responderPrincipalArns: settings.responderPrincipalArns,
      audit: { topicArn: this.notificationTopic.topicArn, keyArn: this.notificationKey.keyArn },
    });
    const brokerLogs = new logs.LogGroup(this, "CaseSessionLogGroup", {
      retention: settings.lambdaLogDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.responders.brokerRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "WriteOwnLogs",
        actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
        resources: [brokerLogs.logGroupArn],
      }),
    );
    this.caseSessionFunction = new lambda.Function(this, "CaseSessionFunction", {
      functionName: CASE_SESSION_FUNCTION,
      description: "ops-rig: a rig's responder session for the case of its own ops-rig:case tag",
      runtime: RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      code: lambda.Code.fromAsset(props.brokerBundle.dir),
      handler: `${BUNDLE_FILE.replace(/\.mjs$/, "")}.handler`,
      role: this.responders.brokerRole,
      memorySize: 256,
      timeout: Duration.seconds(15),
      logGroup: brokerLogs,
      environment: {
        OPS_RIG_REGIONS: settings.regions.join(","),
        OPS_RIG_ACCOUNT: Aws.ACCOUNT_ID,
        OPS_RIG_PARTITION: Aws.PARTITION,
        ...(settings.organization ? { OPS_RIG_MEMBER_ACCOUNTS: "true" } : {}),
        NODE_OPTIONS: "--enable-source-maps",
      },
    });
    // IAM auth: the caller's SigV4 identity (a rig's instance session) is what the broker trusts.
    this.caseSessionUrl = this.caseSessionFunction.addFunctionUrl({
      authType: lambda.FunctionUrlAuthType.AWS_IAM,
    });

    // ---- Member accounts: the responder roles in every account of the chosen OUs, present and future.
    this.memberStackSet = undefined;
    this.memberTemplate = undefined;
    const organization = settings.organization;
    if (organization && settings.account) {
      this.memberTemplate = memberTemplate(
        {
          securityAccount: settings.account,
          organizationId: organization.id,
          homeRegion: settings.homeRegion,
          regions: organization.regions,
          responderPrincipalArns: settings.responderPrincipalArns,
        },
        memberOutdir(this),
        { cloudFormationRules: props.cloudFormationRules ?? true },
      );
      const body = JSON.stringify(this.memberTemplate);
      // CloudFormation takes a TemplateBody of at most 51,200 bytes (larger ones need an S3 URL).
      if (Buffer.byteLength(body) > 51_200)
        throw new Error(
          `the member template is ${Buffer.byteLength(body)} bytes, over TemplateBody's 51,200`,
        );
      this.memberStackSet = new cloudformation.CfnStackSet(this, "MemberResponders", {
        stackSetName: MEMBER_STACK_SET,
        description: `ops-rig responder roles in member accounts, trusting security account ${settings.account}`,
        permissionModel: "SERVICE_MANAGED",
        // The security account manages the StackSet as the organization's delegated administrator
        // (never from the management account: that account is exactly what ops-rig stays out of).
        callAs: "DELEGATED_ADMIN",
        autoDeployment: { enabled: true, retainStacksOnAccountRemoval: false },
        capabilities: ["CAPABILITY_NAMED_IAM"],
        managedExecution: { Active: true },
        operationPreferences: {
          maxConcurrentPercentage: 25,
          failureTolerancePercentage: 10,
          regionConcurrencyType: "PARALLEL",
        },
        // IAM is global: one stack per account (in the home region); memberRegions is where the
        // roles act (aws:RequestedRegion), not where they are deployed.
        stackInstancesGroup: [
          {
            deploymentTargets: { organizationalUnitIds: [...organization.units] },
            regions: [settings.homeRegion],
          },
        ],
        templateBody: body,
      });
      this.memberStackSet.node.addDependency(this.responders);
      // Rigs reach member accounts only through the broker, with their own case, on the rig roles.
      this.responders.brokerRole.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: "AssumeMemberRigRolesWithTheRigsCase",
          actions: ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
          resources: RIG_ACTIONS.map((action) =>
            arns.arn("iam", "", "*", `role/${responderRoleName(action)}`),
          ),
          conditions: { StringEquals: { "aws:ResourceOrgID": organization.id } },
        }),
      );
    }

    const output = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    output(
      "PipelineFunctionName",
      this.pipelineFunction.functionName,
      "aws lambda invoke --function-name <this>",
    );
    output("NotificationTopicArn", this.notificationTopic.topicArn, "responders' topic");
    output("BuildEventsTopicArn", this.buildTopic.topicArn, "Image Builder completion topic");
    output("BuildLogsBucketName", this.logsBucket.bucketName, "Image Builder build logs");
    output("ToolsBucketName", this.toolsBucket.bucketName, "read by the forensic instance");
    output("CaseSessionUrl", this.caseSessionUrl.url, "rigs get responder sessions here (IAM auth)");
    output(
      "ForensicInstanceProfileName",
      this.responders.forensicProfile.ref,
      "instance profile of forensic instances",
    );
    output("DeployedAccount", Aws.ACCOUNT_ID, "account the stack runs in");
  }
}
