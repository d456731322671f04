/**
 * The base images ops-rig knows how to bake on. Pure data: who publishes them, how their AMIs are
 * named, where the publisher announces the newest one, and what the build needs to know about them.
 */

export const BASES = ["ubuntu-24.04", "ubuntu-22.04", "debian-12", "debian-13"] as const;
export type Base = (typeof BASES)[number];

export const ARCHES = ["amd64", "arm64"] as const;
export type Arch = (typeof ARCHES)[number];

/** EC2's name for each architecture. */
export const EC2_ARCHITECTURE: Readonly<Record<Arch, "x86_64" | "arm64">> = {
  amd64: "x86_64",
  arm64: "arm64",
};

export const CANONICAL_OWNER = "099720109477";
export const DEBIAN_OWNER = "136693071363";

export interface BaseInfo {
  readonly base: Base;
  readonly family: "ubuntu" | "debian";
  readonly version: string;
  readonly codename: string;
  /** AMI owner account in the commercial partition; never search for a base without it. */
  readonly owner: string;
  /** Owners in other partitions, where the publisher uses a different account. */
  readonly partitionOwners: Readonly<Partial<Record<"aws-us-gov" | "aws-cn", string>>>;
  /** DescribeImages `name` filter for an architecture. */
  readonly namePattern: (arch: Arch) => string;
  /** The publisher's public SSM parameter that holds the newest AMI id. */
  readonly publicParameter: (arch: Arch) => string;
  /** The login user the publisher's image creates. */
  readonly defaultUser: string;
  /** Whether the publisher's AMI ships the SSM agent (Image Builder drives builds through it). */
  readonly ssmAgentPreinstalled: boolean;
  /** Debian suite a local root is built from (only Debian bases can be built locally). */
  readonly localSuite: string | undefined;
  /** Root device of the publisher's AMI: a block device mapping for another name adds a volume. */
  readonly rootDeviceName: string;
}

export const BASE_INFO: Readonly<Record<Base, BaseInfo>> = {
  "ubuntu-24.04": {
    base: "ubuntu-24.04",
    family: "ubuntu",
    version: "24.04",
    codename: "noble",
    owner: CANONICAL_OWNER,
    partitionOwners: { "aws-us-gov": "513442679011", "aws-cn": "837727238323" },
    namePattern: (arch) => `ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-${arch}-server-*`,
    publicParameter: (arch) =>
      `/aws/service/canonical/ubuntu/server/24.04/stable/current/${arch}/hvm/ebs-gp3/ami-id`,
    defaultUser: "ubuntu",
    ssmAgentPreinstalled: true,
    localSuite: undefined,
    rootDeviceName: "/dev/sda1",
  },
  "ubuntu-22.04": {
    base: "ubuntu-22.04",
    family: "ubuntu",
    version: "22.04",
    codename: "jammy",
    owner: CANONICAL_OWNER,
    partitionOwners: { "aws-us-gov": "513442679011", "aws-cn": "837727238323" },
    namePattern: (arch) => `ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-${arch}-server-*`,
    // Canonical publishes gp2 parameters before 23.10 and gp3 from 23.10 on.
    publicParameter: (arch) =>
      `/aws/service/canonical/ubuntu/server/22.04/stable/current/${arch}/hvm/ebs-gp2/ami-id`,
    defaultUser: "ubuntu",
    ssmAgentPreinstalled: true,
    localSuite: undefined,
    rootDeviceName: "/dev/sda1",
  },
  "debian-12": {
    base: "debian-12",
    family: "debian",
    version: "12",
    codename: "bookworm",
    owner: DEBIAN_OWNER,
    partitionOwners: {},
    namePattern: (arch) => `debian-12-${arch}-*`,
    publicParameter: (arch) => `/aws/service/debian/release/12/latest/${arch}`,
    defaultUser: "admin",
    ssmAgentPreinstalled: false,
    localSuite: "bookworm",
    rootDeviceName: "/dev/xvda",
  },
  "debian-13": {
    base: "debian-13",
    family: "debian",
    version: "13",
    codename: "trixie",
    owner: DEBIAN_OWNER,
    partitionOwners: {},
    namePattern: (arch) => `debian-13-${arch}-*`,
    publicParameter: (arch) => `/aws/service/debian/release/13/latest/${arch}`,
    defaultUser: "admin",
    ssmAgentPreinstalled: false,
    localSuite: "trixie",
    rootDeviceName: "/dev/xvda",
  },
};

export function isBase(value: string): value is Base {
  return (BASES as readonly string[]).includes(value);
}

export function isArch(value: string): value is Arch {
  return (ARCHES as readonly string[]).includes(value);
}
