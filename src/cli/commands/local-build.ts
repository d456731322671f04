import type { Command } from "commander";
import { LocalRunError, UsageError } from "../../errors.js";
import type { OpsRigEvent } from "../../events.js";
import type { BootResult } from "../../local/boot.js";
import { runLocalBuildAndBoot } from "../../local/boot-build.js";
import { ACCEL_REQUESTS, type AccelRequest, isAccelRequest } from "../../local/boot-checks.js";
import { runStockBoot } from "../../local/boot-stock.js";
import {
  isLocalBase,
  LOCAL_BASES,
  type LocalBase,
  type LocalBuildResult,
  type LocalComponentInput,
  type LocalComponentSummary,
  localComponentInputs,
  runLocalBuild,
} from "../../local/index.js";
import type { RenderedProject } from "../../render/index.js";
import { type CommandContext, selectToolsets } from "../context.js";
import { formatTable, type Output, paint } from "../output.js";

interface LocalBuildFlags {
  toolset: string;
  base: string;
  keep?: boolean;
  out?: string;
  cacheDir?: string;
  boot?: boolean;
  stock?: boolean;
  accel?: string;
}

const OUTPUT_TAIL_LINES = 40;

export function registerLocalBuild(program: Command, context: () => CommandContext): void {
  program
    .command("local-build")
    .description(
      "run a toolset's component documents for real in an isolated Debian root, as Image Builder would (needs root and the Debian mirror)",
    )
    .requiredOption("-t, --toolset <name>", "the toolset to build (light, heavy)")
    .option("-b, --base <base>", `the Debian release of the root (${LOCAL_BASES.join(", ")})`, "debian-12")
    .option("--keep", "keep the roots afterwards (as plain folders you can chroot into)")
    .option("-o, --out <file.tar>", "write the finished image root as a tarball (.tar, .tar.gz, .tar.zst)")
    .option("--cache-dir <dir>", "base tarball cache (default: $OPS_RIG_CACHE or ~/.cache/ops-rig)")
    .option(
      "--boot",
      "then boot the image under QEMU and check it over SSH as a responder (sshd, LiME, capture, hardening)",
    )
    .option(
      "--stock",
      "with --boot: instead of building, boot a stock Debian cloud image with the toolset's rendered cloud-init",
    )
    .option(
      "--accel <mode>",
      `with --boot: ${ACCEL_REQUESTS.join(", ")} (auto: KVM when a probe VM boots the image's kernel under it, else TCG)`,
    )
    .action(async (flags: LocalBuildFlags) => {
      const ctx = context();
      if (!isLocalBase(flags.base))
        throw new UsageError(
          `unknown base "${flags.base}" (local builds run on ${LOCAL_BASES.join(", ")})`,
          "--base",
        );
      if (flags.out !== undefined && !/\.(tar|tar\.gz|tgz|tar\.xz|tar\.zst)$/.test(flags.out))
        throw new UsageError(`"${flags.out}" must end in .tar, .tar.gz, .tgz, .tar.xz or .tar.zst`, "--out");
      if (flags.stock && !flags.boot) throw new UsageError("--stock only goes with --boot", "--stock");
      if (flags.accel !== undefined && !isAccelRequest(flags.accel))
        throw new UsageError(
          `unknown accelerator "${flags.accel}" (${ACCEL_REQUESTS.join(", ")})`,
          "--accel",
        );
      if (flags.accel !== undefined && !flags.boot)
        throw new UsageError("--accel only goes with --boot", "--accel");
      if (flags.boot && flags.out !== undefined)
        throw new UsageError("--out and --boot do not go together: --boot writes its own disk", "--out");
      const base = flags.base;
      const rendered = await ctx.rendered();
      selectToolsets(rendered, [flags.toolset]);
      const components = localComponentInputs(rendered, flags.toolset, base);
      if (flags.boot) {
        await bootCommand(ctx, flags, base, components, rendered);
        return;
      }

      const controller = new AbortController();
      const interrupt = (signal: NodeJS.Signals) =>
        controller.abort(new LocalRunError("INTERRUPTED", `interrupted by ${signal}`));
      process.once("SIGINT", interrupt);
      process.once("SIGTERM", interrupt);
      const progress = createProgress(ctx.output);
      let result: LocalBuildResult;
      try {
        result = await runLocalBuild({
          base,
          components,
          ...(flags.keep ? { keep: true } : {}),
          ...(flags.out ? { out: flags.out } : {}),
          ...(flags.cacheDir ? { cacheDir: flags.cacheDir } : {}),
          signal: controller.signal,
          onEvent: progress.onEvent,
        });
      } finally {
        progress.stop();
        process.off("SIGINT", interrupt);
        process.off("SIGTERM", interrupt);
      }
      report(ctx.output, result, `${flags.toolset} on ${base}`);
      if (!result.ok && result.failure) {
        const f = result.failure;
        throw new LocalRunError(
          "STEP_FAILED",
          `local build failed at ${f.component} / ${f.phase} / ${f.step}: ${f.message}`,
        );
      }
    });
}

