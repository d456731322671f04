import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadProject } from "../../../src/config/load.js";
import { planComponents } from "../../../src/local/build.js";
import { OWNER_FILE, sweepAbandonedWork } from "../../../src/local/cleanup.js";
import { evaluateCondition } from "../../../src/local/conditions.js";
import { localComponentInputs } from "../../../src/local/inputs.js";
import {
  debianMirrorFrom,
  parseDeb822Sources,
  parseOneLineSources,
  rootSources,
} from "../../../src/local/mirror.js";
import { namespaceScript } from "../../../src/local/namespace.js";
import { unameShim } from "../../../src/local/root.js";
import { renderProject } from "../../../src/render/index.js";
import { REPO_ROOT, runCli } from "../../helpers/project.js";

describe("local build inputs", () => {
  it("turns a toolset into documents with parameters, the base's components and the steps that cannot run locally", async () => {
    const project = await loadProject(REPO_ROOT);
    const heavy12 = localComponentInputs(project, "heavy", "debian-12");
    const rendered = renderProject(project);
    const heavy = rendered.toolsets.find((t) => t.toolset.name === "heavy")?.toolset;
    // plaso has no source on Debian 12 (README's truth table): it is not in that line's recipe at all.
    expect(heavy12.map((c) => c.name)).toEqual(
      heavy?.components.map((c) => c.name).filter((name) => name !== "plaso"),
    );
    const recipe12 = rendered.toolsets
      .find((t) => t.toolset.name === "heavy")
      ?.recipes.find((r) => r.line.base === "debian-12" && r.line.arch === "amd64");
    expect(heavy12.map((c) => c.name)).toEqual(recipe12?.components.map((c) => c.name));
    // volatility3: only the steps that need the package index are not run, each with the reason.
    const vol = heavy12.find((c) => c.name === "volatility3");
    expect(vol?.skipReason).toBeUndefined();
    expect(Object.keys(vol?.skipSteps ?? {})).toEqual(["InstallVolatility3", "VolRuns"]);
    expect(vol?.skipSteps?.InstallVolatility3).toMatch(/Python package index/);
    expect(heavy12.find((c) => c.name === "lime")?.document).toBe(rendered.components.get("lime")?.document);
    // On Debian 13 plaso is Debian's package, and runs.
    const heavy13 = localComponentInputs(rendered, "heavy", "debian-13");
    const plaso = heavy13.find((c) => c.name === "plaso");
    expect(plaso?.skipReason).toBeUndefined();
    expect(plaso?.skipSteps).toBeUndefined();
    expect(
      localComponentInputs(rendered, "light", "debian-12").every(
        (c) => c.skipReason === undefined && c.skipSteps === undefined,
      ),
    ).toBe(true);
  });

  it("refuses to skip a step the component does not have (a typo would skip nothing, silently)", async () => {
    const project = await loadProject(REPO_ROOT);
    const [vol] = localComponentInputs(project, "heavy", "debian-12").filter((c) => c.name === "volatility3");
    if (!vol) throw new Error("heavy has no volatility3");
    expect(() => planComponents([{ ...vol, skipSteps: { InstallVolatility: "typo" } }])).toThrow(
      /component volatility3: local\.steps: the toolset skips step "InstallVolatility" locally, but the component has no such step/,
    );
    expect(planComponents([vol])).toHaveLength(1);
  });

  it("rejects an unknown toolset naming the flag", async () => {
    const project = await loadProject(REPO_ROOT);
    expect(() => localComponentInputs(project, "medium", "debian-12")).toThrow(
      /--toolset.*unknown toolset "medium"/,
    );
  });
});

describe("the machine's Debian mirror", () => {
  it("reads URIs from deb822 and one-line sources, archive and security apart", () => {
    const entries = parseDeb822Sources(`Types: deb
# a comment
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: https://download.docker.com/linux/debian
Suites: bookworm-docker
Components: stable
`);
    expect(debianMirrorFrom(entries, "x")).toEqual({
      archive: "http://mirror.example/debian",
      security: "http://security.example/debian-security",
      source: "x",
    });
    const oneLine = parseOneLineSources(
      "deb [arch=amd64] http://deb.example/debian trixie main\n# deb http://old bookworm main\n",
    );
    expect(debianMirrorFrom(oneLine, "y")).toEqual({ archive: "http://deb.example/debian", source: "y" });
    expect(
      debianMirrorFrom(parseOneLineSources("deb http://archive.ubuntu.com/ubuntu noble main"), "z"),
    ).toBe(undefined);
  });

  it("writes the root's sources for its own release", () => {
    const text = rootSources(
      { archive: "http://m/debian", security: "http://s/debian-security", source: "x" },
      "trixie",
    );
    expect(text).toContain("URIs: http://m/debian\nSuites: trixie trixie-updates");
    expect(text).toContain("URIs: http://s/debian-security\nSuites: trixie-security");
  });
});

