import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadProject } from "../../../src/config/load.js";
import { ConfigError } from "../../../src/errors.js";
import {
  PROJECT_FORMAT_VERSION,
  parseShippedProject,
  projectData,
  readShippedProject,
  shippedProjectPath,
  shippedProjectText,
} from "../../../src/lambda/project.js";
import { renderProject } from "../../../src/render/index.js";
import { REPO_ROOT } from "../../helpers/paths.js";

const rendered = renderProject(await loadProject(REPO_ROOT));
const INPUTS = "a".repeat(64);
const text = shippedProjectText(projectData(rendered), INPUTS);

/** The problem a refused file gives, as the handler logs it. */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error("not refused");
}

describe("the project as the Lambdas ship it (project.json)", () => {
  it("reads back what the pipeline runs on: the settings, the toolsets and every rendered component", () => {
    const shipped = parseShippedProject(text, "project.json");
    expect(shipped.inputs).toBe(INPUTS);
    const { source: _p, ...pipeline } = rendered.config.pipeline;
    expect(shipped.pipeline).toEqual(pipeline);
    expect(shipped.toolsets).toEqual(rendered.config.toolsets.map(({ source: _t, ...t }) => t));
    expect([...shipped.components.keys()]).toEqual([...rendered.components.keys()]);
    expect(shipped.components.size).toBeGreaterThan(5);
    // Everything the pipeline uses; not the parsed model, which only the local runners read.
    for (const [name, { model: _model, ...component }] of rendered.components)
      expect(shipped.components.get(name)).toEqual(component);
    for (const component of shipped.components.values()) expect(component).not.toHaveProperty("model");
    // Plain data: no YAML source anywhere.
    expect(text).not.toContain('"source":{');
  });

  it("refuses a file of another format version, naming the file and what to do", () => {
    const other = text.replace(
      `"version":${PROJECT_FORMAT_VERSION},`,
      `"version":${PROJECT_FORMAT_VERSION + 1},`,
    );
    expect(refusal(() => parseShippedProject(other, "/var/task/project.json"))).toBe(
      `/var/task/project.json: is version ${PROJECT_FORMAT_VERSION + 1} of the project format; this code reads version ${PROJECT_FORMAT_VERSION}: bundle and deploy again`,
    );
  });

  it("refuses a changed, truncated or foreign file", () => {
    const edited = text.replace('"homeRegion":"us-east-1"', '"homeRegion":"eu-west-1"');
    expect(edited).not.toBe(text);
    expect(refusal(() => parseShippedProject(edited, "p.json"))).toMatch(
      /^p\.json: does not match its digest/,
    );
    expect(refusal(() => parseShippedProject(text.slice(0, text.length / 2), "p.json"))).toMatch(
      /^p\.json: is not JSON/,
    );
    expect(refusal(() => parseShippedProject('{"hello":1}', "p.json"))).toMatch(
      /^p\.json: is not an ops-rig project/,
    );
    const noToolsets = shippedProjectText({ ...projectData(rendered), toolsets: "x" as never }, INPUTS);
    expect(refusal(() => parseShippedProject(noToolsets, "p.json"))).toMatch(
      /^p\.json: does not have the shape of a rendered project/,
    );
  });

  it("a missing file is a configuration error naming it, not a raw ENOENT", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ops-rig-project-"));
    try {
      const missing = join(dir, "project.json");
      await expect(readShippedProject(missing)).rejects.toThrow(
        new RegExp(
          `^${missing.replaceAll(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: cannot be read .*beside index\\.mjs`,
        ),
      );
      await writeFile(missing, text);
      expect((await readShippedProject(missing)).toolsets.length).toBe(rendered.config.toolsets.length);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("is found at $OPS_RIG_PROJECT, else beside the code", () => {
    expect(shippedProjectPath({ OPS_RIG_PROJECT: "/x/p.json", LAMBDA_TASK_ROOT: "/var/task" })).toBe(
      "/x/p.json",
    );
    expect(shippedProjectPath({ LAMBDA_TASK_ROOT: "/var/task" })).toBe("/var/task/project.json");
  });
});
