import { Match } from "aws-cdk-lib/assertions";
import { afterAll, describe, expect, it } from "vitest";
import { LAMBDA_PROJECT_PATH } from "../../infra/lib/bundle.js";
import {
  FORENSIC_INSTANCE_PROFILE,
  RESPONDER_ACTIONS,
  responderRoleName,
  TAGS,
} from "../../infra/lib/names.js";
import { SESSION_CASE } from "../../infra/lib/responders.js";
import {
  ACCOUNT,
  actionsOf,
  cleanup,
  logicalIdOf,
  propsOf,
  resourcesOfType,
  type Statement,
  statementsOfRole,
  synth,
} from "./helpers.js";

afterAll(cleanup);

const ref = (id: string) => ({ Ref: id });
const arnOf = (id: string) => ({ "Fn::GetAtt": [id, "Arn"] });

// The first synth of a file (four stacks, two bundles) can exceed the default timeout under load.
describe("the pipeline Lambda", { timeout: 180_000 }, () => {
  it("is Node 24 on arm64, 15 minutes at most, never two at once", async () => {
    const { template, millis } = await synth();
    console.log(`[stack] first synth in this file: ${millis.toFixed(0)} ms`);
    template.hasResourceProperties("AWS::Lambda::Function", {
      // `ops-rig bake --remote` invokes it by this name.
      FunctionName: "ops-rig-pipeline",
      Runtime: "nodejs24.x",
      Architectures: ["arm64"],
      Handler: "index.handler",
      Timeout: 900,
      ReservedConcurrentExecutions: 1,
      MemorySize: 1024,
    });
  });

  it("gets the stack's resource names through the environment the handler reads", async () => {
    const { json, settings } = await synth();
    const [, fn] =
      resourcesOfType(json, "AWS::Lambda::Function").find(([id]) => id.startsWith("PipelineFunction")) ?? [];
    const vars = (propsOf(fn).Environment as { Variables: Record<string, unknown> }).Variables;
    expect(vars).toEqual({
      OPS_RIG_PROJECT: LAMBDA_PROJECT_PATH,
      OPS_RIG_HOME_REGION: "us-east-1",
      OPS_RIG_TARGET_REGIONS: settings.targetRegions.join(","),
      OPS_RIG_NOTIFICATION_TOPIC_ARN: ref(logicalIdOf(json, "AWS::SNS::Topic", "NotificationTopic")),
      OPS_RIG_BUILD_TOPIC_ARN: ref(logicalIdOf(json, "AWS::SNS::Topic", "BuildEventsTopic")),
      OPS_RIG_INSTANCE_PROFILE: ref(logicalIdOf(json, "AWS::IAM::InstanceProfile", "BuildInstanceProfile")),
      OPS_RIG_BUILD_SECURITY_GROUP_IDS: {
        "Fn::GetAtt": [logicalIdOf(json, "AWS::EC2::SecurityGroup", "BuildSecurityGroup"), "GroupId"],
      },
      OPS_RIG_BUILD_SUBNET_ID: ref(logicalIdOf(json, "AWS::EC2::Subnet", "BuildNetworkSubnet")),
      OPS_RIG_LOGS_BUCKET: ref(logicalIdOf(json, "AWS::S3::Bucket", "BuildLogsBucket")),
      AWS_RETRY_MODE: "adaptive",
      POWERTOOLS_SERVICE_NAME: "ops-rig",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    });
    expect(settings.targetRegions).toEqual(["us-east-1", "eu-west-1", "ap-southeast-2"]);
  });

  it("sends failed asynchronous invocations to the dead-letter queue after two retries", async () => {
    const { template, json } = await synth();
    const dlq = logicalIdOf(json, "AWS::SQS::Queue", "DeadLetterQueue");
    template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 21600,
      DestinationConfig: { OnFailure: { Destination: arnOf(dlq) } },
    });
  });

  it("writes its logs to its own log group with a retention, and may write nowhere else", async () => {
    const { template, json } = await synth({ lambdaLogDays: 30 });
    const group = logicalIdOf(json, "AWS::Logs::LogGroup", "PipelineLogGroup");
    template.hasResourceProperties("AWS::Logs::LogGroup", { RetentionInDays: 30 });
    template.hasResourceProperties("AWS::Lambda::Function", { LoggingConfig: { LogGroup: ref(group) } });
    const role = logicalIdOf(json, "AWS::IAM::Role", "PipelineRole");
    const logs = statementsOfRole(json, role).filter((s) => actionsOf(s).some((a) => a.startsWith("logs:")));
    expect(logs.map((s) => s.Resource)).toEqual([arnOf(group)]);
  });
});

