import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { type CommandAws, createContext } from "../../src/cli/context.js";
import { createOutput } from "../../src/cli/output.js";
import { builtResultCache, fileMemo, fileResultCache } from "../../src/cli/result-cache.js";
import { parseProject } from "../../src/config/parse.js";
import { componentScripts } from "../../src/lint/shellcheck.js";
import { isPlainJson, type Memo } from "../../src/memo.js";
import { renderProject } from "../../src/render/index.js";
import { parseYamlSource } from "../../src/yaml/source.js";
import { REPO_ROOT, removeProject, runCli, shippedFiles, writeProject } from "../helpers/project.js";

/** A memo in memory that counts what it was asked for and given. */
function countingMemo(entries: Record<string, unknown> = {}) {
  const store = new Map(Object.entries(entries));
  const stats = { hits: 0, misses: 0, sets: 0 };
  const memo: Memo = {
    get(key) {
      if (!store.has(key)) {
        stats.misses++;
        return undefined;
      }
      stats.hits++;
      return store.get(key);
    },
    set(key, value) {
      stats.sets++;
      store.set(key, value);
    },
  };
  // What a file-backed memo would give the next run: the entries through JSON.
  const roundTrip = () => countingMemo(JSON.parse(JSON.stringify(Object.fromEntries(store))));
  return { memo, stats, store, roundTrip };
}

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const TEXT = `name: demo
description: "a demo"
steps:
  - name: One
    command: |
      echo one
      echo two
  - name: Two
    command: "{{ plain }}"
`;

describe("a YAML file's value, remembered", () => {
  it("is not parsed again, and still places every path as a fresh parse does", () => {
    const { memo, stats, roundTrip } = countingMemo();
    const fresh = parseYamlSource("f.yaml", TEXT, memo);
    expect(stats.sets).toBe(1);
    const next = roundTrip();
    const remembered = parseYamlSource("f.yaml", TEXT, next.memo);
    expect(next.stats.hits).toBe(1);
    expect(remembered.value).toEqual(fresh.value);
    expect(remembered.syntaxProblems).toEqual([]);
    for (const path of [
      [],
      ["steps"],
      ["steps", 0, "command"],
      ["steps", 1, "command"],
      ["nope"],
      ["steps", 9],
    ]) {
      expect(remembered.locate(path), JSON.stringify(path)).toEqual(fresh.locate(path));
      expect(remembered.locate(path, { key: true })).toEqual(fresh.locate(path, { key: true }));
      expect(remembered.problem(path, "m")).toEqual(fresh.problem(path, "m"));
    }
    expect(remembered.nodeAt(["steps", 1, "command"])?.toJSON()).toBe("{{ plain }}");
  });

  it("comes from the memo, not from a parse (a tampered entry shows)", () => {
    const { memo, store } = countingMemo();
    parseYamlSource("f.yaml", TEXT, memo);
    const [key] = [...store.keys()];
    store.set(key as string, { value: { tampered: true } });
    expect(parseYamlSource("f.yaml", TEXT, memo).value).toEqual({ tampered: true });
    // Another text is another key.
    expect(parseYamlSource("f.yaml", `${TEXT}# more\n`, memo).value).toMatchObject({ name: "demo" });
  });

  it("keeps no file with problems, and no value JSON would change", () => {
    const { memo, stats } = countingMemo();
    const broken = parseYamlSource("f.yaml", "a: [1, 2\n", memo);
    expect(broken.syntaxProblems.length).toBeGreaterThan(0);
    expect(parseYamlSource("f.yaml", "a: 1\na: 2\n", memo).syntaxProblems.length).toBeGreaterThan(0);
    expect(parseYamlSource("f.yaml", "limit: .inf\n", memo).value).toEqual({
      limit: Number.POSITIVE_INFINITY,
    });
    expect(stats.sets).toBe(0);
    // An empty file is a value too (none), and is remembered as such.
    const empty = parseYamlSource("f.yaml", "# nothing\n", memo).value;
    expect(stats.sets).toBe(1);
    expect(empty ?? undefined).toBeUndefined();
    expect(parseYamlSource("f.yaml", "# nothing\n", memo).value).toBe(empty);
  });

  it("tells plain JSON from what JSON would change", () => {
    expect(isPlainJson({ a: [1, "x", true, null, { b: 2.5 }] })).toBe(true);
    for (const value of [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      -0,
      undefined,
      { a: undefined },
      [1, undefined, 3],
      new Array(2),
      new Date(0),
      new Map(),
      JSON.parse('{"__proto__": {"x": 1}}'),
      () => 0,
      1n,
    ])
      expect(isPlainJson(value), String(value)).toBe(false);
  });
});

