import type { PipelinePorts } from "../pipeline/ports.js";
import type { AwsClients } from "./clients.js";
import { createEc2Adapter } from "./ec2.js";
import { createImageBuilderAdapter } from "./imagebuilder.js";
import { createSnsAdapter } from "./sns.js";
import { createSsmAdapter } from "./ssm.js";
import { createStsAdapter } from "./sts.js";

export { type AwsClientOptions, type AwsClients, createAwsClients } from "./clients.js";

/** The pipeline's ports over real SDK clients; Image Builder lives in the home region. */
export function createPipelinePorts(clients: AwsClients, homeRegion: string): PipelinePorts {
  return {
    ec2: createEc2Adapter((region) => clients.ec2(region)),
    ssm: createSsmAdapter((region) => clients.ssm(region)),
    sns: createSnsAdapter((region) => clients.sns(region)),
    sts: createStsAdapter((region) => clients.sts(region)),
    imageBuilder: createImageBuilderAdapter(clients.imageBuilder(homeRegion), homeRegion),
  };
}
