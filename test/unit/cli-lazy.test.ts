import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { COMMANDS, commandName } from "../../src/cli/main.js";
import { REPO_ROOT } from "../helpers/paths.js";

/** Every module reachable from `entry` by static imports (dynamic `import()` is what stays lazy). */
async function staticGraph(entry: string): Promise<Set<string>> {
  const seen = new Set<string>();
  const visit = async (file: string): Promise<void> => {
    if (seen.has(file)) return;
    seen.add(file);
    if (!file.startsWith("/")) return;
    const text = await readFile(file, "utf8");
    const specs = [...text.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+["']([^"']+)["']/gms)].map(
      (m) => m[1] ?? "",
    );
    for (const spec of specs) {
      if (spec.startsWith(".")) await visit(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
      else seen.add(spec);
    }
  };
  await visit(join(REPO_ROOT, entry));
  return seen;
}

describe("the CLI loads only what the command needs", () => {
  it("finds the command's name past global options and their values", () => {
    expect(commandName(["--config", "dir", "--region", "eu-west-1", "--json", "render", "--out", "x"])).toBe(
      "render",
    );
    expect(commandName(["--regions", "a,b", "bake"])).toBe("bake");
    expect(commandName(["--help"])).toBeUndefined();
    expect(COMMANDS.map((c) => c.name)).toContain("local-build");
  });

  it("--version, render and validate load no AWS SDK client (statically)", async () => {
    for (const entry of ["src/cli/main.ts", "src/cli/commands/render.ts", "src/cli/commands/validate.ts"]) {
      const sdk = [...(await staticGraph(entry))].filter((m) => m.startsWith("@aws-sdk/"));
      expect(sdk, entry).toEqual([]);
    }
    // The entry point itself loads no YAML parser or schema library before a command needs them.
    const main = await staticGraph("src/cli/main.ts");
    expect([...main].filter((m) => m === "yaml" || m === "zod")).toEqual([]);
    // With a cached result, render and validate parse no YAML and build no schema: those load
    // (dynamically) only when the work is done. Checking scripts never loads execa (its import cost
    // more than shellcheck's run on one changed script).
    for (const entry of ["src/cli/commands/render.ts", "src/cli/commands/validate.ts"]) {
      const heavy = [...(await staticGraph(entry))].filter((m) => ["yaml", "zod", "execa"].includes(m));
      expect(heavy, entry).toEqual([]);
    }
    const checking = [...(await staticGraph("src/lint/shellcheck.ts"))];
    expect(checking).toContain("yaml");
    expect(checking).not.toContain("execa");
    expect([...(await staticGraph("src/local/build.ts"))]).toContain("execa");
    // A command that calls AWS does reach the SDK (so the walk above can fail).
    const bake = [...(await staticGraph("src/cli/aws.ts"))].filter((m) => m.startsWith("@aws-sdk/"));
    expect(bake.length).toBeGreaterThan(3);
  });
});
