import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadProject } from "../../src/config/load.js";
import type { LocalBuildResult } from "../../src/local/index.js";
import type { PipelineProject } from "../../src/pipeline/run.js";
import { renderComponent } from "../../src/render/component.js";
import { parseYamlSource } from "../../src/yaml/source.js";
import { prepareWorld, runOnce, shippedProject } from "../e2e/world.js";
import { createLocalRunnerBuilder } from "../emulators/imagebuilder/local-builder.js";
import { type LocalAws, startLocalAws } from "../emulators/local-aws.js";
import { REPO_ROOT } from "../helpers/project.js";
import { FIXTURES } from "./helpers.js";

// The Image Builder emulator with real local builds: an image is AVAILABLE only after its components
// ran for real in a Debian root, and FAILED exactly where a step failed.
let aws: LocalAws;
const results: { arn: string; result: LocalBuildResult }[] = [];
beforeAll(async () => {
  const project = await loadProject(REPO_ROOT);
  aws = await startLocalAws({
    regions: ["us-east-1"],
    clock: "manual",
    localBuilder: createLocalRunnerBuilder(project, {
      onResult: (arn, result) => results.push({ arn, result }),
    }),
  });
}, 60_000);
afterAll(async () => {
  await aws?.stop();
});

async function projectWith(
  components: readonly string[],
  extra?: { name: string; file: string },
): Promise<PipelineProject> {
  const base = await shippedProject({
    toolsets: ["light"],
    bases: ["debian-12"],
    arches: ["amd64"],
    regions: ["us-east-1"],
    components,
  });
  if (!extra) return base;
  const prelude = {
    file: "components/lib/prelude.sh",
    text: await readFile(join(REPO_ROOT, "components/lib/prelude.sh"), "utf8"),
  };
  const text = await readFile(extra.file, "utf8");
  const rendered = renderComponent(
    { name: extra.name, file: extra.file, source: parseYamlSource(extra.file, text) },
    prelude,
  );
  if (!rendered.component) throw new Error(`fixture does not render: ${JSON.stringify(rendered.problems)}`);
  const map = new Map(base.components);
  map.set(extra.name, rendered.component);
  return {
    ...base,
    components: map,
    toolsets: base.toolsets.map((t) => ({
      ...t,
      components: [...t.components, { name: extra.name, parameters: {} }],
    })),
  };
}

describe("the Image Builder emulator with real local builds", () => {
  it("a Debian light image becomes AVAILABLE only after its components ran for real", async () => {
    const project = await projectWith(["sleuthkit", "network-capture"]);
    const world = await prepareWorld(aws, project);
    await runOnce(world, project, { trigger: "nightly" });
    await aws.imageBuilder.advance(1_000);
    expect(aws.imageBuilder.images().map((i) => i.status)).toEqual(["BUILDING"]);
    await aws.imageBuilder.settle();
    const [image] = aws.imageBuilder.images();
    expect(image?.status).toBe("AVAILABLE");
    const run = results.find((r) => r.arn === image?.arn)?.result;
    expect(run?.ok).toBe(true);
    expect(run?.components.map((c) => [c.name, c.result])).toEqual([
      ["sleuthkit", "passed"],
      ["network-capture", "passed"],
    ]);
    expect(run?.components.every((c) => c.stepsRun >= 3)).toBe(true);
  }, 300_000);

  it("a broken component makes the image FAILED at its step", async () => {
    const project = await projectWith(["sleuthkit"], {
      name: "broken-fixture",
      file: join(FIXTURES, "broken-fixture.yaml"),
    });
    const world = await prepareWorld(aws, project);
    await runOnce(world, project, { trigger: "nightly" });
    await aws.imageBuilder.settle();
    const [image] = aws.imageBuilder.images();
    expect(image?.status).toBe("FAILED");
    expect(image?.reason).toBe(
      "local build failed at broken-fixture/validate/FailsOnPurpose: exited with code 3 after 2 attempts",
    );
    // The pipeline sees the failure and backs the line off.
    const next = await runOnce(world, project, { trigger: "tick" });
    expect(next.report.lines[0]?.state).toBe("backoff");
  }, 300_000);
});
