import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { REPO_ROOT, runCli } from "../helpers/project.js";

/** How many components a shipped toolset lists, read from its recipe file. */
async function componentNames(toolset: string): Promise<string[]> {
  const recipe = parse(await readFile(join(REPO_ROOT, "recipes", `${toolset}.yaml`), "utf8")) as {
    components: { name: string }[];
  };
  return recipe.components.map((c) => c.name);
}

async function componentCount(toolset: string): Promise<number> {
  const recipe = parse(await readFile(join(REPO_ROOT, "recipes", `${toolset}.yaml`), "utf8")) as {
    components: unknown[];
  };
  return recipe.components.length;
}

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(dir, path)));
    else out.push(path);
  }
  return out.sort();
}

async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const file of await listFiles(dir)) files.set(file, await readFile(join(dir, file), "utf8"));
  return files;
}

describe("ops-rig render", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), "ops-rig-render-"));
    dirs.push(dir);
    return dir;
  };

  it("render --out writes every light and heavy document and light's cloud-init, identically twice", async () => {
    const first = await tempDir();
    const second = await tempDir();
    const a = await runCli(["render", "--out", first]);
    expect(a.code).toBe(0);
    expect(a.stdout).toContain(`light: ${await componentCount("light")} components, 8 recipes`);
    expect(a.stdout).toContain(`heavy: ${await componentCount("heavy")} components, 8 recipes`);
    // The full upgrade that starts every build is shown like any component.
    expect(a.stdout).toMatch(/^base-upgrade\s+BUILD\s+build,validate/m);
    expect(a.stdout).toMatch(/cloud-init \d+\.\d KiB/);
    const b = await runCli(["render", "--out", second]);
    expect(b.code).toBe(0);
    const one = await snapshot(first);
    const two = await snapshot(second);
    expect([...one.keys()]).toEqual([...two.keys()]);
    for (const [file, text] of one) expect(two.get(file), file).toBe(text);

    const files = [...one.keys()];
    const distinct = new Set([...(await componentNames("light")), ...(await componentNames("heavy"))]);
    expect(files.filter((f) => f.startsWith("components/"))).toHaveLength(distinct.size);
    expect(files.filter((f) => f.startsWith("recipes/"))).toHaveLength(16);
    expect(files).toContain("cloud-init/light.yaml");
    expect(files).toContain("components/ops-rig-volatility3.yaml");
    expect(files).toContain("recipes/ops-rig-heavy-ubuntu-24-04-amd64.json");
    expect(one.get("cloud-init/light.yaml")?.startsWith("#cloud-config\n")).toBe(true);
    const manifest = JSON.parse(one.get("manifest.json") ?? "{}") as { files: string[] };
    expect(manifest.files).toEqual(files.filter((f) => f !== "manifest.json"));
  });

  it("render into an earlier render's folder removes what is no longer rendered", async () => {
    const dir = await tempDir();
    expect((await runCli(["render", "--out", dir])).code).toBe(0);
    await writeFile(join(dir, "notes.txt"), "mine");
    expect((await runCli(["render", "--toolset", "light", "--out", dir])).code).toBe(0);
    const files = await listFiles(dir);
    expect(files).not.toContain("components/ops-rig-plaso.yaml");
    expect(files.filter((f) => f.startsWith("recipes/ops-rig-heavy"))).toEqual([]);
    expect(files).toContain("notes.txt");
  });

  it("render --json prints the manifest with sha256 hashes", async () => {
    const result = await runCli(["--json", "render", "--toolset", "light"]);
    expect(result.code).toBe(0);
    const manifest = JSON.parse(result.stdout) as { components: Record<string, { sha256: string }> };
    expect(Object.keys(manifest.components)).toHaveLength(await componentCount("light"));
    expect(manifest.components.lime?.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("an unknown toolset is a usage error naming the flag", async () => {
    const result = await runCli(["render", "--toolset", "medium"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--toolset: unknown toolset "medium" (known: heavy, light)');
  });

  it("prints its version with --version or -V", async () => {
    const version = (
      JSON.parse(await readFile(join(REPO_ROOT, "package.json"), "utf8")) as { version: string }
    ).version;
    expect(await runCli(["--version"])).toMatchObject({ code: 0, stdout: `${version}\n` });
    expect(await runCli(["-V"])).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it("an unknown flag or command exits 2", async () => {
    expect((await runCli(["render", "--colour"])).code).toBe(2);
    expect((await runCli(["bake-all"])).code).toBe(2);
  });
});
