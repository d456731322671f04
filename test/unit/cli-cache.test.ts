import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { builtResultCache, fileResultCache, type ResultCache } from "../../src/cli/result-cache.js";
import { removeProject, runCli, shippedFiles, writeProject } from "../helpers/project.js";

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function setup() {
  const project = await writeProject(await shippedFiles());
  const cacheRoot = await mkdtemp(join(tmpdir(), "ops-rig-results-"));
  dirs.push(project, cacheRoot);
  const resultsDir = join(cacheRoot, "results");
  // OPS_RIG_CACHE: shellcheck's findings go there too, never to the developer's cache.
  const env = { OPS_RIG_CACHE: cacheRoot };
  return { project, resultsDir, env, cache: fileResultCache(resultsDir, "build-1") };
}

async function entries(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith(".json"));
}

describe("render and validate results, cached by content", () => {
  it("render reuses its stored result until an input, or the build, changes", async () => {
    const { project, resultsDir, env, cache } = await setup();
    const args = ["--config", project, "--json", "render"];
    const first = await runCli(args, env, { cache });
    expect(first.code).toBe(0);
    const stored = await entries(resultsDir);
    expect(stored).toHaveLength(1);

    // Tamper with the stored result: a run that prints the tampered value did not render again.
    const file = join(resultsDir, stored[0] as string);
    const result = JSON.parse(await readFile(file, "utf8")) as { components: { size: number }[] };
    for (const component of result.components) component.size = 7;
    await writeFile(file, JSON.stringify(result));
    const hit = await runCli(args, env, { cache });
    expect(hit.code).toBe(0);
    const chars = (out: string) =>
      Object.values((JSON.parse(out) as { components: Record<string, { chars: number }> }).components).map(
        (c) => c.chars,
      );
    expect(new Set(chars(hit.stdout))).toEqual(new Set([7]));

    // Another ops-rig build renders again (and gets the real sizes).
    const otherBuild = await runCli(args, env, { cache: fileResultCache(resultsDir, "build-2") });
    expect(otherBuild.stdout).toBe(first.stdout);

    // A changed input (one comment line in the prelude) renders again.
    const prelude = join(project, "components/lib/prelude.sh");
    await writeFile(prelude, `${await readFile(prelude, "utf8")}# changed\n`);
    const changed = await runCli(args, env, { cache });
    expect(changed.code).toBe(0);
    expect(chars(changed.stdout)).toEqual(chars(first.stdout));
    expect(await entries(resultsDir)).toHaveLength(3);
    await removeProject(project);
  });

  it("validate stores a success, and never a failure", async () => {
    const { project, resultsDir, env, cache } = await setup();
    const args = ["--config", project, "validate"];
    const ok = await runCli(args, env, { cache });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^ok: 2 toolsets/);
    expect(await entries(resultsDir)).toHaveLength(1);
    expect((await runCli(args, env, { cache })).stdout).toBe(ok.stdout);

    // A shellcheck finding in one component's script: fails, every time.
    const component = join(project, "components/sleuthkit.yaml");
    const text = await readFile(component, "utf8");
    expect(text).toContain("              istat -V\n");
    await writeFile(
      component,
      text.replace("              istat -V\n", "              istat -V\n              cd $HOME\n"),
    );
    for (let run = 0; run < 2; run++) {
      const bad = await runCli(args, env, { cache });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/SC2164|SC2086/);
    }
    expect(await entries(resultsDir)).toHaveLength(1);
  });

  it("keys by every input file, the kind of result and the tool versions", async () => {
    const { project, cache } = await setup();
    const keys = new Set<string>();
    const add = async (c: ResultCache, kind: string, extra?: string[]) =>
      keys.add(await c.key(kind, project, extra));
    await add(cache, "render");
    await add(cache, "render"); // deterministic: the same key again
    expect(keys.size).toBe(1);
    await add(cache, "validate", ["shellcheck 0.9.0"]);
    await add(cache, "validate", ["shellcheck 0.10.0"]);
    await add(fileResultCache("/nonexistent", "build-2"), "render");
    // Any file under recipes/ or components/ counts, even one loadProject does not read.
    await writeFile(join(project, "components", "notes.txt"), "x");
    await add(cache, "render");
    expect(keys.size).toBe(5);
  });

  it("is on for the built CLI (a build id beside its code) and off when running from source", async () => {
    const { cache } = await setup();
    const code = await mkdtemp(join(tmpdir(), "ops-rig-dist-"));
    dirs.push(code);
    const main = pathToFileURL(join(code, "main.js")).href;
    expect(await builtResultCache(main, code)).toBeUndefined();
    await writeFile(join(code, "build-id"), "build-1\n");
    const built = await builtResultCache(main, join(code, "cache"));
    expect(built).toBeDefined();
    const project = (await setup()).project;
    expect(await built?.key("render", project)).toBe(await cache.key("render", project));
    // Running from source: src/cli has no build id.
    expect(
      await builtResultCache(new URL("../../src/cli/main.ts", import.meta.url).href, code),
    ).toBeUndefined();
  });
});
