import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LocalRunError } from "../errors.js";
import { shellQuote } from "../render/bash.js";
import type { ScriptRun, StepExecutor } from "./engine.js";
import { type NamespaceRun, runInNamespace } from "./namespace.js";

/**
 * One isolated Debian root: overlay layers on the host (read-only lower layers, one writable upper
 * layer), mounted only inside each command's private namespaces together with /proc, /sys, a
 * minimal /dev and the root's own /run. The root's /run is a host folder that also carries what
 * the runner needs inside but the image must not keep: a `uname` that reports the root's kernel,
 * a no-op `update-initramfs`, the apt settings of local builds and the step scripts.
 */

/** Where the runner's files appear inside the root. */
export const RUNNER_DIR = "/run/ops-rig";
const BIN_DIR = `${RUNNER_DIR}/bin`;
export const STEP_PATH = `${BIN_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;

/** apt settings for every apt run in a local root, via APT_CONFIG (nothing lands in the image). */
export const LOCAL_APT_CONFIG = `// ops-rig local build
// An unreachable mirror must fail apt-get update instead of leaving stale lists behind.
APT::Update::Error-Mode "any";
Acquire::Languages "none";
APT::Keep-Downloaded-Packages "false";
// apt replaces PATH for dpkg and maintainer scripts with this: keep the runner's uname and
// update-initramfs first there too.
DPkg::Path "/run/ops-rig/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// A throwaway root needs no fsync, man pages, documentation or translations.
DPkg::Options {
  "--force-unsafe-io";
  "--path-exclude=/usr/share/man/*";
  "--path-exclude=/usr/share/info/*";
  "--path-exclude=/usr/share/doc/*";
  "--path-include=/usr/share/doc/*/copyright";
  "--path-exclude=/usr/share/locale/*";
  "--path-include=/usr/share/locale/locale.alias";
};
`;

const UPDATE_INITRAMFS_SHIM = `#!/bin/sh
# ops-rig local build: a local root is never booted, so its initramfs is not built (about 5 s per
# kernel or trigger). \`ops-rig local-build --out\` builds it before writing the image.
echo "update-initramfs: skipped in an ops-rig local root (never booted)" >&2
exit 0
`;

/** A \`uname\` that reports KERNEL where the build host's release would appear. */
export function unameShim(kernel: string): string {
  return `#!/bin/sh
