import { existsSync, statSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import {
  BUNDLE_FILE,
  CONFIG_FOLDER,
  HANDLER_ENTRY,
  LAMBDA_CONFIG_PATH,
  LAMBDA_TASK_ROOT,
  MAX_BUNDLE_BYTES,
} from "../../infra/lib/bundle.js";
import { loadProject } from "../../src/config/load.js";
import { renderProject } from "../../src/render/index.js";
import { cleanup, REPO_ROOT, sharedBrokerBundle, sharedBundle } from "./helpers.js";

afterAll(cleanup);

async function filesUnder(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await filesUnder(dir, path)));
    else out.push(path);
  }
  return out.sort();
}

describe("the Lambda bundle", () => {
  it("is one ESM file with the handler, built once per test file", () => {
    const bundle = sharedBundle();
    console.log(
      `[bundle] ${HANDLER_ENTRY}: ${bundle.millis.toFixed(0)} ms, ${(bundle.bytes / 1024).toFixed(0)} KiB`,
    );
    expect(sharedBundle()).toBe(bundle);
    expect(existsSync(join(bundle.dir, BUNDLE_FILE))).toBe(true);
    expect(bundle.sourceFiles).toContain(HANDLER_ENTRY);
  });

  it("weighs at most 1 MB, carries only the SDK clients the Lambda calls, and keeps its source map beside it", () => {
    const bundle = sharedBundle();
    const bytes = statSync(join(bundle.dir, BUNDLE_FILE)).size;
    console.log(`[bundle] ${BUNDLE_FILE}: ${bytes} bytes (limit ${MAX_BUNDLE_BYTES})`);
    expect(bytes).toBeLessThanOrEqual(MAX_BUNDLE_BYTES);
    const inputs = Object.keys(bundle.metafile.inputs);
    const clients = [
      ...new Set(inputs.flatMap((f) => /@aws-sdk\/client-([a-z0-9-]+)\//.exec(f)?.[1] ?? [])),
    ].sort();
    expect(clients).toEqual(["ec2", "imagebuilder", "kms", "ram", "s3", "sns", "ssm", "sts"]);
    // No other zod locale than English.
    expect(inputs.filter((f) => /zod\/v4\/locales\/(?!en\.js|index\.js)/.test(f))).toEqual([]);
    // The map stays beside the bundle for debugging; nothing makes Node load it at a cold start (the
    // function's environment, without NODE_OPTIONS=--enable-source-maps, is asserted in stack.test.ts).
    expect(existsSync(join(bundle.dir, `${BUNDLE_FILE}.map`))).toBe(true);
  });

  it("exports a handler that Node 20 can import as ESM", async () => {
    const module = (await import(pathToFileURL(join(sharedBundle().dir, BUNDLE_FILE)).href)) as {
      handler?: unknown;
    };
    expect(typeof module.handler).toBe("function");
  });

  it("ships the project's recipes/ and components/ where OPS_RIG_CONFIG points", async () => {
    const bundle = sharedBundle();
    expect(LAMBDA_CONFIG_PATH).toBe(`${LAMBDA_TASK_ROOT}/${CONFIG_FOLDER}`);
    const shipped = await filesUnder(join(bundle.dir, CONFIG_FOLDER));
    const expected = [
      ...(await filesUnder(join(REPO_ROOT, "recipes"))).map((f) => `recipes/${f}`),
      ...(await filesUnder(join(REPO_ROOT, "components"))).map((f) => `components/${f}`),
    ].sort();
    expect(shipped).toEqual(expected);
    expect(shipped).toContain("components/lib/prelude.sh");
    expect(shipped).toContain("recipes/pipeline.yaml");
  });

  it("renders the same documents from the bundled config as from the repository", async () => {
    const bundled = renderProject(await loadProject(join(sharedBundle().dir, CONFIG_FOLDER)));
    const repo = renderProject(await loadProject(REPO_ROOT));
    const hashes = (p: typeof repo) => [...p.components.values()].map((c) => `${c.name}:${c.hash}`).sort();
    expect(hashes(bundled)).toEqual(hashes(repo));
    expect(hashes(bundled).length).toBeGreaterThan(5);
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
      const text = await readFile(join(bundle.dir, BUNDLE_FILE), "utf8");
      expect(text).not.toMatch(/cloud-copilot|iam-simulate|AGPL/i);
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
