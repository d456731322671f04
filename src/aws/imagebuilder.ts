import {
  CreateComponentCommand,
  CreateDistributionConfigurationCommand,
  CreateImageCommand,
  CreateImageRecipeCommand,
  CreateInfrastructureConfigurationCommand,
  type EbsVolumeType,
  GetDistributionConfigurationCommand,
  GetInfrastructureConfigurationCommand,
  ImagebuilderClient,
  type ImageState,
  type OutputResources,
  paginateListComponents,
  paginateListDistributionConfigurations,
  paginateListImageBuildVersions,
  paginateListImageRecipes,
  paginateListInfrastructureConfigurations,
  ResourceNotFoundException,
  TagResourceCommand,
  UpdateDistributionConfigurationCommand,
  UpdateInfrastructureConfigurationCommand,
} from "@aws-sdk/client-imagebuilder";
import type { DistributionSettings, ImageBuilderPort, InfrastructureSettings } from "../pipeline/ports.js";
import { TAG } from "../plan/names.js";
import type { BuildRecord, BuildStatus } from "../plan/types.js";
import { type AdapterOptions, awsCall, sendOptions } from "./call.js";
import type { ClientFactory } from "./client-factory.js";

export function createImageBuilderAdapter(
  client: ImagebuilderClient,
  region: string,
  options: AdapterOptions = {},
): ImageBuilderPort {
  const { signal } = options;
  const opts = sendOptions(signal);
  const call = <T>(operation: string, fn: () => Promise<T>) =>
    awsCall("imagebuilder", operation, region, fn, signal);
  const byName = (name: string) => [{ name: "name", values: [name] }];

  return {
    region,
    listComponentVersions: (name) =>
      call("ListComponents", async () => {
        const out = [];
        for await (const page of paginateListComponents(
          { client },
          { owner: "Self", filters: byName(name), byName: false },
          opts,
        )) {
          for (const c of page.componentVersionList ?? []) {
            if (c.name === name && c.arn && c.version) {
              out.push({
                arn: c.arn,
                version: c.version,
                ...(c.description ? { description: c.description } : {}),
              });
            }
          }
        }
        return out;
      }),
    createComponent: (input) =>
      call("CreateComponent", async () => {
        const out = await client.send(
          new CreateComponentCommand({
            name: input.name,
            semanticVersion: input.version,
            description: input.description,
            changeDescription: input.changeDescription,
            platform: "Linux",
            data: input.data,
            tags: { ...input.tags },
            clientToken: input.clientToken,
          }),
          opts,
        );
        return required(out.componentBuildVersionArn, "componentBuildVersionArn");
      }),
    listRecipeVersions: (name) =>
      call("ListImageRecipes", async () => {
        const out = [];
        for await (const page of paginateListImageRecipes(
          { client },
          { owner: "Self", filters: byName(name) },
          opts,
        )) {
          for (const r of page.imageRecipeSummaryList ?? []) {
            if (r.name === name && r.arn)
              out.push({ arn: r.arn, version: r.arn.split("/").pop() ?? "", tags: r.tags ?? {} });
          }
        }
        return out;
      }),
    createRecipe: (input) =>
      call("CreateImageRecipe", async () => {
        const out = await client.send(
          new CreateImageRecipeCommand({
            name: input.name,
            semanticVersion: input.version,
            description: input.description,
            parentImage: input.parentImage,
            components: input.components.map((c) => ({
              componentArn: c.arn,
              ...(c.parameters.length > 0
                ? { parameters: c.parameters.map((p) => ({ name: p.name, value: [...p.value] })) }
                : {}),
            })),
            blockDeviceMappings: input.blockDeviceMappings.map((m) => ({
              deviceName: m.deviceName,
              ebs: { ...m.ebs, volumeType: m.ebs.volumeType as EbsVolumeType },
            })),
            ...(input.userDataOverride
              ? {
                  additionalInstanceConfiguration: {
                    userDataOverride: input.userDataOverride,
                    systemsManagerAgent: { uninstallAfterBuild: false },
                  },
                }
              : {}),
            tags: { ...input.tags },
            clientToken: input.clientToken,
          }),
          opts,
        );
        return required(out.imageRecipeArn, "imageRecipeArn");
      }),
    findInfrastructure: (name) =>
      call("GetInfrastructureConfiguration", async () => {
        let arn: string | undefined;
        for await (const page of paginateListInfrastructureConfigurations(
          { client },
          { filters: byName(name) },
          opts,
        )) {
          arn ??= page.infrastructureConfigurationSummaryList?.find((s) => s.name === name)?.arn;
        }
        if (!arn) return undefined;
        const out = await client.send(
          new GetInfrastructureConfigurationCommand({ infrastructureConfigurationArn: arn }),
          opts,
        );
        const c = out.infrastructureConfiguration;
        if (!c) return undefined;
        const current: InfrastructureSettings = {
          name: c.name ?? name,
          description: c.description ?? "",
          instanceProfileName: c.instanceProfileName ?? "",
          instanceTypes: c.instanceTypes ?? [],
          securityGroupIds: c.securityGroupIds ?? [],
          ...(c.subnetId ? { subnetId: c.subnetId } : {}),
          snsTopicArn: c.snsTopicArn ?? "",
          terminateInstanceOnFailure: c.terminateInstanceOnFailure ?? true,
          ...(c.logging?.s3Logs?.s3BucketName ? { logsBucket: c.logging.s3Logs.s3BucketName } : {}),
          tags: c.tags ?? {},
        };
        return { arn, current };
      }),
    createInfrastructure: (settings, clientToken) =>
      call("CreateInfrastructureConfiguration", async () => {
        const out = await client.send(
          new CreateInfrastructureConfigurationCommand({
            ...infrastructureInput(settings),
            name: settings.name,
            tags: { ...settings.tags },
            clientToken,
          }),
          opts,
        );
        return required(out.infrastructureConfigurationArn, "infrastructureConfigurationArn");
      }),
    updateInfrastructure: (arn, settings, clientToken) =>
      call("UpdateInfrastructureConfiguration", async () => {
        await client.send(
          new UpdateInfrastructureConfigurationCommand({
            ...infrastructureInput(settings),
            infrastructureConfigurationArn: arn,
            clientToken,
          }),
          opts,
        );
      }),
    findDistribution: (name) =>
      call("GetDistributionConfiguration", async () => {
        let arn: string | undefined;
        for await (const page of paginateListDistributionConfigurations(
          { client },
          { filters: byName(name) },
          opts,
        )) {
          arn ??= page.distributionConfigurationSummaryList?.find((s) => s.name === name)?.arn;
        }
        if (!arn) return undefined;
        const out = await client.send(
          new GetDistributionConfigurationCommand({ distributionConfigurationArn: arn }),
          opts,
        );
        const c = out.distributionConfiguration;
        const d = c?.distributions?.[0];
        if (!c || !d) return undefined;
        const current: DistributionSettings = {
          name: c.name ?? name,
          description: c.description ?? "",
          region: d.region ?? "",
          amiName: d.amiDistributionConfiguration?.name ?? "",
          amiDescription: d.amiDistributionConfiguration?.description ?? "",
          amiTags: d.amiDistributionConfiguration?.amiTags ?? {},
          ...(d.amiDistributionConfiguration?.kmsKeyId
            ? { kmsKeyId: d.amiDistributionConfiguration.kmsKeyId }
            : {}),
          tags: c.tags ?? {},
        };
        return { arn, current };
      }),
    createDistribution: (settings, clientToken) =>
      call("CreateDistributionConfiguration", async () => {
        const out = await client.send(
          new CreateDistributionConfigurationCommand({
            name: settings.name,
            description: settings.description,
            distributions: distributionsInput(settings),
            tags: { ...settings.tags },
            clientToken,
          }),
          opts,
        );
        return required(out.distributionConfigurationArn, "distributionConfigurationArn");
      }),
    updateDistribution: (arn, settings, clientToken) =>
      call("UpdateDistributionConfiguration", async () => {
        await client.send(
          new UpdateDistributionConfigurationCommand({
            distributionConfigurationArn: arn,
            description: settings.description,
            distributions: distributionsInput(settings),
            clientToken,
          }),
          opts,
        );
      }),
    createImage: (input) =>
      call("CreateImage", async () => {
        const out = await client.send(
          new CreateImageCommand({
            imageRecipeArn: input.recipeArn,
            infrastructureConfigurationArn: input.infrastructureArn,
            distributionConfigurationArn: input.distributionArn,
            imageTestsConfiguration: { imageTestsEnabled: true, timeoutMinutes: 90 },
            enhancedImageMetadataEnabled: true,
            tags: { ...input.tags },
            clientToken: input.clientToken,
          }),
          opts,
        );
        return required(out.imageBuildVersionArn, "imageBuildVersionArn");
      }),
    listImageBuilds: (imageVersionArn) =>
      call("ListImageBuildVersions", async () => {
        const out: BuildRecord[] = [];
        try {
          for await (const page of paginateListImageBuildVersions({ client }, { imageVersionArn }, opts)) {
            for (const image of page.imageSummaryList ?? []) {
              if (image.arn)
                out.push(
                  toBuild(image.arn, image.state, image.dateCreated, image.outputResources, image.tags),
                );
            }
          }
        } catch (error) {
          // No build of this recipe version yet.
          if (error instanceof ResourceNotFoundException) return [];
          throw error;
        }
        return out;
      }),
    tagResource: (arn, tags) =>
      call("TagResource", async () => {
        await client.send(new TagResourceCommand({ resourceArn: arn, tags: { ...tags } }), opts);
      }),
  };
}

