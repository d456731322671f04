import { appendFileSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Arch, BASE_INFO, type Base, isArch, isBase } from "../../src/config/bases.js";
import { CallLog, type CallRecord } from "./calls.js";
import { type EmulatorClock, ManualClock, RealClock } from "./clock.js";
import { ImageBuilderEmulator } from "./imagebuilder/emulator.js";
import type { Phase } from "./imagebuilder/model.js";
import { ImageBuilderServer } from "./imagebuilder/server.js";
import type { LocalBuilder } from "./imagebuilder/types.js";
import { lendMoto, lentMotoPid, type MotoServer, startMoto } from "./moto.js";
import { LOCAL_CREDENTIALS, MotoDirect } from "./moto-direct.js";
import { FaultProxy } from "./proxy.js";
import { type Catalog, initialCatalog, newerImage, type SeededImage } from "./seed.js";

/**
 * A local AWS for tests and the demo: moto (EC2, SSM, SNS, STS, IAM, SQS) behind a fault proxy,
 * seeded with Canonical's and Debian's public base images and parameters, plus ops-rig's Image
 * Builder emulator. Real SDK clients reach it through `env` (AWS_ENDPOINT_URL, …) or
 * `clientConfig(region)`. See EMULATOR.md for what is emulated and what is not.
 */

export type { CallRecord } from "./calls.js";
export type { LocalBuilder } from "./imagebuilder/types.js";

export interface StartLocalAwsOptions {
  /** All seeded; the first is AWS_REGION. */
  regions: readonly string[];
  /** manual (tests): builds and timed copies move only when advanced; real (demo): timed phases. */
  clock?: "manual" | "real";
  /** Phase durations for both clocks (defaults: PENDING 1 s, BUILDING 4 s, TESTING 2 s, DISTRIBUTING 2 s). */
  phaseMs?: Partial<Record<Phase, number>>;
  /** Runs Debian builds for real (see LocalBuilder). */
  localBuilder?: LocalBuilder;
  /** Where moto's, the proxy's and the emulator's logs go; a new temporary folder when omitted. */
  logDir?: string;
  /** Creating a component version that exists: rejected (default) or a new build number (AWS since Nov 2025). */
  componentVersionConflict?: "reject" | "newBuildVersion";
  /**
   * `own` (default): a moto of its own, stopped by `stop()`. `lent`: the test worker's moto, reset
   * for this local AWS and handed back by `stop()` (see lendMoto): for test files, never for scripts.
   */
  moto?: "own" | "lent";
}

export interface BaseImage {
  imageId: string;
  name: string;
  base: string;
  arch: string;
  creationDate: string;
  deprecated: boolean;
}

export interface ImageSummary {
  arn: string;
  status: string;
  recipeName: string;
  reason?: string;
  /** The phase a FAILED image failed in. */
  failedPhase?: string;
  amiIds: Readonly<Record<string, string>>;
}

export interface ClientConfig {
  region: string;
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  maxAttempts: number;
}

