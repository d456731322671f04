import { constants as fsConstants } from "node:fs";
import { access, mkdir, mkdtemp, readFile, rename, rm, statfs, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { execa } from "execa";
import { BASE_INFO } from "../config/bases.js";
import { ConfigError, LocalRunError, type Problem } from "../errors.js";
import { type EventSink, type EventType, ignoreEvents } from "../events.js";
import { type AwstoeDocument, checkAwstoeDocument } from "../render/awstoe.js";
import { defaultCacheDir, hostArch, prepareBase, TAR_FLAGS } from "./base.js";
import { type BootDisk, writeBootDisk } from "./boot.js";
import { OWNER_FILE, processesUnder, reapProcessesUnder, sweepAbandonedWork } from "./cleanup.js";
import { type PhaseOutcome, runPhase } from "./engine.js";
import { checkMirror, hostMirror, rootSources } from "./mirror.js";
import { LocalRoot } from "./root.js";
import { documentVariables, unsupportedReason } from "./steps.js";
import type {
  LocalBuildOptions,
  LocalBuildResult,
  LocalComponentInput,
  LocalComponentSummary,
  LocalPhase,
  LocalSkippedStep,
  LocalStepFailure,
} from "./types.js";
import { isLocalBase } from "./types.js";

/**
 * A local build, in the order Image Builder runs it: the build phases of every component in
 * recipe order, then their validate phases, in one root; then the test phases in a fresh root made
 * from the result (an instance "launched from the new image"). A failing step is a result; only
 * problems of the machine (not root, no mmdebstrap, mirror unreachable) throw.
 */

const BUILD_PHASES: readonly LocalPhase[] = ["build", "validate"];
/** A tmpfs work folder needs room for a heavy root, its test layer and the base. */
const MIN_TMPFS_BYTES = 4 * 1024 ** 3;

/** Runs inside a fresh build root before any step. */
const PREPARE_BUILD_ROOT = `set -eu
# apt talks to the machine's mirror, as configured on the build host at run time.
rm -f /etc/apt/sources.list
cat /run/ops-rig/debian.sources > /etc/apt/sources.list.d/debian.sources
if [ ! -L /etc/resolv.conf ]; then cat /run/ops-rig/resolv.conf > /etc/resolv.conf; fi
# No service may start inside a build root (invoke-rc.d and deb-systemd-invoke honour this).
printf '#!/bin/sh\\n# ops-rig local build: no service starts in a build root\\nexit 101\\n' > /usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
# dumpcap stays root-only: answer the setuid question before apt asks it.
echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
`;
const PREPARE_TEST_ROOT = `set -eu
printf '#!/bin/sh\\n# ops-rig local build: no service starts in a test root\\nexit 101\\n' > /usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
`;
/** Runs in the build root after its last validate step: the image must not keep the blocker. */
const FINISH_BUILD_ROOT = "rm -f /usr/sbin/policy-rc.d";
/** Only for --out: the initramfs the runner skipped, so the written image can boot. */
const BUILD_INITRAMFS = `set -eu
for image in /boot/vmlinuz-*; do
  [ -e "$image" ] || continue
  /usr/sbin/update-initramfs -c -k "\${image#/boot/vmlinuz-}"
done`;

interface PlannedComponent {
  readonly input: LocalComponentInput;
  readonly document: AwstoeDocument;
  readonly variables: ReadonlyMap<string, string>;
  readonly outputs: Map<string, string>;
  stepsRun: number;
  seconds: number;
  result: LocalComponentSummary["result"];
  /** Phases of the document a local build runs, and how many of them passed. */
  readonly phaseTotal: number;
  phasesDone: number;
}

/** Parses and checks every document and its parameter values before anything is built. */
export function planComponents(components: readonly LocalComponentInput[]): PlannedComponent[] {
  const problems: Problem[] = [];
  const planned: PlannedComponent[] = [];
  const seen = new Set<string>();
  for (const input of components) {
    const file = `component ${input.name}`;
    if (seen.has(input.name)) problems.push({ file, message: "appears twice in the recipe" });
    seen.add(input.name);
    const checked = checkAwstoeDocument(file, input.document);
    problems.push(...checked.problems);
    if (!checked.document) continue;
    const stepNames = new Set(checked.document.phases.flatMap((p) => p.steps.map((s) => s.name)));
    for (const step of Object.keys(input.skipSteps ?? {}))
      if (!stepNames.has(step))
        problems.push({
          file,
          path: `local.steps`,
          message: `the toolset skips step "${step}" locally, but the component has no such step (it has: ${[...stepNames].join(", ")})`,
        });
    const { variables, missing, unknown } = documentVariables(checked.document, input.parameters);
    for (const name of missing)
      problems.push({
        file,
        path: `parameters.${name}`,
        message: "has no default and the recipe gives no value",
      });
    for (const name of unknown)
      problems.push({
        file,
        path: `parameters.${name}`,
        message: "the recipe sets a parameter the document does not define",
      });
    planned.push({
      input,
      document: checked.document,
      variables,
      outputs: new Map(),
      stepsRun: 0,
      seconds: 0,
      result: input.skipReason ? "skipped" : "not-run",
      phaseTotal: checked.document.phases.length,
      phasesDone: 0,
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return planned;
}

/** The first step of a runnable component that cannot run locally (found before building anything). */
function firstUnsupportedStep(planned: readonly PlannedComponent[]): LocalStepFailure | undefined {
  for (const component of planned) {
    if (component.input.skipReason) continue;
    for (const phase of component.document.phases) {
      // Phases Image Builder never runs (a warning at validate) are not run locally either.
      if (!isLocalPhase(phase.name)) continue;
      for (const step of phase.steps) {
        const reason = unsupportedReason(step);
        if (reason)
          return {
            component: component.input.name,
            phase: phase.name,
            step: step.name,
            output: "",
            message: `${reason}; if the component cannot be proven locally, mark it in the toolset with local: {runnable: false, reason: ...}`,
          };
      }
    }
  }
  return undefined;
}

async function commandExists(name: string): Promise<boolean> {
  const result = await execa("sh", ["-c", `command -v ${name}`], { reject: false });
  return result.exitCode === 0;
}

/** Problems of this machine, found before the first second is spent. */
async function preflight(): Promise<void> {
  if (typeof process.getuid === "function" && process.getuid() !== 0)
    throw new LocalRunError(
      "NOT_ROOT",
      "local builds need root (they build a Debian root with mmdebstrap, mount and chroot into it): run as root",
    );
  const missing: string[] = [];
  for (const tool of ["setpriv", "unshare", "chroot", "mount", "tar"])
    if (!(await commandExists(tool))) missing.push(tool);
  if (missing.length > 0)
    throw new LocalRunError(
      "MISSING_TOOLS",
      `local builds need ${missing.join(", ")} (util-linux, coreutils, tar)`,
    );
  const filesystems = async () => readFile("/proc/filesystems", "utf8").catch(() => "");
  if (!/\toverlay$/m.test(await filesystems())) {
    await execa("modprobe", ["overlay"], { reject: false });
    if (!/\toverlay$/m.test(await filesystems()))
      throw new LocalRunError("NO_OVERLAYFS", "local builds need overlayfs (modprobe overlay failed)");
  }
}

/** Roots live on tmpfs when there is room: dpkg on tmpfs is much faster than on a disk. */
async function workBase(env: NodeJS.ProcessEnv): Promise<string> {
  if (env.OPS_RIG_WORKDIR) return resolve(env.OPS_RIG_WORKDIR);
  try {
    const stats = await statfs("/dev/shm");
    const tmpfsMagic = 0x01021994;
    await access("/dev/shm", fsConstants.W_OK);
    if (stats.type === tmpfsMagic && stats.bavail * stats.bsize >= MIN_TMPFS_BYTES) return "/dev/shm";
  } catch {
    // No usable /dev/shm: fall back to the temporary folder.
  }
  return tmpdir();
}

export async function runLocalBuild(options: LocalBuildOptions): Promise<LocalBuildResult> {
  const clock = () => performance.now();
  const started = clock();
  const elapsed = () => Math.round(clock() - started) / 1000;
  const sink: EventSink = options.onEvent ?? ignoreEvents;
  const emit = (type: EventType, subject: string, message?: string, data: Record<string, unknown> = {}) =>
    sink({
      type,
      subject,
      ...(message !== undefined ? { message } : {}),
      data: { ...data, elapsed: elapsed() },
    });
  const signal = options.signal;
  if (!isLocalBase(options.base))
    throw new LocalRunError(
      "BAD_BASE",
      `local builds run on debian-12 or debian-13, not ${String(options.base)}`,
    );
  const suite = BASE_INFO[options.base].localSuite ?? "";

  const planned = planComponents(options.components);
  const summaries = (): LocalComponentSummary[] =>
    planned.map((c) => ({
      name: c.input.name,
      stepsRun: c.stepsRun,
      seconds: Math.round(c.seconds * 10) / 10,
      // A component whose every phase passed has passed, even when another one failed later.
      result:
        c.result === "not-run" && c.phaseTotal > 0 && c.phasesDone === c.phaseTotal && c.stepsRun > 0
          ? "passed"
          : c.result,
      ...(c.input.skipReason ? { skipReason: c.input.skipReason } : {}),
    }));
  // Every step a local build does not run is listed with its reason, in the order it would run.
  const skipped: LocalSkippedStep[] = [];
  for (const c of planned)
    if (c.input.skipReason)
      for (const phase of c.document.phases)
        if (isLocalPhase(phase.name))
          for (const step of phase.steps)
            skipped.push({
              component: c.input.name,
              phase: phase.name,
              step: step.name,
              reason: c.input.skipReason,
            });
  for (const c of planned)
    if (c.input.skipReason)
      emit("done", c.input.name, `skipped: ${c.input.skipReason}`, {
        kind: "component",
        component: c.input.name,
        result: "skipped",
      });

  const unsupported = firstUnsupportedStep(planned);
  if (unsupported) {
    const component = planned.find((c) => c.input.name === unsupported.component);
    if (component) component.result = "failed";
    emit("failed", `${unsupported.component}/${unsupported.phase}/${unsupported.step}`, unsupported.message, {
      kind: "step",
      component: unsupported.component,
      phase: unsupported.phase,
      step: unsupported.step,
    });
    return { ok: false, failure: unsupported, components: summaries(), skipped, seconds: elapsed() };
  }
  const runnable = planned.filter((c) => !c.input.skipReason);
  if (runnable.length === 0) {
    return {
      ok: false,
      failure: {
        component: "(none)",
        phase: "build",
        step: "(none)",
        output: "",
        message: "no component is locally runnable: 0 steps would execute, which proves nothing",
      },
      components: summaries(),
      skipped,
      seconds: elapsed(),
    };
  }

  await preflight();
  const arch = await hostArch();
  const mirror = await hostMirror();
  await checkMirror(mirror, suite, signal);
  const cacheDir = resolve(options.cacheDir ?? defaultCacheDir());
  await mkdir(cacheDir, { recursive: true });
  const workRoot = await workBase(process.env);
  for (const dir of await sweepAbandonedWork(workRoot))
    emit("progress", "cleanup", `removed ${dir}, left behind by a run that was killed`, { kind: "cleanup" });
  const work = await mkdtemp(join(workRoot, `ops-rig-${options.base}-`));
  await writeFile(join(work, OWNER_FILE), String(process.pid));
  const background: Promise<unknown>[] = [];
  const roots: LocalRoot[] = [];
  let kept = false;
  let partialImage: string | undefined;
  let bootDisk: BootDisk | undefined;
  emit("start", "local-build", `${options.base} (${arch}) in ${work}`, {
    kind: "build",
    work,
    base: options.base,
    arch,
  });

  try {
    emit("start", `base ${options.base}`, undefined, { kind: "base" });
    const base = await prepareBase({
      base: options.base,
      arch,
      cacheDir,
      mirror,
      target: join(work, "base"),
      ...(signal ? { signal } : {}),
      onLine: (line) => emit("progress", `base ${options.base}`, line, { kind: "base" }),
    });
    emit(
      "done",
      `base ${options.base}`,
      base.cached ? `from the cache (${base.tarball})` : `built with mmdebstrap from ${mirror.archive}`,
      {
        kind: "base",
        cached: base.cached,
        seconds: base.seconds,
        tarball: base.tarball,
      },
    );
    background.push(
      base.saved.then(
        () => !base.cached && emit("done", "base cache", `saved ${base.tarball}`, { kind: "cache" }),
        (error: unknown) =>
          emit("failed", "base cache", `could not cache the base: ${(error as Error).message}`, {
            kind: "cache",
          }),
      ),
    );

    const resolvConf = await readFile("/etc/resolv.conf", "utf8").catch(() => "");
    const buildRoot = await LocalRoot.create("build", { dir: join(work, "build"), lower: [base.dir] });
    roots.push(buildRoot);
    await buildRoot.prepare(
      PREPARE_BUILD_ROOT,
      { "debian.sources": rootSources(mirror, suite), "resolv.conf": resolvConf },
      signal ? { signal } : {},
    );
    emit("done", "root build", `kernel ${buildRoot.kernel ?? "none (uname -r reports the host's)"}`, {
      kind: "root",
      root: "build",
      kernel: buildRoot.kernel ?? null,
    });

    const runPhases = async (
      root: LocalRoot,
      phases: readonly LocalPhase[],
    ): Promise<LocalStepFailure | undefined> => {
      const executor = root.executor(signal, (label, chunk) =>
        emit("progress", label, undefined, { kind: "output", text: chunk }),
      );
      for (const phase of phases) {
        for (const component of runnable) {
          if (!component.document.phases.some((p) => p.name === phase)) continue;
          const outcome: PhaseOutcome = await runPhase({
            component: component.input.name,
            document: component.document,
            phase,
            variables: component.variables,
            outputs: component.outputs,
            executor,
            now: clock,
            ...(component.input.skipSteps
              ? { skipSteps: new Map(Object.entries(component.input.skipSteps)) }
              : {}),
            emit: (type, subject, message, data) =>
              emit(type, subject, message, data as Record<string, unknown>),
            ...(signal ? { signal } : {}),
          });
          for (const record of outcome.steps)
            if (record.localSkipReason !== undefined)
              skipped.push({
                component: component.input.name,
                phase,
                step: record.step,
                reason: record.localSkipReason,
              });
          component.stepsRun += outcome.stepsRun;
          component.seconds += outcome.seconds;
          if (outcome.failure) {
            component.result = "failed";
            return outcome.failure;
          }
          component.phasesDone++;
        }
      }
      return undefined;
    };
    // --keep keeps the roots of a failed build too: that is when one most wants to look inside.
    const keep = async (): Promise<{ rootDir?: string }> => {
      if (!options.keep) return {};
      const rootDir = await keepRoots(work, roots, signal);
      kept = true;
      emit("done", "keep", `kept ${rootDir}`, { kind: "keep", rootDir });
      return { rootDir };
    };
    const fail = async (failure: LocalStepFailure): Promise<LocalBuildResult> => ({
      ok: false,
      failure,
      ...(bootDisk ? { bootDisk } : {}),
      components: summaries(),
      skipped,
      ...(await keep()),
      seconds: elapsed(),
    });

    const buildFailure = await runPhases(buildRoot, BUILD_PHASES);
    if (buildFailure) return await fail(buildFailure);
    await finishRoot(buildRoot, FINISH_BUILD_ROOT, signal);
    if (options.out || options.bootDisk) {
      const initramfs = await buildRoot.runScript(BUILD_INITRAMFS, signal ? { signal } : {});
      if (initramfs.exitCode !== 0)
        throw new LocalRunError(
          "INITRAMFS_FAILED",
          `building the image's initramfs failed:\n${initramfs.output.trim()}`,
        );
    }
    if (options.bootDisk) {
      emit("start", "boot disk", `writing ${options.bootDisk}`, { kind: "image" });
      bootDisk = await writeBootDisk(buildRoot, resolve(options.bootDisk), signal);
      emit("done", "boot disk", `wrote ${bootDisk.disk} (kernel ${bootDisk.kernelVersion})`, {
        kind: "image",
      });
    }
    if (options.out) {
      const out = resolve(options.out);
      await mkdir(dirname(out), { recursive: true });
      partialImage = `${out}.partial-${process.pid}`;
      const target = partialImage;
      // The image is the root after build and validate; the test phases run on a copy of it.
      const packing = buildRoot
        .withMounted(
          ["tar", ...TAR_FLAGS, "--auto-compress", "-cf", target, "-C", buildRoot.mountPoint, "."],
          {
            ...(signal ? { signal } : {}),
          },
        )
        .then((run) => {
          if (run.exitCode !== 0)
            throw new LocalRunError("IMAGE_WRITE_FAILED", `writing ${out} failed:\n${run.output.trim()}`);
        });
      packing.catch(() => {});
      background.push(packing);
      emit("start", "image", `writing ${out}`, { kind: "image" });
    }

    const testRoot = await LocalRoot.create("test", { dir: join(work, "test"), lower: buildRoot.layers });
    roots.push(testRoot);
    await testRoot.prepare(PREPARE_TEST_ROOT, {}, signal ? { signal } : {});
    emit("done", "root test", `fresh root from the build result, kernel ${testRoot.kernel ?? "none"}`, {
      kind: "root",
      root: "test",
      kernel: testRoot.kernel ?? null,
    });
    const testFailure = await runPhases(testRoot, ["test"]);
    if (testFailure) return await fail(testFailure);

    for (const component of runnable) {
      if (component.stepsRun === 0) {
        component.result = "failed";
        return await fail({
          component: component.input.name,
          phase: "build",
          step: "(none)",
          output: "",
          message:
            "0 steps executed (every step was skipped by its if-condition): nothing proves the component works",
        });
      }
      component.result = "passed";
    }

    let image: string | undefined;
    if (options.out && partialImage) {
      await Promise.all(background);
      image = resolve(options.out);
      await rename(partialImage, image);
      partialImage = undefined;
      emit("done", "image", `wrote ${image}`, { kind: "image", image });
    }
    return {
      ok: true,
      components: summaries(),
      skipped,
      ...(await keep()),
      ...(image ? { image } : {}),
      ...(bootDisk ? { bootDisk } : {}),
      seconds: elapsed(),
    };
  } catch (error) {
    if (signal?.aborted)
      throw new LocalRunError(
        "ABORTED",
        "local build aborted: its processes were killed and its roots removed",
        {
          cause: signal.reason ?? error,
        },
      );
    throw error;
  } finally {
    await Promise.allSettled(background);
    if (partialImage) await rm(partialImage, { force: true });
    const killed = await reapProcessesUnder(work);
    if (killed.length > 0)
      emit("progress", "cleanup", `killed ${killed.length} lingering processes`, {
        kind: "cleanup",
        pids: killed,
      });
    if (!kept) await rm(work, { recursive: true, force: true });
    emit("done", "cleanup", kept ? `kept ${work}` : `removed ${work}`, { kind: "cleanup", kept });
  }
}

async function finishRoot(root: LocalRoot, script: string, signal: AbortSignal | undefined): Promise<void> {
  const run = await root.runScript(script, signal ? { signal } : {});
  if (run.exitCode !== 0)
    throw new LocalRunError(
      "ROOT_FINISH_FAILED",
      `finishing the ${root.name} root failed:\n${run.output.trim()}`,
    );
}

/**
 * --keep: the roots as plain folders one can chroot into: `image` (after build and validate) and
 * `tested` (after the test phases). Returns the image folder.
 */
async function keepRoots(
  work: string,
  roots: readonly LocalRoot[],
  signal: AbortSignal | undefined,
): Promise<string> {
  // A kept folder is the user's now: no later run may sweep it up as abandoned.
  await rm(join(work, OWNER_FILE), { force: true });
  const names: Record<string, string> = { build: "image", test: "tested" };
  for (const root of roots) {
    const target = join(work, names[root.name] ?? root.name);
    await mkdir(target, { recursive: true });
    const run = await root.withMounted(
      ["cp", "-a", `${root.mountPoint}/.`, target],
      signal ? { signal } : {},
    );
    if (run.exitCode !== 0)
      throw new LocalRunError(
        "KEEP_FAILED",
        `copying the ${root.name} root to ${target} failed:\n${run.output}`,
      );
  }
  if ((await processesUnder(work)).length === 0) {
    for (const dir of ["build", "test", "base", "base-hooks"])
      await rm(join(work, dir), { recursive: true, force: true });
  }
  return join(work, "image");
}

function isLocalPhase(name: string): name is LocalPhase {
  return name === "build" || name === "validate" || name === "test";
}