# ops-rig local build: report the root's own kernel (${kernel}), not the build host's, so kernel
# module builds (DKMS, LiME) target the image's kernel.
host="$(/bin/uname -r)"
out="$(/bin/uname "$@")" || exit $?
printf '%s\\n' "$out" | awk -v h="$host" -v k=${shellQuote(kernel)} '{
  s = $0; r = ""
  while (h != "" && (i = index(s, h)) > 0) { r = r substr(s, 1, i - 1) k; s = substr(s, i + length(h)) }
  print r s
}'
`;
}

export interface RootLayout {
  /** Folder holding this root's layers, mount point and /run. */
  readonly dir: string;
  /** Read-only layers, topmost first. */
  readonly lower: readonly string[];
}

export interface RootRunOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  readonly onOutput?: (chunk: string) => void;
}

/** Paths handed to mount(8) as overlay options must not contain its separators. */
function checkLayerPath(path: string): string {
  if (/[,:\s\\]/.test(path))
    throw new LocalRunError(
      "BAD_WORK_PATH",
      `a local root cannot live at ${path}: it contains , : \\ or spaces`,
    );
  return path;
}

export class LocalRoot {
  readonly name: string;
  readonly dir: string;
  readonly lower: readonly string[];
  readonly upper: string;
  readonly mountPoint: string;
  readonly runDir: string;
  private readonly workDir: string;
  private kernelVersion: string | undefined;
  private scripts = 0;

  private constructor(name: string, layout: RootLayout) {
    this.name = name;
    this.dir = layout.dir;
    this.lower = layout.lower.map(checkLayerPath);
    this.upper = checkLayerPath(join(layout.dir, "upper"));
    this.workDir = checkLayerPath(join(layout.dir, "overlay-work"));
    this.mountPoint = checkLayerPath(join(layout.dir, "root"));
    this.runDir = join(layout.dir, "run");
  }

  /** Creates the layer folders; the root is ready to `prepare`. */
  static async create(name: string, layout: RootLayout): Promise<LocalRoot> {
    const root = new LocalRoot(name, layout);
    for (const dir of [root.upper, root.workDir, root.mountPoint, root.runDir])
      await mkdir(dir, { recursive: true, mode: 0o755 });
    await chmod(root.runDir, 0o755);
    return root;
  }

  /** The kernel `uname -r` reports inside the root (the newest in its /boot), if it has one. */
  get kernel(): string | undefined {
    return this.kernelVersion;
  }

  /** The layers of this root as read-only lower layers of another (the test root, an image). */
  get layers(): string[] {
    return [this.upper, ...this.lower];
  }

  private overlaySetup(writable: boolean): string[] {
    const options = writable
      ? `lowerdir=${this.lower.join(":")},upperdir=${this.upper},workdir=${this.workDir}`
      : `ro,lowerdir=${this.layers.join(":")}`;
    return [`mount -t overlay ops-rig-${this.name} -o ${shellQuote(options)} ${shellQuote(this.mountPoint)}`];
  }

  /** Mounts inside the namespace: the overlay, then what a Debian userland expects. */
  private systemSetup(): string[] {
    const r = (path: string) => shellQuote(`${this.mountPoint}${path}`);
    const devices = ["null", "zero", "full", "random", "urandom", "tty"];
    return [
      ...this.overlaySetup(true),
      `mount -t proc -o nosuid,nodev,noexec proc ${r("/proc")}`,
      `mount -t sysfs -o ro,nosuid,nodev,noexec sysfs ${r("/sys")}`,
      `mount -t tmpfs -o mode=0755,nosuid,size=65536k ops-rig-dev ${r("/dev")}`,
      ...devices.flatMap((d) => [`: > ${r(`/dev/${d}`)}`, `mount --bind /dev/${d} ${r(`/dev/${d}`)}`]),
      `mkdir -p ${r("/dev/pts")} ${r("/dev/shm")}`,
      `mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts ${r("/dev/pts")}`,
      `ln -s pts/ptmx ${r("/dev/ptmx")}`,
      `ln -s /proc/self/fd ${r("/dev/fd")}`,
      `ln -s /proc/self/fd/0 ${r("/dev/stdin")}`,
      `ln -s /proc/self/fd/1 ${r("/dev/stdout")}`,
      `ln -s /proc/self/fd/2 ${r("/dev/stderr")}`,
      `mount -t tmpfs -o mode=1777,nosuid,nodev ops-rig-shm ${r("/dev/shm")}`,
      `mount --bind ${shellQuote(this.runDir)} ${r("/run")}`,
    ];
  }

  private stepEnvironment(): string[] {
    return [
      `PATH=${STEP_PATH}`,
      "HOME=/root",
      "USER=root",
      "LOGNAME=root",
      "SHELL=/bin/bash",
      "LANG=C.UTF-8",
      "TERM=dumb",
      "DEBIAN_FRONTEND=noninteractive",
      `APT_CONFIG=${RUNNER_DIR}/apt.conf`,
    ];
  }

  /** Runs argv inside the root (chrooted, namespaced). */
  async run(argv: readonly string[], options: RootRunOptions = {}): Promise<NamespaceRun> {
    return runInNamespace({
      setup: this.systemSetup(),
      command: ["chroot", this.mountPoint, "/usr/bin/env", "-i", ...this.stepEnvironment(), ...argv],
      ...options,
    });
  }

  /** Runs a bash script inside the root, from a file under /run/ops-rig, as AWSTOE runs steps. */
  async runScript(script: string, options: RootRunOptions = {}): Promise<NamespaceRun> {
    const name = `step-${++this.scripts}.sh`;
    const hostPath = join(this.runDir, "ops-rig", "steps", name);
    await mkdir(join(this.runDir, "ops-rig", "steps"), { recursive: true, mode: 0o700 });
    await writeFile(hostPath, script.endsWith("\n") ? script : `${script}\n`, { mode: 0o700 });
    try {
      return await this.run(["/bin/bash", `${RUNNER_DIR}/steps/${name}`], options);
    } finally {
      await rm(hostPath, { force: true });
    }
  }

  /** Runs a host command with this root mounted read-only at `mountPoint` (for tar). */
  async withMounted(command: readonly string[], options: RootRunOptions = {}): Promise<NamespaceRun> {
    return runInNamespace({ setup: this.overlaySetup(false), command, ...options });
  }

  /** Writes the runner's files into the root's /run (again after an emulated reboot). */
  private async writeRunnerFiles(files: Readonly<Record<string, string>>): Promise<void> {
    const dir = join(this.runDir, "ops-rig");
    await mkdir(join(dir, "bin"), { recursive: true, mode: 0o755 });
    await writeFile(join(dir, "apt.conf"), LOCAL_APT_CONFIG, { mode: 0o644 });
    await writeFile(join(dir, "bin", "update-initramfs"), UPDATE_INITRAMFS_SHIM, { mode: 0o755 });
    if (this.kernelVersion)
      await writeFile(join(dir, "bin", "uname"), unameShim(this.kernelVersion), { mode: 0o755 });
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text, { mode: 0o644 });
  }

  private runnerFiles: Readonly<Record<string, string>> = {};

  /**
   * Makes the root ready for steps: finds its kernel, installs the runner's files in /run and runs
   * the preparation script (policy-rc.d, apt sources, debconf answers) inside it.
   */
  async prepare(
    script: string,
    files: Readonly<Record<string, string>>,
    options: RootRunOptions = {},
  ): Promise<void> {
    this.runnerFiles = files;
    await this.writeRunnerFiles(files);
    const probe = await this.run(
      ["/bin/sh", "-c", "ls -1 /boot 2>/dev/null | sed -n 's/^vmlinuz-//p' | sort -V | tail -n 1"],
      options,
    );
    this.kernelVersion = probe.exitCode === 0 && probe.stdout.trim() !== "" ? probe.stdout.trim() : undefined;
    await this.writeRunnerFiles(files);
    const prepared = await this.runScript(script, options);
    if (prepared.exitCode !== 0)
      throw new LocalRunError(
        "ROOT_PREPARE_FAILED",
        `preparing the ${this.name} root failed (exit code ${prepared.exitCode}):\n${prepared.output.trim()}`,
      );
  }

  /** Emulates a reboot: what a chroot can reset is /run (processes never outlive a step). */
  async reboot(): Promise<void> {
    await rm(this.runDir, { recursive: true, force: true });
    await mkdir(this.runDir, { recursive: true, mode: 0o755 });
    await chmod(this.runDir, 0o755);
    await this.writeRunnerFiles(this.runnerFiles);
  }

  /** The StepExecutor the engine drives. */
  executor(signal?: AbortSignal, onOutput?: (label: string, chunk: string) => void): StepExecutor {
    return {
      run: async (script, { timeoutSeconds, label }): Promise<ScriptRun> => {
        const run = await this.runScript(script, {
          ...(timeoutSeconds > 0 ? { timeoutMs: timeoutSeconds * 1000 } : {}),
          ...(signal ? { signal } : {}),
          ...(onOutput ? { onOutput: (chunk: string) => onOutput(label, chunk) } : {}),
        });
        return { exitCode: run.exitCode, stdout: run.stdout, output: run.output, timedOut: run.timedOut };
      },
      reboot: () => this.reboot(),
    };
  }
}