export interface LocalAws {
  /** AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_IMAGEBUILDER, AWS_ACCESS_KEY_ID/SECRET, AWS_REGION (+ AWS_DEFAULT_REGION), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED. */
  readonly env: Readonly<Record<string, string>>;
  /** aws = the fault proxy in front of moto; moto = moto itself (calls there are not recorded). */
  readonly endpoints: { readonly aws: string; readonly imagebuilder: string; readonly moto: string };
  readonly accountId: string;
  readonly regions: readonly string[];
  readonly logDir: string;
  /** PIDs of the processes started (moto), to prove none is left behind. */
  readonly pids: readonly number[];
  /**
   * SDK client options for `region`: the fault proxy (or, with `service: "imagebuilder"`, the
   * emulator directly; Image Builder requests sent to the proxy are passed on to the emulator
   * too), test credentials, and maxAttempts 1 unless given.
   */
  clientConfig(region: string, options?: { service?: "imagebuilder"; maxAttempts?: number }): ClientConfig;
  readonly bases: {
    /** The publishers' images seeded in `region` (decoys excluded), oldest first. */
    list(region: string): Promise<readonly BaseImage[]>;
    /** Releases a newer build in each region (default: all) and points the public parameter at it; region → AMI id. */
    publishNewer(
      base: string,
      arch: string,
      opts?: { regions?: readonly string[] },
    ): Promise<Readonly<Record<string, string>>>;
    /** Look-alike public images by another owner (name matches a base's pattern, newer): the "whoAMI" trap. */
    decoys(region: string): readonly BaseImage[];
  };
  readonly imageBuilder: {
    advance(ms: number): Promise<void>;
    settle(): Promise<void>;
    failNext(opts: {
      phase: "BUILDING" | "TESTING" | "DISTRIBUTING";
      reason: string;
      match?: (recipeName: string) => boolean;
    }): void;
    throttle(fraction: number): void;
    latency(ms: number): void;
    images(): readonly ImageSummary[];
  };
  readonly faults: {
    fail(opts: {
      service: "ec2" | "ssm" | "sns";
      action: string;
      region?: string;
      times?: number;
      error: { code: string; message: string; status?: number };
    }): void;
    pendingCopies(opts: {
      region: string;
      forMs?: number;
      outcome: "available" | "failed";
      reason?: string;
    }): void;
    /** Takes effect before the next call through the proxy; await it to see it in moto directly. */
    releaseCopies(region?: string): Promise<void>;
    clear(): void;
  };
  calls(): readonly CallRecord[];
  resetCalls(): void;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export const LOCAL_ACCOUNT_ID = "123456789012";
const DEFAULT_PHASE_MS: Readonly<Record<Phase, number>> = {
  PENDING: 1_000,
  BUILDING: 4_000,
  TESTING: 2_000,
  DISTRIBUTING: 2_000,
};

function hostArch(): Arch | undefined {
  if (process.arch === "x64") return "amd64";
  if (process.arch === "arm64") return "arm64";
  return undefined;
}

function motoSpec(image: SeededImage): Record<string, unknown> {
  return {
    region: image.region,
    imageId: image.imageId,
    name: image.name,
    description: image.description,
    ownerId: image.ownerId,
    architecture: image.architecture,
    creationDate: image.creationDate,
    deprecationTime: image.deprecationTime,
    rootDeviceName: image.rootDeviceName,
    imageLocation: `${image.ownerId}/${image.name}`,
    public: true,
  };
}

function toBaseImage(image: SeededImage): BaseImage {
  return {
    imageId: image.imageId,
    name: image.name,
    base: image.base,
    arch: image.arch,
    creationDate: image.creationDate,
    deprecated: image.deprecated,
  };
}

export async function startLocalAws(options: StartLocalAwsOptions): Promise<LocalAws> {
  const regions = [...options.regions];
  if (regions.length === 0) throw new Error("startLocalAws: give at least one region");
  for (const region of regions) {
    if (!/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/.test(region))
      throw new Error(`startLocalAws: ${JSON.stringify(region)} is not a region name`);
  }
  const logDir = options.logDir ?? mkdtempSync(join(tmpdir(), "ops-rig-local-aws-"));
  mkdirSync(logDir, { recursive: true });
  const logger = (file: string) => (line: string) => {
    try {
      appendFileSync(join(logDir, file), `${new Date().toISOString()} ${line}\n`);
    } catch {
      // The log folder vanished (a test removed it): nothing useful left to do with the line.
    }
  };
  const clock: EmulatorClock = options.clock === "real" ? new RealClock() : new ManualClock();
  const phaseMs = { ...DEFAULT_PHASE_MS, ...options.phaseMs };
  for (const [phase, ms] of Object.entries(phaseMs)) {
    if (!(ms >= 0)) throw new Error(`startLocalAws: phaseMs.${phase} must be a number of milliseconds ≥ 0`);
  }

  const motoLog = { logFile: join(logDir, "moto.log") };
  const moto: MotoServer = await (options.moto === "lent" ? lendMoto(motoLog) : startMoto(motoLog));
  const calls = new CallLog();
  const direct = new MotoDirect(moto, LOCAL_ACCOUNT_ID);
  const proxy = new FaultProxy({ moto, direct, clock, calls, log: logger("proxy.log") });
  const emulator = new ImageBuilderEmulator({
    accountId: LOCAL_ACCOUNT_ID,
    clock,
    direct,
    phaseMs,
    localBuilder: options.localBuilder,
    componentVersionConflict: options.componentVersionConflict ?? "reject",
    hostArch: hostArch(),
    log: logger("imagebuilder.log"),
  });
  const ibServer = new ImageBuilderServer(emulator, calls, logger("imagebuilder.log"));

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    emulator.lifecycle.stopTimer();
    await Promise.allSettled([proxy.close(), ibServer.close()]);
    direct.destroy();
    await moto.stop();
  };

  try {
    await proxy.start();
    proxy.imageBuilderUrl = await ibServer.start();
  } catch (error) {
    await stop();
    throw error;
  }

  const seedTime = clock.now();
  const initial: Catalog = initialCatalog(regions, seedTime);
  let images: SeededImage[] = [...initial.images];
  const seedMoto = async (catalog: Catalog) => {
    await moto.control("seed", { amis: catalog.images.map(motoSpec), parameters: catalog.parameters });
  };
  try {
    await seedMoto(initial);
  } catch (error) {
    await stop();
    throw error;
  }
  emulator.lifecycle.startTimer();

