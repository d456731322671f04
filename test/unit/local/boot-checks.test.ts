import { describe, expect, it } from "vitest";
import {
  bootDeadEnd,
  consoleSummary,
  judgeAuditd,
  judgeHostKeys,
  judgeLimeCoverage,
  judgePasswordLogin,
  judgeRootLogin,
  judgeSudo,
  kernelCommandLine,
  LIME_MAGIC,
  multipartUserData,
  offeredAuthMethods,
  parseLimeHeader,
  parseLimeWalk,
  parseWalkOutput,
  qemuArgs,
  responderCloudConfig,
  systemRamRanges,
} from "../../../src/local/boot-checks.js";

/** A LiME range header laid out as lime.h writes it (little-endian). */
function limeHeader(start: bigint, end: bigint, { magic = LIME_MAGIC, version = 1 } = {}): string {
  const bytes = new Uint8Array(32);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, magic, true);
  view.setUint32(4, version, true);
  view.setBigUint64(8, start, true);
  view.setBigUint64(16, end, true);
  return Buffer.from(bytes).toString("hex");
}

// /proc/iomem of a q35 guest with 768 MiB, as root reads it.
const IOMEM = `00000000-00000fff : Reserved
00001000-0009fbff : System RAM
0009fc00-0009ffff : Reserved
000a0000-000bffff : PCI Bus 0000:00
000f0000-000fffff : Reserved
  000f0000-000fffff : System ROM
00100000-2ffdffff : System RAM
  1c000000-1ce01c66 : Kernel code
2ffe0000-2fffffff : Reserved
b0000000-bfffffff : PCI MMCONFIG 0000 [bus 00-ff]
`;
const RAM = [
  { start: 0x1000n, end: 0x9fbffn },
  { start: 0x100000n, end: 0x2ffdffffn },
];

function walkOf(ranges: readonly { start: bigint; end: bigint }[]) {
  let offset = 0n;
  const headers = ranges.map((r) => {
    const header = { offset, hex: limeHeader(r.start, r.end) };
    offset += 32n + (r.end - r.start + 1n);
    return header;
  });
  return { headers, size: offset };
}

