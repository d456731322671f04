/**
 * The boot proof's pure half: what the VM is started with (QEMU argv, kernel command line, NoCloud
 * seed) and how what the responder sees over SSH is judged. No processes, files or clock here, so
 * every verdict is unit-tested on real-shaped input, including the ones that must fail.
 */

export interface BootCheckResult {
  /** Stable name, e.g. `host-keys`. */
  readonly name: string;
  readonly ok: boolean;
  /** What was found, or why it failed (names the file, unit or setting). */
  readonly message: string;
  readonly seconds: number;
}

export type Verdict =
  | { readonly ok: true; readonly message: string }
  | { readonly ok: false; readonly message: string };

const pass = (message: string): Verdict => ({ ok: true, message });
const fail = (message: string): Verdict => ({ ok: false, message });

// ---------------------------------------------------------------------------------------------
// LiME

/** LiME's range header (lime.h): magic "EMiL" (0x4C694D45 little-endian), version 1, s_addr, e_addr, 8 reserved bytes. */
export const LIME_HEADER_BYTES = 32;
export const LIME_MAGIC = 0x4c694d45;

export interface LimeRange {
  readonly start: bigint;
  /** Inclusive, as LiME writes it. */
  readonly end: bigint;
  /** Where the range's header sits in the capture. */
  readonly offset: bigint;
}

/** Parses one 32-byte LiME header. */
export function parseLimeHeader(bytes: Uint8Array, offset: bigint): LimeRange | string {
  if (bytes.length < LIME_HEADER_BYTES)
    return `truncated header at offset ${offset}: ${bytes.length} of ${LIME_HEADER_BYTES} bytes`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, LIME_HEADER_BYTES);
  const magic = view.getUint32(0, true);
  if (magic !== LIME_MAGIC)
    return `no LiME header at offset ${offset}: magic 0x${magic.toString(16).padStart(8, "0")}, expected 0x4c694d45 ("EMiL")`;
  const version = view.getUint32(4, true);
  if (version !== 1) return `LiME header at offset ${offset} has version ${version}, expected 1`;
  const start = view.getBigUint64(8, true);
  const end = view.getBigUint64(16, true);
  if (end < start)
    return `LiME header at offset ${offset}: range ends (0x${end.toString(16)}) before it starts`;
  return { start, end, offset };
}

/**
 * A LiME capture walked header to header: `headers` are the 32 bytes found at each offset the guest
 * visited (the guest only seeks; this decides). Every range's data must fill the gap to the next
 * header, and the last one must end exactly at the end of the file.
 */
export function parseLimeWalk(
  headers: readonly { readonly offset: bigint; readonly hex: string }[],
  fileSize: bigint,
): { readonly ranges: readonly LimeRange[] } | { readonly error: string } {
  if (fileSize === 0n) return { error: "the capture is empty (0 bytes)" };
  if (headers.length === 0) return { error: "the capture has no LiME header" };
  const ranges: LimeRange[] = [];
  let expected = 0n;
  for (const header of headers) {
    if (header.offset !== expected)
      return {
        error: `the walk reported a header at offset ${header.offset}, but the previous range ends at ${expected}`,
      };
    const parsed = parseLimeHeader(hexBytes(header.hex), header.offset);
    if (typeof parsed === "string") return { error: parsed };
    ranges.push(parsed);
    expected = header.offset + BigInt(LIME_HEADER_BYTES) + (parsed.end - parsed.start + 1n);
  }
  if (expected !== fileSize)
    return {
      error: `the capture is ${fileSize} bytes but its ranges account for ${expected}: truncated or corrupt`,
    };
  return { ranges };
}

