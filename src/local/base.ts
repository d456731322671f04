import { createHash } from "node:crypto";
import { mkdir, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { BASE_INFO } from "../config/bases.js";
import { LocalRunError } from "../errors.js";
import { shellQuote } from "../render/bash.js";
import { type DebianMirror, rootSources } from "./mirror.js";
import { runInNamespace } from "./namespace.js";
import type { LocalBase } from "./types.js";

/**
 * The base root of a Debian release: what a Debian cloud AMI starts from (minbase plus the
 * essentials of an AMI and the distribution's cloud kernel), built once with mmdebstrap from the
 * machine's mirror and cached as a tarball keyed by release, architecture and package set.
 */

/** Bump when the way the base is built changes, so cached tarballs are rebuilt. */
const BASE_RECIPE_VERSION = 6;
/** A cached base older than this is rebuilt, so local builds do not drift far behind the archive. */
export const BASE_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

export const AMI_PACKAGES: readonly string[] = [
  "ca-certificates",
  "curl",
  "wget",
  "unzip",
  "gnupg",
  "sudo",
  "systemd",
  // /sbin/init: without it the kernel finds nothing to start (cloud images boot systemd this way).
  "systemd-sysv",
  "python3",
  "lsb-release",
  "iproute2",
  "procps",
  "less",
  "netbase",
  "cloud-guest-utils",
  // What makes a Debian cloud image an instance at launch: cloud-init takes the key, the hostname
  // and (on first boot) makes the SSH host keys; sshd lets the responder in. `--boot` needs both.
  "cloud-init",
  "openssh-server",
  // How Debian 12's cloud images bring up the network cloud-init configures (its eni renderer).
  "ifupdown",
  "isc-dhcp-client",
  // cloud-init sets the instance's locale (en_US.UTF-8 on Debian) with update-locale and locale-gen.
  "locales",
];

export function kernelPackage(arch: string): string {
  return `linux-image-cloud-${arch}`;
}

export function basePackages(arch: string): string[] {
  return [...AMI_PACKAGES, kernelPackage(arch)];
}

/** Documentation and translations are not installed in local roots (dpkg path filters). */
export const NO_DOCS_DPKG_CONFIG = `# ops-rig local base: no documentation or translations
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
force-unsafe-io
`;

// In its own module so the CLI's result cache can find it without loading the local-build code.
export { defaultCacheDir } from "./cache-dir.js";

export function baseCacheKey(suite: string, arch: string, packages: readonly string[]): string {
  return createHash("sha256")
    .update(JSON.stringify({ v: BASE_RECIPE_VERSION, suite, arch, packages: [...packages].sort() }))
    .digest("hex")
    .slice(0, 16);
}

export function baseTarballName(base: LocalBase, arch: string, key: string): string {
  return `base-${base}-${arch}-${key}.tar`;
}

export async function hostArch(): Promise<string> {
  try {
    return (await execa("dpkg", ["--print-architecture"])).stdout.trim();
  } catch (error) {
    throw new LocalRunError(
      "NO_DPKG",
      "cannot tell this machine's architecture: dpkg --print-architecture failed",
      {
        cause: error,
      },
    );
  }
}

export interface BaseRoot {
  /** The base root, extracted or freshly built, used read-only by the build root. */
  readonly dir: string;
  readonly tarball: string;
  readonly cached: boolean;
  readonly seconds: number;
  /** Resolves when a freshly built base is safely in the cache (written in the background). */
  readonly saved: Promise<void>;
}

export interface BaseOptions {
  readonly base: LocalBase;
  readonly arch: string;
  readonly cacheDir: string;
  readonly mirror: DebianMirror;
  /** Folder to extract or build the base into (must not exist yet). */
  readonly target: string;
  readonly signal?: AbortSignal;
  readonly onLine?: (line: string) => void;
  readonly now?: () => number;
}

/** The tarball for this base if the cache has a fresh one. */
export async function cachedBase(
  cacheDir: string,
  base: LocalBase,
  arch: string,
  now = Date.now(),
): Promise<string | undefined> {
  const path = join(
    cacheDir,
    baseTarballName(base, arch, baseCacheKey(suiteOf(base), arch, basePackages(arch))),
  );
  try {
    const info = await stat(path);
    return now - info.mtimeMs < BASE_MAX_AGE_MS ? path : undefined;
  } catch {
    return undefined;
  }
}

function suiteOf(base: LocalBase): string {
  const suite = BASE_INFO[base].localSuite;
  if (!suite) throw new LocalRunError("NOT_LOCAL", `${base} cannot be built locally`);
  return suite;
}

/** tar flags that keep ownership, modes and file capabilities (xattrs) intact. */
export const TAR_FLAGS = ["--numeric-owner", "--xattrs", "--xattrs-include=*"];

/** Extracts the cached base, or builds it with mmdebstrap and caches it in the background. */
export async function prepareBase(options: BaseOptions): Promise<BaseRoot> {
  const now = options.now ?? Date.now;
  const started = now();
  const cached = await cachedBase(options.cacheDir, options.base, options.arch);
  await mkdir(options.target, { recursive: true, mode: 0o755 });
  if (cached) {
    options.onLine?.(`extracting the cached base ${cached}`);
    const result = await execa("tar", [...TAR_FLAGS, "-xpf", cached, "-C", options.target], {
      reject: false,
      ...(options.signal ? { cancelSignal: options.signal } : {}),
    });
    options.signal?.throwIfAborted();
    if (result.exitCode !== 0)
      throw new LocalRunError("BASE_EXTRACT_FAILED", `cannot extract ${cached}: ${result.stderr.trim()}`);
    return {
      dir: options.target,
      tarball: cached,
      cached: true,
      seconds: (now() - started) / 1000,
      saved: Promise.resolve(),
    };
  }
  await buildBase(options);
  const tarball = join(
    options.cacheDir,
    baseTarballName(
      options.base,
      options.arch,
      baseCacheKey(suiteOf(options.base), options.arch, basePackages(options.arch)),
    ),
  );
  const seconds = (now() - started) / 1000;
  // The build root only reads the base (it is a lower overlay layer), so caching it can run
  // alongside the first steps instead of before them.
  const saved = saveBase(options.target, tarball, options.base, options.signal);
  saved.catch(() => {});
  return { dir: options.target, tarball, cached: false, seconds, saved };
}

async function buildBase(options: BaseOptions): Promise<void> {
  const suite = suiteOf(options.base);
  try {
    await execa("mmdebstrap", ["--version"]);
  } catch (error) {
    throw new LocalRunError(
      "NO_MMDEBSTRAP",
      "mmdebstrap is not installed, so the base root cannot be built: apt-get install -y mmdebstrap",
      { cause: error },
    );
  }
  const hooks = join(options.target, "..", "base-hooks");
  await mkdir(hooks, { recursive: true });
  await writeFile(join(hooks, "90ops-rig-nodocs"), NO_DOCS_DPKG_CONFIG);
  await writeFile(join(hooks, "debian.sources"), rootSources(options.mirror, suite));
  const q = shellQuote;
  // The initramfs is built at the end of a local run only when an image is written (--out): a
  // base root is never booted, and building it twice costs 10 of the base's 30 seconds.
  const essentialHook = [
    `cp ${q(join(hooks, "90ops-rig-nodocs"))} "$1/etc/dpkg/dpkg.cfg.d/90ops-rig-nodocs"`,
    `chroot "$1" dpkg-divert --quiet --local --rename --divert /usr/sbin/update-initramfs.ops-rig --add /usr/sbin/update-initramfs`,
    `printf '#!/bin/sh\\nexit 0\\n' > "$1/usr/sbin/update-initramfs"`,
    `chmod 0755 "$1/usr/sbin/update-initramfs"`,
  ].join(" && ");
  const customizeHook = [
    `rm -f "$1/usr/sbin/update-initramfs"`,
    `chroot "$1" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs`,
    `rm -f "$1/etc/dpkg/dpkg.cfg.d/90ops-rig-nodocs" "$1/etc/apt/sources.list"`,
    // Like Debian's cloud images: no SSH host keys ship; each instance makes its own at first boot.
    `rm -f "$1"/etc/ssh/ssh_host_*`,
    // cloud-init sets en_US.UTF-8 with update-locale, which refuses a locale that is not generated
    // (Debian's locale-gen ignores the name cloud-init passes it): generate it, as images do.
    `sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' "$1/etc/locale.gen"`,
    `chroot "$1" locale-gen`,
    `cp ${q(join(hooks, "debian.sources"))} "$1/etc/apt/sources.list.d/debian.sources"`,
  ].join(" && ");
  const sources = [
    `deb ${options.mirror.archive} ${suite} main`,
    `deb ${options.mirror.archive} ${suite}-updates main`,
  ];
  if (options.mirror.security) sources.push(`deb ${options.mirror.security} ${suite}-security main`);
  const argv = [
    "mmdebstrap",
    "--mode=root",
    "--variant=minbase",
    "--format=directory",
    `--architectures=${options.arch}`,
    `--include=${basePackages(options.arch).join(",")}`,
    '--aptopt=Acquire::Languages "none"',
    // The package lists stay in the base: the first apt-get update of a run then fetches only
    // what changed since.
    "--skip=cleanup/apt/lists",
    `--essential-hook=${essentialHook}`,
    `--customize-hook=${customizeHook}`,
    suite,
    options.target,
    ...sources,
  ];
  let pending = "";
  const run = await runInNamespace({
    setup: [],
    command: argv,
    ...(options.signal ? { signal: options.signal } : {}),
    onOutput: (chunk) => {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) if (/^(I|W|E): /.test(line)) options.onLine?.(line);
    },
  });
  await rm(hooks, { recursive: true, force: true });
  if (run.exitCode !== 0) {
    const text = run.output.trim().split("\n").slice(-30).join("\n");
    const mirrorProblem =
      /Could not resolve|Failed to fetch|Unable to connect|Connection failed|apt-get update.* failed/i.test(
        run.output,
      );
    throw new LocalRunError(
      mirrorProblem ? "MIRROR_UNREACHABLE" : "BASE_BUILD_FAILED",
      `mmdebstrap could not build the ${options.base} base from ${options.mirror.archive} (exit code ${run.exitCode}):\n${text}`,
    );
  }
}

async function saveBase(dir: string, tarball: string, base: LocalBase, signal?: AbortSignal): Promise<void> {
  const cacheDir = join(tarball, "..");
  await mkdir(cacheDir, { recursive: true });
  const partial = `${tarball}.partial-${process.pid}`;
  try {
    const result = await execa("tar", [...TAR_FLAGS, "-cf", partial, "-C", dir, "."], {
      reject: false,
      ...(signal ? { cancelSignal: signal } : {}),
    });
    if (result.exitCode !== 0)
      throw new LocalRunError(
        "BASE_CACHE_FAILED",
        `cannot write the base tarball ${partial}: ${result.stderr.trim()}`,
      );
    await rename(partial, tarball);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  // Older bases of the same release (another package set or recipe) are not used any more.
  for (const entry of await readdir(cacheDir)) {
    if (
      entry.startsWith(`base-${base}-`) &&
      join(cacheDir, entry) !== tarball &&
      !entry.includes(".partial-")
    )
      await rm(join(cacheDir, entry), { force: true });
  }
}
