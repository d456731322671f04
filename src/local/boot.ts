import { spawn } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { execa } from "execa";
import { LocalRunError } from "../errors.js";
import { type EventSink, type EventType, ignoreEvents } from "../events.js";
import { resolveAccel } from "./boot-accel.js";
import {
  type Accel,
  type AccelRequest,
  type BootCheckResult,
  bootDeadEnd,
  cloudInitFinished,
  consoleSummary,
  judgeAuditd,
  judgeHostKeys,
  judgeLimeCoverage,
  judgePasswordLogin,
  judgeRootLogin,
  judgeSudo,
  markedValue,
  multipartUserData,
  nocloudMetaData,
  parseLimeWalk,
  parseWalkOutput,
  qemuArgs,
  responderCloudConfig,
  type Verdict,
} from "./boot-checks.js";
import {
  AUDITD_SCRIPT,
  BREAK_GLASS_SCRIPT,
  CAPTURE_SCRIPT,
  EVIDENCE_SCRIPT,
  FLS_SCRIPT,
  HOST_KEYS_SCRIPT,
  LIME_BUILD_SCRIPT,
  LIME_SCRIPT,
  rootKeyScript,
  SUDO_SCRIPT,
} from "./boot-guest.js";
import { OWNER_FILE, sweepAbandonedWork } from "./cleanup.js";
import type { LocalRoot } from "./root.js";

/**
 * The boot proof: the finished root as a disk, booted under QEMU with its own kernel and initramfs,
 * given a responder key through a NoCloud seed (as a launch gives one), then checked over SSH the
 * way a responder relies on it. The VM, its files and its port never outlive the run.
 */

export interface BootDisk {
  /** Folder holding disk.img, vmlinuz and initrd.img. */
  readonly dir: string;
  readonly disk: string;
  readonly kernel: string;
  readonly initrd: string;
  readonly kernelVersion: string;
  /** SSH host key files the image ships (it should ship none). */
  readonly imageHostKeys: readonly { readonly path: string; readonly fingerprint?: string }[];
}

/** Headroom on the disk for what the checks write (a LiME capture of the VM's RAM) and cloud-init installs. */
const DISK_HEADROOM_MIB = 2560;

/**
 * Writes a root as a bootable raw ext4 disk (`mkfs.ext4 -d`: no loop device, no mount on the
 * host) and copies out its newest kernel and initramfs.
 */
export async function writeBootDisk(root: LocalRoot, dir: string, signal?: AbortSignal): Promise<BootDisk> {
  await mkdir(dir, { recursive: true });
  const script = `set -eu
R="$1"; D="$2"
k="$(ls -1 "$R/boot" | sed -n 's/^vmlinuz-//p' | sort -V | tail -n 1)"
[ -n "$k" ] || { echo "the image has no kernel in /boot" >&2; exit 3; }
[ -f "$R/boot/initrd.img-$k" ] || { echo "the image has no initramfs for $k (/boot/initrd.img-$k)" >&2; exit 3; }
cp "$R/boot/vmlinuz-$k" "$D/vmlinuz"
cp "$R/boot/initrd.img-$k" "$D/initrd.img"
used="$(du -sxm "$R" | cut -f1)"
mkfs.ext4 -q -F -L ops-rig-root -E root_owner=0:0 -d "$R" "$D/disk.img" "$((used + used / 4 + ${DISK_HEADROOM_MIB}))M"
echo "kernel=$k"
for f in "$R"/etc/ssh/ssh_host_*; do
  [ -e "$f" ] || continue
  case "$f" in
    *.pub) echo "hostkey=\${f#"$R"} $(ssh-keygen -lf "$f" | awk '{print $2}')" ;;
    *) echo "hostkey=\${f#"$R"}" ;;
  esac
done
`;
  const run = await root.withMounted(["sh", "-c", script, "write-boot-disk", root.mountPoint, dir], {
    ...(signal ? { signal } : {}),
  });
  if (run.exitCode !== 0)
    throw new LocalRunError("BOOT_DISK_FAILED", `writing the boot disk failed:\n${run.output.trim()}`);
  const kernelVersion = markedValue(run.stdout, "kernel") ?? "";
  const imageHostKeys = [...run.stdout.matchAll(/^hostkey=(\S+)(?: (\S+))?$/gm)].map((m) => ({
    path: m[1] ?? "",
    ...(m[2] ? { fingerprint: m[2] } : {}),
  }));
  return {
    dir,
    disk: join(dir, "disk.img"),
    kernel: join(dir, "vmlinuz"),
    initrd: join(dir, "initrd.img"),
    kernelVersion,
    imageHostKeys,
  };
}