describe("schedules", () => {
  it("run nightly (cron and time zone from context) and tick every few minutes, with retries and a DLQ", async () => {
    const { template, json } = await synth({
      nightlySchedule: "cron(30 3 ? * MON-FRI *)",
      nightlyTimeZone: "Europe/Berlin",
      tickMinutes: "10",
    });
    const fn = logicalIdOf(json, "AWS::Lambda::Function", "PipelineFunction");
    const dlq = logicalIdOf(json, "AWS::SQS::Queue", "DeadLetterQueue");
    const target = (input: object) => ({
      Arn: arnOf(fn),
      Input: JSON.stringify(input),
      DeadLetterConfig: { Arn: arnOf(dlq) },
      RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
    });
    template.resourceCountIs("AWS::Scheduler::Schedule", 2);
    template.hasResourceProperties("AWS::Scheduler::Schedule", {
      ScheduleExpression: "cron(30 3 ? * MON-FRI *)",
      ScheduleExpressionTimezone: "Europe/Berlin",
      State: "ENABLED",
      Target: Match.objectLike(target({ kind: "nightly" })),
    });
    template.hasResourceProperties("AWS::Scheduler::Schedule", {
      ScheduleExpression: "rate(10 minutes)",
      Target: Match.objectLike(target({ kind: "tick" })),
    });
  });

  it("default to 02:00 UTC nightly and a 15-minute tick", async () => {
    const { template } = await synth();
    template.hasResourceProperties("AWS::Scheduler::Schedule", {
      ScheduleExpression: "cron(0 2 * * ? *)",
      ScheduleExpressionTimezone: "UTC",
    });
    template.hasResourceProperties("AWS::Scheduler::Schedule", { ScheduleExpression: "rate(15 minutes)" });
  });

  it("may invoke the pipeline function and send to the DLQ, nothing else", async () => {
    const { json } = await synth();
    const schedule = resourcesOfType(json, "AWS::Scheduler::Schedule")[0]?.[1];
    const target = propsOf(schedule).Target as { RoleArn: { "Fn::GetAtt": [string, string] } };
    const role = target.RoleArn["Fn::GetAtt"][0];
    const actions = statementsOfRole(json, role).flatMap(actionsOf).sort();
    expect(actions).toEqual(["lambda:InvokeFunction", "sqs:SendMessage"]);
  });
});

