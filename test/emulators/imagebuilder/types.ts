import type { Arch, Base } from "../../../src/config/bases.js";
import type { EmulatorClock } from "../clock.js";
import type { MotoDirect } from "../moto-direct.js";
import type { Phase } from "./model.js";

/**
 * The "real local builds" hook: runs a recipe's component documents for real (in a Debian root, by
 * the local AWSTOE runner) and says where it failed. The emulator calls it when an image whose
 * parent is a Debian base of this host's architecture enters BUILDING, and holds the image in
 * BUILDING until it resolves.
 */
export type LocalBuilder = (request: {
  imageArn: string;
  base: "ubuntu-24.04" | "ubuntu-22.04" | "debian-12" | "debian-13";
  arch: "amd64" | "arm64";
  components: readonly {
    name: string;
    /** The component's AWSTOE document as created (`data`). */
    document: string;
    /** Every document parameter's value for this recipe: the recipe's value, else the document's default. */
    parameters: Readonly<Record<string, string>>;
  }[];
}) => Promise<{ ok: true } | { ok: false; phase: "BUILDING" | "TESTING"; reason: string }>;

export type LocalBuildRequest = Parameters<LocalBuilder>[0];
export type LocalBuildResult = Awaited<ReturnType<LocalBuilder>>;

export interface EmulatorDeps {
  readonly accountId: string;
  readonly clock: EmulatorClock;
  readonly direct: MotoDirect;
  readonly phaseMs: Readonly<Record<Phase, number>>;
  readonly localBuilder: LocalBuilder | undefined;
  /**
   * Creating a component version that exists: `reject` (ResourceAlreadyExistsException, the
   * long-standing behaviour and the default) or `newBuildVersion` (a new build number, as AWS does
   * since Nov 2025 in some regions).
   */
  readonly componentVersionConflict: "reject" | "newBuildVersion";
  /** The architecture local builds can run on (this host's). */
  readonly hostArch: Arch | undefined;
  log(line: string): void;
}

export type { Arch, Base };