function infrastructureInput(settings: InfrastructureSettings) {
  return {
    description: settings.description,
    instanceProfileName: settings.instanceProfileName,
    instanceTypes: [...settings.instanceTypes],
    ...(settings.securityGroupIds.length > 0 ? { securityGroupIds: [...settings.securityGroupIds] } : {}),
    ...(settings.subnetId ? { subnetId: settings.subnetId } : {}),
    snsTopicArn: settings.snsTopicArn,
    terminateInstanceOnFailure: settings.terminateInstanceOnFailure,
    // IMDSv2 only on build and test instances.
    instanceMetadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 2 },
    ...(settings.logsBucket
      ? { logging: { s3Logs: { s3BucketName: settings.logsBucket, s3KeyPrefix: "imagebuilder" } } }
      : {}),
  };
}

function distributionsInput(settings: DistributionSettings) {
  return [
    {
      region: settings.region,
      amiDistributionConfiguration: {
        name: settings.amiName,
        description: settings.amiDescription,
        amiTags: { ...settings.amiTags },
        ...(settings.kmsKeyId ? { kmsKeyId: settings.kmsKeyId } : {}),
      },
    },
  ];
}

function toBuild(
  arn: string,
  state: ImageState | undefined,
  dateCreated: string | undefined,
  outputs: OutputResources | undefined,
  tags: Record<string, string> | undefined,
): BuildRecord {
  const amis: Record<string, string> = {};
  for (const ami of outputs?.amis ?? []) if (ami.region && ami.image) amis[ami.region] = ami.image;
  const parsed = dateCreated ? Date.parse(dateCreated) : Number.NaN;
  return {
    arn,
    status: (state?.status ?? "PENDING") as BuildStatus,
    ...(state?.reason ? { reason: state.reason } : {}),
    dateCreated: Number.isNaN(parsed) ? (dateCreated ?? "") : new Date(parsed).toISOString(),
    fingerprint: tags?.[TAG.fingerprint] ?? "",
    amis,
    tags: tags ?? {},
  };
}

function required(value: string | undefined, field: string): string {
  if (!value) throw new Error(`response has no ${field}`);
  return value;
}

/** The port over the factory's Image Builder client in `region` (the home region). */
export function imageBuilderPort(
  clients: ClientFactory,
  region: string,
  options: AdapterOptions = {},
): ImageBuilderPort {
  const client = clients.other("imagebuilder", region, (config) => new ImagebuilderClient(config));
  return createImageBuilderAdapter(client, region, options);
}
