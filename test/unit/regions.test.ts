import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { closestRegion, PARTITION_REGIONS, partitionOf } from "../../src/config/regions.js";

/** ops-rig's region list is AWS's: the endpoint data the installed SDK ships. */
async function sdkPartitions(): Promise<{ id: string; regions: Record<string, unknown> }[]> {
  const require = createRequire(import.meta.url);
  const core = dirname(require.resolve("@aws-sdk/core/package.json"));
  const file = join(core, "dist-es/submodules/client/util-endpoints/lib/aws/partitions.js");
  const module = (await import(pathToFileURL(file).href)) as {
    partitionsInfo: { partitions: { id: string; regions: Record<string, unknown> }[] };
  };
  return module.partitionsInfo.partitions;
}

describe("the region list", () => {
  it("is exactly the SDK's, partition by partition (global pseudo-regions aside)", async () => {
    const sdk = await sdkPartitions();
    const fromSdk = Object.fromEntries(
      sdk.map((p) => [
        p.id,
        Object.keys(p.regions)
          .filter((r) => !r.startsWith("aws-"))
          .sort(),
      ]),
    );
    expect(Object.fromEntries(Object.entries(PARTITION_REGIONS).map(([p, r]) => [p, [...r].sort()]))).toEqual(
      fromSdk,
    );
  });

  it("answers partitions and near misses", () => {
    expect(partitionOf("eu-west-1")).toBe("aws");
    expect(partitionOf("us-gov-west-1")).toBe("aws-us-gov");
    expect(partitionOf("eu-wset-1")).toBeUndefined();
    expect(closestRegion("eu-wset-1")).toBe("eu-west-1");
    expect(closestRegion("xx-nowhere-9")).toBeUndefined();
  });
});

describe("environment overrides use the same region list", () => {
  it("refuses a misspelt OPS_RIG_TARGET_REGIONS entry, naming the variable", async () => {
    const { applyEnvOverrides } = await import("../../src/config/overrides.js");
    const { parseProject } = await import("../../src/config/parse.js");
    const { shippedFiles } = await import("../helpers/project.js");
    const pipeline = parseProject(await shippedFiles()).pipeline;
    expect(() => applyEnvOverrides(pipeline, { OPS_RIG_TARGET_REGIONS: "eu-west-1,eu-wset-1" })).toThrow(
      /OPS_RIG_TARGET_REGIONS: "eu-wset-1" is not an AWS region \(did you mean "eu-west-1"\?\)/,
    );
    expect(
      applyEnvOverrides(pipeline, { OPS_RIG_TARGET_REGIONS: "eu-west-1,us-west-2" }).targetRegions,
    ).toEqual(["eu-west-1", "us-west-2"]);
  });
});
