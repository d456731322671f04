import { describe, expect, it } from "vitest";
import {
  MAX_REBOOTS_PER_STEP,
  runPhase,
  type ScriptRun,
  type StepExecutor,
} from "../../../src/local/engine.js";
import { countSteps, documentVariables } from "../../../src/local/steps.js";
import type { LocalPhase } from "../../../src/local/types.js";
import { type AwstoeDocument, checkAwstoeDocument } from "../../../src/render/awstoe.js";

/** A recording executor: answers each script by the first matching rule; records everything. */
class Recorder implements StepExecutor {
  readonly scripts: string[] = [];
  readonly timeouts: number[] = [];
  reboots = 0;
  constructor(private readonly answer: (script: string, call: number) => Partial<ScriptRun> = () => ({})) {}
  async run(script: string, options: { timeoutSeconds: number }): Promise<ScriptRun> {
    this.scripts.push(script);
    this.timeouts.push(options.timeoutSeconds);
    const answer = this.answer(script, this.scripts.length);
    return {
      exitCode: answer.exitCode ?? 0,
      stdout: answer.stdout ?? "",
      output: answer.output ?? answer.stdout ?? "",
      timedOut: answer.timedOut ?? false,
    };
  }
  async reboot(): Promise<void> {
    this.reboots++;
  }
}

function doc(yaml: string): AwstoeDocument {
  const checked = checkAwstoeDocument("test.yaml", yaml);
  if (!checked.document) throw new Error(checked.problems.map((p) => p.message).join("\n"));
  return checked.document;
}

async function run(
  document: AwstoeDocument,
  executor: StepExecutor,
  phase: LocalPhase = "build",
  parameters: Record<string, string> = {},
  outputs = new Map<string, string>(),
) {
  const { variables } = documentVariables(document, parameters);
  let clock = 0;
  return runPhase({
    component: "demo",
    document,
    phase,
    variables,
    outputs,
    executor,
    now: () => (clock += 100),
  });
}

const bash = (name: string, command: string, extra = "") => `
      - name: ${name}
        action: ExecuteBash${extra}
        inputs:
          commands:
            - ${JSON.stringify(command)}`;

