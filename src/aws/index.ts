import type {
  Ec2Port,
  ImageBuilderPort,
  PipelinePorts,
  ReportStorePort,
  SharePort,
  SnsPort,
  SsmPort,
  StsPort,
} from "../pipeline/ports.js";
import type { AdapterOptions } from "./call.js";
import type { ClientFactory } from "./client-factory.js";

export type { AdapterOptions } from "./call.js";
export type { AwsClientOptions, ClientFactory } from "./client-factory.js";

/**
 * The pipeline's ports over real SDK clients; Image Builder lives in the home region. The signal
 * aborts every in-flight call of these ports (one set of ports per command or invocation).
 *
 * Each port loads its adapter and SDK client (`import()`) at its first call, not when this module
 * is imported: the Lambda's bundle is split at these imports (infra/lib/bundle.ts), so its cold
 * import carries no SDK client, an event it ignores loads none, and a run loads only what it calls
 * (a no-op nightly: STS, EC2, SSM, Image Builder; SNS and S3 when it reports a change or failure;
 * KMS and RAM only when the project shares AMIs). The first call of each port pays for the load.
 */
export function createPipelinePorts(
  clients: ClientFactory,
  homeRegion: string,
  options: AdapterOptions = {},
): PipelinePorts {
  return {
    ec2: lazyPort<Ec2Port>(async () => (await import("./ec2.js")).ec2Port(clients, options), {
      describeRegions: true,
      describeImages: true,
      searchImages: true,
      listOwnImages: true,
      copyImage: true,
      createTags: true,
      enableImageDeprecation: true,
      deregisterImage: true,
    }),
    ssm: lazyPort<SsmPort>(async () => (await import("./ssm.js")).ssmPort(clients, options), {
      getParameters: true,
      getParametersByPath: true,
      getParameter: true,
      putImageParameter: true,
      labelParameterVersion: true,
      unlabelParameterVersion: true,
      getParameterHistory: true,
    }),
    sns: lazyPort<SnsPort>(async () => (await import("./sns.js")).snsPort(clients, options), {
      publish: true,
    }),
    sts: lazyPort<StsPort>(async () => (await import("./sts.js")).stsPort(clients, options), {
      accountId: true,
      identity: true,
    }),
    imageBuilder: lazyPort<ImageBuilderPort>(
      async () => (await import("./imagebuilder.js")).imageBuilderPort(clients, homeRegion, options),
      {
        listComponentVersions: true,
        createComponent: true,
        listRecipeVersions: true,
        createRecipe: true,
        findInfrastructure: true,
        createInfrastructure: true,
        updateInfrastructure: true,
        findDistribution: true,
        createDistribution: true,
        updateDistribution: true,
        createImage: true,
        listImageBuilds: true,
        tagResource: true,
      },
      { region: homeRegion },
    ),
    reports: lazyPort<ReportStorePort>(
      async () => (await import("./s3.js")).reportStorePort(clients, options),
      { putReport: true },
    ),
    share: lazyPort<SharePort>(async () => (await import("./share.js")).sharePort(clients, options), {
      launchPermissions: true,
      modifyLaunchPermissions: true,
      describeKey: true,
      createKeyGrant: true,
      revokeKeyGrant: true,
      findParameterShare: true,
      createParameterShare: true,
      associateParameterShare: true,
      disassociateParameterShare: true,
    }),
  };
}

/** The methods of a port: every one asynchronous, so it can wait for its adapter to load. */
type AsyncMethodsOf<T> = {
  [K in keyof T as T[K] extends (...args: never[]) => Promise<unknown> ? K : never]: true;
};

/** The properties of a port that are not methods (Image Builder's `region`). */
type ValuesOf<T> = {
  [K in keyof T as T[K] extends (...args: never[]) => unknown ? never : K]: T[K];
};

/**
 * A port whose adapter is loaded at its first call. `methods` names every method (the type checker
 * holds the list complete), `values` gives the properties known without loading. A failed load is
 * not kept: the next call tries again.
 */
function lazyPort<T>(load: () => Promise<T>, methods: AsyncMethodsOf<T>, values?: ValuesOf<T>): T {
  const adapter = once(load);
  const port: Record<string, unknown> = { ...values };
  for (const name of Object.keys(methods)) {
    port[name] = async (...args: unknown[]) => {
      const loaded = (await adapter()) as Record<string, (...a: unknown[]) => Promise<unknown>>;
      return (loaded[name] as (...a: unknown[]) => Promise<unknown>).apply(loaded, args);
    };
  }
  return port as T;
}

/** `load` run once; a rejection is forgotten so the next call loads again. */
function once<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    if (!loading) {
      const started = load();
      loading = started;
      started.catch(() => {
        if (loading === started) loading = undefined;
      });
    }
    return loading;
  };
}
