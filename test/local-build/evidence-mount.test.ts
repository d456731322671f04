import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { hostMirror } from "../../src/local/mirror.js";
import { REPO_ROOT } from "../helpers/paths.js";

/**
 * The shipped evidence-mount (the script inside components/evidence-mount.yaml, byte for byte) run
 * in a Debian 12 root on loop devices: an ext4 fixture and an LVM fixture, each mounted read-only
 * with the device read-only, a write through the mount and to the device refused, and the fixture
 * file's SHA-256 unchanged afterwards. The host has no device-mapper: the LVM fixture's logical
 * volume is written without activation, which is also how evidence-mount reads it.
 */

const PACKAGES = ["lvm2", "e2fsprogs", "xfsprogs", "util-linux", "mount", "fdisk"];
let root = "";
const fixtures = () => join(root, "fixtures");

async function shippedScript(): Promise<string> {
  const doc = parse(await readFile(join(REPO_ROOT, "components", "evidence-mount.yaml"), "utf8")) as {
    phases: { name: string; steps: { name: string; inputs: { content?: string }[] }[] }[];
  };
  const step = doc.phases.flatMap((p) => p.steps).find((s) => s.name === "InstallEvidenceMount");
  const content = step?.inputs[0]?.content;
  if (!content) throw new Error("components/evidence-mount.yaml has no InstallEvidenceMount content");
  return content;
}

