import { Logger } from "@aws-lambda-powertools/logger";
import { createCaseSessionAdapter } from "../aws/case-session.js";
import { createAwsClients } from "../aws/clients.js";
import { errorMessage } from "../errors.js";
import {
  CaseSessionError,
  type CaseSessionPort,
  type CaseSessionSettings,
  issueCaseSession,
} from "../services/case-session.js";

/**
 * The case-session broker's function URL handler (IAM auth): a composition root that parses the
 * request, calls the service and renders the answer in the shape the AWS CLI's `credential_process`
 * reads, so a rig uses it with one line of AWS config.
 */

interface FunctionUrlEvent {
  readonly body?: string;
  readonly isBase64Encoded?: boolean;
  readonly requestContext?: { readonly authorizer?: { readonly iam?: { readonly userArn?: string } } };
}

export interface HttpResult {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface CaseSessionHandlerDeps {
  readonly settings: CaseSessionSettings;
  readonly port: CaseSessionPort;
  readonly log: (level: "info" | "warn", message: string, data: Record<string, unknown>) => void;
}

const json = (statusCode: number, body: unknown): HttpResult => ({
  statusCode,
  headers: { "content-type": "application/json", "cache-control": "no-store" },
  body: JSON.stringify(body),
});

export function createCaseSessionHandler(deps: CaseSessionHandlerDeps) {
  return async (event: FunctionUrlEvent): Promise<HttpResult> => {
    const callerArn = event.requestContext?.authorizer?.iam?.userArn ?? "";
    let request: { role?: unknown; region?: unknown; account?: unknown };
    try {
      const text = event.isBase64Encoded
        ? Buffer.from(event.body ?? "", "base64").toString("utf8")
        : event.body;
      request = JSON.parse(text || "{}") as typeof request;
    } catch {
      return json(400, { error: 'the body must be JSON: {"role": "snapshot", "region": "eu-west-1"}' });
    }
    try {
      const session = await issueCaseSession(
        {
          callerArn,
          role: String(request.role ?? ""),
          region: String(request.region ?? ""),
          ...(request.account === undefined ? {} : { account: String(request.account) }),
        },
        deps.settings,
        deps.port,
      );
      deps.log("info", "case session issued", {
        caller: callerArn,
        case: session.caseId,
        role: session.roleArn,
        expires: session.credentials.expiration.toISOString(),
      });
      return json(200, {
        Version: 1,
        AccessKeyId: session.credentials.accessKeyId,
        SecretAccessKey: session.credentials.secretAccessKey,
        SessionToken: session.credentials.sessionToken,
        Expiration: session.credentials.expiration.toISOString(),
        Case: session.caseId,
        RoleArn: session.roleArn,
      });
    } catch (error) {
      if (error instanceof CaseSessionError) {
        deps.log("warn", "case session refused", { caller: callerArn, reason: error.message });
        return json(error.reason === "bad-request" ? 400 : 403, { error: error.message });
      }
      deps.log("warn", "case session failed", { caller: callerArn, error: errorMessage(error) });
      return json(502, { error: "the broker could not reach AWS; retry" });
    }
  };
}

function fromEnvironment(env: Readonly<Record<string, string | undefined>>): CaseSessionHandlerDeps {
  const regions = (env.OPS_RIG_REGIONS ?? "").split(",").filter(Boolean);
  const home = env.AWS_REGION ?? regions[0] ?? "us-east-1";
  const clients = createAwsClients({ retryMode: "standard", maxAttempts: 3 });
  const logger = new Logger({ serviceName: "ops-rig-case-session" });
  return {
    settings: {
      account: env.OPS_RIG_ACCOUNT ?? "",
      partition: env.OPS_RIG_PARTITION ?? "aws",
      regions,
      memberAccounts: env.OPS_RIG_MEMBER_ACCOUNTS === "true",
    },
    port: createCaseSessionAdapter(clients.ec2, clients.sts(home), home),
    log: (level, message, data) => logger[level](message, data),
  };
}

// The composition for the deployed function: clients live as long as the container.
let deployed: ReturnType<typeof createCaseSessionHandler> | undefined;
export const handler = (event: FunctionUrlEvent): Promise<HttpResult> => {
  deployed ??= createCaseSessionHandler(fromEnvironment(process.env));
  return deployed(event);
};