describe("LiME captures", () => {
  it("parses the header LiME writes: magic EMiL, version 1, inclusive range", () => {
    const hex = limeHeader(0x100000n, 0x2ffdffffn);
    expect(Buffer.from(hex, "hex").subarray(0, 4).toString("latin1")).toBe("EMiL");
    expect(parseLimeHeader(Buffer.from(hex, "hex"), 0n)).toEqual({
      start: 0x100000n,
      end: 0x2ffdffffn,
      offset: 0n,
    });
  });

  it("rejects what is not a LiME header, naming the offset", () => {
    expect(parseLimeHeader(Buffer.from(limeHeader(0n, 1n, { magic: 0x464c457f }), "hex"), 64n)).toMatch(
      /no LiME header at offset 64: magic 0x464c457f/,
    );
    expect(parseLimeHeader(Buffer.from(limeHeader(0n, 1n, { version: 2 }), "hex"), 0n)).toMatch(/version 2/);
    expect(parseLimeHeader(Buffer.from(limeHeader(9n, 1n), "hex"), 0n)).toMatch(/ends .* before it starts/);
    expect(parseLimeHeader(new Uint8Array(10), 0n)).toMatch(/truncated header/);
  });

  it("walks a whole capture and checks every range against /proc/iomem's System RAM", () => {
    const walk = walkOf(RAM);
    const parsed = parseLimeWalk(walk.headers, walk.size);
    if (!("ranges" in parsed)) throw new Error(parsed.error);
    expect(parsed.ranges.map((r) => [r.start, r.end])).toEqual(RAM.map((r) => [r.start, r.end]));
    const verdict = judgeLimeCoverage(parsed.ranges, IOMEM, 768);
    expect(verdict).toEqual({
      ok: true,
      message: "2 ranges, 767 MiB of the VM's 768 MiB, every System RAM range",
    });
  });

  it("fails a truncated capture, a capture with a gap and one that misses RAM", () => {
    const walk = walkOf(RAM);
    expect(parseLimeWalk(walk.headers, walk.size - 4096n)).toEqual({
      error: expect.stringMatching(/accounts? for|account for/),
    });
    const [first, second] = walk.headers;
    if (!first || !second) throw new Error("two headers expected");
    expect(parseLimeWalk([first, { ...second, offset: second.offset + 8n }], walk.size)).toEqual({
      error: expect.stringMatching(/previous range ends at/),
    });
    expect(parseLimeWalk([], 0n)).toEqual({ error: "the capture is empty (0 bytes)" });
    const only = walkOf([RAM[1] ?? { start: 0n, end: 0n }]);
    const parsed = parseLimeWalk(only.headers, only.size);
    if (!("ranges" in parsed)) throw new Error(parsed.error);
    expect(judgeLimeCoverage(parsed.ranges, IOMEM, 768)).toEqual({
      ok: false,
      message: "the capture misses System RAM 0x1000-0x9fbff",
    });
    expect(
      judgeLimeCoverage(parsed.ranges, IOMEM.replace(/[0-9a-f]{8}-[0-9a-f]{8}/g, "00000000-00000000"), 768)
        .ok,
    ).toBe(false);
    // A guest with far more memory than was captured.
    const all = parseLimeWalk(walkOf(RAM).headers, walkOf(RAM).size);
    if (!("ranges" in all)) throw new Error(all.error);
    expect(judgeLimeCoverage(all.ranges, IOMEM, 4096)).toEqual({
      ok: false,
      message: "the capture holds 767 MiB of the VM's 4096 MiB",
    });
  });

  it("reads the guest's walk output and top-level System RAM only", () => {
    const text = `kernel=6.1.0-57-cloud-amd64\nsize 805306368\nheader 0 ${limeHeader(1n, 2n)}\nheader 34 ${limeHeader(3n, 4n)}\niomem-begin\n`;
    expect(parseWalkOutput(text)).toEqual({
      size: 805306368n,
      headers: [
        { offset: 0n, hex: limeHeader(1n, 2n) },
        { offset: 34n, hex: limeHeader(3n, 4n) },
      ],
    });
    expect(parseWalkOutput("error=insmod failed")).toBeUndefined();
    expect(systemRamRanges(IOMEM)).toEqual(RAM);
  });
});