async function bootCommand(
  ctx: CommandContext,
  flags: LocalBuildFlags,
  base: LocalBase,
  components: readonly LocalComponentInput[],
  rendered: RenderedProject,
): Promise<void> {
  let cloudInit: string | undefined;
  if (flags.stock) {
    cloudInit = rendered.toolsets.find((t) => t.toolset.name === flags.toolset)?.cloudInit?.userData;
    if (!cloudInit)
      throw new UsageError(
        `toolset "${flags.toolset}" renders no cloud-init (cloudInit: true in its recipe)`,
        "--stock",
      );
  }
  const accel: AccelRequest = flags.accel !== undefined && isAccelRequest(flags.accel) ? flags.accel : "auto";
  const controller = new AbortController();
  const interrupt = (signal: NodeJS.Signals) =>
    controller.abort(new LocalRunError("INTERRUPTED", `interrupted by ${signal}`));
  process.once("SIGINT", interrupt);
  process.once("SIGTERM", interrupt);
  const progress = createProgress(ctx.output);
  let build: LocalBuildResult | undefined;
  let boot: BootResult | undefined;
  try {
    if (cloudInit) {
      boot = await runStockBoot({
        base,
        cloudInit,
        accel,
        ...(flags.cacheDir ? { cacheDir: flags.cacheDir } : {}),
        signal: controller.signal,
        onEvent: progress.onEvent,
      });
    } else {
      const result = await runLocalBuildAndBoot({
        base,
        components,
        boot: { accel },
        ...(flags.keep ? { keep: true } : {}),
        ...(flags.cacheDir ? { cacheDir: flags.cacheDir } : {}),
        signal: controller.signal,
        onEvent: progress.onEvent,
      });
      build = result.build;
      boot = result.boot;
    }
  } finally {
    progress.stop();
    process.off("SIGINT", interrupt);
    process.off("SIGTERM", interrupt);
  }
  const what = flags.stock
    ? `stock ${base} with the ${flags.toolset} cloud-init`
    : `${flags.toolset} on ${base}`;
  if (ctx.output.json) ctx.output.writeJson({ ...(build ? { build } : {}), ...(boot ? { boot } : {}) });
  else if (build) report(ctx.output, build, `${flags.toolset} on ${base} (build)`);
  if (build && !build.ok && build.failure && !boot) {
    const f = build.failure;
    throw new LocalRunError(
      "STEP_FAILED",
      `local build failed at ${f.component} / ${f.phase} / ${f.step}: ${f.message}`,
    );
  }
  if (!boot) throw new LocalRunError("BOOT_NOT_RUN", "the image was not booted");
  if (!ctx.output.json) reportBoot(ctx.output, boot, what);
  if (!boot.ok || (build && !build.ok)) {
    const failed = boot.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.message}`);
    throw new LocalRunError(
      "BOOT_CHECK_FAILED",
      `boot proof of ${what} failed:\n  ${[...failed, ...(build?.failure ? [`build: ${build.failure.message}`] : [])].join("\n  ")}`,
    );
  }
}

/** One line per check with its result and time, then the timings that matter. */
function reportBoot(output: Output, boot: BootResult, what: string): void {
  output.out(
    formatTable(boot.checks, [
      { header: "check", value: (c) => c.name },
      { header: "seconds", value: (c) => c.seconds.toFixed(1), align: "right" },
      {
        header: "result",
        value: (c) => (c.ok ? paint(output, "green", "ok") : paint(output, "red", "FAILED")),
      },
      { header: "detail", value: (c) => c.message },
    ]),
  );
  const toSsh =
    boot.bootToSshSeconds !== undefined ? `boot to SSH ${formatSeconds(boot.bootToSshSeconds)}, ` : "";
  output.out(
    `\n${what} booted (${boot.accel}, -cpu ${boot.cpu}; ${boot.accelReason}): ${boot.ok ? paint(output, "green", "passed") : paint(output, "red", "FAILED")}, ${toSsh}whole check ${formatSeconds(boot.seconds)}`,
  );
  if (boot.consoleLog) output.out(`boot log kept: ${boot.consoleLog}`);
}

function formatSeconds(seconds: number): string {
  return `${seconds.toFixed(1)}s`;
}

/** Live progress on stderr: a redrawn status line on a terminal, plain lines otherwise. */
function createProgress(output: Output): { onEvent: (event: OpsRigEvent) => void; stop: () => void } {
  const live = output.interactive && !output.json;
  let current: { subject: string; since: number } | undefined;
  let lastElapsed = 0;
  let lastTick = performance.now();
  let pendingOutput = "";
  // A live status line needs a write without a newline; Output only writes lines, and `live`
  // implies the CLI's stderr is this process's terminal.
  const clearLine = () => {
    if (live) process.stderr.write("\r\u001b[K");
  };
  const draw = () => {
    if (!live || !current) return;
    const now = performance.now();
    const total = lastElapsed + (now - lastTick) / 1000;
    const step = (now - current.since) / 1000;
    clearLine();
    process.stderr.write(
      `${paint(output, "dim", `[${formatSeconds(total).padStart(7)}]`)} ${current.subject} ${paint(output, "dim", formatSeconds(step))}`,
    );
  };
  const timer = live ? setInterval(draw, 1000) : undefined;
  timer?.unref();
  const line = (elapsed: number, text: string) => {
    clearLine();
    output.err(`${paint(output, "dim", `[${formatSeconds(elapsed).padStart(7)}]`)} ${text}`);
    draw();
  };
  const onEvent = (event: OpsRigEvent) => {
    const data = event.data ?? {};
    const elapsed = typeof data.elapsed === "number" ? data.elapsed : 0;
    lastElapsed = elapsed;
    lastTick = performance.now();
    const kind = data.kind;
    const seconds = typeof data.seconds === "number" ? ` (${formatSeconds(data.seconds)})` : "";
    if (kind === "output") {
      if (output.verbose && typeof data.text === "string") {
        pendingOutput += data.text;
        const lines = pendingOutput.split("\n");
        pendingOutput = lines.pop() ?? "";
        if (lines.length > 0) {
          clearLine();
          output.err(lines.map((l) => `    ${l}`).join("\n"));
          draw();
        }
      }
      return;
    }
    if (kind === "step") {
      const where = `${data.component} ${data.phase} ${data.step}`;
      if (event.type === "start") {
        current = { subject: where, since: performance.now() };
        if (live) draw();
        else line(elapsed, `${where} ...`);
      } else if (event.type === "done") {
        current = undefined;
        const status =
          data.status === "skipped" ? paint(output, "yellow", "skipped") : paint(output, "green", "ok");
        line(elapsed, `${status} ${where}${seconds}${event.message ? `: ${event.message}` : ""}`);
      } else if (event.type === "failed") {
        current = undefined;
        line(elapsed, `${paint(output, "red", "FAILED")} ${where}${seconds}: ${event.message ?? ""}`);
      } else if (event.type === "progress" && event.message) {
        line(elapsed, `  ${where}: ${event.message}`);
      }
      return;
    }
    if (kind === "base" && event.type === "progress" && !output.verbose && !live) return;
    if (event.type === "progress" && kind === "base" && live) {
      current = { subject: `base: ${event.message ?? ""}`, since: current?.since ?? performance.now() };
      draw();
      return;
    }
    const mark = event.type === "failed" ? paint(output, "red", "!") : event.type === "done" ? "-" : ">";
    if (kind === "base" && event.type === "done") current = undefined;
    line(elapsed, `${mark} ${event.subject}${event.message ? `: ${event.message}` : ""}${seconds}`);
  };
  return {
    onEvent,
    stop: () => {
      if (timer) clearInterval(timer);
      clearLine();
    },
  };
}

function resultText(output: Output, c: LocalComponentSummary): string {
  switch (c.result) {
    case "passed":
      return paint(output, "green", "passed");
    case "failed":
      return paint(output, "red", "FAILED");
    case "skipped":
      return paint(output, "yellow", `skipped: ${c.skipReason ?? "not locally runnable"}`);
    default:
      return paint(output, "dim", "not run");
  }
}

function report(output: Output, result: LocalBuildResult, what: string): void {
  if (output.json) {
    output.writeJson(result);
  } else {
    output.out(
      formatTable(result.components, [
        { header: "component", value: (c) => c.name },
        { header: "steps", value: (c) => String(c.stepsRun), align: "right" },
        { header: "seconds", value: (c) => c.seconds.toFixed(1), align: "right" },
        { header: "result", value: (c) => resultText(output, c) },
      ]),
    );
    if (result.skipped.length > 0) {
      output.out(`\nnot run locally (${result.skipped.length} steps):`);
      for (const s of result.skipped)
        output.out(`  ${s.component} / ${s.phase} / ${s.step}: ${paint(output, "yellow", s.reason)}`);
    }
    const steps = result.components.reduce((n, c) => n + c.stepsRun, 0);
    output.out(
      `\n${what}: ${result.ok ? paint(output, "green", "passed") : paint(output, "red", "FAILED")}, ${steps} steps in ${formatSeconds(result.seconds)}`,
    );
    if (result.image) output.out(`image: ${result.image}`);
    if (result.rootDir) output.out(`root kept: ${result.rootDir} (remove it when done: rm -rf)`);
  }
  const failure = result.failure;
  if (failure) {
    output.err(
      `\n${paint(output, "red", "failed")}: component ${failure.component}, phase ${failure.phase}, step ${failure.step}: ${failure.message}`,
    );
    const lines = failure.output.replace(/\n+$/, "").split("\n");
    if (failure.output.trim() !== "") {
      output.err(`--- last ${Math.min(lines.length, OUTPUT_TAIL_LINES)} lines of the step's output ---`);
      output.err(lines.slice(-OUTPUT_TAIL_LINES).join("\n"));
      output.err("---");
    }
  }
}
