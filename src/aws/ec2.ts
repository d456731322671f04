import {
  CopyImageCommand,
  CreateTagsCommand,
  DeregisterImageCommand,
  type DescribeImagesCommandInput,
  DescribeRegionsCommand,
  EC2Client,
  EnableImageDeprecationCommand,
  type Image,
  paginateDescribeImages,
} from "@aws-sdk/client-ec2";
import type { Ec2Port, ImageInfo } from "../pipeline/ports.js";
import type { AmiState, OurAmi } from "../plan/types.js";
import { type AdapterOptions, awsCall as call, sendOptions, tagList, tagMap } from "./call.js";
import type { ClientFactory } from "./client-factory.js";

export function createEc2Adapter(
  client: (region: string) => EC2Client,
  options: AdapterOptions = {},
): Ec2Port {
  const { signal } = options;
  const opts = sendOptions(signal);
  const awsCall = <T>(service: string, operation: string, region: string, fn: () => Promise<T>) =>
    call(service, operation, region, fn, signal);
  const all = async (region: string, input: DescribeImagesCommandInput): Promise<Image[]> => {
    const images: Image[] = [];
    // DescribeImages neither sorts nor always returns everything at once: read every page.
    for await (const page of paginateDescribeImages(
      { client: client(region), pageSize: 1000 },
      input,
      opts,
    )) {
      images.push(...(page.Images ?? []));
    }
    return images;
  };
  return {
    describeRegions: (region) =>
      awsCall("ec2", "DescribeRegions", region, async () => {
        const out = await client(region).send(new DescribeRegionsCommand({ AllRegions: true }), opts);
        return (out.Regions ?? []).map((r) => ({
          name: r.RegionName ?? "",
          optInStatus: r.OptInStatus ?? "opt-in-not-required",
        }));
      }),
    describeImages: (region, imageIds, owners) =>
      awsCall("ec2", "DescribeImages", region, async () =>
        imageIds.length === 0
          ? []
          : (await all(region, { ImageIds: [...imageIds], Owners: [...owners] })).map(toImageInfo),
      ),
    searchImages: (region, query) =>
      awsCall("ec2", "DescribeImages", region, async () =>
        (
          await all(region, {
            Owners: [...query.owners],
            Filters: [
              { Name: "name", Values: [query.namePattern] },
              { Name: "architecture", Values: [query.architecture] },
              { Name: "state", Values: ["available"] },
            ],
          })
        ).map(toImageInfo),
      ),
    listOwnImages: (region, namePattern) =>
      awsCall("ec2", "DescribeImages", region, async () =>
        (
          await all(region, {
            Owners: ["self"],
            Filters: [{ Name: "name", Values: [namePattern] }],
            IncludeDeprecated: true,
          })
        ).map((image): OurAmi => {
          const info = toImageInfo(image);
          return {
            imageId: info.imageId,
            region,
            name: info.name,
            state: info.state,
            creationDate: info.creationDate,
            ...(info.deprecationTime ? { deprecationTime: info.deprecationTime } : {}),
            tags: info.tags,
          };
        }),
      ),
    copyImage: (region, input) =>
      awsCall("ec2", "CopyImage", region, async () => {
        const out = await client(region).send(
          new CopyImageCommand({
            SourceRegion: input.sourceRegion,
            SourceImageId: input.sourceImageId,
            Name: input.name,
            Description: input.description,
            ClientToken: input.clientToken,
            CopyImageTags: false,
            // Snapshots carry the tags too: the pipeline may only delete snapshots tagged as ours.
            TagSpecifications: [
              { ResourceType: "image", Tags: tagList(input.tags) },
              { ResourceType: "snapshot", Tags: tagList(input.tags) },
            ],
            ...(input.kmsKeyId ? { Encrypted: true, KmsKeyId: input.kmsKeyId } : {}),
          }),
          opts,
        );
        if (!out.ImageId) throw new Error("CopyImage returned no ImageId");
        return out.ImageId;
      }),
    createTags: (region, resourceId, tags) =>
      awsCall("ec2", "CreateTags", region, async () => {
        await client(region).send(
          new CreateTagsCommand({ Resources: [resourceId], Tags: tagList(tags) }),
          opts,
        );
      }),
    enableImageDeprecation: (region, imageId, at) =>
      awsCall("ec2", "EnableImageDeprecation", region, async () => {
        await client(region).send(
          new EnableImageDeprecationCommand({ ImageId: imageId, DeprecateAt: at }),
          opts,
        );
      }),
    deregisterImage: (region, imageId) =>
      awsCall("ec2", "DeregisterImage", region, async () => {
        await client(region).send(
          new DeregisterImageCommand({ ImageId: imageId, DeleteAssociatedSnapshots: true }),
          opts,
        );
      }),
  };
}

function toImageInfo(image: Image): ImageInfo {
  return {
    imageId: image.ImageId ?? "",
    name: image.Name ?? "",
    ownerId: image.OwnerId ?? "",
    creationDate: image.CreationDate ?? "",
    architecture: image.Architecture ?? "",
    state: (image.State ?? "pending") as AmiState,
    rootDeviceName: image.RootDeviceName ?? "",
    ...(image.DeprecationTime ? { deprecationTime: image.DeprecationTime } : {}),
    tags: tagMap(image.Tags),
  };
}

/** The factory's EC2Client for a region (made on first use). */
export function ec2Clients(clients: ClientFactory): (region: string) => EC2Client {
  return (region) => clients.other("ec2", region, (config) => new EC2Client(config));
}

/** The port over the factory's clients: what src/aws/index.ts loads at the port's first call. */
export function ec2Port(clients: ClientFactory, options: AdapterOptions = {}): Ec2Port {
  return createEc2Adapter(ec2Clients(clients), options);
}
