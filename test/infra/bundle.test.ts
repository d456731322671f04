import { existsSync, statSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import {
  BUNDLE_FILE,
  codeBytes,
  HANDLER_ENTRY,
  isCodeFile,
  LAMBDA_PROJECT_PATH,
  LAMBDA_TASK_ROOT,
  type LambdaBundle,
  MAX_BUNDLE_BYTES,
  PROJECT_FILE,
  projectInputsHash,
  staticImports,
} from "../../infra/lib/bundle.js";
import { loadProject } from "../../src/config/load.js";
import { projectData, readShippedProject } from "../../src/lambda/project.js";
import { renderProject } from "../../src/render/index.js";
import { cleanup, REPO_ROOT, sharedApiBundle, sharedBrokerBundle, sharedBundle } from "./helpers.js";

afterAll(cleanup);

/** The packages a bundle carries (from esbuild's metafile), e.g. `yaml`, `zod`, `@smithy/core`. */
function packagesOf(bundle: LambdaBundle): string[] {
  const names = Object.keys(bundle.metafile.inputs).flatMap(
    (f) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1] ?? [],
  );
  return [...new Set(names)].sort();
}

describe("the Lambda bundle", () => {
  it("is an ESM entry with the handler and its chunks beside it, built once per test file", () => {
    const bundle = sharedBundle();
    console.log(
      `[bundle] ${HANDLER_ENTRY}: ${bundle.millis.toFixed(0)} ms, ${(bundle.bytes / 1024).toFixed(0)} KiB`,
    );
    expect(sharedBundle()).toBe(bundle);
    expect(existsSync(join(bundle.dir, BUNDLE_FILE))).toBe(true);
    expect(bundle.sourceFiles).toContain(HANDLER_ENTRY);
  });

  it("weighs at most 1 MB, carries only the SDK clients the Lambda calls, and keeps its source map beside it", async () => {
    const bundle = sharedBundle();
    // Everything Lambda may load counts: the entry and every chunk.
    const files = (await readdir(bundle.dir)).filter(isCodeFile);
    expect(files.length).toBeGreaterThan(1);
    const bytes = files.reduce((total, f) => total + statSync(join(bundle.dir, f)).size, 0);
    console.log(
      `[bundle] ${BUNDLE_FILE} and ${files.length - 1} chunks: ${bytes} bytes (limit ${MAX_BUNDLE_BYTES})`,
    );
    expect(codeBytes(bundle.dir)).toBe(bytes);
    expect(bundle.codeBytes).toBe(bytes);
    expect(bytes).toBeLessThanOrEqual(MAX_BUNDLE_BYTES);
    const inputs = Object.keys(bundle.metafile.inputs);
    const clients = [
      ...new Set(inputs.flatMap((f) => /@aws-sdk\/client-([a-z0-9-]+)\//.exec(f)?.[1] ?? [])),
    ].sort();
    expect(clients).toEqual(["ec2", "imagebuilder", "kms", "ram", "s3", "sns", "ssm", "sts"]);
    // The map stays beside the bundle for debugging; nothing makes Node load it at a cold start (the
    // function's environment, without NODE_OPTIONS=--enable-source-maps, is asserted in stack.test.ts).
    expect(existsSync(join(bundle.dir, `${BUNDLE_FILE}.map`))).toBe(true);
  });

  it("loads no SDK client at import: each comes in the chunk its port loads at its first call", () => {
    const { metafile } = sharedBundle();
    const outputs = metafile.outputs;
    const entry = Object.keys(outputs).find((o) => outputs[o]?.entryPoint === HANDLER_ENTRY) as string;
    // The entry and what it imports statically: what a cold import reads and runs.
    const atImport = staticImports(metafile, entry).flatMap((o) => Object.keys(outputs[o]?.inputs ?? {}));
    expect(atImport).toContain(HANDLER_ENTRY);
    expect(atImport.filter((f) => f.includes("node_modules/@aws-sdk/") || f.includes("@smithy/"))).toEqual(
      [],
    );
    // Each port's adapter is a chunk of its own, loaded by a dynamic import.
    const lazy = Object.values(outputs).flatMap((o) => o.entryPoint ?? []);
    for (const adapter of ["ec2", "ssm", "sns", "sts", "imagebuilder", "s3", "share"])
      expect(lazy).toContain(`src/aws/${adapter}.ts`);
  });

  it("exports a handler that Node 20 can import as ESM", async () => {
    const module = (await import(pathToFileURL(join(sharedBundle().dir, BUNDLE_FILE)).href)) as {
      handler?: unknown;
    };
    expect(typeof module.handler).toBe("function");
  });

  it("ships neither yaml nor zod: the project comes rendered (project.json), and events are checked by hand", () => {
    const bundle = sharedBundle();
    const packages = packagesOf(bundle);
    expect(packages).toContain("@smithy/core"); // the metafile does list packages
    expect(packages.filter((p) => p === "yaml" || p === "zod")).toEqual([]);
    expect(
      bundle.sourceFiles.filter(
        (f) =>
          f.startsWith("src/yaml/") ||
          [
            "src/config/load.ts",
            "src/config/parse.ts",
            "src/config/schema.ts",
            "src/render/awstoe.ts",
          ].includes(f),
      ),
    ).toEqual([]);
    // The API reads the same project.json and checks its requests by hand: neither there.
    expect(packagesOf(sharedApiBundle()).filter((p) => p === "yaml" || p === "zod")).toEqual([]);
  });

  it("ships the rendered project where OPS_RIG_PROJECT points, and no recipes/ or components/", async () => {
    expect(LAMBDA_PROJECT_PATH).toBe(`${LAMBDA_TASK_ROOT}/${PROJECT_FILE}`);
    for (const bundle of [sharedBundle(), sharedApiBundle()]) {
      const shipped = (await readdir(bundle.dir)).sort();
      expect(shipped).toContain(PROJECT_FILE);
      // The code, its chunks, their source maps and legal notices; nothing else.
      expect(
        shipped.filter((f) => f !== PROJECT_FILE && !isCodeFile(f.replace(/\.(map|LEGAL\.txt)$/, ""))),
      ).toEqual([]);
    }
    expect(await readdir(sharedBrokerBundle().dir)).not.toContain(PROJECT_FILE);
  });

  it("ships the project as the repository renders it, with the hash of its inputs", async () => {
    const shipped = await readShippedProject(join(sharedBundle().dir, PROJECT_FILE));
    const repo = projectData(renderProject(await loadProject(REPO_ROOT)));
    expect(shipped.inputs).toBe(projectInputsHash(REPO_ROOT));
    expect(shipped.pipeline).toEqual(repo.pipeline);
    expect(shipped.toolsets).toEqual(repo.toolsets);
    expect([...shipped.components.values()]).toEqual(repo.components);
    expect(shipped.components.size).toBeGreaterThan(5);
  });

  it("the built handler loads its project.json at the first invocation, and names the file when it is missing", async () => {
    const bundle = sharedBundle();
    const module = (await import(pathToFileURL(join(bundle.dir, BUNDLE_FILE)).href)) as {
      handler: (event: unknown) => Promise<{ outcome: string; code?: string; message?: string }>;
    };
    const saved = process.env.OPS_RIG_PROJECT;
    try {
      const missing = join(bundle.dir, "missing.json");
      process.env.OPS_RIG_PROJECT = missing;
      expect(await module.handler({})).toMatchObject({
        outcome: "failed",
        code: "CONFIG_INVALID",
        message: expect.stringContaining(`${missing}: cannot be read`),
      });
      // The failed load is not cached: the next invocation tries again. `{}` is ignored without AWS.
      process.env.OPS_RIG_PROJECT = join(bundle.dir, PROJECT_FILE);
      expect(await module.handler({})).toMatchObject({ outcome: "ignored" });
    } finally {
      if (saved === undefined) delete process.env.OPS_RIG_PROJECT;
      else process.env.OPS_RIG_PROJECT = saved;
    }
  });

  it("leaves out the CLI and the CLI-only launch adapter", () => {
    const sources = sharedBundle().sourceFiles;
    expect(sources.filter((f) => f.startsWith("src/cli/") || f === "src/aws/launch.ts")).toEqual([]);
    expect(sources.filter((f) => f.startsWith("node_modules/"))).toEqual([]);
  });

  it("keeps source maps free of machine-specific paths", async () => {
    const map = JSON.parse(await readFile(join(sharedBundle().dir, `${BUNDLE_FILE}.map`), "utf8")) as {
      sources: string[];
    };
    expect(map.sources.length).toBeGreaterThan(0);
    for (const source of map.sources) expect(source).toMatch(/^\.\.\/\.\.\/(src|node_modules)\//);
  });

  it("ships none of the AGPL simulation tools (@cloud-copilot/*), in either Lambda", async () => {
    for (const bundle of [sharedBundle(), sharedBrokerBundle()]) {
      const inputs = Object.keys(bundle.metafile.inputs);
      expect(inputs.length).toBeGreaterThan(5);
      expect(inputs.filter((f) => f.includes("@cloud-copilot"))).toEqual([]);
      for (const file of (await readdir(bundle.dir)).filter((f) => f.endsWith(".mjs"))) {
        const text = await readFile(join(bundle.dir, file), "utf8");
        expect(text).not.toMatch(/cloud-copilot|iam-simulate|AGPL/i);
      }
    }
  });

  it("bundles the case-session broker with its service and adapter only", async () => {
    const broker = sharedBrokerBundle();
    expect(broker.sourceFiles).toEqual(
      expect.arrayContaining([
        "src/lambda/case-session.ts",
        "src/services/case-session.ts",
        "src/aws/case-session.ts",
      ]),
    );
    expect(
      broker.sourceFiles.filter((f) => f.startsWith("src/pipeline/") || f.startsWith("src/cli/")),
    ).toEqual([]);
    const module = (await import(pathToFileURL(join(broker.dir, BUNDLE_FILE)).href)) as { handler?: unknown };
    expect(typeof module.handler).toBe("function");
  });
});
