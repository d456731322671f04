import { describe, expect, it } from "vitest";
import { LocalRunError } from "../../../src/errors.js";
import { resolveAccel } from "../../../src/local/boot-accel.js";
import {
  chooseAccel,
  isAccelRequest,
  judgeKvmKernelProbe,
  judgeKvmProbe,
  KVM_CPU,
  KVM_PROBE_EXIT_CODE,
  type KvmProbe,
  kernelProbeArgs,
  kvmProbeArgs,
  kvmProbeFirmware,
} from "../../../src/local/boot-checks.js";

const works: KvmProbe = { usable: true, seconds: 1.2, proof: "the image's kernel ran under -cpu X" };
const broken: KvmProbe = { usable: false, reason: "there is no /dev/kvm" };

describe("the accelerator choice", () => {
  it("auto: KVM with the host CPU minus arch-capabilities when the probe passed, else TCG saying why", () => {
    expect(chooseAccel("auto", works)).toEqual({
      accel: "kvm",
      cpu: "host,-arch-capabilities",
      reason: "KVM works: the image's kernel ran under -cpu X (probe: 1.2 s)",
      fallback: false,
    });
    expect(chooseAccel("auto", broken)).toEqual({
      accel: "tcg",
      cpu: "max",
      reason: "KVM is not usable (there is no /dev/kvm): TCG instead, several times slower",
      fallback: true,
    });
  });

  it("kvm: an error naming the flag when the probe failed; tcg: never probes", () => {
    expect(chooseAccel("kvm", works)).toMatchObject({ accel: "kvm", fallback: false });
    expect(chooseAccel("kvm", broken)).toEqual({
      error: "--accel kvm: KVM is not usable here: there is no /dev/kvm",
    });
    expect(chooseAccel("tcg")).toEqual({ accel: "tcg", cpu: "max", reason: "--accel tcg", fallback: false });
    expect(chooseAccel("auto")).toEqual({ error: "--accel auto needs the KVM probe's result" });
  });

  it("resolveAccel probes only when KVM may be used, and throws KVM_UNUSABLE for --accel kvm", async () => {
    const asked: unknown[] = [];
    const probe = async (options: unknown) => {
      asked.push(options);
      return broken;
    };
    expect((await resolveAccel("tcg", { probe })).accel).toBe("tcg");
    expect(asked).toEqual([]);
    expect(await resolveAccel("auto", { probe, kernel: "/w/vmlinuz", cpus: 2 })).toMatchObject({
      accel: "tcg",
      fallback: true,
    });
    expect(asked).toEqual([{ kernel: "/w/vmlinuz", cpus: 2 }]);
    const error = await resolveAccel("kvm", { probe }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LocalRunError);
    expect(error).toMatchObject({ code: "KVM_UNUSABLE", message: expect.stringMatching(/^--accel kvm: /) });
  });

  it("--accel accepts auto, kvm and tcg only", () => {
    expect(["auto", "kvm", "tcg", "hvf", ""].map(isAccelRequest)).toEqual([true, true, true, false, false]);
  });
});

describe("the KVM probes", () => {
  it("the firmware probe's guest writes 0x2a to isa-debug-exit from the reset vector", () => {
    const firmware = kvmProbeFirmware();
    expect(firmware.length).toBe(65536);
    // The CPU starts at F000:FFF0, the firmware's last 16 bytes.
    expect([...firmware.slice(0xfff0, 0xfff7)]).toEqual([0xb0, 0x2a, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd]);
    expect(KVM_PROBE_EXIT_CODE).toBe(85);
    expect(kvmProbeArgs(KVM_CPU, "/w/probe.bin", 2).join(" ")).toBe(
      "-nodefaults -no-user-config -machine q35 -accel kvm -cpu host,-arch-capabilities -smp 2 -m 16M -display none -no-reboot -bios /w/probe.bin -device isa-debug-exit,iobase=0xf4,iosize=0x04",
    );
  });

  it("the firmware probe passes only on the guest's exit code; QEMU's abort is the reason", () => {
    const run = { stderr: "", timedOut: false, seconds: 0.1, cpu: "host" };
    expect(judgeKvmProbe({ ...run, exitCode: 85 })).toEqual({
      usable: true,
      seconds: 0.1,
      proof: "firmware code ran under -cpu host",
    });
    // What QEMU 7.2 says with -cpu host under nested KVM on AMD (measured on this machine).
    const abort = judgeKvmProbe({
      ...run,
      exitCode: 134,
      stderr:
        "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\nqemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.\n",
    });
    expect(abort).toEqual({
      usable: false,
      reason:
        "qemu-system-x86_64 -accel kvm -cpu host exited with code 134 instead of running the probe: error: failed to set MSR 0x10a to 0x69; ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.",
    });
    expect(judgeKvmProbe({ ...run, exitCode: 0 }).usable).toBe(false);
    expect(
      judgeKvmProbe({
        ...run,
        exitCode: 143,
        timedOut: true,
        seconds: 15,
        stderr: "qemu-system-x86_64: terminating on signal 15 from pid 1\n",
      }),
    ).toEqual({
      usable: false,
      reason: "a probe VM with -accel kvm -cpu host ran no firmware code within 15 s",
    });
  });

  it("the kernel probe passes when the kernel panics for want of a root, and says how far it got", () => {
    expect(kernelProbeArgs({ accel: "kvm", cpu: KVM_CPU }, "/w/vmlinuz", "/w/c.log", 2).join(" ")).toBe(
      "-nodefaults -no-user-config -machine q35 -accel kvm -cpu host,-arch-capabilities -smp 2 -m 256M -display none -no-reboot -serial file:/w/c.log -kernel /w/vmlinuz -append console=ttyS0 panic=-1",
    );
    const run = { stderr: "", timedOut: false, exitCode: 0, seconds: 1.5, cpu: KVM_CPU };
    const panicked =
      "[    0.000000] Linux version 6.1.0-57-cloud-amd64 (debian-kernel@lists.debian.org)\n[    4.37] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n";
    expect(judgeKvmKernelProbe({ ...run, console: panicked })).toEqual({
      usable: true,
      seconds: 1.5,
      proof:
        "the image's kernel ran under -accel kvm -cpu host,-arch-capabilities until it looked for its root",
    });
    // Nested PVM on this machine: real-mode firmware runs, the kernel never prints a line.
    expect(judgeKvmKernelProbe({ ...run, exitCode: 143, timedOut: true, seconds: 25, console: "" })).toEqual({
      usable: false,
      reason:
        "the image's kernel under -accel kvm -cpu host,-arch-capabilities did not reach its root within 25 s: the kernel printed nothing on the serial console",
    });
    const stuck = judgeKvmKernelProbe({
      ...run,
      exitCode: 0,
      console:
        "[    0.000000] Linux version 6.1.0-57-cloud-amd64 (x)\n[    0.5] traps: general protection fault\n",
    });
    expect(stuck.usable).toBe(false);
    expect(stuck).toMatchObject({
      reason: expect.stringMatching(
        /exited with code 0: the kernel 6\.1\.0-57-cloud-amd64 started but did not reach its root/,
      ),
    });
  });
});