describe("rendered components, remembered", () => {
  it("render the shipped project to the same result, from the memo, after a round trip through JSON", async () => {
    const files = await shippedFiles();
    const plain = renderProject(parseProject(files));
    const first = countingMemo();
    const filled = renderProject(parseProject(files, first.memo), first.memo);
    expect(filled.components).toEqual(plain.components);
    const next = first.roundTrip();
    const remembered = renderProject(parseProject(files, next.memo), next.memo);
    expect(next.stats.misses).toBe(0);
    expect(next.stats.sets).toBe(0);
    expect(remembered.components).toEqual(plain.components);
    expect(remembered.toolsets.map((t) => [t.recipes, t.cloudInit])).toEqual(
      plain.toolsets.map((t) => [t.recipes, t.cloudInit]),
    );
    expect(remembered.warnings).toEqual(plain.warnings);
    expect(remembered.config.pipeline.source.value).toEqual(plain.config.pipeline.source.value);
  });

  it("reuses unchanged components and renders the changed one again", async () => {
    const files = await shippedFiles();
    const { memo, store, stats } = countingMemo();
    renderProject(parseProject(files, memo), memo);
    // Tamper with sleuthkit's and volatility3's remembered documents, then change sleuthkit.
    for (const [key, value] of store) {
      if (!key.startsWith("component\0")) continue;
      const entry = value as { component: { name: string; document: string } };
      entry.component.document = `tampered ${entry.component.name}`;
    }
    const text = files.get("components/sleuthkit.yaml") as string;
    files.set(
      "components/sleuthkit.yaml",
      text.replace("file system analysis", "file system analysis (edited)"),
    );
    const setsBefore = stats.sets;
    const rendered = renderProject(parseProject(files, memo), memo);
    expect(rendered.components.get("volatility3")?.document).toBe("tampered volatility3");
    expect(rendered.components.get("sleuthkit")?.document).toContain("file system analysis (edited)");
    // The changed file's value and its component: two new entries, nothing else.
    expect(stats.sets - setsBefore).toBe(2);
  });

  it("keeps no component with problems: they are found again, at the same lines, every run", async () => {
    const files = await shippedFiles();
    const text = files.get("components/sleuthkit.yaml") as string;
    // A build component without a validate phase is refused.
    files.set("components/sleuthkit.yaml", text.replace("  - name: validate\n", "  - name: checks\n"));
    const errorOf = (memo?: Memo) => {
      try {
        renderProject(parseProject(files, memo), memo);
      } catch (error) {
        return error;
      }
      throw new Error("rendered a component without a validate phase");
    };
    const expected = errorOf();
    const { memo, store } = countingMemo();
    expect(errorOf(memo)).toEqual(expected);
    expect([...store.keys()].some((key) => key.includes("sleuthkit"))).toBe(false);
    expect(errorOf(memo)).toEqual(expected);
  });

  it("lets shellcheck's findings in a remembered component name the template's lines", async () => {
    const files = await shippedFiles();
    const plain = renderProject(parseProject(files));
    const { roundTrip, memo } = countingMemo();
    renderProject(parseProject(files, memo), memo);
    const remembered = renderProject(parseProject(files, roundTrip().memo), roundTrip().memo);
    let compared = 0;
    for (const template of plain.config.components) {
      const expected = componentScripts(
        plain.components.get(template.name) as never,
        template,
        plain.config.prelude,
      );
      const other = remembered.config.components.find((t) => t.name === template.name);
      if (!other) throw new Error(`${template.name} missing from the remembered render`);
      const actual = componentScripts(
        remembered.components.get(template.name) as never,
        other,
        remembered.config.prelude,
      );
      expect(actual.map((s) => [s.label, s.text])).toEqual(expected.map((s) => [s.label, s.text]));
      expected.forEach((script, index) => {
        const lines = script.text.split("\n").length;
        for (let line = 1; line <= lines; line++) {
          expect(actual[index]?.locate(line), `${script.label}:${line}`).toEqual(script.locate(line));
          compared++;
        }
      });
    }
    expect(compared).toBeGreaterThan(500);
  });
});