describe("notifications", () => {
  it("encrypts both topics with one rotating customer key and enforces TLS", async () => {
    const { template, json } = await synth();
    const key = logicalIdOf(json, "AWS::KMS::Key", "NotificationKey");
    template.hasResourceProperties("AWS::KMS::Key", { EnableKeyRotation: true });
    const topics = resourcesOfType(json, "AWS::SNS::Topic");
    expect(topics).toHaveLength(2);
    for (const [, topic] of topics) expect(topic.Properties?.KmsMasterKeyId).toEqual(arnOf(key));
    template.resourcePropertiesCountIs(
      "AWS::SNS::TopicPolicy",
      {
        PolicyDocument: Match.objectLike({
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
          ]),
        }),
      },
      2,
    );
  });

  it("lets Image Builder's service-linked role, the pipeline and CloudWatch alarms use the key", async () => {
    const { json } = await synth();
    const key = json.Resources[logicalIdOf(json, "AWS::KMS::Key", "NotificationKey")];
    const statements = (propsOf(key).KeyPolicy as { Statement: Statement[] }).Statement;
    expect(statements).toContainEqual({
      Sid: "ImageBuilderPublishesBuildEvents",
      Effect: "Allow",
      Principal: { AWS: "*" },
      Action: ["kms:GenerateDataKey*", "kms:Decrypt"],
      Resource: "*",
      Condition: {
        ArnEquals: {
          "aws:PrincipalArn": `arn:aws:iam::${ACCOUNT}:role/aws-service-role/imagebuilder.amazonaws.com/AWSServiceRoleForImageBuilder`,
        },
      },
    });
    expect(statements).toContainEqual({
      Sid: "PipelinePublishesNotifications",
      Effect: "Allow",
      Principal: { AWS: arnOf(logicalIdOf(json, "AWS::IAM::Role", "PipelineRole")) },
      Action: ["kms:GenerateDataKey", "kms:Decrypt"],
      Resource: "*",
      Condition: { StringEquals: { "kms:ViaService": ["sns.us-east-1.amazonaws.com"] } },
    });
    expect(statements).toContainEqual({
      Sid: "CloudWatchAlarmsNotify",
      Effect: "Allow",
      Principal: { Service: "cloudwatch.amazonaws.com" },
      Action: ["kms:GenerateDataKey*", "kms:Decrypt"],
      Resource: "*",
    });
  });

  it("subscribes the Lambda to the Image Builder topic, with a DLQ for undeliverable events", async () => {
    const { template, json } = await synth();
    const fn = logicalIdOf(json, "AWS::Lambda::Function", "PipelineFunction");
    template.hasResourceProperties("AWS::SNS::Subscription", {
      Protocol: "lambda",
      Endpoint: arnOf(fn),
      TopicArn: ref(logicalIdOf(json, "AWS::SNS::Topic", "BuildEventsTopic")),
      RedrivePolicy: { deadLetterTargetArn: arnOf(logicalIdOf(json, "AWS::SQS::Queue", "DeadLetterQueue")) },
    });
    template.hasResourceProperties("AWS::Lambda::Permission", {
      Action: "lambda:InvokeFunction",
      Principal: "sns.amazonaws.com",
      SourceArn: ref(logicalIdOf(json, "AWS::SNS::Topic", "BuildEventsTopic")),
    });
  });

  it("subscribes the notification e-mail only when one is given", async () => {
    (await synth()).template.resourcePropertiesCountIs("AWS::SNS::Subscription", { Protocol: "email" }, 0);
    const { template, json } = await synth({ notificationEmail: "sirt@example.com" });
    template.hasResourceProperties("AWS::SNS::Subscription", {
      Protocol: "email",
      Endpoint: "sirt@example.com",
      TopicArn: ref(logicalIdOf(json, "AWS::SNS::Topic", "NotificationTopic")),
    });
  });

  it("alarms on Lambda errors and on any message in the dead-letter queue, to the responders' topic", async () => {
    const { template, json } = await synth();
    const topic = ref(logicalIdOf(json, "AWS::SNS::Topic", "NotificationTopic"));
    template.resourceCountIs("AWS::CloudWatch::Alarm", 2);
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      MetricName: "Errors",
      Namespace: "AWS/Lambda",
      Dimensions: [
        { Name: "FunctionName", Value: ref(logicalIdOf(json, "AWS::Lambda::Function", "PipelineFunction")) },
      ],
      Threshold: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      AlarmActions: [topic],
    });
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      MetricName: "ApproximateNumberOfMessagesVisible",
      Namespace: "AWS/SQS",
      Threshold: 1,
      AlarmActions: [topic],
    });
    template.hasResourceProperties("AWS::SQS::Queue", { SqsManagedSseEnabled: true });
    // The topic policy (TLS only) replaces SNS's default one, so CloudWatch needs its own allowance.
    template.hasResourceProperties("AWS::SNS::TopicPolicy", {
      Topics: [topic],
      PolicyDocument: Match.objectLike({
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: "CloudWatchAlarmsPublish",
            Principal: { Service: "cloudwatch.amazonaws.com" },
            Action: "sns:Publish",
            Condition: {
              StringEquals: { "aws:SourceAccount": ACCOUNT },
              ArnLike: { "aws:SourceArn": `arn:aws:cloudwatch:us-east-1:${ACCOUNT}:alarm:*` },
            },
          }),
        ]),
      }),
    });
  });
});

