import {
  CopyImageCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
} from "@aws-sdk/client-ec2";
import { CreateImageCommand, CreateImageRecipeCommand, GetImageCommand } from "@aws-sdk/client-imagebuilder";
import { describe, expect, it } from "vitest";
import { rejection, useLocalAws } from "./helpers.js";
import {
  createDistribution,
  createInfrastructure,
  createLineRecipe,
  createRecipeComponents,
  imageBuilder,
  recipeInput,
  recipeShape,
} from "./imagebuilder-fixtures.js";

/**
 * The emulator honours the recipe's block device mappings as Image Builder does: size, volume type
 * and encryption (the default EBS key, or a KMS key) on the image's AMI, on its distributed copies
 * and on ops-rig's own CopyImage copies; snapshots are encrypted the way EC2 would make them.
 */
const local = useLocalAws(import.meta.filename);
const KEY_US = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555";
const KEY_EU = "arn:aws:kms:eu-west-1:123456789012:key/66666666-7777-8888-9999-000000000000";

async function volumes(region: string, imageId: string) {
  const ec2 = new EC2Client(local.aws.clientConfig(region));
  const image = (await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0];
  const mappings = image?.BlockDeviceMappings ?? [];
  const snapshotIds = mappings.map((m) => m.Ebs?.SnapshotId ?? "");
  const snapshots =
    (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: snapshotIds }))).Snapshots ?? [];
  ec2.destroy();
  return { image, mappings, snapshots };
}

async function build(
  recipe: Parameters<typeof createLineRecipe>[4],
  distributions: Parameters<typeof createDistribution>[1],
) {
  const { aws } = local;
  const client = imageBuilder(aws);
  const recipeArn = await createLineRecipe(client, "light", "ubuntu-24.04", "amd64", recipe);
  const infrastructure = await createInfrastructure(
    client,
    undefined,
    `volumes-${Math.random().toString(36).slice(2, 8)}`,
  );
  const distribution = await createDistribution(
    client,
    distributions,
    `volumes-${Math.random().toString(36).slice(2, 8)}`,
  );
  const out = await client.send(
    new CreateImageCommand({
      imageRecipeArn: recipeArn,
      infrastructureConfigurationArn: infrastructure,
      distributionConfigurationArn: distribution,
    }),
  );
  for (const ms of [1_000, 4_000, 2_000, 2_000]) await aws.imageBuilder.advance(ms);
  const image = (await client.send(new GetImageCommand({ imageBuildVersionArn: out.imageBuildVersionArn })))
    .image;
  expect(image?.state?.status).toBe("AVAILABLE");
  return Object.fromEntries((image?.outputResources?.amis ?? []).map((a) => [a.region, a.image ?? ""]));
}

const amiName = (suffix: string) => ({ name: `volumes-${suffix} {{ imagebuilder:buildDate }}` });

