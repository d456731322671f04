import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseProject } from "../../src/config/parse.js";
import {
  componentScripts,
  ensureShellcheck,
  type ShellScript,
  shellcheckScripts,
} from "../../src/lint/shellcheck.js";
import { renderProject } from "../../src/render/index.js";
import { removeProject, runCli, shippedFiles, writeProject } from "../helpers/project.js";

/** shellcheck over rendered steps: AWS's reboot idiom passes; prelude findings point at a line. */
async function findings(mutate: (files: Map<string, string>) => void) {
  await ensureShellcheck(); // throws (fails the test) when shellcheck is missing
  const files = await shippedFiles();
  mutate(files);
  const rendered = renderProject(parseProject(files));
  const scripts = rendered.config.components.flatMap((template) => {
    const component = rendered.components.get(template.name);
    return component ? componentScripts(component, template, rendered.config.prelude) : [];
  });
  return shellcheckScripts(scripts.filter((s) => s.label.startsWith("components/sleuthkit.yaml")));
}

const REBOOT_STEP = `      - name: RebootOnce
        action: ExecuteBash
        inputs:
          commands:
            - |
              if [ ! -f /var/tmp/sleuthkit-rebooted ]; then
                touch /var/tmp/sleuthkit-rebooted
                exit 194
              fi
      - name: RebootAlways
        action: ExecuteBash
        inputs:
          commands:
            - echo "rebooting"
            - exit 194
`;

describe("shellcheck on component scripts", () => {
  it("accepts AWS's documented exit-194 reboot idiom, also as a step's last command", async () => {
    const problems = await findings((files) => {
      const text = files.get("components/sleuthkit.yaml") ?? "";
      files.set(
        "components/sleuthkit.yaml",
        text.replace("  - name: validate\n", `${REBOOT_STEP}  - name: validate\n`),
      );
    });
    expect(problems).toEqual([]);
  });

  it("still reports code after an unconditional exit 194 in the component", async () => {
    const problems = await findings((files) => {
      const text = files.get("components/sleuthkit.yaml") ?? "";
      files.set(
        "components/sleuthkit.yaml",
        text.replace(
          "  - name: validate\n",
          `${REBOOT_STEP.replace("- exit 194\n", "- exit 194\n            - echo never\n")}  - name: validate\n`,
        ),
      );
    });
    const unreachable = problems.filter((p) => p.message.includes("SC2317"));
    expect(unreachable).toHaveLength(1);
    expect(unreachable[0]?.file).toBe("components/sleuthkit.yaml");
    expect(unreachable[0]?.line).toBeGreaterThan(0);
  });

  it("points a finding in components/lib/prelude.sh at the prelude's own line", async () => {
    let line = 0;
    const problems = await findings((files) => {
      const prelude = files.get("components/lib/prelude.sh") ?? "";
      const lines = prelude.split("\n");
      lines.push("# a comment and a blank line the renderer drops", "", "cd $HOME");
      line = lines.length;
      files.set("components/lib/prelude.sh", `${lines.join("\n")}\n`);
    });
    const inPrelude = problems.filter((p) => p.file === "components/lib/prelude.sh");
    expect(inPrelude.length).toBeGreaterThan(0);
    for (const problem of inPrelude) {
      expect(problem.line).toBe(line);
      expect(problem.message).toMatch(/SC2086|SC2164/);
    }
  });
});

describe("validate: ops-rig's style rules warn, AWS's rules fail", () => {
  it("an unquoted variable and an unquoted octal mode are warnings with file:line, exit 0", async () => {
    const files = await shippedFiles();
    const base = files.get("components/responder-base.yaml") ?? "";
    const edited = base
      .replace(`- 'EXTRA_PACKAGES="{{ ExtraPackages }}"'`, "- EXTRA_PACKAGES={{ ExtraPackages }}")
      .replace(`permissions: "0750"`, "permissions: 0750");
    expect(edited).not.toBe(base);
    files.set("components/responder-base.yaml", edited);
    const dir = await writeProject(files);
    try {
      const result = await runCli(["--config", dir, "validate"]);
      expect(result.code).toBe(0);
      const lines = result.stderr.trim().split("\n");
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(
        /^warning: components\/responder-base\.yaml:\d+:\d+: .*quote values that hold \{\{ variables \}\}/,
      );
      expect(lines[1]).toMatch(
        /^warning: components\/responder-base\.yaml:\d+:\d+: .*quote octal modes \("0750"\)/,
      );
      // The rendered document carries the mode as the string AWSTOE reads.
      const document = renderProject(parseProject(files)).components.get("responder-base")?.document;
      expect(document).toContain('permissions: "0750"');
    } finally {
      await removeProject(dir);
    }
  });
});

describe("shellcheck's findings cache", () => {
  it("checks a script once per content and version, and reports from the cache after", async () => {
    const version = await ensureShellcheck();
    const dir = await mkdtemp(join(tmpdir(), "ops-rig-shellcheck-cache-"));
    try {
      const script = (text: string): ShellScript => ({
        label: "components/x.yaml phases.build.Step",
        text,
        locate: (line) => ({ file: "components/x.yaml", line: 10 + line }),
      });
      const cache = { dir, version };
      const bad = script("#!/bin/bash\necho $1\n");
      const first = await shellcheckScripts([bad, script("#!/bin/bash\necho ok\n")], cache);
      expect(first.map((p) => p.message)).toEqual([expect.stringMatching(/^shellcheck SC2086/)]);
      const entries = await readdir(dir);
      expect(entries).toHaveLength(2);
      // What the cache says is what the next run reports, without running shellcheck on it.
      for (const entry of entries) {
        const path = join(dir, entry);
        const findings = JSON.parse(await readFile(path, "utf8")) as unknown[];
        if (findings.length > 0)
          await writeFile(
            path,
            JSON.stringify([{ line: 1, column: 1, level: "error", code: 9999, message: "cached" }]),
          );
      }
      const second = await shellcheckScripts([bad], cache);
      expect(second).toEqual([
        {
          file: "components/x.yaml",
          line: 11,
          path: "phases.build.Step",
          message: "shellcheck SC9999 (error): cached",
        },
      ]);
      // Another shellcheck version checks again.
      const upgraded = await shellcheckScripts([bad], { dir, version: `${version}-next` });
      expect(upgraded.map((p) => p.message)).toEqual([expect.stringMatching(/^shellcheck SC2086/)]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
