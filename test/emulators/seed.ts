import { createHash } from "node:crypto";
import { ARCHES, type Arch, BASE_INFO, BASES, type Base, EC2_ARCHITECTURE } from "../../src/config/bases.js";

/**
 * The public base images the local AWS seeds: Canonical's and Debian's AMIs for every base and
 * architecture, in every region, with realistic names (serial dates), creation dates, deprecation
 * times and per-region ids, plus the publishers' public SSM parameters. Pure data; moto.ts loads it.
 */

export interface SeededImage {
  readonly region: string;
  readonly imageId: string;
  readonly name: string;
  readonly description: string;
  readonly base: Base;
  readonly arch: Arch;
  readonly ownerId: string;
  readonly architecture: "x86_64" | "arm64";
  readonly rootDeviceName: string;
  /** ISO 8601, as EC2 reports it. */
  readonly creationDate: string;
  readonly deprecationTime: string;
  /** Deprecated now: hidden from DescribeImages unless IncludeDeprecated (or asked for by id). */
  readonly deprecated: boolean;
  /** A look-alike published by someone else (the "whoAMI" trap): never a base. */
  readonly decoy: boolean;
}

export interface SeededParameter {
  readonly region: string;
  readonly name: string;
  readonly value: string;
  readonly lastModifiedDate: string;
}

const DAY = 86_400_000;
/** Canonical and Debian deprecate an AMI two years after publishing it. */
const DEPRECATE_AFTER = 730 * DAY;
/** Ages, in days before the seed time, of the images seeded per base, arch and region. */
const AGES_DAYS = [45, 17, 3] as const;
const DEPRECATED_AGE_DAYS = 760;
/** Someone else's account that publishes look-alike public AMIs. */
export const DECOY_OWNER = "666666666666";

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, ".000Z");
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/** The serial part of a publisher's AMI name for a build at `ms`. */
function serial(base: Base, ms: number, bump: number): string {
  const d = new Date(ms);
  const day = `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}`;
  if (BASE_INFO[base].family === "ubuntu") return bump === 0 ? day : `${day}.${bump}`;
  const minutes = d.getUTCHours() * 60 + d.getUTCMinutes() + bump;
  return `${day}-${pad(Math.floor(minutes / 60) % 24)}${pad(minutes % 60)}`;
}

function imageName(base: Base, arch: Arch, serialText: string): string {
  return BASE_INFO[base].namePattern(arch).replace("*", serialText);
}

function description(base: Base, arch: Arch, serialText: string): string {
  const info = BASE_INFO[base];
  return info.family === "ubuntu"
    ? `Canonical, Ubuntu, ${info.version} LTS, ${arch} ${info.codename} image`
    : `Debian ${info.version} (${serialText})`;
}

/** `ami-0` + 16 hex digits, derived from region and name: stable, and different in every region. */
function imageId(region: string, name: string, owner: string): string {
  return `ami-0${createHash("sha256").update(`${region}|${owner}|${name}`).digest("hex").slice(0, 16)}`;
}

function makeImage(
  region: string,
  base: Base,
  arch: Arch,
  created: number,
  options: { now: number; owner?: string; bump?: number },
): SeededImage {
  const info = BASE_INFO[base];
  const owner = options.owner ?? info.owner;
  const serialText = serial(base, created, options.bump ?? 0);
  const name = imageName(base, arch, serialText);
  const deprecationTime = created + DEPRECATE_AFTER;
  return {
    region,
    imageId: imageId(region, name, owner),
    name,
    description: description(base, arch, serialText),
    base,
    arch,
    ownerId: owner,
    architecture: EC2_ARCHITECTURE[arch],
    rootDeviceName: info.rootDeviceName,
    creationDate: iso(created),
    deprecationTime: iso(deprecationTime),
    deprecated: deprecationTime <= options.now,
    decoy: owner !== info.owner,
  };
}

export interface Catalog {
  readonly images: readonly SeededImage[];
  readonly parameters: readonly SeededParameter[];
}

/**
 * Per region, base and arch: three current images (45, 17 and 3 days old), one deprecated one, and
 * the public parameter's history pointing at each current image in turn. Per region, one public
 * look-alike of the newest Ubuntu 24.04 amd64 image by another owner, newer than the real one.
 */
export function initialCatalog(regions: readonly string[], seedTime: number): Catalog {
  const images: SeededImage[] = [];
  const parameters: SeededParameter[] = [];
  // Publishers build around 10:00 UTC; whole minutes keep names and dates consistent.
  const anchor = Math.floor(seedTime / DAY) * DAY + 10 * 3_600_000;
  for (const region of regions) {
    for (const base of BASES) {
      for (const arch of ARCHES) {
        images.push(makeImage(region, base, arch, anchor - DEPRECATED_AGE_DAYS * DAY, { now: seedTime }));
        for (const age of AGES_DAYS) {
          const image = makeImage(region, base, arch, anchor - age * DAY, { now: seedTime });
          images.push(image);
          parameters.push({
            region,
            name: BASE_INFO[base].publicParameter(arch),
            value: image.imageId,
            lastModifiedDate: iso(Date.parse(image.creationDate) + 2 * 3_600_000),
          });
        }
      }
    }
    images.push(
      makeImage(region, "ubuntu-24.04", "amd64", anchor - 1 * DAY, { now: seedTime, owner: DECOY_OWNER }),
    );
  }
  return { images, parameters };
}

/**
 * A newer build of `base`/`arch` in `region`, as the publisher would release it now: created at
 * `now` (or just after the newest known one), with a name no existing image has.
 */
export function newerImage(
  existing: readonly SeededImage[],
  region: string,
  base: Base,
  arch: Arch,
  now: number,
): { image: SeededImage; parameter: SeededParameter } {
  const same = existing.filter((i) => i.region === region && i.base === base && i.arch === arch && !i.decoy);
  const newest = Math.max(0, ...same.map((i) => Date.parse(i.creationDate)));
  const created = Math.max(Math.floor(now / 60_000) * 60_000, newest + 60_000);
  const names = new Set(existing.map((i) => i.name));
  let bump = 0;
  let image = makeImage(region, base, arch, created, { now });
  while (names.has(image.name) && bump < 1000) {
    bump += 1;
    image = makeImage(region, base, arch, created, { now, bump });
  }
  return {
    image,
    parameter: {
      region,
      name: BASE_INFO[base].publicParameter(arch),
      value: image.imageId,
      lastModifiedDate: image.creationDate,
    },
  };
}
