import { KMSClient } from "@aws-sdk/client-kms";
import { RAMClient } from "@aws-sdk/client-ram";
import type { PipelinePorts } from "../pipeline/ports.js";
import type { AdapterOptions } from "./call.js";
import type { AwsClients } from "./clients.js";
import { createEc2Adapter } from "./ec2.js";
import { createImageBuilderAdapter } from "./imagebuilder.js";
import { createReportStoreAdapter } from "./s3.js";
import { createShareAdapter } from "./share.js";
import { createSnsAdapter } from "./sns.js";
import { createSsmAdapter } from "./ssm.js";
import { createStsAdapter } from "./sts.js";

export type { AdapterOptions } from "./call.js";
export { type AwsClientOptions, type AwsClients, createAwsClients } from "./clients.js";

/**
 * The pipeline's ports over real SDK clients; Image Builder lives in the home region. The signal
 * aborts every in-flight call of these ports (one set of ports per command or invocation).
 */
export function createPipelinePorts(
  clients: AwsClients,
  homeRegion: string,
  options: AdapterOptions = {},
): PipelinePorts {
  return {
    ec2: createEc2Adapter((region) => clients.ec2(region), options),
    ssm: createSsmAdapter((region) => clients.ssm(region), options),
    sns: createSnsAdapter((region) => clients.sns(region), options),
    sts: createStsAdapter((region) => clients.sts(region), options),
    imageBuilder: createImageBuilderAdapter(clients.imageBuilder(homeRegion), homeRegion, options),
    reports: createReportStoreAdapter((region) => clients.s3(region), options),
    share: createShareAdapter(
      {
        ec2: (region) => clients.ec2(region),
        kms: (region) => clients.other("kms", region, (config) => new KMSClient(config)),
        ram: (region) => clients.other("ram", region, (config) => new RAMClient(config)),
      },
      options,
    ),
  };
}
