import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ARCHES, BASES } from "../../src/config/bases.js";
import { parseProject } from "../../src/config/parse.js";
import { ConfigError } from "../../src/errors.js";
import { renderProject, toolSource, truthTableMarkdown } from "../../src/render/index.js";
import { REPO_ROOT } from "../helpers/paths.js";
import { shippedFiles } from "../helpers/project.js";

type Files = Map<string, string>;

function readmeTable(readme: string): string {
  const match = /<!-- truth-table:start -->\n([\s\S]*?)\n<!-- truth-table:end -->/.exec(readme);
  if (!match?.[1]) throw new Error("README.md has no truth-table section");
  return match[1];
}

/** Markdown as written by a formatter (padded cells, longer rules) compared cell by cell. */
function normalize(markdown: string): string[] {
  return markdown.split("\n").map((line) =>
    line.startsWith("|")
      ? line
          .split("|")
          .map((cell) => cell.trim())
          .map((cell) => (/^:?-+:?$/.test(cell) ? "---" : cell))
          .join("|")
      : line.trim(),
  );
}

function problemsOf(files: Files): string[] {
  try {
    renderProject(parseProject(files));
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems.map((p) => p.message);
  }
}

describe("README's per-base truth table is what validate enforces", () => {
  let shipped: Files;
  let readme: string;
  beforeAll(async () => {
    shipped = await shippedFiles();
    readme = await readFile(join(REPO_ROOT, "README.md"), "utf8");
  });

  it("README shows exactly the table generated from the sources and the recipes", () => {
    const project = parseProject(shipped);
    expect(normalize(readmeTable(readme))).toEqual(normalize(truthTableMarkdown(project.toolsets)));
  });

  it("every cell that names a toolset is a recipe carrying the tool there, and only those", () => {
    const rendered = renderProject(parseProject(shipped));
    const table = readmeTable(readme);
    const rows = table
      .split("\n")
      .filter((l) => l.startsWith("| ") && !l.startsWith("| tool") && !l.startsWith("| ---"));
    const columns = BASES.flatMap((base) => ARCHES.map((arch) => ({ base, arch })));
    let cells = 0;
    for (const row of rows) {
      const [tool, ...values] = row
        .split("|")
        .map((c) => c.trim())
        .filter((c) => c !== "");
      columns.forEach(({ base, arch }, i) => {
        const cell = values[i] ?? "";
        for (const { toolset, recipes } of rendered.toolsets) {
          const recipe = recipes.find((r) => r.line.base === base && r.line.arch === arch);
          const carried = recipe?.components.some((c) => c.name === tool) ?? false;
          const listed = new RegExp(`\\(([^)]*\\b)?${toolset.name}\\b`).test(cell);
          expect({ tool, base, arch, toolset: toolset.name, listed }).toEqual({
            tool,
            base,
            arch,
            toolset: toolset.name,
            listed: carried,
          });
          cells++;
        }
      });
    }
    expect(cells).toBeGreaterThan(100);
  });

  it("a line that cannot carry a tool is refused at validate with the table's reason", () => {
    // plaso on every heavy line: each line the table marks "cannot carry" is refused, no other.
    const heavy = (shipped.get("recipes/heavy.yaml") ?? "")
      .replace("    bases: [ubuntu-24.04, debian-13]\n", "")
      .replace("    except: [ubuntu-24.04/arm64]\n", "");
    expect(heavy).not.toBe(shipped.get("recipes/heavy.yaml"));
    const problems = problemsOf(new Map(shipped).set("recipes/heavy.yaml", heavy));
    const expected = BASES.flatMap((base) =>
      ARCHES.flatMap((arch) => {
        const source = toolSource("plaso", base, arch);
        return source.kind === "none"
          ? [`heavy on ${base}/${arch} cannot carry plaso: ${source.reason}`]
          : [];
      }),
    );
    expect(expected).toHaveLength(5);
    expect(problems.map((p) => p.replace(/ \(limit it with .*\)$/, ""))).toEqual(expected);
    for (const reason of expected) expect(readme).toContain(reason.replace(/^.*cannot carry plaso: /, ""));
  });
});
