/**
 * Which IAM actions the pipeline's code needs, read from the code itself: every `XxxCommand`,
 * `paginateXxx` and waiter imported from an `@aws-sdk/client-*` package in the files the Lambda
 * bundle contains, plus what AWS checks on the caller's behalf for those calls. The permission test
 * holds this against the Lambda's policy in the synthesized template, so an adapter that starts
 * calling something new fails the test until the policy allows it.
 */

export interface SdkCall {
  readonly file: string;
  /** The `@aws-sdk/client-<client>` package suffix. */
  readonly client: string;
  /** As imported: `CopyImageCommand`, `paginateDescribeImages`, `waitUntilImageAvailable`. */
  readonly symbol: string;
  /** The IAM actions the symbol calls. */
  readonly actions: readonly string[];
}

/** IAM service prefix of each SDK client package. Unknown clients fail loudly: add them here. */
export const CLIENT_SERVICE_PREFIX: Readonly<Record<string, string>> = {
  ec2: "ec2",
  ssm: "ssm",
  sns: "sns",
  sts: "sts",
  imagebuilder: "imagebuilder",
  iam: "iam",
  kms: "kms",
  ram: "ram",
  s3: "s3",
  sqs: "sqs",
  "secrets-manager": "secretsmanager",
  "cloudwatch-logs": "logs",
  cloudwatch: "cloudwatch",
  cloudtrail: "cloudtrail",
  "config-service": "config",
  lambda: "lambda",
};

/** Operations whose IAM action is not named like the operation. */
export const OPERATION_ACTION_OVERRIDES: Readonly<Record<string, string>> = {
  "s3:ListObjectsV2": "s3:ListBucket",
  "s3:HeadObject": "s3:GetObject",
  "s3:HeadBucket": "s3:ListBucket",
};

/** Waiters poll a describe call. */
export const WAITER_ACTIONS: Readonly<Record<string, readonly string[]>> = {
  "ec2:waitUntilImageAvailable": ["ec2:DescribeImages"],
  "ec2:waitUntilImageExists": ["ec2:DescribeImages"],
  "ec2:waitUntilSnapshotCompleted": ["ec2:DescribeSnapshots"],
  "ec2:waitUntilInstanceRunning": ["ec2:DescribeInstances"],
};

/**
 * Permissions AWS checks for a call beyond its own action (the caller needs them too), with where
 * that is documented. The Lambda's policy must allow these whenever the call appears.
 */
export const IMPLIED_ACTIONS: Readonly<
  Record<string, { readonly actions: readonly string[]; readonly why: string }>
> = {
  "ec2:CopyImage": {
    actions: [
      "ec2:CreateTags",
      "kms:CreateGrant",
      "kms:Decrypt",
      "kms:DescribeKey",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
    ],
    why: "TagSpecifications tag the copy with the caller's CreateTags (ec2:CreateAction=CopyImage); encrypted copies use the source and destination keys through EC2 with the caller's rights (EC2 user guide: copy-ami-permissions, EBS encryption requirements)",
  },
  "ec2:DeregisterImage": {
    actions: ["ec2:DeleteSnapshot"],
    why: "DeleteAssociatedSnapshots deletes each snapshot only if the caller may ec2:DeleteSnapshot it (otherwise DeleteSnapshotResults says missing-permissions)",
  },
  "ssm:PutParameter": {
    actions: ["ec2:DescribeImages", "ssm:AddTagsToResource"],
    why: "DataType aws:ec2:image validates the AMI with the caller's ec2:DescribeImages; Tags on a new parameter need ssm:AddTagsToResource",
  },
  "sns:Publish": {
    actions: ["kms:GenerateDataKey", "kms:Decrypt"],
    why: "the topic is encrypted with a customer key: publishers need it through SNS (SNS developer guide: sns-key-management)",
  },
  "ram:CreateResourceShare": {
    actions: ["ssm:PutResourcePolicy", "ssm:GetResourcePolicies"],
    why: "RAM shares a parameter by putting a resource policy on it with the caller's rights (Systems Manager user guide: parameter-store-shared-parameters, permissions to share)",
  },
  "ram:AssociateResourceShare": {
    actions: ["ssm:PutResourcePolicy", "ssm:GetResourcePolicies"],
    why: "as CreateResourceShare",
  },
  "ram:DisassociateResourceShare": {
    actions: ["ssm:DeleteResourcePolicy", "ssm:GetResourcePolicies"],
    why: "unsharing removes the parameter's resource policy with the caller's rights",
  },
  "imagebuilder:CreateComponent": {
    actions: ["imagebuilder:TagResource"],
    why: "tags passed at creation need TagResource",
  },
  "imagebuilder:CreateImageRecipe": {
    actions: [
      "imagebuilder:GetComponent",
      "imagebuilder:TagResource",
      "ec2:DescribeImages",
      "ssm:GetParameter",
    ],
    why: "the recipe references components and a parent image (an AMI, or an ssm: parameter resolved with the caller's rights, unverified)",
  },
  "imagebuilder:CreateInfrastructureConfiguration": {
    actions: ["iam:PassRole", "iam:GetInstanceProfile", "imagebuilder:TagResource"],
    why: "the instance profile's role is passed to EC2 (AWSImageBuilderFullAccess: iam:PassRole with iam:PassedToService ec2.amazonaws.com, iam:GetInstanceProfile)",
  },
  "imagebuilder:UpdateInfrastructureConfiguration": {
    actions: ["iam:PassRole", "iam:GetInstanceProfile"],
    why: "as CreateInfrastructureConfiguration",
  },
  "imagebuilder:CreateDistributionConfiguration": {
    actions: ["imagebuilder:TagResource"],
    why: "tags passed at creation need TagResource",
  },
  "imagebuilder:CreateImage": {
    actions: [
      "iam:CreateServiceLinkedRole",
      "iam:GetRole",
      "imagebuilder:GetImageRecipe",
      "imagebuilder:GetInfrastructureConfiguration",
      "imagebuilder:GetDistributionConfiguration",
      "imagebuilder:GetComponent",
      "imagebuilder:TagResource",
    ],
    why: "the first build creates Image Builder's service-linked role; the build reads the recipe, its components and the configurations it names (AWSImageBuilderFullAccess)",
  },
};