describe("Image Builder", () => {
  it("builds with a role that has SSM core, the Image Builder instance policy and write to the logs bucket", async () => {
    const { template, json } = await synth();
    const role = logicalIdOf(json, "AWS::IAM::Role", "BuildInstanceRole");
    template.hasResourceProperties("AWS::IAM::Role", {
      ManagedPolicyArns: [
        {
          "Fn::Join": ["", ["arn:", ref("AWS::Partition"), ":iam::aws:policy/AmazonSSMManagedInstanceCore"]],
        },
        {
          "Fn::Join": [
            "",
            ["arn:", ref("AWS::Partition"), ":iam::aws:policy/EC2InstanceProfileForImageBuilder"],
          ],
        },
      ],
    });
    const logs = logicalIdOf(json, "AWS::S3::Bucket", "BuildLogsBucket");
    expect(statementsOfRole(json, role)).toEqual([
      {
        Sid: "WriteBuildLogs",
        Effect: "Allow",
        Action: "s3:PutObject",
        Resource: { "Fn::Join": ["", [arnOf(logs), "/*"]] },
      },
    ]);
    template.hasResourceProperties("AWS::IAM::InstanceProfile", { Roles: [ref(role)] });
  });

  it("has a build security group with no inbound rules and only HTTPS/HTTP out", async () => {
    const { template, json } = await synth();
    const [, group] =
      resourcesOfType(json, "AWS::EC2::SecurityGroup").find(([id]) => id.includes("BuildSecurityGroup")) ??
      [];
    expect(group?.Properties?.SecurityGroupIngress).toBeUndefined();
    expect(group?.Properties?.SecurityGroupEgress).toEqual([
      expect.objectContaining({ CidrIp: "0.0.0.0/0", IpProtocol: "tcp", FromPort: 443, ToPort: 443 }),
      expect.objectContaining({ CidrIp: "0.0.0.0/0", IpProtocol: "tcp", FromPort: 80, ToPort: 80 }),
    ]);
    template.resourceCountIs("AWS::EC2::SecurityGroupIngress", 0);
  });

  it("creates a one-subnet build VPC with flow logs when no VPC is given", async () => {
    const { template, json } = await synth();
    template.hasResourceProperties("AWS::EC2::VPC", { CidrBlock: "10.213.0.0/24" });
    template.hasResourceProperties("AWS::EC2::Subnet", {
      MapPublicIpOnLaunch: true,
      AvailabilityZone: { "Fn::Select": [0, { "Fn::GetAZs": "" }] },
    });
    template.hasResourceProperties("AWS::EC2::Route", { DestinationCidrBlock: "0.0.0.0/0" });
    template.hasResourceProperties("AWS::EC2::FlowLog", {
      ResourceType: "VPC",
      TrafficType: "ALL",
      LogDestinationType: "s3",
      ResourceId: ref(logicalIdOf(json, "AWS::EC2::VPC", "BuildNetworkVpc")),
    });
  });

  it("uses the team's VPC and subnet when given, and creates no VPC", async () => {
    const { template, json } = await synth({
      buildVpcId: "vpc-0123456789abcdef0",
      buildSubnetId: "subnet-0123456789abcdef0",
    });
    template.resourceCountIs("AWS::EC2::VPC", 0);
    template.resourceCountIs("AWS::EC2::FlowLog", 0);
    template.hasResourceProperties("AWS::EC2::SecurityGroup", { VpcId: "vpc-0123456789abcdef0" });
    const [, fn] = resourcesOfType(json, "AWS::Lambda::Function")[0] ?? [];
    expect(JSON.stringify(fn?.Properties?.Environment)).toContain(
      '"OPS_RIG_BUILD_SUBNET_ID":"subnet-0123456789abcdef0"',
    );
  });
});