describe("block device mappings and encryption", () => {
  it("the recipe's root volume (size, gp3, default-key encryption) on the image and its distributed copy", async () => {
    const shape = await recipeShape("light", "ubuntu-24.04", "amd64");
    const root = shape.blockDeviceMappings[0];
    expect(root?.ebs).toMatchObject({ encrypted: true, volumeType: "gp3" });
    const amis = await build({}, [
      { region: "us-east-1", amiDistributionConfiguration: amiName("a") },
      { region: "eu-west-1", amiDistributionConfiguration: amiName("a") },
    ]);
    for (const region of ["us-east-1", "eu-west-1"]) {
      const { image, mappings, snapshots } = await volumes(region, amis[region] ?? "");
      expect(image?.RootDeviceName).toBe(root?.deviceName);
      expect(mappings).toHaveLength(1);
      expect(mappings[0]?.DeviceName).toBe(root?.deviceName);
      expect(mappings[0]?.Ebs).toMatchObject({
        VolumeSize: root?.ebs.volumeSize,
        VolumeType: "gp3",
        Encrypted: true,
        DeleteOnTermination: true,
      });
      // Encrypted with the region's default EBS key, which EC2 names on the snapshot.
      expect(snapshots).toHaveLength(1);
      expect(snapshots[0]?.Encrypted).toBe(true);
      expect(snapshots[0]?.KmsKeyId).toMatch(new RegExp(`^arn:aws:kms:${region}:`));
      expect(snapshots[0]?.VolumeSize).toBe(root?.ebs.volumeSize);
    }
  });

  it("a recipe KMS key in the build region, the distribution's key in another region", async () => {
    const shape = await recipeShape("light", "ubuntu-24.04", "amd64");
    const amis = await build(
      {
        blockDeviceMappings: [
          {
            deviceName: shape.blockDeviceMappings[0]?.deviceName,
            ebs: { volumeSize: 40, volumeType: "io2", iops: 4000, encrypted: true, kmsKeyId: KEY_US },
          },
        ],
      },
      [
        { region: "us-east-1", amiDistributionConfiguration: amiName("b") },
        { region: "eu-west-1", amiDistributionConfiguration: { ...amiName("b"), kmsKeyId: KEY_EU } },
      ],
    );
    const us = await volumes("us-east-1", amis["us-east-1"] ?? "");
    expect(us.mappings[0]?.Ebs).toMatchObject({
      VolumeSize: 40,
      VolumeType: "io2",
      Iops: 4000,
      Encrypted: true,
      KmsKeyId: KEY_US,
    });
    expect(us.snapshots[0]).toMatchObject({ Encrypted: true, KmsKeyId: KEY_US });
    const eu = await volumes("eu-west-1", amis["eu-west-1"] ?? "");
    expect(eu.mappings[0]?.Ebs).toMatchObject({
      VolumeSize: 40,
      VolumeType: "io2",
      Encrypted: true,
      KmsKeyId: KEY_EU,
    });
    expect(eu.snapshots[0]).toMatchObject({ Encrypted: true, KmsKeyId: KEY_EU });
  });

  it("without encryption in the recipe the image is unencrypted, and a distribution key encrypts the copy", async () => {
    const shape = await recipeShape("light", "ubuntu-24.04", "amd64");
    const amis = await build(
      {
        blockDeviceMappings: [
          {
            deviceName: shape.blockDeviceMappings[0]?.deviceName,
            ebs: { volumeSize: 20, volumeType: "gp3", encrypted: false },
          },
        ],
      },
      [
        { region: "us-east-1", amiDistributionConfiguration: amiName("c") },
        { region: "eu-west-1", amiDistributionConfiguration: { ...amiName("c"), kmsKeyId: KEY_EU } },
      ],
    );
    const us = await volumes("us-east-1", amis["us-east-1"] ?? "");
    expect(us.mappings[0]?.Ebs?.Encrypted).toBe(false);
    expect(us.snapshots[0]?.Encrypted).toBe(false);
    expect(us.snapshots[0]?.KmsKeyId).toBeUndefined();
    const eu = await volumes("eu-west-1", amis["eu-west-1"] ?? "");
    expect(eu.snapshots[0]).toMatchObject({ Encrypted: true, KmsKeyId: KEY_EU, VolumeSize: 20 });
  });

  it("CopyImage keeps the source's volumes; encrypted stays encrypted, Encrypted+KmsKeyId re-keys", async () => {
    const amis = await build({}, [{ region: "us-east-1", amiDistributionConfiguration: amiName("d") }]);
    const source = amis["us-east-1"] ?? "";
    const ec2 = new EC2Client(local.aws.clientConfig("ap-southeast-2"));
    const plain = await ec2.send(
      new CopyImageCommand({ SourceImageId: source, SourceRegion: "us-east-1", Name: "copy-default-key" }),
    );
    const keyed = await ec2.send(
      new CopyImageCommand({
        SourceImageId: source,
        SourceRegion: "us-east-1",
        Name: "copy-own-key",
        Encrypted: true,
        KmsKeyId: "arn:aws:kms:ap-southeast-2:123456789012:key/abcdefab-1234-5678-9abc-def012345678",
      }),
    );
    const refused = await rejection(
      ec2.send(
        new CopyImageCommand({
          SourceImageId: source,
          SourceRegion: "us-east-1",
          Name: "copy-key-without-encrypted",
          KmsKeyId: "arn:aws:kms:ap-southeast-2:123456789012:key/abcdefab-1234-5678-9abc-def012345678",
        }),
      ),
    );
    ec2.destroy();
    const sourceVolumes = await volumes("us-east-1", source);
    const a = await volumes("ap-southeast-2", plain.ImageId ?? "");
    expect(a.mappings[0]?.Ebs).toMatchObject({
      VolumeSize: sourceVolumes.mappings[0]?.Ebs?.VolumeSize,
      VolumeType: "gp3",
      Encrypted: true,
    });
    expect(a.snapshots[0]?.KmsKeyId).toMatch(/^arn:aws:kms:ap-southeast-2:/);
    expect(a.snapshots[0]?.SnapshotId).not.toBe(sourceVolumes.snapshots[0]?.SnapshotId);
    const b = await volumes("ap-southeast-2", keyed.ImageId ?? "");
    expect(b.snapshots[0]).toMatchObject({
      Encrypted: true,
      KmsKeyId: "arn:aws:kms:ap-southeast-2:123456789012:key/abcdefab-1234-5678-9abc-def012345678",
    });
    expect(refused.name).toBe("InvalidParameterDependency");
  });

  it("refuses a recipe with no components", async () => {
    const client = imageBuilder(local.aws);
    const shape = await recipeShape("light", "ubuntu-24.04", "amd64");
    const arns = await createRecipeComponents(client, shape);
    const input = recipeInput(shape, arns, { name: "no-components", components: [] });
    const error = await rejection(client.send(new CreateImageRecipeCommand(input)));
    expect(error.name).toBe("InvalidParameterValueException");
    expect(error.message).toMatch(/components.*at least one component/);
  });
});
