import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BootOptions, type BootResult, bootPreflight, runBoot } from "./boot.js";
import { runLocalBuild } from "./build.js";
import { OWNER_FILE, sweepAbandonedWork } from "./cleanup.js";
import type { LocalBuildOptions, LocalBuildResult } from "./types.js";

/**
 * `ops-rig local-build --boot`: the local build, then the image it made booted and checked. The
 * disk lives only as long as this call; the VM's console log is kept on failure with `keep`.
 */

export interface BuildAndBootOptions extends Omit<LocalBuildOptions, "bootDisk" | "out"> {
  readonly boot?: Omit<BootOptions, "disk" | "signal" | "onEvent" | "keepDir">;
}

export interface BuildAndBootResult {
  readonly build: LocalBuildResult;
  /** Absent when the build failed before an image existed. */
  readonly boot?: BootResult;
  readonly ok: boolean;
}

function diskRoot(): string {
  // A sparse disk on tmpfs is far faster under TCG than one on a disk.
  return existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
}

export async function runLocalBuildAndBoot(options: BuildAndBootOptions): Promise<BuildAndBootResult> {
  await bootPreflight(options.boot?.accel);
  await sweepAbandonedWork(diskRoot());
  const dir = await mkdtemp(join(diskRoot(), "ops-rig-boot-disk-"));
  await writeFile(join(dir, OWNER_FILE), String(process.pid));
  try {
    const { boot: bootOptions, ...buildOptions } = options;
    const build = await runLocalBuild({ ...buildOptions, bootDisk: join(dir, "disk") });
    // A failed test phase still leaves an image: booting it says what a responder would meet.
    if (!build.bootDisk || (!build.ok && build.failure?.phase !== "test")) return { build, ok: false };
    const keepDir = options.keep
      ? build.rootDir
        ? join(build.rootDir, "..")
        : await mkdtemp(join(tmpdir(), "ops-rig-boot-log-"))
      : undefined;
    const boot = await runBoot({
      ...bootOptions,
      disk: build.bootDisk,
      ...(keepDir ? { keepDir } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    });
    return { build, boot, ok: build.ok && boot.ok };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