describe("isolation helpers", () => {
  it("fails the namespace with its own exit code when a mount fails, before running the command", () => {
    const script = namespaceScript(["mount a", "mount b"]);
    expect(script).toMatch(/^\{\nmount a &&\nmount b\n\} \|\| \{ echo .* >&2; exit 218; \}\nexec "\$@"$/);
  });

  it("has a uname that replaces the host's release with the root's kernel", () => {
    const shim = unameShim("6.1.0-57-cloud-amd64");
    expect(shim).toContain("k='6.1.0-57-cloud-amd64'");
    expect(shim).toContain('/bin/uname "$@"');
  });
});

describe("conditions (Assert and if)", () => {
  const noProbe = async () => ({ exitCode: 1, stdout: "" });
  it("compares strings without case and numbers as numbers", async () => {
    expect(await evaluateCondition({ stringEquals: "Abc", value: "aBC" }, noProbe)).toBe(true);
    expect(await evaluateCondition({ stringLessThan: "a", value: "b" }, noProbe)).toBe(true);
    expect(await evaluateCondition({ numberEquals: 1, value: "1.0" }, noProbe)).toBe(true);
    expect(await evaluateCondition({ numberLessThan: "a10", value: 3 }, noProbe)).toBe(false);
    expect(await evaluateCondition({ stringIsWhitespace: "  " }, noProbe)).toBe(true);
    expect(await evaluateCondition({ stringIsEmpty: " " }, noProbe)).toBe(false);
    expect(await evaluateCondition({ patternMatches: "^v[0-9]+$", value: "v12" }, noProbe)).toBe(true);
    expect(
      await evaluateCondition(
        { or: [{ stringEquals: "a", value: "b" }, { not: { stringIsEmpty: "" } }] },
        noProbe,
      ),
    ).toBe(false);
  });

  it("rejects an expression without exactly one operator", async () => {
    await expect(evaluateCondition({ value: "x" }, noProbe)).rejects.toThrow(/exactly one operator/);
    await expect(evaluateCondition({ stringEquals: "a", numberEquals: 1 }, noProbe)).rejects.toThrow(
      /exactly one operator/,
    );
  });

  it("checks file hashes inside the root", async () => {
    const probe = async (script: string) => ({
      exitCode: 0,
      stdout: script.startsWith("sha256sum") ? "ABCDEF  /etc/x\n" : "",
    });
    expect(await evaluateCondition({ fileSHA256Equals: "/etc/x", value: "abcdef" }, probe)).toBe(true);
    expect(await evaluateCondition({ fileSHA256Equals: "/etc/x", value: "00" }, probe)).toBe(false);
  });
});

describe("ops-rig local-build flags", () => {
  it("exits 2 naming the flag for an unknown toolset, base or image name, before touching anything", async () => {
    const toolset = await runCli(["local-build", "--toolset", "medium", "--base", "debian-12"]);
    expect(toolset.code).toBe(2);
    expect(toolset.stderr).toContain('--toolset: unknown toolset "medium" (known: heavy, light)');
    const base = await runCli(["local-build", "--toolset", "light", "--base", "ubuntu-24.04"]);
    expect(base.code).toBe(2);
    expect(base.stderr).toContain(
      '--base: unknown base "ubuntu-24.04" (local builds run on debian-12, debian-13)',
    );
    const out = await runCli(["local-build", "--toolset", "light", "--out", "image.zip"]);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain("--out:");
    const missing = await runCli(["local-build"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--toolset");
  });

  it("is listed in the help", async () => {
    const help = await runCli(["--help"]);
    expect(help.stdout).toContain("local-build");
  });
});

describe("abandoned work folders", () => {
  it("removes folders whose owner died, keeps live runs' and kept roots", async () => {
    const base = await mkdtemp(join(tmpdir(), "sweep-"));
    try {
      for (const name of ["ops-rig-dead", "ops-rig-live", "ops-rig-kept", "other-dead"])
        await mkdir(join(base, name));
      // PID 2^22+1 is above Linux's pid_max limit: never a live process.
      await writeFile(join(base, "ops-rig-dead", OWNER_FILE), String(4194305));
      await writeFile(join(base, "other-dead", OWNER_FILE), String(4194305));
      await writeFile(join(base, "ops-rig-live", OWNER_FILE), String(process.pid));
      expect(await sweepAbandonedWork(base)).toEqual([join(base, "ops-rig-dead")]);
      expect((await readdir(base)).sort()).toEqual(["ops-rig-kept", "ops-rig-live", "other-dead"]);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});
