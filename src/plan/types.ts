import type { Arch, Base } from "../config/bases.js";
import type { LineKey, RecipeShape } from "../render/index.js";

export type { LineKey } from "../render/index.js";

/** EC2 image states. */
export type AmiState =
  | "pending"
  | "available"
  | "invalid"
  | "deregistered"
  | "transient"
  | "failed"
  | "error"
  | "disabled";

/** Image Builder image statuses. */
export type BuildStatus =
  | "PENDING"
  | "CREATING"
  | "BUILDING"
  | "TESTING"
  | "DISTRIBUTING"
  | "INTEGRATING"
  | "AVAILABLE"
  | "CANCELLED"
  | "FAILED"
  | "DEPRECATED"
  | "DELETED"
  | "DISABLED";

export const BUILD_IN_FLIGHT: readonly BuildStatus[] = [
  "PENDING",
  "CREATING",
  "BUILDING",
  "TESTING",
  "DISTRIBUTING",
  "INTEGRATING",
];

/** The newest publisher image for a base and arch in a region. */
export interface BaseImage {
  readonly base: Base;
  readonly arch: Arch;
  readonly region: string;
  readonly imageId: string;
  readonly name: string;
  readonly ownerId: string;
  readonly creationDate: string;
  readonly rootDeviceName: string;
  /** How it was found: the publisher's public parameter, or an owner-pinned image search. */
  readonly source: "parameter" | "search";
}

export type BaseLookup =
  | { readonly ok: true; readonly image: BaseImage }
  /** `retryable`: the lookup itself failed (throttling, a dropped connection), not the search. */
  | { readonly ok: false; readonly error: string; readonly retryable?: boolean };

/** An AMI of ours (named `ops-rig-*` in our account), with its tags. */
export interface OurAmi {
  readonly imageId: string;
  readonly region: string;
  readonly name: string;
  readonly state: AmiState;
  readonly creationDate: string;
  readonly deprecationTime?: string;
  readonly tags: Readonly<Record<string, string>>;
}

/** One Image Builder image build of a line. */
export interface BuildRecord {
  readonly arn: string;
  readonly status: BuildStatus;
  readonly reason?: string;
  readonly dateCreated: string;
  readonly fingerprint: string;
  /** AMI per region from outputResources (empty until AVAILABLE). */
  readonly amis: Readonly<Record<string, string>>;
  readonly tags: Readonly<Record<string, string>>;
}

export interface ParameterValue {
  readonly name: string;
  readonly value: string;
  readonly version: number;
}

export interface ObservedRegion {
  readonly region: string;
  /** Set when the region could not be observed (disabled, not opted in, unreachable): its actions are skipped. */
  readonly error?: string;
  /** The observation failed in a way a retry could fix (throttling, a dropped connection). */
  readonly retryable?: boolean;
  readonly amis: readonly OurAmi[];
  readonly parameters: ReadonlyMap<string, ParameterValue>;
}

export interface ObservedLine {
  readonly line: LineKey;
  /** The newest base in the home region (builds happen there). */
  readonly base: BaseLookup;
  /** The recipe rendered on that base; absent when the base was not found. */
  readonly recipe?: RecipeShape;
  readonly content?: string;
  /** Builds of this line whose fingerprint matters to the plan (in flight, finished or failed). */
  readonly builds: readonly BuildRecord[];
}

/** One immutable snapshot of the world, taken at the start of a run. */
export interface Observed {
  readonly accountId: string;
  readonly homeRegion: string;
  readonly regions: readonly ObservedRegion[];
  readonly lines: readonly ObservedLine[];
}

interface ActionBase {
  readonly line: LineKey;
  readonly reason: string;
}

export type Action =
  | (ActionBase & {
      readonly kind: "build";
      readonly region: string;
      readonly fingerprint: string;
      readonly content: string;
      readonly attempt: number;
      readonly recipe: RecipeShape;
      readonly baseImage: BaseImage;
    })
  | (ActionBase & {
      readonly kind: "wait";
      readonly region: string;
      readonly build?: string;
      readonly imageId?: string;
    })
  | (ActionBase & {
      readonly kind: "copy";
      readonly region: string;
      readonly sourceRegion: string;
      readonly sourceImageId: string;
      readonly name: string;
      readonly fingerprint: string;
      readonly attempt: number;
      readonly tags: Readonly<Record<string, string>>;
      readonly kmsKeyId?: string;
      /** A failed earlier copy to clean up once the new one is started. */
      readonly replaces?: string;
    })
  | (ActionBase & {
      readonly kind: "tag";
      readonly region: string;
      readonly imageId: string;
      readonly tags: Readonly<Record<string, string>>;
    })
  | (ActionBase & {
      readonly kind: "publish";
      readonly region: string;
      readonly imageId: string;
      readonly parameters: readonly {
        readonly name: string;
        readonly current?: string;
        readonly version?: number;
      }[];
      readonly tags: Readonly<Record<string, string>>;
      /** Parameter version label: the image's build date, so history reads as a build log. */
      readonly label: string;
    })
  | (ActionBase & { readonly kind: "deprecate"; readonly region: string; readonly imageId: string })
  | (ActionBase & { readonly kind: "deregister"; readonly region: string; readonly imageId: string })
  | (ActionBase & {
      readonly kind: "notify";
      readonly region: string;
      readonly build: string;
      readonly failure: string;
    })
  | (ActionBase & {
      readonly kind: "skip";
      readonly region?: string;
      /** Skipped because of a problem (a failure of the run), not by design (back-off). */
      readonly error: boolean;
      /** The problem may go away by itself on a retry (throttling, a dropped connection). */
      readonly retryable?: boolean;
    });

export type ActionKind = Action["kind"];

export const MUTATING_KINDS: readonly ActionKind[] = [
  "build",
  "copy",
  "tag",
  "publish",
  "deprecate",
  "deregister",
  "notify",
];

export function isMutating(action: Action): boolean {
  return MUTATING_KINDS.includes(action.kind);
}

export interface PlanOptions {
  /** Ignore the back-off after a failed build. */
  readonly force?: boolean;
}

export interface Plan {
  readonly actions: readonly Action[];
  /** Per line and region: where it stands after this plan (for status and reports). */
  readonly lines: readonly LineStatus[];
}

export interface LineStatus {
  readonly line: LineKey;
  readonly region: string;
  readonly state:
    | "published"
    | "pending"
    | "building"
    | "copying"
    | "failed"
    | "backoff"
    | "skipped"
    | "withdrawn";
  readonly imageId?: string;
  readonly fingerprint?: string;
  readonly detail: string;
}