describe("the memo file", () => {
  it("keeps what a run used or added, for its own build only, and survives damage", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ops-rig-memo-"));
    dirs.push(dir);
    const path = join(dir, "memo", "project.json");
    const first = await fileMemo(path, "build-1");
    first.set("a", { value: 1 });
    first.set("b", { value: 2 });
    await first.save();
    const second = await fileMemo(path, "build-1");
    expect(second.get("a")).toEqual({ value: 1 });
    second.set("c", { value: 3 });
    await second.save();
    // b was neither read nor added by the second run: gone.
    const third = await fileMemo(path, "build-1");
    expect([third.get("a"), third.get("b"), third.get("c")]).toEqual([{ value: 1 }, undefined, { value: 3 }]);
    // A run that adds nothing writes nothing.
    const before = await readFile(path, "utf8");
    await third.save();
    expect(await readFile(path, "utf8")).toBe(before);
    // Another build's memo is not read.
    expect((await fileMemo(path, "build-2")).get("a")).toBeUndefined();
    // A damaged file is an empty memo, and the next save replaces it.
    await writeFile(path, "{not json");
    const damaged = await fileMemo(path, "build-1");
    expect(damaged.get("a")).toBeUndefined();
    damaged.set("d", { value: 4 });
    await damaged.save();
    expect((await fileMemo(path, "build-1")).get("d")).toEqual({ value: 4 });
    // Leftover part files: none.
    expect((await readdir(join(dir, "memo"))).filter((f) => f.endsWith(".part"))).toEqual([]);
  });

  it("falls back to the build's memo of the shipped project, read only", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ops-rig-memo-seed-"));
    dirs.push(dir);
    const seed = join(dir, "seed.json");
    await writeFile(
      seed,
      JSON.stringify({ build: "build-1", entries: { shipped: { value: "s" }, both: { value: "seed" } } }),
    );
    const path = join(dir, "memo", "project.json");
    const user = await fileMemo(path, "build-1");
    user.set("both", { value: "user" });
    await user.save();
    const memo = await fileMemo(path, "build-1", seed);
    expect([memo.get("shipped"), memo.get("both"), memo.get("other")]).toEqual([
      { value: "s" },
      { value: "user" },
      undefined,
    ]);
    memo.set("other", { value: "o" });
    await memo.save();
    // The seed is never written; what the run used from it is kept in the user's memo.
    expect(JSON.parse(await readFile(seed, "utf8")).entries).toEqual({
      shipped: { value: "s" },
      both: { value: "seed" },
    });
    const after = await fileMemo(path, "build-1");
    expect(after.get("shipped")).toEqual({ value: "s" });
    // A seed from another build is not read.
    expect((await fileMemo(join(dir, "none.json"), "build-2", seed)).get("shipped")).toBeUndefined();
    // The built CLI reads memo.json beside its code.
    await writeFile(join(dir, "build-id"), "build-1\n");
    await writeFile(join(dir, "memo.json"), await readFile(seed, "utf8"));
    const built = await builtResultCache(pathToFileURL(join(dir, "main.js")).href, join(dir, "cache"));
    expect((await built?.memo())?.get("shipped")).toEqual({ value: "s" });
  });

  it("spares the CLI's render the unchanged components after an edit, with the same output as a fresh render", async () => {
    const files = await shippedFiles();
    const project = await writeProject(files);
    const cacheDir = await mkdtemp(join(tmpdir(), "ops-rig-memo-cli-"));
    dirs.push(project, cacheDir);
    const cache = fileResultCache(join(cacheDir, "results"), "build-1");
    const args = ["--config", project, "--json", "render"];
    const env = { OPS_RIG_CACHE: cacheDir };
    expect((await runCli(args, env, { cache })).code).toBe(0);
    const memoFile = join(cacheDir, "results", "memo", "project.json");
    const stored = JSON.parse(await readFile(memoFile, "utf8")) as {
      build: string;
      entries: Record<string, { component?: { name: string; size: number } }>;
    };
    expect(stored.build).toBe("build-1");
    // Tamper with volatility3's remembered size: the next run shows it, proving it was not rendered.
    for (const entry of Object.values(stored.entries))
      if (entry.component?.name === "volatility3") entry.component.size = 7;
    await writeFile(memoFile, JSON.stringify(stored));
    const component = join(project, "components/sleuthkit.yaml");
    await writeFile(component, `${await readFile(component, "utf8")}# edited\n`);
    const edited = await runCli(args, env, { cache });
    expect(edited.code, edited.stderr).toBe(0);
    const chars = (out: string) =>
      (JSON.parse(out) as { components: Record<string, { chars: number }> }).components;
    expect(chars(edited.stdout).volatility3?.chars).toBe(7);
    // Without the memo (another build), the edited project renders as a fresh process would.
    const fresh = await runCli(args, env, { cache: fileResultCache(join(cacheDir, "other"), "build-2") });
    const expected = chars(fresh.stdout);
    const actual = chars(edited.stdout);
    expect(Object.keys(actual)).toEqual(Object.keys(expected));
    for (const name of Object.keys(expected)) {
      if (name === "volatility3") continue;
      expect(actual[name], name).toEqual(expected[name]);
    }
    await removeProject(project);
  });

  it("is read only for what render and validate report: bake, launch and local builds render from the files", async () => {
    const files = await shippedFiles();
    const project = await writeProject(files);
    const cacheDir = await mkdtemp(join(tmpdir(), "ops-rig-memo-trust-"));
    dirs.push(project, cacheDir);
    const cache = fileResultCache(join(cacheDir, "results"), "build-1");
    const init = {
      output: createOutput({
        json: false,
        verbose: false,
        stdout: new PassThrough(),
        stderr: new PassThrough(),
      }),
      projectRoot: project,
      env: {},
      regions: undefined,
      aws: {} as CommandAws,
      signal: new AbortController().signal,
      cache,
    };
    await createContext(init).rendered({ memo: true });
    // Someone with write access to the cache folder replaces every remembered document.
    const memoFile = join(cacheDir, "results", "memo", "project.json");
    const stored = JSON.parse(await readFile(memoFile, "utf8")) as {
      entries: Record<string, { component?: { document: string } }>;
    };
    let tampered = 0;
    for (const entry of Object.values(stored.entries))
      if (entry.component) {
        entry.component.document = "phases: [{name: build, steps: [{name: Evil, action: ExecuteBash}]}]";
        tampered++;
      }
    expect(tampered).toBe([...files.keys()].filter((f) => /^components\/[^/]+\.yaml$/.test(f)).length);
    await writeFile(memoFile, JSON.stringify(stored));
    const context = createContext(init);
    const reported = await context.rendered({ memo: true });
    const used = await context.rendered();
    expect(reported.components.get("sleuthkit")?.document).toContain("Evil");
    expect(used.components.get("sleuthkit")?.document).not.toContain("Evil");
    expect(used.components.get("sleuthkit")?.document).toContain("fls -V");
    // Only render and validate ask for the memo.
    const askers: string[] = [];
    for (const file of await readdir(join(REPO_ROOT, "src"), { recursive: true })) {
      if (!file.endsWith(".ts")) continue;
      if ((await readFile(join(REPO_ROOT, "src", file), "utf8")).includes("memo: true")) askers.push(file);
    }
    expect(askers.sort()).toEqual(["cli/commands/render.ts", "cli/commands/validate.ts"]);
  });
});
