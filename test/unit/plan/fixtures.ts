import { parseProject } from "../../../src/config/parse.js";
import type { PipelineSettings, Toolset } from "../../../src/config/types.js";
import { contentFingerprint } from "../../../src/plan/fingerprint.js";
import { lineTags, TAG } from "../../../src/plan/names.js";
import type {
  BaseLookup,
  BuildRecord,
  Observed,
  ObservedLine,
  OurAmi,
  ParameterValue,
} from "../../../src/plan/types.js";
import type { LineKey, RecipeShape } from "../../../src/render/index.js";
import { shippedFiles } from "../../helpers/project.js";

export const HOME = "us-east-1";
export const EU = "eu-west-1";
export const LINE: LineKey = { toolset: "light", base: "debian-12", arch: "amd64" };
export const PARAM = "/ops-rig/light/debian-12/amd64/ami-id";
export const ALIAS = "/ops-rig/light/ami-id";
export const NOW = new Date("2026-11-29T12:00:00.000Z");
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

export async function loadFixtureConfig(): Promise<{ pipeline: PipelineSettings; toolset: Toolset }> {
  const config = parseProject(await shippedFiles());
  const light = config.toolsets.find((t) => t.name === "light");
  if (!light) throw new Error("no light toolset");
  const pipeline: PipelineSettings = { ...config.pipeline, homeRegion: HOME, targetRegions: [HOME, EU] };
  // One line, and it is the toolset's default, so it also publishes the alias.
  const toolset: Toolset = {
    ...light,
    bases: ["debian-12"],
    arches: ["amd64"],
    default: { base: "debian-12", arch: "amd64" },
  };
  return { pipeline, toolset };
}

export function iso(offsetMs: number): string {
  return new Date(NOW.getTime() + offsetMs).toISOString();
}

export const BASE_OK: BaseLookup = {
  ok: true,
  image: {
    base: "debian-12",
    arch: "amd64",
    region: HOME,
    imageId: "ami-0base0002",
    name: "debian-12-amd64-20261120-1900",
    ownerId: "136693071363",
    creationDate: iso(-9 * DAY),
    rootDeviceName: "/dev/xvda",
    source: "parameter",
  },
};

export function recipe(hash = "recipe-hash-1"): RecipeShape {
  return {
    line: LINE,
    name: "ops-rig-light-debian-12-amd64",
    description: "test",
    parentImage: "ami-0base0002",
    components: [],
    blockDeviceMappings: [],
    instanceTypes: ["m7i.large"],
    hash,
  };
}

export function content(baseAmi = "ami-0base0002", recipeHash = "recipe-hash-1"): string {
  return contentFingerprint(baseAmi, recipeHash);
}

export function ami(partial: Partial<OurAmi> & { imageId: string }): OurAmi {
  return {
    region: HOME,
    name: `ops-rig-light-debian-12-amd64-${(partial.creationDate ?? iso(-HOUR)).slice(0, 19).replaceAll(":", "-")}Z`,
    state: "available",
    creationDate: iso(-HOUR),
    tags: lineTags(LINE),
    ...partial,
  };
}

/** A home AMI fully tagged as the build of `fingerprint` with `contentHash`. */
export function builtAmi(
  imageId: string,
  fingerprint: string,
  contentHash: string,
  extra: Partial<OurAmi> = {},
): OurAmi {
  return ami({
    imageId,
    ...extra,
    tags: {
      ...lineTags(LINE),
      [TAG.fingerprint]: fingerprint,
      [TAG.content]: contentHash,
      [TAG.baseAmi]: "ami-0base0002",
      [TAG.build]: `arn:aws:imagebuilder:${HOME}:123456789012:image/ops-rig-light-debian-12-amd64/1.0.0/1`,
      ...(extra.tags ?? {}),
    },
  });
}

export function build(partial: Partial<BuildRecord> & { fingerprint: string }): BuildRecord {
  return {
    arn: `arn:aws:imagebuilder:${HOME}:123456789012:image/ops-rig-light-debian-12-amd64/1.0.0/1`,
    status: "BUILDING",
    dateCreated: iso(-HOUR),
    amis: {},
    ...partial,
    tags: {
      ...lineTags(LINE),
      [TAG.fingerprint]: partial.fingerprint,
      [TAG.content]: content(),
      ...(partial.tags ?? {}),
    },
  };
}

export interface WorldInput {
  readonly amis?: Readonly<Record<string, readonly OurAmi[]>>;
  readonly parameters?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly builds?: readonly BuildRecord[];
  readonly base?: BaseLookup;
  readonly recipeHash?: string;
  readonly regionErrors?: Readonly<Record<string, string>>;
}

export function world(input: WorldInput = {}): Observed {
  const base = input.base ?? BASE_OK;
  const observedLine: ObservedLine = base.ok
    ? {
        line: LINE,
        base,
        recipe: recipe(input.recipeHash),
        content: content(base.image.imageId, input.recipeHash),
        builds: input.builds ?? [],
      }
    : { line: LINE, base, builds: [] };
  return {
    accountId: "123456789012",
    homeRegion: HOME,
    lines: [observedLine],
    regions: [HOME, EU].map((region) => {
      const error = input.regionErrors?.[region];
      const parameters = new Map<string, ParameterValue>(
        Object.entries(input.parameters?.[region] ?? {}).map(([name, value]) => [
          name,
          { name, value, version: 3 },
        ]),
      );
      return {
        region,
        ...(error ? { error } : {}),
        amis: (input.amis?.[region] ?? []).map((a) => ({ ...a, region })),
        parameters,
      };
    }),
  };
}
