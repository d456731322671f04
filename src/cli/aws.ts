import { type AwsClients, createAwsClients, createPipelinePorts } from "../aws/index.js";
import type { PipelinePorts } from "../pipeline/ports.js";

/**
 * SDK clients for the CLI, built from the environment the CLI was given: endpoints
 * (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_IMAGEBUILDER) and static credentials when present, else the
 * SDK's default chain (profiles, SSO, instance roles).
 */
export function cliClients(env: NodeJS.ProcessEnv): AwsClients {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  return createAwsClients({
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
  });
}

export function cliPorts(clients: AwsClients, homeRegion: string): PipelinePorts {
  return createPipelinePorts(clients, homeRegion);
}