/** Calls that need no IAM permission at all. */
export const NEEDS_NO_PERMISSION: Readonly<Record<string, string>> = {
  "sts:GetCallerIdentity":
    "STS API reference: no permissions are required to perform this operation, and an explicit deny cannot block it",
};

const CLIENT_IMPORT =
  /(?:import|export)\s+(type\s+)?\{([^}]*)\}\s+from\s+["']@aws-sdk\/client-([a-z0-9-]+)["']/g;
const NAMESPACE_IMPORT =
  /import\s+\*\s+as\s+([A-Za-z_$][\w$]*)\s+from\s+["']@aws-sdk\/client-([a-z0-9-]+)["']/g;
const DYNAMIC_IMPORT = /import\(\s*["']@aws-sdk\/client-[a-z0-9-]+["']\s*\)/;
const CALL_SYMBOL = /^(?:[A-Z]\w*Command|paginate[A-Z]\w*|waitUntil[A-Z]\w*|waitFor[A-Z]\w*)$/;

/** The SDK calls one source file makes, by its imports from `@aws-sdk/client-*`. */
export function scanSdkCalls(file: string, text: string): SdkCall[] {
  if (DYNAMIC_IMPORT.test(text)) {
    throw new Error(
      `${file}: imports an AWS SDK client dynamically; use a static import so its calls can be checked`,
    );
  }
  const calls: SdkCall[] = [];
  for (const match of text.matchAll(CLIENT_IMPORT)) {
    if (match[1]) continue; // `import type { ... }` brings in no call.
    const client = match[3] ?? "";
    for (const raw of (match[2] ?? "").split(",")) {
      const specifier = raw.trim();
      if (!specifier || specifier.startsWith("type ")) continue;
      const symbol = specifier.split(/\s+as\s+/)[0]?.trim() ?? "";
      if (CALL_SYMBOL.test(symbol)) calls.push(call(file, client, symbol));
    }
  }
  for (const match of text.matchAll(NAMESPACE_IMPORT)) {
    const [, namespace = "", client = ""] = match;
    const member = new RegExp(`\\b${namespace.replace(/\$/g, "\\$")}\\.([A-Za-z_$][\\w$]*)`, "g");
    for (const use of text.matchAll(member)) {
      const symbol = use[1] ?? "";
      if (CALL_SYMBOL.test(symbol)) calls.push(call(file, client, symbol));
    }
  }
  return calls;
}

function call(file: string, client: string, symbol: string): SdkCall {
  const prefix = CLIENT_SERVICE_PREFIX[client];
  if (!prefix) {
    throw new Error(
      `${file}: @aws-sdk/client-${client} has no IAM service prefix in CLIENT_SERVICE_PREFIX (infra/lib/sdk-actions.ts)`,
    );
  }
  if (symbol.startsWith("waitUntil") || symbol.startsWith("waitFor")) {
    const actions = WAITER_ACTIONS[`${prefix}:${symbol}`];
    if (!actions) {
      throw new Error(
        `${file}: waiter ${symbol} of ${client} is not in WAITER_ACTIONS (infra/lib/sdk-actions.ts)`,
      );
    }
    return { file, client, symbol, actions };
  }
  const operation = symbol.startsWith("paginate")
    ? symbol.slice("paginate".length)
    : symbol.replace(/Command$/, "");
  const action = `${prefix}:${operation}`;
  return { file, client, symbol, actions: [OPERATION_ACTION_OVERRIDES[action] ?? action] };
}

/**
 * The SDK calls of the project source files a bundle contains (`src/**`, from esbuild's metafile).
 * Fails loudly when adapters ship but no call is found in them: the scanner would otherwise pass a
 * policy it never checked.
 */
export function bundleSdkCalls(sourceFiles: readonly string[], read: (file: string) => string): SdkCall[] {
  const sources = sourceFiles.filter((f) => f.startsWith("src/"));
  const calls = sources.flatMap((file) => scanSdkCalls(file, read(file)));
  const adapters = sources.filter((f) => f.startsWith("src/aws/"));
  if (adapters.length > 0 && calls.length === 0) {
    throw new Error(
      `the Lambda bundle includes adapters (${adapters.join(", ")}) but no AWS SDK command, paginator or waiter was found in them: the scanner no longer understands how they call AWS`,
    );
  }
  return calls;
}

/** Every action the calls need: their own, plus the implied ones; minus those that need none. */
export function requiredActions(calls: readonly SdkCall[]): string[] {
  const actions = new Set<string>();
  for (const c of calls) {
    for (const action of c.actions) {
      if (!NEEDS_NO_PERMISSION[action]) actions.add(action);
      for (const implied of IMPLIED_ACTIONS[action]?.actions ?? []) actions.add(implied);
    }
  }
  return [...actions].sort();
}

/** IAM's action matching: case-insensitive, `*` and `?` wildcards. */
export function actionMatches(pattern: string, action: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .split("")
      .map((ch) => (ch === "*" ? ".*" : ch === "?" ? "." : ch.replace(/[.+^${}()|[\]\\]/g, "\\$&")))
      .join("")}$`,
    "i",
  );
  return regex.test(action);
}