describe("buckets", () => {
  it("are encrypted, TLS-only, private and logged; build logs expire", async () => {
    const { template, json } = await synth({ buildLogDays: 14 });
    const buckets = resourcesOfType(json, "AWS::S3::Bucket");
    expect(buckets.map(([id]) => id.replace(/[0-9A-F]{8}$/, "")).sort()).toEqual([
      "AccessLogsBucket",
      "BuildLogsBucket",
      "ToolsBucket",
    ]);
    const accessLogs = logicalIdOf(json, "AWS::S3::Bucket", "AccessLogsBucket");
    for (const [id, bucket] of buckets) {
      const p = bucket.Properties ?? {};
      expect(p.PublicAccessBlockConfiguration, id).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(JSON.stringify(p.BucketEncryption), id).toMatch(/"SSEAlgorithm":"(AES256|aws:kms)"/);
      if (id !== accessLogs)
        expect(
          (p.LoggingConfiguration as { DestinationBucketName: unknown }).DestinationBucketName,
          id,
        ).toEqual(ref(accessLogs));
      template.hasResourceProperties("AWS::S3::BucketPolicy", {
        Bucket: ref(id),
        PolicyDocument: Match.objectLike({
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: "Deny",
              Action: "s3:*",
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            }),
          ]),
        }),
      });
    }
    template.hasResourceProperties("AWS::S3::Bucket", {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ ExpirationInDays: 14, Status: "Enabled" })]),
      },
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: "build-logs/" }),
    });
  });

  it("keep evidence in every configured region: COMPLIANCE lock, write-only, a key that names its users", async () => {
    const built = await synth({ evidenceLockDays: 30 });
    expect(built.regionalStacks.map((r) => r.stackName)).toEqual([
      "OpsRig-us-east-1",
      "OpsRig-eu-west-1",
      "OpsRig-ap-southeast-2",
    ]);
    for (const regional of built.regionalStacks) {
      const json = built.regionalJson(regional.stackName);
      const [bucketId, bucket] =
        resourcesOfType(json, "AWS::S3::Bucket").find(([id]) => id.includes("Evidence")) ?? [];
      const p = propsOf(bucket);
      expect(p.ObjectLockConfiguration).toEqual({
        ObjectLockEnabled: "Enabled",
        Rule: { DefaultRetention: { Mode: "COMPLIANCE", Days: 30 } },
      });
      expect(p.VersioningConfiguration).toEqual({ Status: "Enabled" });
      expect(JSON.stringify(p.BucketName)).toContain(`ops-rig-evidence-`);
      const [, policy] =
        resourcesOfType(json, "AWS::S3::BucketPolicy").find(
          ([, r]) => JSON.stringify(r.Properties?.Bucket) === JSON.stringify(ref(bucketId ?? "")),
        ) ?? [];
      const sids = (propsOf(policy).PolicyDocument as { Statement: Statement[] }).Statement.map(
        (s) => `${s.Effect}:${s.Sid}`,
      );
      expect(sids).toEqual(
        expect.arrayContaining([
          "Deny:NobodyButTheAnalystReads",
          "Deny:NobodyButTheAnalystDeletes",
          "Deny:NobodyButTheCapturePathWrites",
          "Deny:NobodyShortensTheLock",
        ]),
      );
      const [, key] = resourcesOfType(json, "AWS::KMS::Key")[0] ?? [];
      const keyPolicy = JSON.stringify(propsOf(key).KeyPolicy);
      // Named users only; the account administers the key but cannot use it.
      expect(keyPolicy).not.toContain('"kms:*"');
      expect(keyPolicy).toContain("role/ops-rig-responder-memory-capture");
      expect(keyPolicy).toContain("role/ops-rig-evidence-analyst");
      // Regional stacks need the home stack's roles first.
      expect(regional.dependencies.map((d) => d.stackName)).toEqual(["OpsRig"]);
    }
  });
});

