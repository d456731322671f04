import { LambdaClient } from "@aws-sdk/client-lambda";
import { createApiClient } from "../aws/api-client.js";
import { type AwsClientOptions, type AwsClients, createAwsClients } from "../aws/clients.js";
import { createPipelinePorts } from "../aws/index.js";
import { createLambdaAdapter } from "../aws/lambda.js";
import { createLaunchAdapter } from "../aws/launch.js";
import { createLaunchTemplateAdapter } from "../aws/launch-templates.js";
import { createMemberAccessAdapter } from "../aws/responders/accounts.js";
import { createResponderAdapter } from "../aws/responders/adapter.js";
import { createResponderClients, type ResponderClients } from "../aws/responders/clients.js";
import type { CommandAws } from "./context.js";

/**
 * SDK clients for the CLI, built from the environment the CLI was given: endpoints
 * (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_IMAGEBUILDER) and static credentials when present, else the
 * SDK's default chain (profiles, SSO, instance roles).
 */
export function cliClients(env: NodeJS.ProcessEnv): AwsClients {
  return createAwsClients(cliClientOptions(env));
}

function cliClientOptions(env: NodeJS.ProcessEnv): AwsClientOptions {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  return {
    retryMode: "adaptive",
    maxAttempts: Number(env.AWS_MAX_ATTEMPTS) > 0 ? Number(env.AWS_MAX_ATTEMPTS) : 5,
    ...(accessKeyId && secretAccessKey
      ? {
          credentials: {
            accessKeyId,
            secretAccessKey,
            ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
          },
        }
      : {}),
    ...(env.AWS_ENDPOINT_URL ? { endpoint: env.AWS_ENDPOINT_URL } : {}),
    ...(env.AWS_ENDPOINT_URL_IMAGEBUILDER ? { imageBuilderEndpoint: env.AWS_ENDPOINT_URL_IMAGEBUILDER } : {}),
  };
}

/**
 * The CLI's composition root for AWS: clients are created on first use (a command that fails on its
 * flags never builds one) and every port aborts its in-flight calls when `signal` does (Ctrl-C).
 */
export function cliAws(env: NodeJS.ProcessEnv, signal: AbortSignal): CommandAws & { destroy(): void } {
  let clients: AwsClients | undefined;
  let responderClients: ResponderClients | undefined;
  const memberClients: ResponderClients[] = [];
  const get = () => {
    clients ??= cliClients(env);
    return clients;
  };
  return {
    ports: (homeRegion) => createPipelinePorts(get(), homeRegion, { signal }),
    launch: () => createLaunchAdapter((region) => get().ec2(region), { signal }),
    lambda: () =>
      createLambdaAdapter((region) => get().other("lambda", region, (config) => new LambdaClient(config)), {
        signal,
      }),
    responders: (credentials) => {
      if (credentials) {
        // A member-account session: clients of its own, destroyed with the others.
        const member = createResponderClients({ ...cliClientOptions(env), credentials });
        memberClients.push(member);
        return createResponderAdapter(member, { signal });
      }
      responderClients ??= createResponderClients(cliClientOptions(env));
      return createResponderAdapter(responderClients, { signal });
    },
    memberAccess: () => {
      responderClients ??= createResponderClients(cliClientOptions(env));
      const own = responderClients;
      return createMemberAccessAdapter(
        (region) => own.sts(region),
        (region) => own.config(region),
        { signal },
      );
    },
    api: (url, region) =>
      createApiClient({
        url,
        ...(region ? { region } : {}),
        ...(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
          ? {
              credentials: {
                accessKeyId: env.AWS_ACCESS_KEY_ID,
                secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
                ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
              },
            }
          : {}),
        signal,
      }),
    templates: () => createLaunchTemplateAdapter((region) => get().ec2(region), { signal }),
    destroy: () => {
      clients?.destroy();
      responderClients?.destroy();
      for (const member of memberClients) member.destroy();
    },
  };
}
