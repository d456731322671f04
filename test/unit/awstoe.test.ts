import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  CONDITION_OPERATORS,
  checkAwstoeDocument,
  loopIterations,
  stepToBash,
  substituteVariables,
} from "../../src/render/index.js";

/**
 * AWSTOE fidelity: documents written fresh from AWS's user guide (each fixture names its page)
 * must validate, and variants that break one documented rule must be refused with a problem at
 * the offending line (marked `# <- error` in the fixture; `# Expect:` holds the message).
 */
const FIXTURES = join(import.meta.dirname, "fixtures", "awstoe");
const load = (kind: "valid" | "invalid") =>
  readdirSync(join(FIXTURES, kind))
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((file) => ({ file, text: readFileSync(join(FIXTURES, kind, file), "utf8") }));
const valid = load("valid");
const invalid = load("invalid");

describe("AWS-documented AWSTOE documents validate", () => {
  it("has at least 15 of them, each naming its source page in AWS's user guide", () => {
    expect(valid.length).toBeGreaterThanOrEqual(15);
    for (const { file, text } of valid)
      expect(text, file).toMatch(
        /^# Source: https:\/\/docs\.aws\.amazon\.com\/imagebuilder\/latest\/userguide\/\S+\.html/,
      );
  });

  it.each(valid.map((f) => [f.file, f.text]))("%s", (file, text) => {
    const result = checkAwstoeDocument(file, text);
    expect(result.problems).toEqual([]);
    expect(result.document?.phases.length).toBeGreaterThan(0);
  });

  it("together they use every comparison and logical operator AWS documents", () => {
    const all = valid.map((f) => f.text).join("\n");
    // `platform` is the one operator not confirmed in the stored guide (see awstoe.ts).
    for (const operator of CONDITION_OPERATORS.filter((o) => o !== "platform"))
      expect(all, operator).toMatch(new RegExp(`\\b${operator}:`));
  });

  it("reads documented shorthands as AWSTOE does", () => {
    const byName = (name: string) => {
      const found = valid.find((f) => f.file.startsWith(name));
      if (!found) throw new Error(`no fixture ${name}`);
      const result = checkAwstoeDocument(found.file, found.text);
      if (!result.document) throw new Error(`${name} did not validate`);
      return result;
    };
    // forEach {list} without a delimiter splits on commas.
    const loop = byName("09-").document?.phases[0]?.steps[0]?.loop;
    expect(loop).toEqual({ forEach: { list: "/tmp/m1.txt,/tmp/m2.txt,/tmp/m3.txt", delimiter: "," } });
    expect(loopIterations(loop, () => undefined).map((i) => i.value)).toEqual([
      "/tmp/m1.txt",
      "/tmp/m2.txt",
      "/tmp/m3.txt",
    ]);
    // Unquoted modes are the string AWSTOE reads: 0777 stays "0777" (not the number 777 or 511).
    const files = byName("15-");
    const create = files.document?.phases[0]?.steps[0]?.inputs as { permissions?: string }[];
    expect(create.map((e) => e.permissions)).toEqual(["0777", "755", undefined]);
    // ... and ops-rig's stricter style is a warning, never an error.
    expect(files.warnings.map((w) => w.message)).toContain(
      'quote octal modes ("0777"): AWS documents permissions as a string',
    );
    const chained = byName("01-");
    expect(chained.warnings).toContainEqual(
      expect.objectContaining({
        line: 21,
        message: expect.stringMatching(/quote values that hold \{\{ variables \}\}/),
      }),
    );
  });
});

describe("variants that break a documented rule are refused at their line", () => {
  it("has at least 15 of them", () => {
    expect(invalid.length).toBeGreaterThanOrEqual(15);
  });

  it.each(invalid.map((f) => [f.file, f.text]))("%s", (file, text) => {
    const expected = /^# Expect: (.+)$/m.exec(text)?.[1];
    const line = text.split("\n").findIndex((l) => l.includes("# <- error")) + 1;
    if (!expected || line === 0) throw new Error(`${file} needs "# Expect:" and a "# <- error" line`);
    const result = checkAwstoeDocument(`invalid/${file}`, text);
    expect(result.document).toBeUndefined();
    for (const problem of result.problems) {
      expect(problem.file).toBe(`invalid/${file}`);
      expect(problem.line, problem.message).toBeGreaterThan(0);
    }
    const match = result.problems.find((p) => new RegExp(expected).test(p.message));
    expect(
      match,
      `no problem matching /${expected}/ in:\n${result.problems.map((p) => `${p.line}: ${p.message}`).join("\n")}`,
    ).toBeDefined();
    expect(match?.line).toBe(line);
  });
});

describe("AWSTOE helpers", () => {
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

  it("leaves a loop variable outside a loop unsubstituted, as AWSTOE does, with a warning", () => {
    const result = checkAwstoeDocument(
      "t.yaml",
      "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: A\n        action: ExecuteBash\n        inputs:\n          commands:\n            - 'echo {{ loop.value }}'\n",
    );
    expect(result.problems).toEqual([]);
    expect(result.warnings.map((w) => w.message)).toEqual([
      '"{{ loop.value }}" outside a step with a loop is left as it is by AWSTOE (no substitution)',
    ]);
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
