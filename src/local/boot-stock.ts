import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { BASE_INFO } from "../config/bases.js";
import { LocalRunError } from "../errors.js";
import { type EventSink, ignoreEvents } from "../events.js";
import { defaultCacheDir, hostArch, prepareBase } from "./base.js";
import { type BootOptions, type BootResult, bootPreflight, runBoot, writeBootDisk } from "./boot.js";
import { aptProxyCloudConfig, startAptProxy } from "./boot-apt.js";
import { OWNER_FILE, reapProcessesUnder, sweepAbandonedWork } from "./cleanup.js";
import { checkMirror, hostMirror } from "./mirror.js";
import { LocalRoot } from "./root.js";
import type { LocalBase } from "./types.js";

/**
 * The light path on a stock image: a Debian cloud root with no ops-rig step (the cached base:
 * kernel, cloud-init, openssh-server and an AMI's essentials), booted with the toolset's rendered
 * cloud-init as user data, exactly as a responder would launch a stock AMI. The only addition is a
 * second user-data part that points apt at the host's caching proxy, and the responder's key.
 */

export interface StockBootOptions extends Omit<BootOptions, "disk" | "userData" | "expectBootstrap"> {
  readonly base: LocalBase;
  /** The rendered cloud-init user data (RenderedCloudInit.userData), unchanged. */
  readonly cloudInit: string;
  readonly cacheDir?: string;
  /** Where the disk is written (default /dev/shm when there is room, else the temporary folder). */
  readonly workRoot?: string;
}

const MAKE_INITRAMFS = `set -eu
for image in /boot/vmlinuz-*; do
  [ -e "$image" ] || continue
  /usr/sbin/update-initramfs -c -k "\${image#/boot/vmlinuz-}"
done`;

export async function runStockBoot(options: StockBootOptions): Promise<BootResult> {
  const sink: EventSink = options.onEvent ?? ignoreEvents;
  const signal = options.signal;
  await bootPreflight(options.accel);
  const suite = BASE_INFO[options.base].localSuite;
  if (!suite) throw new LocalRunError("BAD_BASE", `${options.base} cannot be booted locally`);
  const mirror = await hostMirror();
  await checkMirror(mirror, suite, signal);
  const cacheDir = resolve(options.cacheDir ?? defaultCacheDir());
  const workRoot = resolve(options.workRoot ?? "/dev/shm");
  await mkdir(workRoot, { recursive: true });
  await sweepAbandonedWork(workRoot);
  const work = await mkdtemp(join(workRoot, `ops-rig-stock-${options.base}-`));
  await writeFile(join(work, OWNER_FILE), String(process.pid));
  const proxy = await startAptProxy(mirror, join(cacheDir, "apt-proxy"));
  try {
    sink({
      type: "start",
      subject: "stock image",
      message: `${options.base}: the cached base, no ops-rig step`,
      data: { kind: "image" },
    });
    const base = await prepareBase({
      base: options.base,
      arch: await hostArch(),
      cacheDir,
      mirror,
      target: join(work, "base"),
      ...(signal ? { signal } : {}),
    });
    await base.saved;
    const root = await LocalRoot.create("stock", { dir: join(work, "stock"), lower: [base.dir] });
    await root.prepare("true", {}, signal ? { signal } : {});
    // The base skips the initramfs (a root is never booted); the stock image boots, so it gets one.
    const initramfs = await root.runScript(MAKE_INITRAMFS, signal ? { signal } : {});
    if (initramfs.exitCode !== 0)
      throw new LocalRunError(
        "INITRAMFS_FAILED",
        `building the stock image's initramfs failed:\n${initramfs.output.trim()}`,
      );
    const disk = await writeBootDisk(root, join(work, "disk"), signal);
    sink({
      type: "done",
      subject: "stock image",
      message: `wrote ${disk.disk} (kernel ${disk.kernelVersion})`,
      data: { kind: "image" },
    });
    const result = await runBoot({
      ...options,
      disk,
      workRoot: work,
      userData: [options.cloudInit, aptProxyCloudConfig(proxy.port)],
      expectBootstrap: true,
    });
    sink({
      type: "done",
      subject: "apt proxy",
      message: `${proxy.stats.fromCache} packages from the cache, ${proxy.stats.fetched} fetched, ${proxy.stats.passedThrough} indices passed through, ${proxy.stats.refused} refused`,
      data: { kind: "cleanup", ...proxy.stats },
    });
    return result;
  } finally {
    await proxy.close();
    await reapProcessesUnder(work);
    await rm(work, { recursive: true, force: true });
  }
}
