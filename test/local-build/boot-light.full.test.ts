import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadProject } from "../../src/config/load.js";
import type { OpsRigEvent } from "../../src/events.js";
import { runBoot } from "../../src/local/boot.js";
import { type LocalBuildResult, localComponentInputs, runLocalBuild } from "../../src/local/index.js";
import { REPO_ROOT } from "../helpers/project.js";
import { BOOT_CHECKS, expectBootLeftovers, fixtureDisk, reportBoot } from "./boot-helpers.js";
import { expectAllStepsPassed, FIXTURES } from "./helpers.js";

/**
 * The boot proof: the light image built here boots under QEMU and passes every check a responder
 * relies on; a broken image fails exactly the checks it breaks; and no VM, file or port outlives a
 * boot. Full tier: a build and two boots do not fit CI's budget under TCG, and this machine's KVM
 * (nested PVM) boots no Debian kernel; under a KVM that does, runBoot uses it by itself.
 */

const project = await loadProject(REPO_ROOT);
const components = localComponentInputs(project, "light", "debian-12");
let light: LocalBuildResult | undefined;
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function events(): { list: OpsRigEvent[]; onEvent: (e: OpsRigEvent) => void } {
  const list: OpsRigEvent[] = [];
  return { list, onEvent: (e) => list.push(e) };
}

async function lightBuild(): Promise<LocalBuildResult> {
  if (light) return light;
  // keep: the image root stays as a folder, so the broken fixture image is made from it without a
  // second build.
  const result = await runLocalBuild({
    base: "debian-12",
    components,
    keep: true,
    bootDisk: "/dev/shm/ops-rig-boot-test-disk",
  });
  const kept = result.rootDir;
  cleanups.push(async () => {
    await rm("/dev/shm/ops-rig-boot-test-disk", { recursive: true, force: true });
    if (kept) await rm(join(kept, ".."), { recursive: true, force: true });
  });
  expectAllStepsPassed(result, components);
  light = result;
  return result;
}

// A TCG boot on a shared two-core machine takes minutes; the stock path installs the light toolset
// inside the VM. The suite-wide 10 minutes is not enough.
describe("the boot proof under QEMU", { timeout: 60 * 60_000 }, () => {
  it("light on debian-12: boots, and every check a responder relies on passes", async () => {
    const build = await lightBuild();
    if (!build.bootDisk) throw new Error("the build wrote no boot disk");
    const recorded = events();
    const boot = await runBoot({ disk: build.bootDisk, workRoot: "/dev/shm", onEvent: recorded.onEvent });
    reportBoot("light debian-12", boot);
    expect(boot.checks.map((c) => c.name)).toEqual(BOOT_CHECKS);
    expect(boot.checks.filter((c) => !c.ok)).toEqual([]);
    expect(boot.ok).toBe(true);
    await expectBootLeftovers(recorded.list);
  });

  it("a broken image fails exactly its checks: baked host key, LiME removed, user data that opens sshd", async () => {
    const build = await lightBuild();
    if (!build.rootDir) throw new Error("the build kept no root");
    const disk = await fixtureDisk(build.rootDir, join(FIXTURES, "boot-breaks-image.yaml"));
    cleanups.push(() => rm(join(disk.dir, ".."), { recursive: true, force: true }));
    const breaker = await readFile(join(FIXTURES, "boot-breaks-sshd.cloud-config"), "utf8");
    const recorded = events();
    const boot = await runBoot({
      disk,
      workRoot: "/dev/shm",
      userData: [breaker],
      onEvent: recorded.onEvent,
    });
    reportBoot("broken fixture", boot);
    const failed = Object.fromEntries(boot.checks.filter((c) => !c.ok).map((c) => [c.name, c.message]));
    expect(failed).toEqual({
      "host-keys": expect.stringMatching(
        /^the image ships SSH host keys \(\/etc\/ssh\/ssh_host_ed25519_key, \/etc\/ssh\/ssh_host_ed25519_key\.pub\)/,
      ),
      "password-login": expect.stringMatching(/^sshd offers password and keyboard-interactive logins/),
      "root-login": 'root logged in with a valid key: PermitRootLogin is not "no"',
      "lime-capture": expect.stringMatching(
        /^no LiME module for the booted kernel 6\.\S+ \(\/opt\/lime\/lime-\S+\.ko is missing\)$/,
      ),
      "lime-build": expect.stringMatching(/lime-forensics-dkms is not installed/),
    });
    // Everything the fixture did not break still passes: each failure is the check's own.
    expect(boot.checks.map((c) => c.name)).toEqual(BOOT_CHECKS);
    expect(boot.ok).toBe(false);
    await expectBootLeftovers(recorded.list);
  });

  it("an aborted boot stops the VM and removes its files and port", async () => {
    const build = await lightBuild();
    if (!build.bootDisk) throw new Error("the build wrote no boot disk");
    const controller = new AbortController();
    const recorded = events();
    const boot = runBoot({
      disk: build.bootDisk,
      workRoot: "/dev/shm",
      signal: controller.signal,
      onEvent: (e) => {
        recorded.onEvent(e);
        // Ctrl-C while the VM boots.
        if (e.data?.kind === "boot" && typeof e.data.port === "number") controller.abort(new Error("Ctrl-C"));
      },
    });
    await expect(boot).rejects.toThrow(/boot aborted: the VM was stopped and its files removed/);
    await expectBootLeftovers(recorded.list);
  });
});
