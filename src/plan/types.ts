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

/** Who may launch an AMI besides its owner, as EC2's LaunchPermission says it. */
export interface LaunchPermission {
  readonly kind: "organization" | "organizational-unit" | "account" | "public";
  /** The organization or OU ARN, the account id, or `all`. */
  readonly id: string;
}

/** ops-rig's grant on a copy key for one member account (named `ops-rig-share-<account>`). */
export interface KeyGrant {
  readonly grantId: string;
  readonly accountId: string;
}

/** The region's AWS RAM resource share of ops-rig's parameters (by name, owned by this account). */
export interface ParameterShare {
  readonly arn: string;
  readonly principals: readonly string[];
  /** Parameter ARNs associated with the share. */
  readonly resources: readonly string[];
}

/** What is shared in a region. */
export interface ObservedSharing {
  /** Launch permissions of the AMIs that were looked at (shared ones and, when sharing, all available). */
  readonly launchPermissions: ReadonlyMap<string, readonly LaunchPermission[]>;
  readonly parameterShare?: ParameterShare;
  /** The region's copy key (from `copy.kmsKeys`), resolved to its ARN, its ops-rig grants and its policy. */
  readonly key?: { readonly arn: string; readonly grants: readonly KeyGrant[]; readonly policy?: string };
}

export interface ObservedRegion {
  readonly region: string;
  /** Set when the region could not be observed (disabled, not opted in, unreachable): its actions are skipped. */
  readonly error?: string;
  /** The observation failed in a way a retry could fix (throttling, a dropped connection). */
  readonly retryable?: boolean;
  readonly amis: readonly OurAmi[];
  readonly parameters: ReadonlyMap<string, ParameterValue>;
  /** Absent when sharing was not observed (no share port, or the region could not be observed). */
  readonly sharing?: ObservedSharing;
  /** Set when the sharing state could not be read: sharing in this region waits for the next run. */
  readonly sharingError?: string;
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
      /** Advanced where parameters are (or were) shared through AWS RAM: it cannot be downgraded. */
      readonly tier?: "Advanced";
    })
  | (ActionBase & {
      /** Launch permissions of the line's AMIs in a region, to what `share:` says. */
      readonly kind: "share";
      readonly region: string;
      readonly images: readonly {
        readonly imageId: string;
        readonly add: readonly LaunchPermission[];
        readonly remove: readonly LaunchPermission[];
        /** Not tagged ops-rig:shared yet: tagged before the first permission is added. */
        readonly tag: boolean;
      }[];
    })
  | (ActionBase & {
      /**
       * Region-wide sharing (the parameters' RAM share, the copy key's grants), carried by the
       * region's first line so that one action, not one per line, changes each shared resource.
       */
      readonly kind: "share-region";
      readonly region: string;
      readonly parameters?: {
        /** Absent: create the share (deterministic client token) with the principals and resources. */
        readonly shareArn?: string;
        readonly name: string;
        readonly addPrincipals: readonly string[];
        readonly removePrincipals: readonly string[];
        readonly addResources: readonly string[];
        readonly removeResources: readonly string[];
        /** Standard-tier parameters to rewrite (same value) as Advanced before they are shared. */
        readonly promote: readonly { readonly name: string; readonly value: string }[];
      };
      readonly key?: {
        readonly arn: string;
        readonly grantAccounts: readonly string[];
        readonly revokeGrants: readonly KeyGrant[];
      };
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
  "share",
  "share-region",
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
