import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BASE_INFO } from "../../src/config/bases.js";
import { componentOnLine } from "../../src/config/types.js";
import { linesOf } from "../../src/pipeline/observe.js";
import type { PipelineProject } from "../../src/pipeline/run.js";
import { aliasParameterName, lineParameterName, TAG } from "../../src/plan/names.js";
import { renderComponent } from "../../src/render/component.js";
import { parseYamlSource } from "../../src/yaml/source.js";
import { type LocalAws, startLocalAws } from "../emulators/local-aws.js";
import { parameterHistory, readRegion } from "./inspect.js";
import { converge, HOME, prepareWorld, REGIONS, runOnce, shippedProject, type World } from "./world.js";

let aws: LocalAws;
const started = Date.now();
beforeAll(async () => {
  aws = await startLocalAws({ regions: REGIONS, clock: "manual", moto: "lent" });
}, 60_000);
afterAll(async () => {
  await aws?.stop();
  console.log(`[e2e pipeline] ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

/** Every line has an available AMI in every region and both parameters point at that region's copy. */
async function expectConverged(project: PipelineProject): Promise<Map<string, string>> {
  const published = new Map<string, string>();
  for (const region of project.pipeline.targetRegions) {
    const state = await readRegion(aws, region);
    for (const line of linesOf(project.toolsets)) {
      const name = lineParameterName(project.pipeline.parameterPrefix, line);
      const value = state.parameters.get(name)?.value;
      const ami = state.amis.find((a) => a.imageId === value);
      expect(ami?.state, `${name} in ${region} → ${value}`).toBe("available");
      expect(ami?.tags[TAG.toolset]).toBe(line.toolset);
      expect(ami?.tags[TAG.base]).toBe(line.base);
      expect(ami?.tags[TAG.fingerprint]).toMatch(/^[0-9a-f]{64}$/);
      if (region !== HOME) expect(ami?.tags[TAG.sourceAmi]).toMatch(/^ami-/);
      published.set(`${region} ${name}`, value ?? "");
    }
    for (const toolset of project.toolsets) {
      const alias = state.parameters.get(
        aliasParameterName(project.pipeline.parameterPrefix, toolset.name),
      )?.value;
      const target = state.parameters.get(
        lineParameterName(project.pipeline.parameterPrefix, { toolset: toolset.name, ...toolset.default }),
      )?.value;
      expect(alias, `alias of ${toolset.name} in ${region}`).toBe(target);
    }
  }
  return published;
}

describe("the bake pipeline against the local AWS (3 regions)", () => {
  let project: PipelineProject;
  let world: World;

  beforeAll(async () => {
    project = await shippedProject();
    world = await prepareWorld(aws, project);
  });

  it("nightly on an empty account: builds start, then every line is published in every region", async () => {
    const first = await runOnce(world, project, { trigger: "nightly" });
    const builds = first.report.actions.filter((a) => a.kind === "build" && a.status === "done");
    expect(builds).toHaveLength(16);
    expect(
      aws.calls().filter((c) => c.service === "imagebuilder" && c.action === "CreateImage"),
    ).toHaveLength(16);
    await aws.imageBuilder.settle();
    const runs = await converge(world, project, { trigger: "tick" });
    console.log(`[e2e pipeline] converged after ${runs.length + 1} runs, ${aws.calls().length} calls`);
    await expectConverged(project);
    // One Image Builder image per line, no duplicates.
    expect(aws.imageBuilder.images().filter((i) => i.status === "AVAILABLE")).toHaveLength(16);
  });

  it("an immediate second run makes no mutating call, and a quiet run costs a small fixed number of reads per region", async () => {
    aws.resetCalls();
    const result = await runOnce(world, project, { trigger: "tick" });
    expect(result.report.counts.changed).toBe(0);
    const calls = aws.calls();
    expect(calls.filter((c) => c.mutating)).toEqual([]);
    const perRegion = new Map<string, string[]>();
    for (const c of calls)
      perRegion.set(c.region, [...(perRegion.get(c.region) ?? []), `${c.service}:${c.action}`]);
    for (const [region, list] of perRegion)
      console.log(`[e2e pipeline] quiet run, ${region}: ${list.length} reads (${list.join(", ")})`);
    for (const region of REGIONS.filter((r) => r !== HOME))
      expect(perRegion.get(region)?.length).toBeLessThanOrEqual(4);
    expect(perRegion.get(HOME)?.length).toBeLessThanOrEqual(8);
    expect(calls.some((c) => c.service === "imagebuilder")).toBe(false);
  });

  it("a newer base image rebakes exactly the lines on it; parameter history keeps the previous value", async () => {
    const before = await expectConverged(project);
    await aws.bases.publishNewer("debian-12", "amd64");
    const run = await runOnce(world, project, { trigger: "nightly" });
    const rebuilt = run.report.actions
      .filter((a) => a.kind === "build")
      .map((a) => a.line)
      .sort();
    expect(rebuilt).toEqual(["heavy/debian-12/amd64", "light/debian-12/amd64"]);
    expect(run.report.actions.find((a) => a.kind === "build")?.reason).toMatch(
      /^new base image ami-[0-9a-f]+ → ami-[0-9a-f]+$/,
    );
    await aws.imageBuilder.settle();
    await converge(world, project);
    const after = await expectConverged(project);
    const changed = [...after].filter(([key, value]) => before.get(key) !== value).map(([key]) => key);
    expect(changed.sort()).toEqual(
      REGIONS.flatMap((r) => [
        `${r} /ops-rig/heavy/debian-12/amd64/ami-id`,
        `${r} /ops-rig/light/debian-12/amd64/ami-id`,
      ]).sort(),
    );
    for (const region of REGIONS) {
      const history = await parameterHistory(aws, region, "/ops-rig/light/debian-12/amd64/ami-id");
      expect(history.map((h) => h.value)).toEqual([
        before.get(`${region} /ops-rig/light/debian-12/amd64/ami-id`),
        after.get(`${region} /ops-rig/light/debian-12/amd64/ami-id`),
      ]);
      expect(history.every((h) => h.labels.some((l) => /^build-\d{8}-\d{6}$/.test(l)))).toBe(true);
    }
  });

  it("a component change rebakes only the lines whose toolset uses it", async () => {
    const plaso = project.components.get("plaso");
    if (!plaso) throw new Error("no plaso component");
    const changedText = plaso.document.replace(
      '"$name" --version',
      '"$name" --version\n                  "$name" --help >/dev/null',
    );
    expect(changedText).not.toBe(plaso.document);
    // Render the changed template like the renderer does, so its hash is a real content hash.
    const template = {
      name: "plaso",
      file: "components/plaso.yaml",
      source: parseYamlSource("components/plaso.yaml", changedText),
    };
    const reRendered = renderComponent(template, {
      file: "components/lib/prelude.sh",
      text: "set -euo pipefail\n",
    });
    expect(reRendered.problems).toEqual([]);
    const components = new Map(project.components);
    components.set("plaso", { ...plaso, ...(reRendered.component ?? {}) });
    const changed: PipelineProject = { ...project, components };
    const run = await runOnce(world, changed, { trigger: "nightly" });
    const rebuilt = run.report.actions.filter((a) => a.kind === "build").map((a) => a.line);
    // Only the heavy lines that carry plaso (README's truth table): the others' recipes do not hold it.
    const heavy = project.toolsets.find((t) => t.name === "heavy");
    const plasoRef = heavy?.components.find((c) => c.name === "plaso");
    const carrying = (heavy?.bases ?? []).flatMap((base) =>
      (heavy?.arches ?? [])
        .filter((arch) => plasoRef && componentOnLine(plasoRef, base, arch))
        .map((arch) => `heavy/${base}/${arch}`),
    );
    expect(carrying).toHaveLength(3);
    expect([...rebuilt].sort()).toEqual([...carrying].sort());
    expect(run.report.actions.find((a) => a.kind === "build")?.reason).toBe("recipe or components changed");
    await aws.imageBuilder.settle();
    await converge(world, changed);
    await expectConverged(changed);
    void BASE_INFO;
  });
});
