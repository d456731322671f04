import { DescribeImagesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { GetParameterHistoryCommand, GetParametersByPathCommand, SSMClient } from "@aws-sdk/client-ssm";
import type { LocalAws } from "../emulators/local-aws.js";

export interface RegionState {
  readonly region: string;
  readonly parameters: ReadonlyMap<string, { value: string; version: number }>;
  readonly amis: readonly {
    imageId: string;
    name: string;
    state: string;
    tags: Record<string, string>;
    deprecationTime?: string;
  }[];
}

/** What AWS holds now, read straight from the local AWS (bypassing the pipeline's code). */
export async function readRegion(aws: LocalAws, region: string, prefix = "/ops-rig"): Promise<RegionState> {
  const ec2 = new EC2Client(aws.clientConfig(region, { maxAttempts: 3 }));
  const ssm = new SSMClient(aws.clientConfig(region, { maxAttempts: 3 }));
  try {
    const images = await ec2.send(new DescribeImagesCommand({ Owners: ["self"], IncludeDeprecated: true }));
    const parameters = new Map<string, { value: string; version: number }>();
    let token: string | undefined;
    do {
      const page = await ssm.send(
        new GetParametersByPathCommand({ Path: prefix, Recursive: true, NextToken: token }),
      );
      for (const p of page.Parameters ?? [])
        parameters.set(p.Name ?? "", { value: p.Value ?? "", version: p.Version ?? 0 });
      token = page.NextToken;
    } while (token);
    return {
      region,
      parameters,
      amis: (images.Images ?? []).map((i) => ({
        imageId: i.ImageId ?? "",
        name: i.Name ?? "",
        state: i.State ?? "",
        tags: Object.fromEntries((i.Tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""])),
        ...(i.DeprecationTime ? { deprecationTime: i.DeprecationTime } : {}),
      })),
    };
  } finally {
    ec2.destroy();
    ssm.destroy();
  }
}

export async function parameterHistory(
  aws: LocalAws,
  region: string,
  name: string,
): Promise<{ version: number; value: string; labels: string[] }[]> {
  const ssm = new SSMClient(aws.clientConfig(region, { maxAttempts: 3 }));
  try {
    const out: { version: number; value: string; labels: string[] }[] = [];
    let token: string | undefined;
    do {
      const page = await ssm.send(new GetParameterHistoryCommand({ Name: name, NextToken: token }));
      for (const p of page.Parameters ?? [])
        out.push({ version: p.Version ?? 0, value: p.Value ?? "", labels: p.Labels ?? [] });
      token = page.NextToken;
    } while (token);
    return out.sort((a, b) => a.version - b.version);
  } finally {
    ssm.destroy();
  }
}
