import { isIPv4, isIPv6 } from "node:net";
import { UsageError } from "../errors.js";

const FLAG = "--ssh-cidr";
/** Wider than this (fewer prefix bits) covers a large slice of the internet: only with --allow-anywhere. */
const WIDEST = { v4: 8, v6: 32 } as const;

/**
 * Checks `--ssh-cidr` values: real IPv4/IPv6 CIDRs in canonical form (no leading zeros, host bits
 * clear), never an empty value, and never a large part of the internet by accident. Returns the
 * ranges as EC2 will store them, so they compare with what an existing security group holds.
 */
export function parseCidrs(values: readonly string[] | undefined, allowAnywhere: boolean): string[] {
  const cidrs: string[] = [];
  for (const value of values ?? []) {
    for (const item of value.split(",")) {
      const cidr = item.trim();
      if (cidr === "")
        throw new UsageError(
          `empty range in ${JSON.stringify(value)} (give CIDR blocks like 203.0.113.0/24; omit the flag for no inbound access)`,
          FLAG,
        );
      cidrs.push(parseCidr(cidr, allowAnywhere));
    }
  }
  return [...new Set(cidrs)];
}

function parseCidr(cidr: string, allowAnywhere: boolean): string {
  const notCidr = (why = "") =>
    new UsageError(`"${cidr}" is not a CIDR block like 203.0.113.0/24 or 2001:db8::/48${why}`, FLAG);
  const parts = cidr.split("/");
  const [address = "", bits] = parts;
  if (parts.length !== 2 || bits === undefined) throw notCidr();
  if (!/^\d{1,3}$/.test(bits)) throw notCidr();
  if (bits.length > 1 && bits.startsWith("0"))
    throw notCidr(` (a prefix length has no leading zeros: ${address}/${Number(bits)})`);
  const prefix = Number(bits);
  if (isIPv4(address)) {
    if (prefix > 32) throw notCidr();
    const value = ipv4ToBigInt(address);
    const network = networkOf(value, prefix, 32);
    if (network !== value)
      throw new UsageError(
        `"${cidr}" has host bits set (did you mean ${bigIntToIpv4(network)}/${prefix}?)`,
        FLAG,
      );
    checkWidth(cidr, prefix, 32, allowAnywhere, false);
    return cidr;
  }
  if (isIPv6(address) && !address.includes("%")) {
    if (prefix > 128) throw notCidr();
    const value = ipv6ToBigInt(address);
    const network = networkOf(value, prefix, 128);
    if (network !== value)
      throw new UsageError(
        `"${cidr}" has host bits set (did you mean ${bigIntToIpv6(network)}/${prefix}?)`,
        FLAG,
      );
    // Unique local (fc00::/7) and link-local (fe80::/10) ranges are private however wide.
    const privateRange = value >> 121n === 0x7en || value >> 118n === 0x3fan;
    checkWidth(cidr, prefix, 128, allowAnywhere, privateRange);
    return `${bigIntToIpv6(value)}/${prefix}`;
  }
  throw notCidr();
}

function checkWidth(
  cidr: string,
  prefix: number,
  size: 32 | 128,
  allowAnywhere: boolean,
  privateRange: boolean,
) {
  if (allowAnywhere || privateRange) return;
  if (prefix === 0)
    throw new UsageError(
      `${cidr} opens SSH to the whole internet; name your VPN ranges, or add --allow-anywhere if you really mean it`,
      FLAG,
    );
  const widest = size === 32 ? WIDEST.v4 : WIDEST.v6;
  if (prefix < widest)
    throw new UsageError(
      `${cidr} opens SSH to 2^${size - prefix} addresses, a large part of the internet (the widest accepted is a /${widest}); name your VPN ranges, or add --allow-anywhere if you really mean it`,
      FLAG,
    );
}

function networkOf(value: bigint, prefix: number, size: number): bigint {
  const host = BigInt(size - prefix);
  return (value >> host) << host;
}

function ipv4ToBigInt(address: string): bigint {
  return address.split(".").reduce((n, octet) => n * 256n + BigInt(octet), 0n);
}

function bigIntToIpv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 255n)).join(".");
}

function ipv6ToBigInt(address: string): bigint {
  let text = address;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (v4) {
    const n = ipv4ToBigInt(v4);
    text = `${text.slice(0, -v4.length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups =
    tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  return groups.reduce((n, g) => (n << 16n) + BigInt(Number.parseInt(g || "0", 16)), 0n);
}

/** The compressed lower-case form (RFC 5952), as EC2 reports IPv6 ranges. */
function bigIntToIpv6(value: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) =>
    ((value >> BigInt((7 - i) * 16)) & 0xffffn).toString(16),
  );
  return new URL(`http://[${groups.join(":")}]`).hostname.slice(1, -1);
}