  const env: Record<string, string> = {
    AWS_ENDPOINT_URL: proxy.url,
    AWS_ENDPOINT_URL_IMAGEBUILDER: ibServer.url,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_REGION: regions[0] ?? "us-east-1",
    // The AWS CLI (and older tools) read this one instead.
    AWS_DEFAULT_REGION: regions[0] ?? "us-east-1",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  };

  return {
    env,
    endpoints: { aws: proxy.url, imagebuilder: ibServer.url, moto: moto.url },
    accountId: LOCAL_ACCOUNT_ID,
    regions,
    logDir,
    // The processes it started and stop() ends (a lent moto is the worker's, and lives on).
    pids: options.moto === "lent" && moto.pid === lentMotoPid() ? [] : [moto.pid],
    clientConfig(region, opts = {}) {
      return {
        region,
        endpoint: opts.service === "imagebuilder" ? ibServer.url : proxy.url,
        credentials: { ...LOCAL_CREDENTIALS },
        maxAttempts: opts.maxAttempts ?? 1,
      };
    },
    bases: {
      async list(region) {
        return images
          .filter((i) => i.region === region && !i.decoy)
          .sort((a, b) => a.creationDate.localeCompare(b.creationDate))
          .map(toBaseImage);
      },
      async publishNewer(base, arch, opts = {}) {
        if (!isBase(base))
          throw new Error(
            `bases.publishNewer: unknown base ${JSON.stringify(base)} (known: ${Object.keys(BASE_INFO).join(", ")})`,
          );
        if (!isArch(arch))
          throw new Error(`bases.publishNewer: unknown arch ${JSON.stringify(arch)} (amd64 or arm64)`);
        const targets = opts.regions ?? regions;
        const unknown = targets.filter((r) => !regions.includes(r));
        if (unknown.length > 0)
          throw new Error(
            `bases.publishNewer: ${unknown.join(", ")} not among the local AWS regions (${regions.join(", ")})`,
          );
        const released = targets.map((region) =>
          newerImage(images, region, base as Base, arch as Arch, clock.now()),
        );
        await seedMoto({
          images: released.map((r) => r.image),
          parameters: released.map((r) => r.parameter),
        });
        images = [...images, ...released.map((r) => r.image)];
        return Object.fromEntries(released.map((r) => [r.image.region, r.image.imageId]));
      },
      decoys(region) {
        return images.filter((i) => i.region === region && i.decoy).map(toBaseImage);
      },
    },
    imageBuilder: {
      async advance(ms) {
        await emulator.lifecycle.advance(ms);
        await proxy.processDue();
      },
      async settle() {
        await emulator.lifecycle.settle();
      },
      failNext(opts) {
        if (!["BUILDING", "TESTING", "DISTRIBUTING"].includes(opts.phase))
          throw new Error(
            `imageBuilder.failNext: phase must be BUILDING, TESTING or DISTRIBUTING, not ${JSON.stringify(opts.phase)}`,
          );
        emulator.lifecycle.failNext(opts);
      },
      throttle(fraction) {
        ibServer.throttle(fraction);
      },
      latency(ms) {
        ibServer.latency(ms);
      },
      images() {
        return emulator.lifecycle.summaries();
      },
    },
    faults: {
      fail(opts) {
        if (!["ec2", "ssm", "sns"].includes(opts.service))
          throw new Error(
            `faults.fail: service must be ec2, ssm or sns, not ${JSON.stringify(opts.service)}`,
          );
        if (!/^[A-Z][A-Za-z0-9]+$/.test(opts.action))
          throw new Error(
            `faults.fail: action must be an API action name like CopyImage, not ${JSON.stringify(opts.action)}`,
          );
        if (opts.region !== undefined && !regions.includes(opts.region))
          throw new Error(
            `faults.fail: ${opts.region} is not among the local AWS regions (${regions.join(", ")})`,
          );
        proxy.fail(opts);
      },
      pendingCopies(opts) {
        if (!regions.includes(opts.region))
          throw new Error(
            `faults.pendingCopies: ${opts.region} is not among the local AWS regions (${regions.join(", ")})`,
          );
        proxy.pendingCopies(opts);
      },
      releaseCopies(region) {
        return proxy.releaseCopies(region);
      },
      clear() {
        proxy.clear();
      },
    },
    calls: () => calls.all(),
    resetCalls: () => calls.clear(),
    async reset() {
      proxy.clear();
      ibServer.resetFaults();
      emulator.reset();
      await moto.control("reset", {});
      images = [...initial.images];
      await seedMoto(initial);
      calls.clear();
    },
    stop,
  };
}
