import { isIPv4, isIPv6 } from "node:net";
import { UsageError } from "../errors.js";

/** Checks `--ssh-cidr` values: real IPv4/IPv6 CIDRs, host bits clear, and never the whole internet by accident. */
export function parseCidrs(values: readonly string[] | undefined, allowAnywhere: boolean): string[] {
  const cidrs = (values ?? [])
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter(Boolean);
  for (const cidr of cidrs) {
    const [address, bits, extra] = cidr.split("/");
    const prefix = Number(bits);
    const v4 = address !== undefined && isIPv4(address);
    const v6 = address !== undefined && isIPv6(address);
    if (
      extra !== undefined ||
      bits === undefined ||
      !/^\d{1,3}$/.test(bits) ||
      (!v4 && !v6) ||
      prefix > (v4 ? 32 : 128)
    ) {
      throw new UsageError(
        `"${cidr}" is not a CIDR block like 203.0.113.0/24 or 2001:db8::/48`,
        "--ssh-cidr",
      );
    }
    if (v4 && address !== undefined && !hostBitsClear(address, prefix)) {
      throw new UsageError(
        `"${cidr}" has host bits set (did you mean ${networkOf(address, prefix)}/${prefix}?)`,
        "--ssh-cidr",
      );
    }
    if (prefix === 0 && !allowAnywhere) {
      throw new UsageError(
        `${cidr} opens SSH to the whole internet; name your VPN ranges, or add --allow-anywhere if you really mean it`,
        "--ssh-cidr",
      );
    }
  }
  return [...new Set(cidrs)];
}

function ipv4ToInt(address: string): number {
  return address.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
}

function hostBitsClear(address: string, prefix: number): boolean {
  if (prefix === 0) return ipv4ToInt(address) === 0;
  const hostBits = 32 - prefix;
  return ipv4ToInt(address) % 2 ** hostBits === 0;
}

function networkOf(address: string, prefix: number): string {
  const value = ipv4ToInt(address);
  const network = prefix === 0 ? 0 : value - (value % 2 ** (32 - prefix));
  return [24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256).join(".");
}