describe("the forensic instance and the responder roles", () => {
  it("gives the forensic instance the tools bucket, SSM sessions, the broker and its break-glass key, nothing else", async () => {
    const { template, json } = await synth();
    const role = logicalIdOf(json, "AWS::IAM::Role", "ForensicInstanceRole");
    template.hasResourceProperties("AWS::IAM::InstanceProfile", {
      InstanceProfileName: FORENSIC_INSTANCE_PROFILE,
      Roles: [ref(role)],
    });
    const statements = statementsOfRole(json, role);
    const tools = logicalIdOf(json, "AWS::S3::Bucket", "ToolsBucket");
    expect(statements.find((s) => s.Sid === "ReadToolsBucket")).toEqual({
      Sid: "ReadToolsBucket",
      Effect: "Allow",
      Action: ["s3:GetObject", "s3:ListBucket"],
      Resource: [arnOf(tools), { "Fn::Join": ["", [arnOf(tools), "/*"]] }],
    });
    // No sts:AssumeRole at all: rigs get case sessions from the broker.
    expect(statements.flatMap(actionsOf).sort()).toEqual([
      "lambda:InvokeFunction",
      "lambda:InvokeFunctionUrl",
      "s3:GetObject",
      "s3:ListBucket",
      "secretsmanager:GetSecretValue",
      "ssm:GetParameter",
      "ssm:UpdateInstanceInformation",
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
    ]);
  });

  it("runs the case-session broker behind an IAM-authenticated function URL", async () => {
    const { template } = await synth();
    template.hasResourceProperties("AWS::Lambda::Function", {
      FunctionName: "ops-rig-case-session",
      Runtime: "nodejs24.x",
    });
    template.hasResourceProperties("AWS::Lambda::Url", { AuthType: "AWS_IAM" });
  });

  it("lets extra principals (SSO roles) assume the responder roles when configured", async () => {
    const extra = "arn:aws:iam::222222222222:role/sso-sirt";
    const { json } = await synth({ responderPrincipalArns: extra });
    const [, role] =
      resourcesOfType(json, "AWS::IAM::Role").find(
        ([, r]) => r.Properties?.RoleName === "ops-rig-responder-inspect",
      ) ?? [];
    expect(JSON.stringify(role?.Properties?.AssumeRolePolicyDocument)).toContain(extra);
  });

  it("scopes every mutating responder statement to the session's case", async () => {
    const { json } = await synth();
    for (const action of RESPONDER_ACTIONS) {
      const role = resourcesOfType(json, "AWS::IAM::Role").find(
        ([, r]) => r.Properties?.RoleName === responderRoleName(action),
      )?.[0];
      for (const s of statementsOfRole(json, role ?? "").filter((st) => st.Effect === "Allow")) {
        const mutating = actionsOf(s).some((a) => a.startsWith("ec2:") && !/^ec2:(Describe|Get)/.test(a));
        if (!mutating || JSON.stringify(s.Resource).includes("security-group")) continue;
        expect(JSON.stringify(s.Condition), `${action}/${s.Sid}`).toContain(SESSION_CASE);
      }
    }
    expect(TAGS.case).toBe("ops-rig:case");
  });

  it("publishes the responders' VPN ranges as a prefix list in every region, and ops-rig groups in listed VPCs", async () => {
    const built = await synth({
      responderCidrs: "10.8.0.0/16,192.168.40.0/24",
      responderVpcs: '{"eu-west-1": ["vpc-0123456789abcdef0"]}',
    });
    for (const regional of built.regionalStacks) {
      const json = built.regionalJson(regional.stackName);
      const [, list] = resourcesOfType(json, "AWS::EC2::PrefixList")[0] ?? [];
      expect(propsOf(list)).toMatchObject({
        PrefixListName: "ops-rig-responders",
        AddressFamily: "IPv4",
        Entries: [
          { Cidr: "10.8.0.0/16", Description: "responder VPN" },
          { Cidr: "192.168.40.0/24", Description: "responder VPN" },
        ],
      });
      // The rig's own group (launch templates) is checked in launch-templates.test.ts.
      const all = resourcesOfType(json, "AWS::EC2::SecurityGroup");
      const groups = all.filter(([, r]) => propsOf(r).GroupName !== "ops-rig-rig");
      expect(groups.length).toBe(regional.region === "eu-west-1" ? 2 : 0);
      // SSH from the prefix list is the one inbound rule; the default allow-all egress is gone.
      const ingress = resourcesOfType(json, "AWS::EC2::SecurityGroupIngress").map(([, r]) => propsOf(r));
      expect(ingress).toHaveLength(all.length);
      for (const rule of ingress) {
        expect(rule).toMatchObject({ IpProtocol: "tcp", FromPort: 22, ToPort: 22 });
        expect(rule.SourcePrefixListId).toBeDefined();
      }
      for (const [, group] of groups) {
        expect(JSON.stringify(propsOf(group).SecurityGroupEgress)).not.toContain("0.0.0.0/0");
      }
    }
  });
});

