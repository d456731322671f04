import { describe, expect, it } from "vitest";
import {
  checkAwstoeDocument,
  loopIterations,
  stepToBash,
  substituteVariables,
} from "../../src/render/index.js";

const doc = (steps: string, extra = "") => `name: t
description: test
schemaVersion: 1.0
${extra}phases:
  - name: build
    steps:
${steps}`;

describe("AWSTOE document rules", () => {
  it("accepts loop variables, constants and earlier step outputs", () => {
    const result = checkAwstoeDocument(
      "t.yaml",
      doc(
        `      - name: First
        action: ExecuteBash
        inputs:
          commands:
            - echo hi
      - name: Looped
        action: ExecuteBash
        loop:
          name: each
          forEach: [a, b]
        inputs:
          commands:
            - "echo {{ loop.value }} {{ each.index }} {{ Greeting }} {{ build.First.outputs.stdout }}"
`,
        `constants:
  - Greeting:
      type: string
      value: hello
`,
      ),
    );
    expect(result.problems).toEqual([]);
    expect(result.document?.phases[0]?.steps[1]?.loop).toEqual({ name: "each", forEach: ["a", "b"] });
  });

  it.each([
    [
      "a later step's output",
      `      - name: A\n        action: ExecuteBash\n        inputs:\n          commands:\n            - "echo {{ build.B.outputs.stdout }}"\n      - name: B\n        action: ExecuteBash\n        inputs:\n          commands:\n            - echo b\n`,
      /undefined variable "\{\{ build\.B\.outputs\.stdout \}\}"/,
    ],
    [
      "a loop variable outside a loop",
      `      - name: A\n        action: ExecuteBash\n        inputs:\n          commands:\n            - "echo {{ loop.value }}"\n`,
      /undefined variable "\{\{ loop\.value \}\}"/,
    ],
    [
      "ExecuteBash with both commands and file",
      `      - name: A\n        action: ExecuteBash\n        inputs:\n          commands: [ls]\n          file: /x.sh\n`,
      /exactly one of inputs\.commands and inputs\.file/,
    ],
    [
      "CreateFile without a path",
      `      - name: A\n        action: CreateFile\n        inputs:\n          - content: x\n`,
      /CreateFile input needs "path"/,
    ],
    [
      "a loop with both for and forEach",
      `      - name: A\n        action: ExecuteBash\n        loop:\n          for: {start: 1, end: 2, updateBy: 1}\n          forEach: [a]\n        inputs:\n          commands: [ls]\n`,
      /exactly one of `for` and `forEach`/,
    ],
    [
      "a step name with a dot",
      `      - name: a.b\n        action: ExecuteBash\n        inputs:\n          commands: [ls]\n`,
      /step name must start with a letter/,
    ],
  ])("rejects %s", (_name, steps, message) => {
    const result = checkAwstoeDocument("t.yaml", doc(steps));
    expect(result.document).toBeUndefined();
    expect(result.problems.map((p) => p.message).join("\n")).toMatch(message);
    expect(result.problems.every((p) => p.file === "t.yaml")).toBe(true);
  });

  it("rejects bad parameter definitions", () => {
    const result = checkAwstoeDocument(
      "t.yaml",
      doc(
        `      - name: A\n        action: ExecuteBash\n        inputs:\n          commands: [ls]\n`,
        "parameters:\n  - X:\n      type: integer\n",
      ),
    );
    const messages = result.problems.map((p) => p.message).join("\n");
    expect(messages).toMatch(/"X" is not a valid name/);
    expect(messages).toMatch(/type must be "string"/);
  });

  it("expands loops the way AWSTOE does", () => {
    expect(
      loopIterations({ for: { start: 3, end: 1, updateBy: -1 } }, () => undefined).map((i) => i.value),
    ).toEqual(["3", "2", "1"]);
    expect(loopIterations({ forEach: { list: "a,b", delimiter: "," } }, () => undefined)).toEqual([
      { index: 0, value: "a" },
      { index: 1, value: "b" },
    ]);
    expect(substituteVariables("x={{ A }} y={{B}} z={{ C }}", (n) => ({ A: "1", B: "2" })[n])).toBe(
      "x=1 y=2 z={{ C }}",
    );
  });

  it("translates file actions to bash for cloud-init, quoting paths and content", () => {
    const { steps, problem } = stepToBash(
      {
        name: "F",
        action: "CreateFile",
        inputs: [{ path: "/etc/it's.conf", content: "a\nb\n", permissions: "0640", owner: "root" }],
      },
      "c/build/F",
      () => undefined,
    );
    expect(problem).toBeUndefined();
    expect(steps[0]?.script).toBe(
      [
        `install -d "$(dirname '/etc/it'\\''s.conf')"`,
        `cat > '/etc/it'\\''s.conf' <<'OPS_RIG_EOF'`,
        "a\nb",
        "OPS_RIG_EOF",
        `chown 'root' '/etc/it'\\''s.conf'`,
        `chmod 0640 '/etc/it'\\''s.conf'`,
      ].join("\n"),
    );
    expect(stepToBash({ name: "R", action: "Reboot" }, "c/build/R", () => undefined).problem).toMatch(
      /Reboot has no cloud-init translation/,
    );
  });
});
