import { DescribeImagesCommand, EC2Client, type Image } from "@aws-sdk/client-ec2";
import { GetParameterCommand, GetParameterHistoryCommand, SSMClient } from "@aws-sdk/client-ssm";
import { describe, expect, it } from "vitest";
import { ARCHES, BASE_INFO, BASES, EC2_ARCHITECTURE } from "../../src/config/bases.js";
import { DECOY_OWNER } from "../emulators/seed.js";
import { REGIONS, rejection, useLocalAws } from "./helpers.js";

const local = useLocalAws(import.meta.filename);

function newest(images: readonly Image[]): Image | undefined {
  return [...images].sort((a, b) => (a.CreationDate ?? "").localeCompare(b.CreationDate ?? "")).at(-1);
}

describe("seeded public base images", () => {
  it("are found by owner and name in three regions, newest distinguishable, older and deprecated ones present", async () => {
    const { aws } = local;
    const newestIds = new Map<string, Set<string>>();
    for (const region of REGIONS) {
      const ec2 = new EC2Client(aws.clientConfig(region));
      const seeded = await aws.bases.list(region);
      for (const base of BASES) {
        for (const arch of ARCHES) {
          const query = {
            Owners: [BASE_INFO[base].owner],
            Filters: [{ Name: "name", Values: [BASE_INFO[base].namePattern(arch)] }],
          };
          const visible = (await ec2.send(new DescribeImagesCommand(query))).Images ?? [];
          const all =
            (await ec2.send(new DescribeImagesCommand({ ...query, IncludeDeprecated: true }))).Images ?? [];
          // Three current builds; the deprecated one only with IncludeDeprecated.
          expect(visible, `${region} ${base} ${arch}`).toHaveLength(3);
          expect(all).toHaveLength(4);
          const deprecated = all.filter((i) => !visible.some((v) => v.ImageId === i.ImageId));
          expect(deprecated).toHaveLength(1);
          expect(Date.parse(deprecated[0]?.DeprecationTime ?? "")).toBeLessThan(Date.now());
          for (const image of all) {
            expect(image.OwnerId).toBe(BASE_INFO[base].owner);
            expect(image.Architecture).toBe(EC2_ARCHITECTURE[arch]);
            expect(image.State).toBe("available");
            expect(image.Public).toBe(true);
            expect(image.RootDeviceName).toBe(BASE_INFO[base].rootDeviceName);
          }
          // Distinct creation dates, so "the newest" is one image, and it is what the harness says.
          const dates = new Set(all.map((i) => i.CreationDate));
          expect(dates.size).toBe(4);
          const expected = seeded.filter((i) => i.base === base && i.arch === arch && !i.deprecated).at(-1);
          expect(newest(visible)?.ImageId).toBe(expected?.imageId);
          const ids = newestIds.get(`${base}/${arch}`) ?? new Set<string>();
          ids.add(newest(visible)?.ImageId ?? "");
          newestIds.set(`${base}/${arch}`, ids);
        }
      }
    }
    // Every region has its own ids for the same build.
    for (const [line, ids] of newestIds) expect(ids.size, line).toBe(REGIONS.length);
  });

  it("come back in varying order, so only sorting by CreationDate finds the newest", async () => {
    const ec2 = new EC2Client(local.aws.clientConfig("us-east-1"));
    const query = new DescribeImagesCommand({ Owners: [BASE_INFO["debian-12"].owner] });
    const orders = new Set<string>();
    for (let i = 0; i < 8; i += 1) {
      const images = (await ec2.send(query)).Images ?? [];
      orders.add(images.map((image) => image.ImageId).join(","));
    }
    expect(orders.size).toBeGreaterThan(1);
  });

  it("include a newer look-alike by another owner, visible only when Owners is left out", async () => {
    const { aws } = local;
    const ec2 = new EC2Client(aws.clientConfig("eu-west-1"));
    const pattern = BASE_INFO["ubuntu-24.04"].namePattern("amd64");
    const anyone =
      (await ec2.send(new DescribeImagesCommand({ Filters: [{ Name: "name", Values: [pattern] }] })))
        .Images ?? [];
    expect(newest(anyone)?.OwnerId).toBe(DECOY_OWNER);
    expect(aws.bases.decoys("eu-west-1").map((d) => d.imageId)).toEqual([newest(anyone)?.ImageId]);
    const canonical = (
      await ec2.send(
        new DescribeImagesCommand({
          Owners: [BASE_INFO["ubuntu-24.04"].owner],
          Filters: [{ Name: "name", Values: [pattern] }],
        }),
      )
    ).Images;
    expect(canonical?.some((i) => i.OwnerId === DECOY_OWNER)).toBe(false);
  });

  it("have public SSM parameters pointing at the newest build, with history", async () => {
    const { aws } = local;
    for (const region of REGIONS) {
      const ssm = new SSMClient(aws.clientConfig(region));
      const seeded = await aws.bases.list(region);
      for (const base of BASES) {
        for (const arch of ARCHES) {
          const name = BASE_INFO[base].publicParameter(arch);
          const parameter = (await ssm.send(new GetParameterCommand({ Name: name }))).Parameter;
          const expected = seeded.filter((i) => i.base === base && i.arch === arch).at(-1);
          expect(parameter?.Value, `${region} ${name}`).toBe(expected?.imageId);
          expect(parameter?.Version).toBe(3);
          expect(parameter?.DataType).toBe("aws:ec2:image");
        }
      }
      const history = await ssm.send(
        new GetParameterHistoryCommand({ Name: BASE_INFO["debian-13"].publicParameter("arm64") }),
      );
      expect(history.Parameters?.map((p) => p.Value)).toEqual(
        seeded
          .filter((i) => i.base === "debian-13" && i.arch === "arm64" && !i.deprecated)
          .map((i) => i.imageId),
      );
    }
  });

  it("get a newer build published at run time, with the parameter moved, in the regions asked for", async () => {
    const { aws } = local;
    const before = await aws.bases.list("us-east-1");
    const released = await aws.bases.publishNewer("ubuntu-24.04", "arm64", {
      regions: ["us-east-1", "ap-southeast-2"],
    });
    expect(Object.keys(released).sort()).toEqual(["ap-southeast-2", "us-east-1"]);
    expect(new Set(Object.values(released)).size).toBe(2);
    for (const [region, imageId] of Object.entries(released)) {
      const ec2 = new EC2Client(aws.clientConfig(region));
      const images =
        (
          await ec2.send(
            new DescribeImagesCommand({
              Owners: [BASE_INFO["ubuntu-24.04"].owner],
              Filters: [{ Name: "name", Values: [BASE_INFO["ubuntu-24.04"].namePattern("arm64")] }],
            }),
          )
        ).Images ?? [];
      expect(images).toHaveLength(4);
      expect(newest(images)?.ImageId).toBe(imageId);
      expect(newest(images)?.Architecture).toBe("arm64");
      const ssm = new SSMClient(aws.clientConfig(region));
      const parameter = (
        await ssm.send(new GetParameterCommand({ Name: BASE_INFO["ubuntu-24.04"].publicParameter("arm64") }))
      ).Parameter;
      expect(parameter?.Value).toBe(imageId);
      expect(parameter?.Version).toBe(4);
    }
    // eu-west-1 was not asked for: unchanged.
    const ssm = new SSMClient(aws.clientConfig("eu-west-1"));
    const unchanged = await ssm.send(
      new GetParameterCommand({ Name: BASE_INFO["ubuntu-24.04"].publicParameter("arm64") }),
    );
    expect(unchanged.Parameter?.Version).toBe(3);

    // A second release the same day gets its own, newer name.
    const again = await aws.bases.publishNewer("ubuntu-24.04", "arm64", { regions: ["us-east-1"] });
    const after = await aws.bases.list("us-east-1");
    expect(after).toHaveLength(before.length + 2);
    const lastTwo = after.filter((i) => i.base === "ubuntu-24.04" && i.arch === "arm64").slice(-2);
    expect(lastTwo.map((i) => i.imageId)).toEqual([released["us-east-1"], again["us-east-1"]]);
    expect(lastTwo[0]?.name).not.toBe(lastTwo[1]?.name);
    expect(lastTwo[1]?.name).toMatch(
      /^ubuntu\/images\/hvm-ssd-gp3\/ubuntu-noble-24\.04-arm64-server-\d{8}(\.\d+)?$/,
    );
  });

  it("are back to the initial seed after reset", async () => {
    const { aws } = local;
    const initial = await aws.bases.list("us-east-1");
    const released = await aws.bases.publishNewer("debian-12", "amd64");
    await aws.reset();
    expect(await aws.bases.list("us-east-1")).toEqual(initial);
    const ec2 = new EC2Client(aws.clientConfig("us-east-1"));
    const images =
      (await ec2.send(new DescribeImagesCommand({ Owners: [BASE_INFO["debian-12"].owner] }))).Images ?? [];
    expect(images.some((i) => i.ImageId === released["us-east-1"])).toBe(false);
    expect(images).toHaveLength(12); // 3 current builds × 2 arches × Debian 12 and 13
  });

  it("reject publishing an unknown base, arch or region, naming it", async () => {
    const { aws } = local;
    expect((await rejection(aws.bases.publishNewer("ubuntu-99.04", "amd64"))).message).toMatch(
      /unknown base "ubuntu-99.04"/,
    );
    expect((await rejection(aws.bases.publishNewer("debian-12", "riscv"))).message).toMatch(
      /unknown arch "riscv"/,
    );
    expect(
      (await rejection(aws.bases.publishNewer("debian-12", "amd64", { regions: ["sa-east-1"] }))).message,
    ).toMatch(/sa-east-1 not among/);
  });
});