export interface BootOptions {
  readonly disk: BootDisk;
  /** Parent of the run's work folder (default: the disk's folder). */
  readonly workRoot?: string;
  /** User data before the responder's part, e.g. the rendered light cloud-init for a stock image. */
  readonly userData?: readonly string[];
  /** The stock path: the light bootstrap must have reported `ready`. */
  readonly expectBootstrap?: boolean;
  readonly memoryMiB?: number;
  readonly cpus?: number;
  /** Until sshd answers (default 15 min: TCG on a loaded machine is slow). */
  readonly sshTimeoutMs?: number;
  /** Until cloud-init is done (default 30 min: the stock path installs the light toolset). */
  readonly cloudInitTimeoutMs?: number;
  /** Copy the console log here when a check fails (`--keep`). */
  readonly keepDir?: string;
  readonly signal?: AbortSignal;
  readonly onEvent?: EventSink;
  /** Injected for tests. */
  readonly now?: () => number;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /**
   * `auto` (default): KVM when a probe VM runs under it, else TCG with an event saying why; `kvm`
   * fails when KVM does not work; `tcg` never tries. An `Accel` is used as given (already resolved).
   */
  readonly accel?: AccelRequest | Accel;
}

export interface BootResult {
  readonly ok: boolean;
  readonly checks: readonly BootCheckResult[];
  /** From starting QEMU to the first SSH login. */
  readonly bootToSshSeconds?: number;
  readonly seconds: number;
  readonly accel: "kvm" | "tcg";
  /** QEMU's -cpu. */
  readonly cpu: string;
  /** Why this accelerator (the request, or why KVM was not usable). */
  readonly accelReason: string;
  /** The console log, when kept after a failure. */
  readonly consoleLog?: string;
}

export const RESPONDER_USER = "responder";
const SSH_GRACE_AFTER_CLOUD_INIT_MS = 90_000;
/**
 * cloud-init is done when its final stage wrote result.json (`status --wait` returns as soon as
 * an early module reports an error, while the final stage, which runs the bootstrap, still runs).
 */
const CLOUD_INIT_SCRIPT = `while [ ! -e /run/cloud-init/result.json ]; do sleep 3; done
cloud-init status >/dev/null 2>&1; echo "rc=$?"
cloud-init status --long 2>&1 | sed 's/^/status: /'
echo "bootstrap=$(cat /var/lib/ops-rig/bootstrap.status 2>/dev/null)"
`;
export const RESPONDER_GROUP = "responders";

const realSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((done, reject) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });

