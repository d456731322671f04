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
  const has = await execa("sh", ["-c", "command -v mmdebstrap"], { reject: false });
  if (has.exitCode !== 0) {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    await execa("apt-get", ["-q", "-o", "APT::Update::Error-Mode=any", "update"], { env, stdio: "inherit" });
    await execa("apt-get", ["-q", "-y", "install", "--no-install-recommends", "mmdebstrap"], {
      env,
      stdio: "inherit",
    });
  }
  const version = await execa("mmdebstrap", ["--version"]);
  process.stderr.write(`local-build suite: ${version.stdout.trim()}, mirror ${mirror.archive}\n`);
}
