import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadProject } from "../../src/config/load.js";
import type { OpsRigEvent } from "../../src/events.js";
import { type BootResult, runBoot } from "../../src/local/boot.js";
import { runLocalBuildAndBoot } from "../../src/local/boot-build.js";
import { runStockBoot } from "../../src/local/boot-stock.js";
import { localComponentInputs, runLocalBuild } from "../../src/local/index.js";
import { renderProject } from "../../src/render/index.js";
import { REPO_ROOT } from "../helpers/project.js";
import { BOOT_CHECKS, expectBootLeftovers, reportBoot } from "./boot-helpers.js";
import { FIXTURES } from "./helpers.js";

/**
 * The full tier (`npm run test:local-build:full`): boots that do not fit CI's budget. The heavy
 * image passes every check; user data that stops sshd fails the login check fast, with the
 * console's failed unit, instead of at the timeout; a stock Debian cloud image with the rendered
 * light cloud-init (installed inside the TCG guest through the caching apt proxy) passes the same
 * checks as the baked image.
 */

const project = await loadProject(REPO_ROOT);
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function events(): { list: OpsRigEvent[]; onEvent: (e: OpsRigEvent) => void } {
  const list: OpsRigEvent[] = [];
  return { list, onEvent: (e) => list.push(e) };
}

describe("the boot proof, full tier", { timeout: 60 * 60_000 }, () => {
  it("heavy on debian-12: built, booted, every check passes", async () => {
    const components = localComponentInputs(project, "heavy", "debian-12");
    const recorded = events();
    const result = await runLocalBuildAndBoot({ base: "debian-12", components, onEvent: recorded.onEvent });
    expect(result.build.ok).toBe(true);
    if (!result.boot) throw new Error("heavy was not booted");
    reportBoot("heavy debian-12", result.boot);
    expect(result.boot.checks.filter((c) => !c.ok)).toEqual([]);
    expect(result.boot.checks.map((c) => c.name)).toEqual(BOOT_CHECKS);
    await expectBootLeftovers(recorded.list);
  });

  it("user data that stops sshd fails the login check with the failed unit, well before the timeout", async () => {
    const components = localComponentInputs(project, "light", "debian-12");
    const dir = "/dev/shm/ops-rig-boot-full-disk";
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const build = await runLocalBuild({ base: "debian-12", components, bootDisk: dir });
    if (!build.bootDisk) throw new Error("no boot disk");
    const stopper = await readFile(join(FIXTURES, "boot-stops-sshd.cloud-config"), "utf8");
    const recorded = events();
    const boot = await runBoot({
      disk: build.bootDisk,
      workRoot: "/dev/shm",
      userData: [stopper],
      onEvent: recorded.onEvent,
    });
    reportBoot("sshd stopped by user data", boot);
    expect(boot.ok).toBe(false);
    expect(boot.checks).toHaveLength(1);
    expect(boot.checks[0]?.name).toBe("ssh-key-login");
    expect(boot.checks[0]?.message).toMatch(
      /^sshd does not let responder in although cloud-init finished .*ssh\.service/,
    );
    await expectBootLeftovers(recorded.list);
  });

  it("stock debian-12 with the rendered light cloud-init passes the same checks", async () => {
    const rendered = renderProject(project);
    const cloudInit = rendered.toolsets.find((t) => t.toolset.name === "light")?.cloudInit?.userData;
    if (!cloudInit) throw new Error("light renders no cloud-init");
    const recorded = events();
    const boot: BootResult = await runStockBoot({
      base: "debian-12",
      cloudInit,
      workRoot: "/dev/shm",
      onEvent: recorded.onEvent,
    });
    reportBoot("stock debian-12 + light cloud-init", boot);
    expect(boot.checks.filter((c) => !c.ok)).toEqual([]);
    expect(boot.checks.map((c) => c.name)).toEqual(BOOT_CHECKS);
    const proxy = recorded.list.find((e) => e.subject === "apt proxy");
    process.stderr.write(`apt proxy: ${proxy?.message}\n`);
    await expectBootLeftovers(recorded.list);
  });
});