describe("SSH as the responder relies on it", () => {
  const fresh = {
    imageKeys: [],
    presented: ["SHA256:new"],
    vmKeys: [{ path: "/etc/ssh/ssh_host_ed25519_key.pub", fingerprint: "SHA256:new", mtime: 1_000_050 }],
    bootTime: 1_000_000,
  };

  it("host keys: made at this boot, none from the image", () => {
    expect(judgeHostKeys(fresh).ok).toBe(true);
    expect(
      judgeHostKeys({ ...fresh, imageKeys: [{ path: "/etc/ssh/ssh_host_ed25519_key" }] }).message,
    ).toMatch(/^the image ships SSH host keys \(\/etc\/ssh\/ssh_host_ed25519_key\)/);
    expect(
      judgeHostKeys({ ...fresh, vmKeys: [{ ...fresh.vmKeys[0], mtime: 999_000 }] as never }).message,
    ).toMatch(/host keys older than this boot: \/etc\/ssh\/ssh_host_ed25519_key/);
    expect(judgeHostKeys({ ...fresh, presented: ["SHA256:other"] }).message).toMatch(/none of the VM's/);
    expect(judgeHostKeys({ ...fresh, vmKeys: [] }).ok).toBe(false);
  });

  // What `ssh -v` prints when the server answers the "none" method (OpenSSH 9.2).
  const refused = `debug1: Authenticating to 127.0.0.1:2222 as 'responder'
debug1: Authentications that can continue: publickey
debug1: No more authentication methods to try.
responder@127.0.0.1: Permission denied (publickey).`;
  const open = refused.replaceAll("publickey", "publickey,password");

  it("password logins: refused, and sshd offers only keys", () => {
    expect(offeredAuthMethods(open)).toEqual(["publickey", "password"]);
    expect(judgePasswordLogin(255, refused)).toEqual({
      ok: true,
      message: "refused; sshd offers only publickey",
    });
    expect(judgePasswordLogin(255, open)).toEqual({
      ok: false,
      message: "sshd offers password logins (offered: publickey, password)",
    });
    expect(
      judgePasswordLogin(255, "ssh: connect to host 127.0.0.1 port 2222: Connection refused").message,
    ).toMatch(/could not read the authentication methods/);
  });

  it("root: refused even with a valid key", () => {
    expect(judgeRootLogin(255, "root@127.0.0.1: Permission denied (publickey).").ok).toBe(true);
    expect(judgeRootLogin(0, "").message).toMatch(/PermitRootLogin/);
    expect(judgeRootLogin(255, "Connection closed by 127.0.0.1 port 2222").ok).toBe(false);
  });

  it("sudo: through the responders rule, not another admin group", () => {
    expect(judgeSudo("sudo-uid=0\ngroups=responder responders\n", 0, "responders").ok).toBe(true);
    expect(
      judgeSudo("sudo: a password is required\nsudo-uid=\ngroups=responder responders", 1, "responders").ok,
    ).toBe(false);
    expect(judgeSudo("sudo-uid=0\ngroups=responder sudo responders", 0, "responders").message).toMatch(
      /also in sudo/,
    );
    expect(judgeSudo("sudo-uid=0\ngroups=responder", 0, "responders").message).toMatch(/not in responders/);
  });
});

describe("hardening on the running VM", () => {
  // auditctl -l on Debian 12 with hardening.yaml's rules loaded (watches print -k, syscall rules key=).
  const rules = [
    "-w /etc/sudoers -p wa -k ops-rig-privilege",
    "-w /etc/ssh/sshd_config -p wa -k ops-rig-sshd",
    "-a always,exit -F arch=b64 -S execve -F euid=0 -F key=ops-rig-root-exec",
    "-a always,exit -F arch=b64 -S init_module,delete_module,finit_module -F key=ops-rig-modules",
  ];
  const keys = ["ops-rig-privilege", "ops-rig-root-exec", "ops-rig-modules"];

  it("auditd: active with the ops-rig watches and syscall rules", () => {
    expect(judgeAuditd("active", rules, keys)).toEqual({ ok: true, message: "active with 4 rules loaded" });
    expect(judgeAuditd("active", ["No rules"], keys).message).toBe(
      "auditd runs without the ops-rig rules (ops-rig-privilege, ops-rig-root-exec, ops-rig-modules missing from auditctl -l)",
    );
    expect(judgeAuditd("active", rules.slice(1), keys).message).toMatch(/\(ops-rig-privilege missing/);
    expect(judgeAuditd("failed", rules, keys).message).toBe("auditd.service is failed, not active");
    expect(judgeAuditd("", rules, keys).ok).toBe(false);
  });
});

describe("the VM", () => {
  const spec = {
    qemu: "qemu-system-x86_64",
    accel: { accel: "tcg", cpu: "max" } as const,
    cpus: 2,
    memoryMiB: 768,
    kernel: "/w/vmlinuz",
    initrd: "/w/initrd.img",
    disk: "/w/disk.img",
    evidenceDisk: "/w/evidence.img",
    seed: "/w/seed.iso",
    sshPort: 40022,
    console: "/w/console.log",
    pidFile: "/w/qemu.pid",
  };

  it("boots the root's own kernel with multi-threaded TCG, SSH forwarded to loopback only", () => {
    const args = qemuArgs(spec);
    expect(args.join(" ")).toContain("-accel tcg,thread=multi -cpu max -smp 2 -m 768M");
    expect(args).toContain("user,id=net0,hostfwd=tcp:127.0.0.1:40022-:22");
    expect(args.slice(args.indexOf("-kernel"), args.indexOf("-kernel") + 6)).toEqual([
      "-kernel",
      "/w/vmlinuz",
      "-initrd",
      "/w/initrd.img",
      "-append",
      kernelCommandLine(),
    ]);
    expect(kernelCommandLine()).toBe("root=/dev/vda rw console=ttyS0,115200 ds=nocloud");
    expect(
      qemuArgs({ ...spec, accel: { accel: "kvm", cpu: "host,-arch-capabilities" } }).join(" "),
    ).toContain("-accel kvm -cpu host,-arch-capabilities -smp 2");
  });

  it("gives the responder only the responders group and the throwaway key", () => {
    const config = responderCloudConfig("responder", "responders", "ssh-ed25519 AAAAC3 ops-rig-boot\n");
    expect(config).toBe(`#cloud-config
# ops-rig --boot: the responder logs in with a throwaway key, like a key given at launch.
groups: [responders]
manage_etc_hosts: localhost
users:
  - name: responder
    groups: [responders]
    shell: /bin/bash
    lock_passwd: true
    ssh_authorized_keys:
      - ssh-ed25519 AAAAC3 ops-rig-boot
`);
  });

  it("keeps the rendered cloud-init byte for byte as the first part of the user data", () => {
    const rendered = "#cloud-config\nruncmd:\n  - [/usr/local/sbin/ops-rig-bootstrap]\n";
    const text = multipartUserData([rendered, "#cloud-config\nusers: []\n"]);
    expect(text).toContain(`filename="part-1.cfg"\n\n${rendered}--OPS-RIG-BOOT-BOUNDARY\n`);
    expect(text.startsWith('Content-Type: multipart/mixed; boundary="OPS-RIG-BOOT-BOUNDARY"\n')).toBe(true);
    expect(text.trimEnd().endsWith("--OPS-RIG-BOOT-BOUNDARY--")).toBe(true);
    expect(multipartUserData([rendered])).toBe(rendered);
  });

  it("ends the wait for SSH when the console shows a dead end", () => {
    // What Debian 12's initramfs prints when the root has no init (seen booting a root without systemd-sysv).
    const noInit = `Begin: Running /scripts/init-bottom ... done.
run-init: can't execute '/sbin/init': No such file or directory
run-init: /sbin/init: No such file or directory
run-init: /etc/init: No such file or directory
/bin/sh: 0: can't access tty; job control turned off
# `;
    expect(bootDeadEnd(noInit)).toMatch(/no \/sbin\/init .* systemd-sysv/);
    expect(
      bootDeadEnd(
        "[    1.2] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n",
      ),
    ).toMatch(/^\[ +1\.2\] Kernel panic/);
    expect(
      bootDeadEnd(
        "Gave up waiting for root file system device.\nALERT!  LABEL=x does not exist.  Dropping to a shell!\n",
      ),
    ).toMatch(/did not find the root disk/);
    expect(bootDeadEnd("[  OK  ] Started ssh.service - OpenBSD Secure Shell server.\n")).toBeUndefined();
  });

  it("says how far a boot got, from the serial console", () => {
    expect(
      consoleSummary("...\n[    3.1] Kernel panic - not syncing: VFS: Unable to mount root fs\n"),
    ).toMatch(/Kernel panic - not syncing: VFS/);
    expect(
      consoleSummary(
        "\u001b[0;1;31m[FAILED]\u001b[0m Failed to start ssh.service - OpenBSD Secure Shell server.\n",
      ),
    ).toBe("failed units: [FAILED] Failed to start ssh.service - OpenBSD Secure Shell server.");
    expect(consoleSummary("Booting\nsystemd[1]: Reached target\n")).toBe(
      "last console line: systemd[1]: Reached target",
    );
  });
});
