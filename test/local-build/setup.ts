import { execa } from "execa";
import { BASE_INFO } from "../../src/config/bases.js";
import { checkMirror, hostMirror } from "../../src/local/mirror.js";

/**
 * The local-build suite needs root, mmdebstrap and the machine's Debian mirror. It installs
 * mmdebstrap when missing and fails loudly (never skips) when it cannot run here.
 */
export default async function setup(): Promise<void> {
  if (process.getuid?.() !== 0)
    throw new Error(
      "the local-build suite must run as root (it builds Debian roots with mmdebstrap and chroots)",
    );
  const mirror = await hostMirror();
  await checkMirror(mirror, BASE_INFO["debian-12"].localSuite ?? "bookworm");
  // Commands the suite needs, and the Debian package of each: mmdebstrap for roots; QEMU, mkfs.ext4,
  // genisoimage (the NoCloud seed) and the SSH client for the boot proof.
  const needed: Record<string, string> = {
    mmdebstrap: "mmdebstrap",
    "qemu-system-x86_64": "qemu-system-x86",
    "mkfs.ext4": "e2fsprogs",
    genisoimage: "genisoimage",
    ssh: "openssh-client",
  };
  const missing: string[] = [];
  for (const [command, pkg] of Object.entries(needed)) {
    const has = await execa("sh", ["-c", `command -v ${command}`], { reject: false });
    if (has.exitCode !== 0) missing.push(pkg);
  }
  if (missing.length > 0) {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    await execa("apt-get", ["-q", "-o", "APT::Update::Error-Mode=any", "update"], { env, stdio: "inherit" });
    await execa("apt-get", ["-q", "-y", "install", "--no-install-recommends", ...missing], {
      env,
      stdio: "inherit",
    });
  }
  const version = await execa("mmdebstrap", ["--version"]);
  const qemu = (await execa("qemu-system-x86_64", ["--version"])).stdout.split("\n")[0] ?? "";
  process.stderr.write(`local-build suite: ${version.stdout.trim()}, ${qemu}, mirror ${mirror.archive}\n`);
}
