import { type Arch, BASE_INFO, type Base, EC2_ARCHITECTURE } from "../config/bases.js";
import { partitionOf } from "../config/overrides.js";
import { asOpsRigError, errorMessage } from "../errors.js";
import type { BaseImage, BaseLookup } from "../plan/types.js";
import type { Ec2Port, ImageInfo, SsmPort } from "./ports.js";

export interface BaseWanted {
  readonly base: Base;
  readonly arch: Arch;
}

export function baseKey(wanted: BaseWanted): string {
  return `${wanted.base}/${wanted.arch}`;
}

/** The publisher's account for a base in a region's partition: never search without it. */
export function baseOwner(base: Base, region: string): string {
  const partition = partitionOf(region);
  const info = BASE_INFO[base];
  return partition === "aws" ? info.owner : (info.partitionOwners[partition] ?? info.owner);
}

/** Serial date in an AMI name (`...-20241109` or `...-20241201-1948`), for tie-breaks. */
export function serialOf(name: string): string {
  const matches = [...name.matchAll(/(\d{8})(?:[-.](\d{1,6}))?/g)];
  const last = matches.at(-1);
  return last ? `${last[1]}.${(last[2] ?? "").padStart(6, "0")}` : "";
}

/** Newest by creation date, then by the serial in the name. Never `Images[0]`: order is not defined. */
export function newestImage(images: readonly ImageInfo[]): ImageInfo | undefined {
  return [...images].sort(
    (a, b) =>
      b.creationDate.localeCompare(a.creationDate) || serialOf(b.name).localeCompare(serialOf(a.name)),
  )[0];
}

/**
 * The newest base image for each (base, arch) in a region: the publisher's public SSM parameter
 * first (one batched read), confirmed with an owner-pinned DescribeImages; an owner-pinned name search
 * where the parameter is missing or points at something unexpected. A base that cannot be found is an
 * error for that base in that region only.
 */
export async function discoverBases(
  ports: { ec2: Ec2Port; ssm: SsmPort },
  region: string,
  wanted: readonly BaseWanted[],
): Promise<Map<string, BaseLookup>> {
  const result = new Map<string, BaseLookup>();
  const unique = [...new Map(wanted.map((w) => [baseKey(w), w])).values()];
  const parameterOf = (w: BaseWanted) => BASE_INFO[w.base].publicParameter(w.arch);

  let fromParameters = new Map<string, string>();
  try {
    const { found } = await ports.ssm.getParameters(region, unique.map(parameterOf));
    fromParameters = new Map(found.map((p) => [p.name, p.value]));
  } catch {
    // Public parameters are a shortcut; the owner-pinned search below still finds the base.
  }
  const ids = [...new Set(fromParameters.values())].filter((id) => /^ami-[0-9a-f]+$/.test(id));
  const owners = [...new Set(unique.map((w) => baseOwner(w.base, region)))];
  let described: readonly ImageInfo[] = [];
  if (ids.length > 0) {
    try {
      described = await ports.ec2.describeImages(region, ids, owners);
    } catch {
      described = [];
    }
  }

  for (const w of unique) {
    const owner = baseOwner(w.base, region);
    const architecture = EC2_ARCHITECTURE[w.arch];
    const id = fromParameters.get(parameterOf(w));
    const viaParameter = described.find(
      (image) =>
        image.imageId === id &&
        image.ownerId === owner &&
        image.architecture === architecture &&
        image.state === "available",
    );
    if (viaParameter) {
      result.set(baseKey(w), { ok: true, image: toBase(w, region, viaParameter, "parameter") });
      continue;
    }
    const pattern = BASE_INFO[w.base].namePattern(w.arch);
    try {
      const found = newestImage(
        await ports.ec2.searchImages(region, { owners: [owner], namePattern: pattern, architecture }),
      );
      result.set(
        baseKey(w),
        found
          ? { ok: true, image: toBase(w, region, found, "search") }
          : {
              ok: false,
              error: `no ${w.base} ${w.arch} image named ${pattern} from owner ${owner} in ${region}`,
            },
      );
    } catch (error) {
      result.set(baseKey(w), {
        ok: false,
        error: `cannot search ${w.base} ${w.arch} images in ${region}: ${errorMessage(error)}`,
        retryable: asOpsRigError(error).retryable,
      });
    }
  }
  return result;
}

function toBase(w: BaseWanted, region: string, image: ImageInfo, source: BaseImage["source"]): BaseImage {
  return {
    base: w.base,
    arch: w.arch,
    region,
    imageId: image.imageId,
    name: image.name,
    ownerId: image.ownerId,
    creationDate: image.creationDate,
    rootDeviceName: image.rootDeviceName || BASE_INFO[w.base].rootDeviceName,
    source,
  };
}