function hexBytes(hex: string): Uint8Array {
  const clean = hex.trim();
  const bytes = new Uint8Array(Math.floor(clean.length / 2));
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** The top-level "System RAM" ranges of /proc/iomem (read as root: others see zeros). */
export function systemRamRanges(iomem: string): { start: bigint; end: bigint }[] {
  const ranges: { start: bigint; end: bigint }[] = [];
  for (const line of iomem.split("\n")) {
    const match = /^([0-9a-f]+)-([0-9a-f]+) : System RAM$/i.exec(line);
    if (match) ranges.push({ start: BigInt(`0x${match[1]}`), end: BigInt(`0x${match[2]}`) });
  }
  return ranges;
}

/** Every System RAM range of the guest is in the capture, and together they are most of its memory. */
export function judgeLimeCoverage(ranges: readonly LimeRange[], iomem: string, memoryMiB: number): Verdict {
  const ram = systemRamRanges(iomem);
  if (ram.length === 0) return fail("/proc/iomem lists no System RAM (read without root?)");
  if (ram.every((r) => r.start === 0n && r.end === 0n))
    return fail("/proc/iomem shows zeroed addresses: it was read without root");
  const captured = new Set(ranges.map((r) => `${r.start}-${r.end}`));
  const missing = ram.filter((r) => !captured.has(`${r.start}-${r.end}`));
  if (missing.length > 0)
    return fail(
      `the capture misses System RAM ${missing.map((r) => `0x${r.start.toString(16)}-0x${r.end.toString(16)}`).join(", ")}`,
    );
  const bytes = ranges.reduce((n, r) => n + (r.end - r.start + 1n), 0n);
  const mib = Number(bytes / 1024n / 1024n);
  // Firmware and the kernel reserve a little; anything far below the VM's memory is not a full capture.
  if (mib < memoryMiB * 0.85) return fail(`the capture holds ${mib} MiB of the VM's ${memoryMiB} MiB`);
  return pass(`${ranges.length} ranges, ${mib} MiB of the VM's ${memoryMiB} MiB, every System RAM range`);
}

/** Parses the guest's walk output: `size N` then `header OFFSET HEX` lines. */
export function parseWalkOutput(
  text: string,
): { size: bigint; headers: { offset: bigint; hex: string }[] } | undefined {
  const size = /^size (\d+)$/m.exec(text);
  if (!size?.[1]) return undefined;
  const headers = [...text.matchAll(/^header (\d+) ([0-9a-f]*)$/gm)].map((m) => ({
    offset: BigInt(m[1] ?? "0"),
    hex: m[2] ?? "",
  }));
  return { size: BigInt(size[1]), headers };
}

// ---------------------------------------------------------------------------------------------
// SSH

export interface HostKeyObservation {
  /** Host key files the image itself ships (`/etc/ssh/ssh_host_*`), seen before boot. */
  readonly imageKeys: readonly { readonly path: string; readonly fingerprint?: string }[];
  /** Fingerprints (SHA256:...) of the keys the VM's sshd presented to the client. */
  readonly presented: readonly string[];
  /** The VM's host keys: fingerprint and modification time (epoch seconds). */
  readonly vmKeys: readonly { readonly path: string; readonly fingerprint: string; readonly mtime: number }[];
  /** The VM's boot time (btime of /proc/stat, epoch seconds). */
  readonly bootTime: number;
}

/** sshd runs with host keys made at this boot, none of them from the image. */
export function judgeHostKeys(o: HostKeyObservation): Verdict {
  if (o.imageKeys.length > 0)
    return fail(
      `the image ships SSH host keys (${o.imageKeys.map((k) => k.path).join(", ")}): every instance launched from it would share them; remove them at the end of the build`,
    );
  if (o.vmKeys.length === 0) return fail("the VM has no /etc/ssh/ssh_host_*_key.pub");
  if (o.presented.length === 0) return fail("sshd presented no host key to the client");
  const fromImage = new Set(o.imageKeys.map((k) => k.fingerprint).filter(Boolean));
  const reused = o.presented.filter((f) => fromImage.has(f));
  if (reused.length > 0) return fail(`sshd presented a host key baked into the image (${reused.join(", ")})`);
  const known = new Map(o.vmKeys.map((k) => [k.fingerprint, k]));
  const stranger = o.presented.filter((f) => !known.has(f));
  if (stranger.length > 0)
    return fail(
      `sshd presented ${stranger.join(", ")}, which is none of the VM's /etc/ssh/ssh_host_*_key.pub`,
    );
  // Allow a second of skew between the boot time (whole seconds) and file times.
  const old = o.vmKeys.filter((k) => k.mtime < o.bootTime - 1);
  if (old.length > 0)
    return fail(
      `host keys older than this boot: ${old.map((k) => k.path).join(", ")} (made ${o.bootTime - Math.min(...old.map((k) => k.mtime))} s before it)`,
    );
  return pass(`${o.vmKeys.length} host keys made at this boot; sshd presented ${o.presented.join(", ")}`);
}

/** The methods in `Authentications that can continue: ...` of `ssh -v` output (the last such line). */
export function offeredAuthMethods(sshVerbose: string): string[] | undefined {
  const lines = [...sshVerbose.matchAll(/Authentications that can continue: ([\w,-]+)/g)];
  const last = lines.at(-1)?.[1];
  return last ? last.split(",") : undefined;
}

/** A password-only client is refused, and sshd offers neither passwords nor keyboard-interactive. */
export function judgePasswordLogin(exitCode: number, sshVerbose: string): Verdict {
  const methods = offeredAuthMethods(sshVerbose);
  if (!methods)
    return fail(
      `could not read the authentication methods sshd offers (ssh exit code ${exitCode}): ${lastLine(sshVerbose)}`,
    );
  const weak = methods.filter((m) => m === "password" || m === "keyboard-interactive");
  if (weak.length > 0)
    return fail(`sshd offers ${weak.join(" and ")} logins (offered: ${methods.join(", ")})`);
  if (exitCode === 0) return fail("a login without a key succeeded");
  return pass(`refused; sshd offers only ${methods.join(", ")}`);
}

/** Root with a valid key is still refused (PermitRootLogin no). */
export function judgeRootLogin(exitCode: number, output: string): Verdict {
  if (exitCode === 0) return fail('root logged in with a valid key: PermitRootLogin is not "no"');
  if (!/Permission denied/i.test(output))
    return fail(`root login failed, but not by refusal (exit code ${exitCode}): ${lastLine(output)}`);
  return pass("refused, even with a key in root's authorized_keys");
}

function lastLine(text: string): string {
  return (
    text
      .trim()
      .split("\n")
      .filter((l) => !l.startsWith("debug1:"))
      .at(-1) ?? "(no output)"
  );
}

// ---------------------------------------------------------------------------------------------
// What runs on the guest, as the responder

/** Marker lines the guest scripts print, so output around them (motd, warnings) does not matter. */
export function markedValue(output: string, key: string): string | undefined {
  const match = new RegExp(`^${key}=(.*)$`, "m").exec(output);
  return match?.[1];
}

export function judgeSudo(output: string, exitCode: number, group: string): Verdict {
  const uid = markedValue(output, "sudo-uid");
  const groups = markedValue(output, "groups")?.split(" ") ?? [];
  if (exitCode !== 0 || uid !== "0")
    return fail(`sudo -n as the responder failed (exit code ${exitCode}): ${lastLine(output)}`);
  if (!groups.includes(group)) return fail(`the responder is not in ${group} (groups: ${groups.join(" ")})`);
  const others = groups.filter((g) => ["sudo", "admin", "wheel"].includes(g));
  if (others.length > 0)
    return fail(`the responder is also in ${others.join(", ")}: that, not the ${group} rule, may grant sudo`);
  return pass(`root through the ${group} rule (groups: ${groups.join(" ")})`);
}

/** auditd runs with the ops-rig rules loaded: watches list as `-k KEY`, syscall rules as `-F key=KEY`. */
export function judgeAuditd(
  active: string | undefined,
  rules: readonly string[],
  keys: readonly string[],
): Verdict {
  if (active !== "active") return fail(`auditd.service is ${active || "unknown"}, not active`);
  const loaded = (key: string) =>
    rules.some((r) =>
      r.split(/\s+/).some((w, i, all) => w === `key=${key}` || (w === "-k" && all[i + 1] === key)),
    );
  const missing = keys.filter((k) => !loaded(k));
  if (missing.length > 0)
    return fail(`auditd runs without the ops-rig rules (${missing.join(", ")} missing from auditctl -l)`);
  return pass(`active with ${rules.length} rules loaded`);
}

// ---------------------------------------------------------------------------------------------
// The accelerator

/** `--accel`: `auto` uses KVM when a probe VM proves it works, else TCG; `kvm` insists on it. */
export const ACCEL_REQUESTS = ["auto", "kvm", "tcg"] as const;
export type AccelRequest = (typeof ACCEL_REQUESTS)[number];

export function isAccelRequest(value: string): value is AccelRequest {
  return (ACCEL_REQUESTS as readonly string[]).includes(value);
}

/**
 * The host's CPU without IA32_ARCH_CAPABILITIES (MSR 0x10a): under nested KVM on AMD, QEMU 7.2's
 * `-cpu host` (and `max`) set that MSR, the outer hypervisor refuses, and QEMU aborts in
 * kvm_buf_set_msrs before the guest runs. Without it the guest only assumes it may be vulnerable to
 * speculation bugs (more mitigations on), which changes nothing a check looks at.
 */
export const KVM_CPU = "host,-arch-capabilities";
export const TCG_CPU = "max";

export interface Accel {
  readonly accel: "kvm" | "tcg";
  readonly cpu: string;
  /** Why this accelerator: the request, or why KVM was not usable. */
  readonly reason: string;
  /** `auto` wanted KVM but fell back to TCG. */
  readonly fallback: boolean;
}

export type KvmProbe =
  | { readonly usable: true; readonly seconds: number; readonly proof: string }
  | { readonly usable: false; readonly reason: string };

/** The accelerator for a request, given the KVM probe (not needed for `tcg`). */
export function chooseAccel(request: AccelRequest, probe?: KvmProbe): Accel | { readonly error: string } {
  if (request === "tcg") return { accel: "tcg", cpu: TCG_CPU, reason: "--accel tcg", fallback: false };
  if (!probe) return { error: `--accel ${request} needs the KVM probe's result` };
  if (probe.usable)
    return {
      accel: "kvm",
      cpu: KVM_CPU,
      reason: `KVM works: ${probe.proof} (probe: ${probe.seconds} s)`,
      fallback: false,
    };
  if (request === "kvm") return { error: `--accel kvm: KVM is not usable here: ${probe.reason}` };
  return {
    accel: "tcg",
    cpu: TCG_CPU,
    reason: `KVM is not usable (${probe.reason}): TCG instead, several times slower`,
    fallback: true,
  };
}

/** What the probe VM's guest writes to isa-debug-exit; QEMU then exits with (value << 1) | 1. */
export const KVM_PROBE_VALUE = 0x2a;
export const KVM_PROBE_EXIT_CODE = (KVM_PROBE_VALUE << 1) | 1;

/**
 * The probe VM's whole firmware: 64 KiB whose reset vector (the last 16 bytes, where an x86 CPU
 * starts) writes KVM_PROBE_VALUE to port 0xf4 and halts. No BIOS, no kernel: when QEMU exits with
 * KVM_PROBE_EXIT_CODE, a vCPU of this CPU model ran guest code under KVM, in well under a second.
 */
export function kvmProbeFirmware(): Uint8Array {
  const firmware = new Uint8Array(0x10000);
  // mov al, 0x2a; out 0xf4, al; hlt; jmp $-1 (back to hlt)
  firmware.set([0xb0, KVM_PROBE_VALUE, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd], 0xfff0);
  return firmware;
}

export function kvmProbeArgs(cpu: string, firmware: string, cpus: number): string[] {
  return [
    "-nodefaults",
    "-no-user-config",
    "-machine",
    "q35",
    "-accel",
    "kvm",
    "-cpu",
    cpu,
    "-smp",
    String(cpus),
    "-m",
    "16M",
    "-display",
    "none",
    "-no-reboot",
    "-bios",
    firmware,
    "-device",
    "isa-debug-exit,iobase=0xf4,iosize=0x04",
  ];
}

/**
 * The second probe: the image's own kernel under KVM, with no disk, so it panics at once for want
 * of a root, and `panic=-1` plus `-no-reboot` end QEMU there. Firmware alone is not enough: a
 * /dev/kvm that emulates real mode but cannot run a stock kernel in long mode (nested PVM, as on
 * this machine) passes the firmware probe and then boots nothing.
 */
export function kernelProbeArgs(
  accel: Pick<Accel, "accel" | "cpu">,
  kernel: string,
  console: string,
  cpus: number,
): string[] {
  return [
    "-nodefaults",
    "-no-user-config",
    "-machine",
    "q35",
    "-accel",
    accel.accel,
    "-cpu",
    accel.cpu,
    "-smp",
    String(cpus),
    "-m",
    "256M",
    "-display",
    "none",
    "-no-reboot",
    "-serial",
    `file:${console}`,
    "-kernel",
    kernel,
    "-append",
    "console=ttyS0 panic=-1",
  ];
}

/** The kernel probe passed when the console shows the kernel got as far as wanting a root. */
export function judgeKvmKernelProbe(run: {
  readonly console: string;
  readonly timedOut: boolean;
  readonly exitCode: number | undefined;
  readonly stderr: string;
  readonly seconds: number;
  readonly accel?: "kvm" | "tcg";
  readonly cpu: string;
}): KvmProbe {
  const accel = run.accel ?? "kvm";
  if (/Kernel panic - not syncing: VFS: Unable to mount root/.test(run.console))
    return {
      usable: true,
      seconds: run.seconds,
      proof: `the image's kernel ran under -accel ${accel} -cpu ${run.cpu} until it looked for its root`,
    };
  const version = /Linux version (\S+)/.exec(run.console)?.[1];
  const seen = version
    ? `the kernel ${version} started but did not reach its root (last console line: ${consoleSummary(run.console)})`
    : "the kernel printed nothing on the serial console";
  if (run.timedOut)
    return {
      usable: false,
      reason: `the image's kernel under -accel ${accel} -cpu ${run.cpu} did not reach its root within ${run.seconds} s: ${seen}`,
    };
  const said = qemuErrors(run.stderr);
  return {
    usable: false,
    reason: `qemu-system-x86_64 -accel ${accel} -cpu ${run.cpu} with the image's kernel exited with code ${run.exitCode ?? "(killed)"}: ${seen}${said ? `; ${said}` : ""}`,
  };
}

function qemuErrors(stderr: string): string {
  return stderr
    .split("\n")
    .map((l) => l.replace(/^qemu-system-x86_64: /, "").trim())
    .filter((l) => l && !/^warning: /.test(l) && !/terminating on signal/.test(l))
    .slice(0, 2)
    .join("; ");
}

/** The probe's outcome from QEMU's exit: only the guest's own exit code proves KVM ran it. */
export function judgeKvmProbe(run: {
  readonly exitCode: number | undefined;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly seconds: number;
  readonly cpu: string;
}): KvmProbe {
  if (run.exitCode === KVM_PROBE_EXIT_CODE)
    return { usable: true, seconds: run.seconds, proof: `firmware code ran under -cpu ${run.cpu}` };
  const errors = qemuErrors(run.stderr);
  const said = errors ? `: ${errors}` : "";
  if (run.timedOut)
    return {
      usable: false,
      reason: `a probe VM with -accel kvm -cpu ${run.cpu} ran no firmware code within ${run.seconds} s${said}`,
    };
  return {
    usable: false,
    reason: `qemu-system-x86_64 -accel kvm -cpu ${run.cpu} exited with code ${run.exitCode ?? "(killed)"} instead of running the probe${said}`,
  };
}

// ---------------------------------------------------------------------------------------------
// The VM

export interface QemuSpec {
  readonly qemu: string;
  readonly accel: Pick<Accel, "accel" | "cpu">;
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly kernel: string;
  readonly initrd: string;
  readonly disk: string;
  readonly evidenceDisk: string;
  readonly seed: string;
  readonly sshPort: number;
  readonly console: string;
  readonly pidFile: string;
}

/** Root on the first virtio disk, the console on the serial port, NoCloud from the cidata disk. */
export function kernelCommandLine(): string {
  // ds=nocloud: cloud-init uses the seed instead of probing cloud metadata services (EC2's
  // link-local address would time out here).
  return "root=/dev/vda rw console=ttyS0,115200 ds=nocloud";
}

export function qemuArgs(spec: QemuSpec): string[] {
  const accel =
    spec.accel.accel === "kvm"
      ? ["-accel", "kvm", "-cpu", spec.accel.cpu]
      : ["-accel", "tcg,thread=multi", "-cpu", spec.accel.cpu];
  return [
    "-nodefaults",
    "-no-user-config",
    "-machine",
    "q35",
    ...accel,
    "-smp",
    String(spec.cpus),
    "-m",
    `${spec.memoryMiB}M`,
    "-display",
    "none",
    "-serial",
    `file:${spec.console}`,
    "-pidfile",
    spec.pidFile,
    // A kernel panic ends the VM instead of hanging until the timeout.
    "-no-reboot",
    "-kernel",
    spec.kernel,
    "-initrd",
    spec.initrd,
    "-append",
    kernelCommandLine(),
    // Explicit devices in this order: the root is vda, the evidence disk vdb, the seed vdc.
    "-drive",
    `file=${spec.disk},format=raw,if=none,id=root,cache=unsafe,discard=unmap`,
    "-device",
    "virtio-blk-pci,drive=root,serial=ops-rig-root",
    "-drive",
    `file=${spec.evidenceDisk},format=raw,if=none,id=evidence,cache=unsafe`,
    "-device",
    "virtio-blk-pci,drive=evidence,serial=ops-rig-evidence",
    "-drive",
    `file=${spec.seed},format=raw,if=none,id=seed,readonly=on`,
    "-device",
    "virtio-blk-pci,drive=seed,serial=ops-rig-seed",
    "-netdev",
    `user,id=net0,hostfwd=tcp:127.0.0.1:${spec.sshPort}-:22`,
    "-device",
    "virtio-net-pci,netdev=net0",
    // sshd and cloud-init want entropy early; TCG guests have little of their own.
    "-device",
    "virtio-rng-pci",
  ];
}

/** The NoCloud seed: the instance's identity, and its responder with the throwaway key. */
export function nocloudMetaData(instanceId: string, hostname: string): string {
  return `instance-id: ${instanceId}\nlocal-hostname: ${hostname}\n`;
}

/**
 * The responder, created the way a launch gives a user its key. Only in the responders group: the
 * sudo check must prove that group's rule, not cloud-init's own sudo rule for its default user.
 */
export function responderCloudConfig(user: string, group: string, publicKey: string): string {
  return [
    "#cloud-config",
    "# ops-rig --boot: the responder logs in with a throwaway key, like a key given at launch.",
    `groups: [${group}]`,
    // The hostname resolves as it does through EC2's DNS (otherwise sudo warns on every call).
    "manage_etc_hosts: localhost",
    "users:",
    `  - name: ${user}`,
    `    groups: [${group}]`,
    "    shell: /bin/bash",
    "    lock_passwd: true",
    "    ssh_authorized_keys:",
    `      - ${publicKey.trim()}`,
    "",
  ].join("\n");
}

/** Several user-data documents as one multipart MIME message (cloud-init merges the parts). */
export function multipartUserData(parts: readonly string[], boundary = "OPS-RIG-BOOT-BOUNDARY"): string {
  if (parts.length === 1) return parts[0] ?? "";
  const body = parts.flatMap((part, index) => [
    `--${boundary}`,
    'Content-Type: text/cloud-config; charset="utf-8"',
    "MIME-Version: 1.0",
    `Content-Disposition: attachment; filename="part-${index + 1}.cfg"`,
    "",
    part.endsWith("\n") ? part.slice(0, -1) : part,
  ]);
  return [
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    "MIME-Version: 1.0",
    "",
    ...body,
    `--${boundary}--`,
    "",
  ].join("\n");
}

/** What the serial console says about how far the boot got, for failure messages. */
export function consoleSummary(console: string): string {
  const lines = console.replace(/\r/g, "").split("\n");
  const panic = lines.find((l) => /Kernel panic/.test(l));
  if (panic) return panic.trim();
  const emergency = lines.find((l) => /You are in emergency mode|Give root password for maintenance/.test(l));
  if (emergency) return `systemd emergency mode: ${emergency.trim()}`;
  const failed = lines.filter((l) => /\[FAILED\]/.test(l)).map((l) => stripAnsi(l).trim());
  const finished = lines.find((l) => /Cloud-init v\. .* finished/.test(l));
  const parts = [
    ...(failed.length > 0 ? [`failed units: ${failed.slice(0, 5).join("; ")}`] : []),
    ...(finished ? [finished.trim()] : []),
  ];
  const last = lines.filter((l) => l.trim() !== "").at(-1);
  return parts.length > 0 ? parts.join("; ") : `last console line: ${last?.trim() ?? "(nothing)"}`;
}

/** systemd colours its status lines on the serial console. */
function stripAnsi(text: string): string {
  return text.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g"), "");
}

export function cloudInitFinished(console: string): boolean {
  return /Cloud-init v\. \S+ finished/.test(console);
}

/**
 * Why a boot can no longer reach SSH, when the console says so: the wait ends at once instead of
 * at the timeout. Undefined while the boot may still get there.
 */
export function bootDeadEnd(console: string): string | undefined {
  const text = console.replace(/\r/g, "");
  const panic = /^.*Kernel panic.*$/m.exec(text);
  if (panic) return panic[0].trim();
  const noInit = /run-init: \/sbin\/init: No such file or directory/.exec(text);
  if (noInit)
    return "the root has no /sbin/init (the initramfs gave up and opened a shell): is systemd-sysv installed?";
  if (/ALERT! .* does not exist\.\s+Dropping to a shell!/.test(text))
    return `the initramfs did not find the root disk: ${/ALERT! .*/.exec(text)?.[0] ?? ""}`;
  if (/You are in emergency mode|Give root password for maintenance/.test(text))
    return `systemd entered emergency mode: ${consoleSummary(text)}`;
  return undefined;
}