/** A free port on the loopback interface (the VM's SSH is forwarded there). */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((done, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

async function commandExists(name: string): Promise<boolean> {
  return (await execa("sh", ["-c", `command -v ${name}`], { reject: false })).exitCode === 0;
}

/**
 * What --boot needs on this machine, found before anything is built. With `--accel kvm`, the
 * firmware probe too (the kernel probe needs the image): no build is wasted on a missing /dev/kvm.
 */
export async function bootPreflight(accel?: AccelRequest | Accel): Promise<void> {
  const missing: string[] = [];
  for (const [tool, pkg] of [
    ["qemu-system-x86_64", "qemu-system-x86"],
    ["mkfs.ext4", "e2fsprogs"],
    ["genisoimage", "genisoimage"],
    ["ssh", "openssh-client"],
    ["ssh-keygen", "openssh-client"],
  ] as const)
    if (!(await commandExists(tool))) missing.push(`${tool} (${pkg})`);
  if (missing.length > 0)
    throw new LocalRunError(
      "BOOT_TOOLS_MISSING",
      `--boot needs ${missing.join(", ")}: apt-get install -y qemu-system-x86 e2fsprogs genisoimage openssh-client`,
    );
  if (accel === "kvm") await resolveAccel("kvm");
}

export async function runBoot(options: BootOptions): Promise<BootResult> {
  const now = options.now ?? (() => performance.now());
  const sleep = options.sleep ?? realSleep;
  const started = now();
  const elapsed = () => Math.round(now() - started) / 1000;
  const sink = options.onEvent ?? ignoreEvents;
  const emit = (type: EventType, subject: string, message?: string, data: Record<string, unknown> = {}) =>
    sink({
      type,
      subject,
      ...(message !== undefined ? { message } : {}),
      data: { ...data, elapsed: elapsed() },
    });
  const signal = options.signal;
  signal?.throwIfAborted();
  const memoryMiB = options.memoryMiB ?? 768;
  const cpus = options.cpus ?? 2;
  const requested = options.accel ?? "auto";
  const chosen =
    typeof requested === "string"
      ? await resolveAccel(requested, {
          cpus,
          kernel: options.disk.kernel,
          ...(signal ? { signal } : {}),
        }).catch((error: unknown) => {
          // Ctrl-C during the probe reads like Ctrl-C during the boot (the probe VM is already gone).
          if (signal?.aborted)
            throw new LocalRunError("ABORTED", "boot aborted: the VM was stopped and its files removed", {
              cause: signal.reason ?? error,
            });
          throw error;
        })
      : requested;
  const accel = chosen.accel;
  if (chosen.fallback)
    emit("progress", "accelerator", chosen.reason, { kind: "accel", accel, cpu: chosen.cpu, fallback: true });
  const workRoot = resolve(options.workRoot ?? options.disk.dir);
  // Boots of runs that were killed outright (SIGKILL: QEMU died with them) left their folders.
  await sweepAbandonedWork(workRoot);
  const work = await mkdtemp(join(workRoot, "ops-rig-boot-"));
  await writeFile(join(work, OWNER_FILE), String(process.pid));
  const checks: BootCheckResult[] = [];
  let qemu: ReturnType<typeof spawn> | undefined;
  let qemuExit: Promise<number | null> | undefined;
  let qemuExited = false;
  let consoleLog: string | undefined;
  emit(
    "start",
    "boot",
    `${options.disk.kernelVersion} under QEMU (${accel}, -cpu ${chosen.cpu}) in ${work}`,
    {
      kind: "boot",
      work,
      accel,
      cpu: chosen.cpu,
    },
  );
  try {
    // The responder's throwaway key, made for this boot only.
    const key = join(work, "responder");
    await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "ops-rig-boot-responder", "-f", key]);
    const publicKey = (await readFile(`${key}.pub`, "utf8")).trim();
    const seedDir = join(work, "seed");
    await mkdir(seedDir);
    await writeFile(
      join(seedDir, "meta-data"),
      nocloudMetaData(`ops-rig-boot-${Date.now()}`, "ops-rig-boot"),
    );
    await writeFile(
      join(seedDir, "user-data"),
      multipartUserData([
        ...(options.userData ?? []),
        responderCloudConfig(RESPONDER_USER, RESPONDER_GROUP, publicKey),
      ]),
    );
    const seed = join(work, "seed.iso");
    await execa("genisoimage", [
      "-quiet",
      "-output",
      seed,
      "-volid",
      "cidata",
      "-joliet",
      "-rock",
      join(seedDir, "user-data"),
      join(seedDir, "meta-data"),
    ]);
    const evidenceDisk = join(work, "evidence.img");
    await execa("truncate", ["-s", "64M", evidenceDisk]);
    const consolePath = join(work, "console.log");
    const knownHosts = join(work, "known_hosts");

    let port = 0;
    const startQemu = async (): Promise<void> => {
      port = await freeLoopbackPort();
      const args = qemuArgs({
        qemu: "qemu-system-x86_64",
        accel: chosen,
        cpus,
        memoryMiB,
        kernel: options.disk.kernel,
        initrd: options.disk.initrd,
        disk: options.disk.disk,
        evidenceDisk,
        seed,
        sshPort: port,
        console: consolePath,
        pidFile: join(work, "qemu.pid"),
      });
      // setpriv --pdeathsig: QEMU dies with ops-rig even when ops-rig is killed outright.
      const child = spawn("setpriv", ["--pdeathsig", "KILL", "--", "qemu-system-x86_64", ...args], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      qemu = child;
      qemuExited = false;
      let stderr = "";
      child.stderr?.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      qemuExit = new Promise((done) =>
        child.once("exit", (code) => {
          qemuExited = true;
          done(code);
        }),
      );
      // QEMU fails at once when the forwarded port was taken meanwhile.
      await sleep(500, signal);
      if (qemuExited)
        throw new LocalRunError(
          "QEMU_FAILED",
          `qemu-system-x86_64 exited at start: ${stderr.trim() || "(no message)"}`,
        );
    };
    await startQemu();
    const qemuStarted = now();
    emit("progress", "boot", `QEMU started, SSH forwarded from 127.0.0.1:${port}`, { kind: "boot", port });

    const sshBase = (user: string, extra: readonly string[] = []): string[] => [
      "-F",
      "/dev/null",
      "-p",
      String(port),
      "-o",
      `UserKnownHostsFile=${knownHosts}`,
      "-o",
      "StrictHostKeyChecking=accept-new",
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=20",
      "-o",
      "ServerAliveInterval=15",
      "-o",
      "ServerAliveCountMax=8",
      ...extra,
      `${user}@127.0.0.1`,
    ];
    const ssh = async (
      script: string,
      { user = RESPONDER_USER, timeoutMs = 300_000, asRoot = false, extra = [] as string[] } = {},
    ) => {
      const run = await execa(
        "ssh",
        [
          ...sshBase(user, ["-i", key, "-o", "IdentitiesOnly=yes", ...extra]),
          "--",
          ...(asRoot ? ["sudo", "-n"] : []),
          "bash",
          "-s",
        ],
        {
          input: script,
          reject: false,
          all: true,
          timeout: timeoutMs,
          ...(signal ? { cancelSignal: signal } : {}),
        },
      );
      signal?.throwIfAborted();
      return { exitCode: run.exitCode ?? 255, stdout: String(run.stdout ?? ""), all: String(run.all ?? "") };
    };
    const consoleText = async () => (await readFile(consolePath, "utf8").catch(() => "")).toString();
    const record = (name: string, since: number, verdict: Verdict): boolean => {
      const result = {
        name,
        ok: verdict.ok,
        message: verdict.message,
        seconds: Math.round((now() - since) / 100) / 10,
      };
      checks.push(result);
      emit(verdict.ok ? "done" : "failed", `check ${name}`, verdict.message, {
        kind: "check",
        check: name,
        ok: verdict.ok,
        seconds: result.seconds,
      });
      return verdict.ok;
    };
    const check = async (name: string, body: () => Promise<Verdict>): Promise<boolean> => {
      const since = now();
      emit("start", `check ${name}`, undefined, { kind: "check", check: name });
      let verdict: Verdict;
      try {
        verdict = await body();
      } catch (error) {
        if (signal?.aborted) throw error;
        verdict = { ok: false, message: (error as Error).message };
      }
      return record(name, since, verdict);
    };

    // 1. sshd answers the responder's key.
    const sshDeadline = qemuStarted + (options.sshTimeoutMs ?? 15 * 60_000);
    let bootToSshSeconds: number | undefined;
    const sshUp = await check("ssh-key-login", async () => {
      let last = "";
      let cloudInitDoneAt: number | undefined;
      for (;;) {
        if (qemuExited)
          return {
            ok: false,
            message: `the VM stopped before sshd answered: ${consoleSummary(await consoleText())}`,
          };
        const text = await consoleText();
        const deadEnd = bootDeadEnd(text);
        if (deadEnd) return { ok: false, message: `the VM cannot reach sshd: ${deadEnd}` };
        // Once cloud-init has finished, everything that starts at boot has started: an sshd that
        // still does not answer a while later never will.
        if (cloudInitDoneAt === undefined && cloudInitFinished(text)) cloudInitDoneAt = now();
        if (cloudInitDoneAt !== undefined && now() - cloudInitDoneAt > SSH_GRACE_AFTER_CLOUD_INIT_MS)
          return {
            ok: false,
            message: `sshd does not let ${RESPONDER_USER} in although cloud-init finished ${Math.round((now() - cloudInitDoneAt) / 1000)} s ago (last: ${last || "no answer"}); console: ${consoleSummary(text)}`,
          };
        const attempt = await ssh("echo ops-rig-ssh-ok", {
          timeoutMs: 60_000,
          extra: ["-o", "ConnectTimeout=10"],
        });
        if (attempt.stdout.includes("ops-rig-ssh-ok")) {
          bootToSshSeconds = Math.round((now() - qemuStarted) / 100) / 10;
          return {
            ok: true,
            message: `${RESPONDER_USER} logged in with the seed's key ${bootToSshSeconds} s after QEMU started`,
          };
        }
        last = attempt.all.trim().split("\n").at(-1) ?? "";
        if (now() >= sshDeadline)
          return {
            ok: false,
            message: `sshd did not let ${RESPONDER_USER} in within ${Math.round((now() - qemuStarted) / 1000)} s (last: ${last}); console: ${consoleSummary(await consoleText())}`,
          };
        await sleep(5000, signal);
      }
    });

    if (sshUp) {
      // 2. cloud-init (and, on a stock image, the light bootstrap it runs) finished.
      const cloudInitOk = await check("cloud-init", async () => {
        const timeoutMs = options.cloudInitTimeoutMs ?? 30 * 60_000;
        const run = await ssh(CLOUD_INIT_SCRIPT, { timeoutMs });
        const rc = markedValue(run.stdout, "rc");
        const detail = run.stdout
          .split("\n")
          .filter((l) => l.startsWith("status: ") && /status:|detail|errors|recoverable/i.test(l))
          .map((l) => l.slice(8).trim())
          .join("; ");
        if (rc === undefined)
          return {
            ok: false,
            message: `could not wait for cloud-init over SSH (exit code ${run.exitCode}): ${run.all.trim().split("\n").at(-1) ?? ""}`,
          };
        if (rc !== "0")
          return { ok: false, message: `cloud-init reported errors (exit code ${rc}): ${detail}` };
        if (options.expectBootstrap) {
          const status = markedValue(run.stdout, "bootstrap") ?? "";
          if (!status.startsWith("ready"))
            return {
              ok: false,
              message: `the light bootstrap did not finish: /var/lib/ops-rig/bootstrap.status says "${status || "(missing)"}" (see /var/log/ops-rig-bootstrap.log)`,
            };
          return { ok: true, message: `done; bootstrap: ${status}` };
        }
        return { ok: true, message: `done (${detail || "no errors"})` };
      });

      // 3. After cloud-init, a fresh connection still gets in: nothing it ran broke sshd.
      const sshAfter = await check("sshd-after-cloud-init", async () => {
        const run = await ssh("echo ops-rig-ssh-ok", { timeoutMs: 120_000 });
        if (run.stdout.includes("ops-rig-ssh-ok")) return { ok: true, message: "a new login still works" };
        return {
          ok: false,
          message: `sshd stopped letting the responder in after cloud-init${cloudInitOk ? "" : " (which failed)"}: ${run.all.trim().split("\n").at(-1) ?? ""}; console: ${consoleSummary(await consoleText())}`,
        };
      });

      if (sshAfter) {
        await check("host-keys", async () => {
          const run = await ssh(HOST_KEYS_SCRIPT);
          const presented = (await execa("ssh-keygen", ["-l", "-f", knownHosts], { reject: false })).stdout
            .split("\n")
            .map((l) => l.split(" ")[1] ?? "")
            .filter((f) => f.startsWith("SHA256:"));
          const vmKeys = [...run.stdout.matchAll(/^key=(\S+) (\S+) (\d+)$/gm)].map((m) => ({
            path: m[1] ?? "",
            fingerprint: m[2] ?? "",
            mtime: Number(m[3]),
          }));
          return judgeHostKeys({
            imageKeys: options.disk.imageHostKeys,
            presented,
            vmKeys,
            bootTime: Number(markedValue(run.stdout, "btime") ?? "0"),
          });
        });
        await check("password-login", async () => {
          const run = await execa(
            "ssh",
            [
              ...sshBase(RESPONDER_USER, [
                "-v",
                "-o",
                "PubkeyAuthentication=no",
                "-o",
                "PreferredAuthentications=password,keyboard-interactive",
                "-o",
                "NumberOfPasswordPrompts=0",
              ]),
              "true",
            ],
            { reject: false, all: true, timeout: 120_000, ...(signal ? { cancelSignal: signal } : {}) },
          );
          return judgePasswordLogin(run.exitCode ?? 255, String(run.all ?? ""));
        });
        await check("root-login", async () => {
          const added = await ssh(rootKeyScript(publicKey, true));
          if (markedValue(added.stdout, "added") !== "yes")
            return {
              ok: false,
              message: `could not put the key into root's authorized_keys: ${added.all.trim()}`,
            };
          try {
            const run = await ssh("echo ops-rig-root-in", { user: "root", timeoutMs: 120_000 });
            return judgeRootLogin(run.stdout.includes("ops-rig-root-in") ? 0 : run.exitCode, run.all);
          } finally {
            await ssh(rootKeyScript(publicKey, false));
          }
        });
        await check("sudo", async () => {
          const run = await ssh(SUDO_SCRIPT);
          return judgeSudo(run.stdout, run.exitCode, RESPONDER_GROUP);
        });
        await check("lime-capture", async () => {
          const root = await ssh(LIME_SCRIPT, { timeoutMs: 15 * 60_000, asRoot: true });
          const error = markedValue(root.stdout, "error");
          if (error) return { ok: false, message: error };
          const walk = parseWalkOutput(root.stdout);
          if (!walk)
            return {
              ok: false,
              message: `the capture could not be read (exit code ${root.exitCode}): ${root.all.trim().split("\n").at(-1) ?? ""}`,
            };
          const parsed = parseLimeWalk(walk.headers, walk.size);
          if ("error" in parsed) return { ok: false, message: parsed.error };
          const iomem = /iomem-begin\n([\s\S]*?)iomem-end/.exec(root.stdout)?.[1] ?? "";
          const verdict = judgeLimeCoverage(parsed.ranges, iomem, memoryMiB);
          return verdict.ok
            ? { ok: true, message: `${markedValue(root.stdout, "kernel")}: ${verdict.message}` }
            : verdict;
        });
        await check("lime-build", async () => {
          const run = await ssh(LIME_BUILD_SCRIPT, { timeoutMs: 15 * 60_000 });
          const kernel = markedValue(run.stdout, "kernel") ?? "";
          const out = [...run.stdout.matchAll(/^out=(.*)$/gm)].map((m) => m[1]).join(" / ");
          if (markedValue(run.stdout, "rc") !== "0")
            return { ok: false, message: `lime-build ${kernel} failed: ${out}` };
          if (markedValue(run.stdout, "vermagic") !== kernel)
            return {
              ok: false,
              message: `lime-build ${kernel} left no module for the running kernel (${out})`,
            };
          return { ok: true, message: `found the module for the running kernel ${kernel}: ${out}` };
        });
        await check("packet-capture", async () => {
          const run = await ssh(CAPTURE_SCRIPT, { timeoutMs: 10 * 60_000 });
          const v = (k: string) => markedValue(run.stdout, k) ?? "";
          const ifc = v("interface");
          if (v("tcpdump-rc") !== "0")
            return {
              ok: false,
              message: `tcpdump captured nothing on ${ifc} (exit code ${v("tcpdump-rc")})`,
            };
          if (v("tshark-rc") !== "0")
            return { ok: false, message: `tshark captured nothing on ${ifc} (exit code ${v("tshark-rc")})` };
          const a = Number(v("tshark-reads-tcpdump"));
          const b = Number(v("tcpdump-reads-tshark"));
          if (!(a >= 3 && b >= 3))
            return {
              ok: false,
              message: `the captures do not decode: tshark read ${a} packets of tcpdump's, tcpdump ${b} of tshark's`,
            };
          return {
            ok: true,
            message: `tcpdump and tshark each captured 3 packets on ${ifc} and read the other's capture`,
          };
        });
        await check("fls", async () => {
          const run = await ssh(FLS_SCRIPT, { timeoutMs: 5 * 60_000 });
          const listed = [...run.stdout.matchAll(/^fls=(.*)$/gm)].map((m) => m[1] ?? "");
          if (!listed.some((l) => l.includes("ops-rig-evidence.txt")))
            return {
              ok: false,
              message: `fls did not list the file of a fresh ext4 image (exit code ${run.exitCode}): ${run.all.trim().split("\n").at(-1) ?? ""}`,
            };
          return {
            ok: true,
            message: `fls lists ${listed.length} entries of a fresh ext4 image, the test file among them`,
          };
        });
        await check("break-glass", async () => {
          // The timer fires 30-60 s after boot; give it until 5 minutes after SSH came up.
          const deadline = now() + 5 * 60_000;
          for (;;) {
            const run = await ssh(BREAK_GLASS_SCRIPT);
            const logs = [...run.stdout.matchAll(/^log=(.*)$/gm)].map((m) => m[1] ?? "");
            const ran = Number(markedValue(run.stdout, "active-enter") ?? "0") > 0;
            if (logs.length > 0) return { ok: true, message: `ran and logged: ${logs.at(-1)}` };
            if (ran)
              return {
                ok: false,
                message:
                  "ops-rig-break-glass.service ran but logged nothing (journalctl -t ops-rig-break-glass)",
              };
            if (now() >= deadline)
              return {
                ok: false,
                message: `ops-rig-break-glass.service never ran (ops-rig-break-glass.timer is ${markedValue(run.stdout, "timer") || "unknown"})`,
              };
            await sleep(10_000, signal);
          }
        });
        await check("auditd", async () => {
          const run = await ssh(AUDITD_SCRIPT);
          const rules = [...run.stdout.matchAll(/^rule=(.*)$/gm)].map((m) => m[1] ?? "");
          return judgeAuditd(markedValue(run.stdout, "active"), rules, [
            "ops-rig-privilege",
            "ops-rig-root-exec",
            "ops-rig-modules",
          ]);
        });
        await check("evidence-volume", async () => {
          const run = await ssh(EVIDENCE_SCRIPT, { timeoutMs: 5 * 60_000 });
          const error = markedValue(run.stdout, "error");
          if (error) return { ok: false, message: error };
          const after = markedValue(run.stdout, "after");
          if (after === undefined)
            return {
              ok: false,
              message: `could not read the volume's state: ${run.all.trim().split("\n").at(-1) ?? ""}`,
            };
          if (after !== "")
            return {
              ok: false,
              message: `the evidence volume was auto-activated (lv_active=${after}; ${markedValue(run.stdout, "setting")})`,
            };
          return {
            ok: true,
            message: `attached LVM volume stays inactive (${markedValue(run.stdout, "setting")})`,
          };
        });
      }
    }

    const ok = checks.length > 0 && checks.every((c) => c.ok);
    if (!ok && options.keepDir) {
      await mkdir(options.keepDir, { recursive: true });
      consoleLog = join(options.keepDir, "boot-console.log");
      await copyFile(consolePath, consoleLog).catch(() => {});
      emit("done", "keep", `boot log kept at ${consoleLog}`, { kind: "keep", consoleLog });
    }
    return {
      ok,
      checks,
      ...(bootToSshSeconds !== undefined ? { bootToSshSeconds } : {}),
      seconds: elapsed(),
      accel,
      cpu: chosen.cpu,
      accelReason: chosen.reason,
      ...(consoleLog ? { consoleLog } : {}),
    };
  } catch (error) {
    if (signal?.aborted)
      throw new LocalRunError("ABORTED", "boot aborted: the VM was stopped and its files removed", {
        cause: signal.reason ?? error,
      });
    throw error;
  } finally {
    if (qemu && !qemuExited) {
      qemu.kill("SIGKILL");
      await qemuExit;
    }
    await rm(work, { recursive: true, force: true });
    emit("done", "boot cleanup", `VM stopped, removed ${work}`, { kind: "cleanup" });
  }
}