describe("local runner control flow", () => {
  it("does not run a step the toolset marks as not locally runnable, and records it with the reason", async () => {
    const document = doc(`
schemaVersion: 1.0
phases:
  - name: build
    steps:${bash("Prepare", "echo prepare")}${bash("FromPyPI", "pip install --require-hashes -r lock")}${bash("After", "echo after")}`);
    const executor = new Recorder();
    const { variables } = documentVariables(document, {});
    let clock = 0;
    const events: { subject: string; message?: string; data: Readonly<Record<string, unknown>> }[] = [];
    const outcome = await runPhase({
      component: "demo",
      document,
      phase: "build",
      variables,
      outputs: new Map(),
      executor,
      now: () => (clock += 100),
      skipSteps: new Map([["FromPyPI", "needs the Python package index"]]),
      emit: (type, subject, message, data) => {
        if (type === "done") events.push({ subject, ...(message ? { message } : {}), data });
      },
    });
    expect(executor.scripts).toEqual(["echo prepare", "echo after"]);
    expect(outcome.failure).toBeUndefined();
    expect(outcome.stepsRun).toBe(2);
    expect(outcome.steps.map((s) => [s.step, s.status, s.localSkipReason])).toEqual([
      ["Prepare", "success", undefined],
      ["FromPyPI", "skipped", "needs the Python package index"],
      ["After", "success", undefined],
    ]);
    expect(events.find((e) => e.subject === "demo/build/FromPyPI")).toMatchObject({
      message: "not run locally: needs the Python package index",
      data: { localSkip: true, status: "skipped" },
    });
  });

  it("resolves documented input chaining, {{ phase.Step.inputs[0].path }}", async () => {
    const document = doc(`
schemaVersion: 1.0
parameters:
  - Where: {type: string, default: "/opt/tool"}
phases:
  - name: build
    steps:
      - name: Make
        action: CreateFile
        inputs:
          - path: "{{ Where }}/tool.bin"
            content: x
      - name: Enable
        action: ExecuteBash
        inputs:
          commands:
            - chmod u+x {{ build.Make.inputs[0].path }}
`);
    const recorder = new Recorder();
    const outcome = await run(document, recorder);
    expect(outcome.failure).toBeUndefined();
    expect(recorder.scripts.at(-1)).toBe("chmod u+x /opt/tool/tool.bin");
  });

  it("substitutes parameters (recipe value over default) and constants", async () => {
    const document = doc(`
schemaVersion: 1.0
parameters:
  - Greeting: {type: string, default: "hello"}
  - Target: {type: string, default: "world"}
constants:
  - Fixed: {type: string, value: "k1"}
phases:
  - name: build
    steps:${bash("Say", "echo {{ Greeting }} {{ Target }} {{ Fixed }}")}
`);
    const recorder = new Recorder();
    const outcome = await run(document, recorder, "build", { Target: "ops" });
    expect(recorder.scripts).toEqual(["echo hello ops k1"]);
    expect(outcome.stepsRun).toBe(1);
    expect(outcome.failure).toBeUndefined();
  });

  it("runs every loop iteration with loop.index and loop.value, and named loops", async () => {
    const document = doc(`
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Each
        action: ExecuteBash
        loop:
          forEach: [a, b, c]
        inputs:
          commands: ["echo {{ loop.index }}={{ loop.value }}"]
      - name: Count
        action: ExecuteBash
        loop:
          name: n
          for: {start: 10, end: 4, updateBy: -3}
        inputs:
          commands: ["echo {{ n.value }}"]
`);
    const recorder = new Recorder();
    const outcome = await run(document, recorder);
    expect(recorder.scripts).toEqual(["echo 0=a", "echo 1=b", "echo 2=c", "echo 10", "echo 7", "echo 4"]);
    expect(outcome.stepsRun).toBe(2);
  });

  it("chains a step's stdout into later steps, across phases", async () => {
    const document = doc(`
schemaVersion: 1.0
phases:
  - name: build
    steps:${bash("Version", "echo 1.2.3")}${bash("Use", "echo got {{ build.Version.outputs.stdout }}")}
  - name: validate
    steps:${bash("Check", "test {{ build.Version.outputs.stdout }} = 1.2.3")}
`);
    const recorder = new Recorder((script) => (script === "echo 1.2.3" ? { stdout: "1.2.3\n" } : {}));
    const outputs = new Map<string, string>();
    await run(document, recorder, "build", {}, outputs);
    await run(document, recorder, "validate", {}, outputs);
    expect(recorder.scripts).toEqual(["echo 1.2.3", "echo got 1.2.3", "test 1.2.3 = 1.2.3"]);
  });

  it("retries a failing step up to maxAttempts and reports the last exit code and output", async () => {
    const document = doc(`
schemaVersion: 1.0
phases:
  - name: build
    steps:${bash("Flaky", "do-it", "\n        maxAttempts: 3")}${bash("After", "after")}
`);
    const always = new Recorder((script) => (script === "do-it" ? { exitCode: 7, output: "boom\n" } : {}));
    const failed = await run(document, always);
    expect(always.scripts).toEqual(["do-it", "do-it", "do-it"]);
    expect(failed.failure).toMatchObject({ component: "demo", phase: "build", step: "Flaky", exitCode: 7 });
    expect(failed.failure?.message).toContain("after 3 attempts");
    expect(failed.failure?.output).toContain("boom");
    expect(failed.stepsRun).toBe(1);

    const second = new Recorder((script, call) => (script === "do-it" && call === 1 ? { exitCode: 1 } : {}));
    const passed = await run(document, second);
    expect(second.scripts).toEqual(["do-it", "do-it", "after"]);
    expect(passed.failure).toBeUndefined();
  });

  it("onFailure: Abort stops the phase, Continue runs the rest and fails the component, Ignore passes", async () => {
    const make = (mode: string) =>
      doc(`
schemaVersion: 1.0
phases:
  - name: build
    steps:${bash("Bad", "bad", `\n        onFailure: ${mode}`)}${bash("Next", "next")}
`);
    const fails = () => new Recorder((script) => (script === "bad" ? { exitCode: 2 } : {}));

    const abort = fails();
    const aborted = await run(make("Abort"), abort);
    expect(abort.scripts).toEqual(["bad"]);
    expect(aborted.failure?.step).toBe("Bad");

    const cont = fails();
    const continued = await run(make("Continue"), cont);
    expect(cont.scripts).toEqual(["bad", "next"]);
    expect(continued.failure?.step).toBe("Bad");
    expect(continued.stepsRun).toBe(2);

    const ignore = fails();
    const ignored = await run(make("Ignore"), ignore);
    expect(ignore.scripts).toEqual(["bad", "next"]);
    expect(ignored.failure).toBeUndefined();
    expect(ignored.steps.map((s) => s.status)).toEqual(["ignored", "success"]);
  });

  it("passes timeoutSeconds to the executor (default 7200, -1 = none) and fails a timed-out step", async () => {
    const document = doc(`
schemaVersion: 1.0
phases:
  - name: build
    steps:${bash("Default", "a")}${bash("NoLimit", "b", "\n        timeoutSeconds: -1")}${bash("Short", "c", "\n        timeoutSeconds: 5")}
`);
    const recorder = new Recorder((script) => (script === "c" ? { exitCode: 137, timedOut: true } : {}));
    const outcome = await run(document, recorder);
    expect(recorder.timeouts).toEqual([7200, 0, 5]);
    expect(outcome.failure).toMatchObject({ step: "Short" });
    expect(outcome.failure?.message).toContain("timed out after 5 seconds");
  });

  it("treats exit code 194 as reboot-and-rerun, not as a failed attempt, and bounds it", async () => {
    const document = doc(`
schemaVersion: 1.0
phases:
  - name: build
    steps:${bash("Kernel", "upgrade")}${bash("After", "after")}
`);
    const twice = new Recorder((script, call) =>
      script === "upgrade" && call <= 2 ? { exitCode: 194 } : {},
    );
    const outcome = await run(document, twice);
    expect(twice.scripts).toEqual(["upgrade", "upgrade", "upgrade", "after"]);
    expect(twice.reboots).toBe(2);
    expect(outcome.failure).toBeUndefined();
    expect(outcome.steps[0]).toMatchObject({ attempts: 1, reboots: 2, status: "success" });

    const forever = new Recorder(() => ({ exitCode: 194 }));
    const looped = await run(document, forever);
    expect(forever.scripts).toHaveLength(MAX_REBOOTS_PER_STEP + 1);
    expect(looped.failure?.message).toContain("reboot");
    expect(looped.failure?.step).toBe("Kernel");
  });

  it("emulates Reboot and evaluates Assert (a false assertion fails the step)", async () => {
    const document = doc(`
schemaVersion: 1.0
phases:
  - name: build
    steps:${bash("Version", "print")}
      - name: Restart
        action: Reboot
      - name: Same
        action: Assert
        inputs:
          stringEquals: "{{ build.Version.outputs.stdout }}"
          value: "V2"
      - name: Bigger
        action: Assert
        inputs:
          numberGreaterThan: "3"
          value: "{{ build.Version.outputs.stdout }}"
`);
    const recorder = new Recorder(() => ({ stdout: "v2\n" }));
    const outcome = await run(document, recorder);
    expect(recorder.reboots).toBe(1);
    // stringEquals ignores case; numberGreaterThan on "v2" is false (not a number).
    expect(outcome.failure).toMatchObject({ step: "Bigger" });
    expect(outcome.failure?.message).toContain("assertion is false");
    expect(outcome.stepsRun).toBe(4);
  });

  it("skips a step whose if is false (not counted as run) and probes file conditions inside the root", async () => {
    const document = doc(`
schemaVersion: 1.0
parameters:
  - Mode: {type: string, default: "fast"}
phases:
  - name: build
    steps:
      - name: OnlySlow
        action: ExecuteBash
        if:
          stringEquals: "{{ Mode }}"
          value: "slow"
        inputs:
          commands: ["slow"]
      - name: WhenAptExists
        action: ExecuteBash
        if:
          and:
            - binaryExists: apt-get
            - not:
                fileExists: /etc/ops-rig-done
        inputs:
          commands: ["install"]
`);
    const recorder = new Recorder((script) => ({ exitCode: script.startsWith("test -f") ? 1 : 0 }));
    const outcome = await run(document, recorder);
    expect(recorder.scripts).toEqual([
      "command -v 'apt-get' >/dev/null",
      "test -f '/etc/ops-rig-done'",
      "install",
    ]);
    expect(outcome.steps.map((s) => s.status)).toEqual(["skipped", "success"]);
    expect(outcome.stepsRun).toBe(1);
  });

  it("fails an action that cannot run locally with a clear message, without retrying it", async () => {
    const document = doc(`
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Fetch
        action: S3Download
        maxAttempts: 3
        inputs:
          - source: s3://bucket/key
            destination: /tmp/key
`);
    const recorder = new Recorder();
    const outcome = await run(document, recorder);
    expect(recorder.scripts).toEqual([]);
    expect(outcome.failure?.message).toMatch(/S3Download cannot run in a local build/);
  });

  it("runs file actions as bash inside the root and UpdateOS as apt with an error on stale lists", async () => {
    const document = doc(`
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Config
        action: CreateFile
        inputs:
          - path: /etc/demo.conf
            content: "a=1\\n"
            permissions: "0640"
      - name: Folder
        action: CreateFolder
        inputs:
          - path: /evidence
            permissions: "0750"
      - name: Update
        action: UpdateOS
        inputs:
          exclude: [linux-image-cloud-amd64]
`);
    const recorder = new Recorder();
    await run(document, recorder);
    expect(recorder.scripts[0]).toContain("/etc/demo.conf");
    expect(recorder.scripts[0]).toContain("chmod 0640");
    expect(recorder.scripts[1]).toContain("install -d '/evidence'");
    expect(recorder.scripts[2]).toContain("APT::Update::Error-Mode=any update");
    expect(recorder.scripts[2]).toContain("apt-mark hold 'linux-image-cloud-amd64'");
  });

  it("counts a phase's steps, so a run can prove steps executed", () => {
    const document = doc(`
schemaVersion: 1.0
phases:
  - name: build
    steps:${bash("A", "a")}${bash("B", "b")}
  - name: test
    steps:${bash("C", "c")}
`);
    expect(countSteps(document, ["build", "validate"])).toBe(2);
    expect(countSteps(document, ["test"])).toBe(1);
    expect(countSteps(document, ["validate"])).toBe(0);
  });

  it("reports a required parameter without value and parameters the document does not define", () => {
    const document = doc(`
schemaVersion: 1.0
parameters:
  - Needed: {type: string}
phases:
  - name: build
    steps:${bash("A", "echo {{ Needed }}")}
`);
    expect(documentVariables(document, { Typo: "x" })).toMatchObject({
      missing: ["Needed"],
      unknown: ["Typo"],
    });
  });
});
