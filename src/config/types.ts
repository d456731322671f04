import type { YamlSource } from "../yaml/source.js";
import type { Arch, Base } from "./bases.js";
import type { Duration } from "./schema.js";

export type { Duration } from "./schema.js";

export interface LocalRunnability {
  readonly runnable: false;
  /** Why the component cannot run in a local Debian root, e.g. "needs the Python package index". */
  readonly reason: string;
  /** Only on these bases; every base when absent. */
  readonly bases?: readonly Base[];
  /** Only these steps (by name, any phase) are not run locally; the whole component when absent. */
  readonly steps?: readonly string[];
}

export interface ComponentRef {
  readonly name: string;
  /** Values for the component's AWSTOE parameters (all strings, as AWSTOE wants). */
  readonly parameters: Readonly<Record<string, string>>;
  /** Only on these bases of the toolset; every base when absent. */
  readonly bases?: readonly Base[];
  /** Lines (`<base>/<arch>`) the component is left out of. */
  readonly except?: readonly string[];
  /** False: baked images only, left out of the cloud-init bootstrap (e.g. the end-of-build cleanup). */
  readonly cloudInit?: false;
  readonly local?: LocalRunnability;
}

/** Whether a toolset's component is part of the image for a base (and arch, when given). */
export function componentOnLine(ref: ComponentRef, base: Base, arch?: Arch): boolean {
  return (
    (ref.bases === undefined || ref.bases.includes(base)) &&
    (arch === undefined || !(ref.except ?? []).includes(`${base}/${arch}`))
  );
}

export interface Toolset {
  readonly name: string;
  readonly file: string;
  readonly description: string;
  readonly maxAge: Duration;
  readonly bases: readonly Base[];
  readonly arches: readonly Arch[];
  readonly default: { readonly base: Base; readonly arch: Arch };
  readonly rootVolume: { readonly sizeGiB: number; readonly iops?: number; readonly throughput?: number };
  readonly instanceTypes: Readonly<Partial<Record<Arch, readonly string[]>>>;
  /** Whether this toolset also renders cloud-init user data for a stock AMI. */
  readonly cloudInit: boolean;
  readonly components: readonly ComponentRef[];
  /** Where the toolset came from, to point problems found later at the right line. */
  readonly source: YamlSource;
}

/**
 * A toolset as plain data (JSON-serialisable): everything the pipeline and the services use, without
 * where it came from. The pipeline Lambda ships its project in this shape (no YAML at run time).
 */
export type ToolsetData = Omit<Toolset, "source">;

/** The pipeline settings as plain data (JSON-serialisable), without where they came from. */
export type PipelineData = Omit<PipelineSettings, "source">;

export interface PipelineSettings {
  readonly file: string;
  readonly homeRegion: string;
  readonly targetRegions: readonly string[];
  readonly parameterPrefix: string;
  readonly retention: { readonly keep: number; readonly gracePeriod: Duration };
  readonly notifications: { readonly topic: string };
  readonly build: {
    readonly instanceProfileName: string;
    readonly notificationTopic: string;
    readonly securityGroupIds?: readonly string[];
    readonly subnetId?: string;
    readonly terminateInstanceOnFailure: boolean;
    readonly logsBucket?: string;
    readonly failureBackoff: Duration;
  };
  readonly copy: {
    readonly concurrencyPerRegion: number;
    readonly kmsKeys: Readonly<Record<string, string>>;
  };
  /** Absent: nothing is shared (and whatever ops-rig shared before is unshared). */
  readonly share?: ShareSettings;
  readonly source: YamlSource;
}

/** Who else may launch the images and read the parameters (`share:` in pipeline.yaml). */
export interface ShareSettings {
  readonly organizationArn?: string;
  readonly organizationalUnitArns: readonly string[];
  readonly accountIds: readonly string[];
}

/** An AWSTOE document template as read from `components/<name>.yaml`. */
export interface ComponentTemplate {
  readonly name: string;
  readonly file: string;
  readonly source: YamlSource;
}

/** Shell functions prepended to every ExecuteBash step (one definition of apt and OS handling). */
export interface Prelude {
  readonly file: string;
  readonly text: string;
}

export interface ProjectConfig {
  readonly pipeline: PipelineSettings;
  readonly toolsets: readonly Toolset[];
  readonly components: readonly ComponentTemplate[];
  readonly prelude: Prelude;
}
