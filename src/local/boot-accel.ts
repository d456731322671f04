import { constants } from "node:fs";
import { access, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { LocalRunError } from "../errors.js";
import {
  type Accel,
  type AccelRequest,
  chooseAccel,
  judgeKvmKernelProbe,
  judgeKvmProbe,
  KVM_CPU,
  type KvmProbe,
  kernelProbeArgs,
  kvmProbeArgs,
  kvmProbeFirmware,
  TCG_CPU,
} from "./boot-checks.js";

/**
 * Which accelerator a boot runs under. /dev/kvm existing is not enough: under nested KVM QEMU can
 * abort on a CPU model the outer hypervisor half supports, and a nested PVM /dev/kvm runs firmware
 * but no stock kernel. So two probe VMs with the boot's own CPU model must pass first: firmware
 * code (0.1 s), then the image's own kernel up to where it wants a root (1–3 s under KVM).
 */

/** Firmware that ran no code by then never will (it needs well under a second). */
const FIRMWARE_PROBE_TIMEOUT_MS = 15_000;
/** The kernel reaches its root in 1–3 s under KVM (7 s even under TCG here); a loaded host gets room. */
const KERNEL_PROBE_TIMEOUT_MS = 25_000;

export interface KvmProbeOptions {
  readonly cpu?: string;
  readonly cpus?: number;
  /** The image's kernel: without it only the firmware probe runs. */
  readonly kernel?: string;
  readonly signal?: AbortSignal;
}

/** One verdict per kernel and CPU model per process: every boot of a test run would repeat it. */
const verdicts = new Map<string, Promise<KvmProbe>>();

export function probeKvm(options: KvmProbeOptions = {}): Promise<KvmProbe> {
  const key = `${options.cpu ?? KVM_CPU} ${options.cpus ?? 2} ${options.kernel ?? ""}`;
  let verdict = verdicts.get(key);
  if (!verdict) {
    verdict = runProbes(options);
    verdicts.set(key, verdict);
    // An aborted probe proves nothing: the next boot probes again.
    verdict.catch(() => verdicts.delete(key));
  }
  return verdict;
}

async function runProbes(options: KvmProbeOptions): Promise<KvmProbe> {
  const cpu = options.cpu ?? KVM_CPU;
  const cpus = options.cpus ?? 2;
  try {
    await access("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return {
      usable: false,
      reason: code === "ENOENT" ? "there is no /dev/kvm" : `/dev/kvm cannot be opened read-write (${code})`,
    };
  }
  const dir = await mkdtemp(join(tmpdir(), "ops-rig-kvm-probe-"));
  try {
    const firmware = join(dir, "probe.bin");
    await writeFile(firmware, kvmProbeFirmware());
    const first = judgeKvmProbe(
      await runQemu(kvmProbeArgs(cpu, firmware, cpus), FIRMWARE_PROBE_TIMEOUT_MS, options.signal),
    );
    if (!first.usable || !options.kernel) return first;
    const second = await runKernelProbe({ accel: "kvm", cpu }, options.kernel, {
      cpus,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return second.usable
      ? { ...second, seconds: Math.round((first.seconds + second.seconds) * 1000) / 1000 }
      : second;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function runQemu(args: string[], timeout: number, signal?: AbortSignal) {
  const started = performance.now();
  const result = await execa("qemu-system-x86_64", args, {
    reject: false,
    timeout,
    stdin: "ignore",
    ...(signal ? { cancelSignal: signal } : {}),
  });
  signal?.throwIfAborted();
  return {
    exitCode: result.exitCode,
    stderr: String(result.stderr ?? ""),
    timedOut: result.timedOut,
    seconds: Math.round(performance.now() - started) / 1000,
    cpu: args[args.indexOf("-cpu") + 1] ?? "",
  };
}

/**
 * The kernel probe alone, under either accelerator: under TCG it proves, on any machine, that the
 * image's kernel reaches the point the KVM probe waits for (else KVM would never be chosen).
 */
export async function runKernelProbe(
  accel: { readonly accel: "kvm" | "tcg"; readonly cpu?: string },
  kernel: string,
  options: { readonly cpus?: number; readonly signal?: AbortSignal; readonly timeoutMs?: number } = {},
): Promise<KvmProbe> {
  const cpu = accel.cpu ?? (accel.accel === "kvm" ? KVM_CPU : TCG_CPU);
  const dir = await mkdtemp(join(tmpdir(), "ops-rig-kernel-probe-"));
  try {
    const console = join(dir, "console.log");
    const run = await runQemu(
      kernelProbeArgs({ accel: accel.accel, cpu }, kernel, console, options.cpus ?? 2),
      options.timeoutMs ?? KERNEL_PROBE_TIMEOUT_MS,
      options.signal,
    );
    return judgeKvmKernelProbe({
      ...run,
      accel: accel.accel,
      console: await readFile(console, "utf8").catch(() => ""),
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The accelerator for `request`; `--accel kvm` where KVM does not work is an error naming the flag. */
export async function resolveAccel(
  request: AccelRequest,
  options: KvmProbeOptions & {
    /** Injected for tests. */
    readonly probe?: (options: KvmProbeOptions) => Promise<KvmProbe>;
  } = {},
): Promise<Accel> {
  const { probe = probeKvm, ...probeOptions } = options;
  const choice = chooseAccel(request, request === "tcg" ? undefined : await probe(probeOptions));
  if ("error" in choice) throw new LocalRunError("KVM_UNUSABLE", choice.error);
  return choice;
}