describe("the whole template", () => {
  it("holds exactly these resources: nothing (such as a custom-resource Lambda) slips in unreviewed", async () => {
    const { json } = await synth();
    const counts: Record<string, number> = {};
    for (const r of Object.values(json.Resources)) counts[r.Type] = (counts[r.Type] ?? 0) + 1;
    expect(counts).toEqual({
      "AWS::CloudWatch::Alarm": 2,
      "AWS::EC2::FlowLog": 1,
      "AWS::EC2::InternetGateway": 1,
      "AWS::EC2::Route": 1,
      "AWS::EC2::RouteTable": 1,
      "AWS::EC2::SecurityGroup": 1,
      "AWS::EC2::Subnet": 1,
      "AWS::EC2::SubnetRouteTableAssociation": 1,
      "AWS::EC2::VPC": 1,
      "AWS::EC2::VPCGatewayAttachment": 1,
      // Build instance, forensic instance.
      "AWS::IAM::InstanceProfile": 2,
      // Pipeline: ec2, ssm-sns, imagebuilder, kms; responders: six.
      "AWS::IAM::ManagedPolicy": 11,
      // Pipeline, build instance, schedules, forensic instance, broker (two), analyst.
      "AWS::IAM::Policy": 7,
      // Pipeline, build instance, forensic instance, broker, six responders, analyst, the schedules' role.
      "AWS::IAM::Role": 12,
      "AWS::KMS::Key": 1,
      "AWS::Lambda::EventInvokeConfig": 1,
      // The pipeline and the case-session broker (with its function URL).
      "AWS::Lambda::Function": 2,
      "AWS::Lambda::Permission": 1,
      "AWS::Lambda::Url": 1,
      "AWS::Logs::LogGroup": 2,
      "AWS::S3::Bucket": 3,
      "AWS::S3::BucketPolicy": 3,
      "AWS::SNS::Subscription": 1,
      "AWS::SNS::Topic": 2,
      "AWS::SNS::TopicPolicy": 2,
      "AWS::SQS::Queue": 1,
      "AWS::SQS::QueuePolicy": 1,
      "AWS::Scheduler::Schedule": 2,
    });
  });
});

describe("an account-agnostic synth", () => {
  it("works without any account and uses AWS::AccountId in ARNs", async () => {
    const { json, stack } = await synth({ account: undefined });
    expect(stack.account).toMatch(/^\$\{Token/);
    expect(stack.region).toBe("us-east-1");
    expect(JSON.stringify(json)).toContain('{"Ref":"AWS::AccountId"}');
    expect(JSON.stringify(json)).not.toContain(ACCOUNT);
  });
});
