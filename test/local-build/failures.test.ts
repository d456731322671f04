import { existsSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalRunError } from "../../src/errors.js";
import { mountsUnder, processesUnder, runLocalBuild } from "../../src/local/index.js";
import { expectAllStepsPassed, expectNoLeftovers, fixture, recordEvents } from "./helpers.js";

describe("local builds that go wrong, on debian-12", () => {
  it("a passing fixture sees an isolated root: its own kernel, PID 1, blocked services, a fresh test root", async () => {
    const components = [await fixture("fixture-ok", { Marker: "from-the-recipe" })];
    const recorder = recordEvents();
    const result = await runLocalBuild({ base: "debian-12", components, onEvent: recorder.onEvent });
    expectAllStepsPassed(result, components);
    expect(result.components[0]?.stepsRun).toBe(12);
    // The symlink pointed at /tmp inside the root: nothing was written on the build host.
    expect(existsSync("/tmp/ops-rig-escape-check")).toBe(false);
    const reruns = recorder.events.filter(
      (e) =>
        e.subject === "fixture-ok/build/RebootRequested" && e.type === "progress" && e.data?.kind === "step",
    );
    expect(reruns.map((e) => e.message)).toEqual([
      "exit code 194: reboot emulated, running the step again (1)",
    ]);
    await expectNoLeftovers(recorder.work());
  });

  it("a broken component fails at its component, phase and step, with the step's output, and leaves nothing behind", async () => {
    const components = [
      await fixture("fixture-ok"),
      await fixture("broken-fixture"),
      { ...(await fixture("fixture-ok", { Marker: "second" })), name: "fixture-ok-2" },
    ];
    const recorder = recordEvents();
    const result = await runLocalBuild({ base: "debian-12", components, onEvent: recorder.onEvent });
    expect(result.ok).toBe(false);
    expect(result.failure).toMatchObject({
      component: "broken-fixture",
      phase: "validate",
      step: "FailsOnPurpose",
      exitCode: 3,
    });
    expect(result.failure?.message).toBe("exited with code 3 after 2 attempts");
    expect(result.failure?.output).toContain("ops-rig-fixture stdout line");
    expect(result.failure?.output).toContain("ops-rig-fixture stderr line");
    expect(result.failure?.output).not.toContain("must not run");
    // Build phases ran for all three (build first, in recipe order), then validate stopped there.
    expect(result.components).toMatchObject([
      { name: "fixture-ok", stepsRun: 11, result: "not-run" },
      { name: "broken-fixture", stepsRun: 3, result: "failed" },
      { name: "fixture-ok-2", stepsRun: 8, result: "not-run" },
    ]);
    const order = recorder.events
      .filter((e) => e.type === "start" && e.data?.kind === "step")
      .map((e) => e.subject);
    const fixtureBuild = [
      "WriteMarker",
      "RootLooksRight",
      "ThroughSymlink",
      "Kernel",
      "Restart",
      "AfterRestart",
      "RebootRequested",
      "Loop",
    ];
    expect(order).toEqual([
      ...fixtureBuild.map((step) => `fixture-ok/build/${step}`),
      "broken-fixture/build/BuildsFine",
      ...fixtureBuild.map((step) => `fixture-ok-2/build/${step}`),
      "fixture-ok/validate/MarkerThere",
      "fixture-ok/validate/KernelAsserted",
      "fixture-ok/validate/Updated",
      "broken-fixture/validate/LooksFine",
      "broken-fixture/validate/FailsOnPurpose",
    ]);
    // The `sleep 300 &` of the failed step is gone, as are the mounts and the roots.
    await expectNoLeftovers(recorder.work());
  });

  it("--keep keeps the root of a failed build as a plain folder to look into", async () => {
    const recorder = recordEvents();
    const result = await runLocalBuild({
      base: "debian-12",
      components: [await fixture("fixture-ok", { Marker: "kept" }), await fixture("broken-fixture")],
      keep: true,
      onEvent: recorder.onEvent,
    });
    const work = recorder.work();
    try {
      expect(result.failure?.step).toBe("FailsOnPurpose");
      expect(result.rootDir).toBe(join(work, "image"));
      expect(await readFile(join(work, "image", "etc", "ops-rig-fixture", "marker-kept"), "utf8")).toBe(
        "kept",
      );
      // It failed before the test phases: there is no tested root, and no layers are left.
      expect(existsSync(join(work, "tested"))).toBe(false);
      expect(existsSync(join(work, "build"))).toBe(false);
      expect(await processesUnder(work)).toEqual([]);
      expect(await mountsUnder(work)).toEqual([]);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it("apt-get update against an unreachable mirror fails the step", async () => {
    const recorder = recordEvents();
    const result = await runLocalBuild({
      base: "debian-12",
      components: [await fixture("dead-mirror")],
      onEvent: recorder.onEvent,
    });
    expect(result.failure).toMatchObject({
      component: "dead-mirror",
      phase: "build",
      step: "UpdateFromDeadMirror",
    });
    expect(result.failure?.exitCode).toBe(100);
    expect(result.failure?.output).toContain("127.0.0.1");
    await expectNoLeftovers(recorder.work());
  });

  it("a component whose every step is skipped fails: 0 steps executed proves nothing", async () => {
    const recorder = recordEvents();
    const result = await runLocalBuild({
      base: "debian-12",
      components: [await fixture("skipped-by-if")],
      onEvent: recorder.onEvent,
    });
    expect(result.ok).toBe(false);
    expect(result.failure).toMatchObject({ component: "skipped-by-if", step: "(none)" });
    expect(result.failure?.message).toContain("0 steps executed");
    await expectNoLeftovers(recorder.work());
  });

  it("aborting (Ctrl-C) kills the step's processes, removes the root and rejects", async () => {
    const controller = new AbortController();
    const recorder = recordEvents();
    const build = runLocalBuild({
      base: "debian-12",
      components: [await fixture("sleeper")],
      signal: controller.signal,
      onEvent: (event) => {
        recorder.onEvent(event);
        if (event.data?.kind === "output" && String(event.data.text).includes("ops-rig-sleeper started"))
          setTimeout(() => controller.abort(new Error("Ctrl-C")), 300);
      },
    });
    const error = await build.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LocalRunError);
    expect((error as LocalRunError).code).toBe("ABORTED");
    expect(recorder.events.some((e) => e.subject === "sleeper/build/SleepLong" && e.type === "start")).toBe(
      true,
    );
    await expectNoLeftovers(recorder.work());
  });
});