/** Runs bash in the root: private mounts (gone when it exits), the host's /dev for the loop devices. */
async function inRoot(script: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const setup = [
    `mount --rbind /dev ${root}/dev`,
    `mount -t proc proc ${root}/proc`,
    `mount -t sysfs sysfs ${root}/sys`,
    `mount -t tmpfs tmpfs ${root}/run`,
    `exec chroot ${root} /bin/bash -c "$1"`,
  ].join(" && ");
  const r = await execa("unshare", ["-m", "--propagation", "private", "sh", "-c", setup, "sh", script], {
    reject: false,
    env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C" },
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

const sha256File = async (path: string) =>
  createHash("sha256")
    .update(await readFile(path))
    .digest("hex");

/** Mounts the fixture with evidence-mount, tries to write, reports, unmounts; always detaches the loop. */
const probe = (image: string, name: string, mountPoint: string) => `
set -euo pipefail
L=$(losetup -f --show ${image})
blockdev --setrw "$L"
cleanup() { evidence-mount --case IR-7 --unmount ${name} >/dev/null 2>&1 || true; blockdev --setrw "$L" || true; losetup -d "$L"; }
trap cleanup EXIT
evidence-mount --case IR-7 --device "$L" --name ${name}
echo "device-ro=$(blockdev --getro "$L")"
echo "options=$(findmnt -no OPTIONS ${mountPoint})"
echo "content=$(cat ${mountPoint}/evidence.txt)"
if touch ${mountPoint}/written 2>/dev/null; then echo "file-write=allowed"; else echo "file-write=refused"; fi
if dd if=/dev/zero of="$L" bs=512 count=1 conv=notrunc 2>/dev/null; then echo "device-write=allowed"; else echo "device-write=refused"; fi
`;

describe("evidence-mount in a Debian 12 root", () => {
  beforeAll(async () => {
    const mirror = await hostMirror();
    root = join(tmpdir(), `ops-rig-evidence-root-${process.pid}`);
    await rm(root, { recursive: true, force: true });
    await mkdir(root, { recursive: true });
    // Built once (minutes under load) and cached as a tarball keyed by the package set; extracting it is quick.
    const key = createHash("sha256")
      .update(`bookworm ${PACKAGES.join(",")} ${mirror.archive}`)
      .digest("hex")
      .slice(0, 12);
    const cache = join(tmpdir(), `ops-rig-evidence-root-${key}.tar`);
    if (!existsSync(cache)) {
      const built = await execa(
        "mmdebstrap",
        [
          "--mode=root",
          "--variant=minbase",
          "--format=tar",
          `--include=${PACKAGES.join(",")}`,
          "bookworm",
          `${cache}.partial`,
          mirror.archive,
        ],
        { reject: false },
      );
      if (built.exitCode !== 0)
        throw new Error(`mmdebstrap could not build the Debian root: ${built.stderr.slice(-2000)}`);
      await rename(`${cache}.partial`, cache);
    }
    await execa("tar", ["-xf", cache, "-C", root]);
    await mkdir(join(root, "usr/local/sbin"), { recursive: true });
    await writeFile(join(root, "usr/local/sbin/evidence-mount"), await shippedScript());
    await chmod(join(root, "usr/local/sbin/evidence-mount"), 0o755);
    await mkdir(fixtures(), { recursive: true });
    await mkdir(join(fixtures(), "tree"), { recursive: true });
    await writeFile(join(fixtures(), "tree", "evidence.txt"), "attacker was here\n");
    // ext4 with the label every cloud image's root has (the collision the issue is about).
    const ext4 = await inRoot(
      "set -e; truncate -s 64M /fixtures/ext4.img; mkfs.ext4 -q -F -L cloudimg-rootfs -d /fixtures/tree /fixtures/ext4.img",
    );
    if (ext4.exitCode !== 0) throw new Error(`ext4 fixture: ${ext4.stderr}`);
    // LVM: PV, VG, a linear LV written through a loop over its extents (no device-mapper needed).
    const lvm = await inRoot(`set -euo pipefail
truncate -s 96M /fixtures/lvm.img
L=$(losetup -f --show /fixtures/lvm.img)
LV=""
trap '[ -z "$LV" ] || losetup -d "$LV"; losetup -d "$L"' EXIT
# A free loop device may keep a read-only flag from an earlier user: this one writes.
blockdev --setrw "$L"
pvcreate -q "$L"
vgcreate -q evvg "$L"
lvcreate --driverloaded n -an -Zn -q -y -L 40M -n data evvg 2>/dev/null
read -r start < <(pvs --noheadings --units b --nosuffix -o pe_start "$L")
read -r ranges extent < <(lvs --noheadings --units b --nosuffix -o seg_pe_ranges,vg_extent_size evvg/data)
range=\${ranges#*:}
LV=$(losetup -f --show -o $((start + \${range%-*} * extent)) --sizelimit $(((\${range#*-} - \${range%-*} + 1) * extent)) /fixtures/lvm.img)
blockdev --setrw "$LV"
mkfs.ext4 -q -F -d /fixtures/tree "$LV"`);
    if (lvm.exitCode !== 0) throw new Error(`LVM fixture: ${lvm.stderr}`);
  });

  afterAll(async () => {
    if (root && existsSync(root)) await rm(root, { recursive: true, force: true });
  });

  it("mounts an ext4 volume ro,noload on a read-only device; writes fail; the fixture is unchanged", async () => {
    const image = join(fixtures(), "ext4.img");
    const before = await sha256File(image);
    const r = await inRoot(probe("/fixtures/ext4.img", "web-root", "/evidence/IR-7/web-root"));
    expect(r.stderr).not.toMatch(/evidence-mount: /);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("device-ro=1");
    expect(r.stdout).toMatch(/options=ro,.*norecovery/);
    expect(r.stdout).toContain("content=attacker was here");
    expect(r.stdout).toContain("file-write=refused");
    expect(r.stdout).toContain("device-write=refused");
    expect(await sha256File(image)).toBe(before);
  });

  it("maps an LVM volume read-only without activating it; writes fail; the fixture is unchanged", async () => {
    const image = join(fixtures(), "lvm.img");
    const before = await sha256File(image);
    const r = await inRoot(probe("/fixtures/lvm.img", "db", "/evidence/IR-7/db/data"));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain("device-ro=1");
    expect(r.stdout).toMatch(/options=ro,/);
    expect(r.stdout).toContain("content=attacker was here");
    expect(r.stdout).toContain("file-write=refused");
    expect(r.stdout).toContain("device-write=refused");
    expect(await sha256File(image)).toBe(before);
  });

  it("refuses what it cannot mount without writing (swap), and bad input, naming the flag", async () => {
    const r = await inRoot(`set -uo pipefail
truncate -s 16M /fixtures/swap.img && mkswap -q /fixtures/swap.img >/dev/null
L=$(losetup -f --show /fixtures/swap.img)
evidence-mount --case IR-7 --device "$L" --name swap; echo "exit=$?"
blockdev --setrw "$L"; losetup -d "$L"
evidence-mount --case 'bad case' --device /dev/null; echo "exit=$?"`);
    expect(r.stderr).toMatch(/holds swap, which evidence-mount cannot mount without risk of writing/);
    expect(r.stderr).toMatch(/--case: give the case id/);
    expect(r.stdout.match(/exit=1/g)).toHaveLength(2);
  });
});
