import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../helpers/paths.js";

async function sources(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(join(REPO_ROOT, dir), { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".ts")) continue;
    const path = join(entry.parentPath, entry.name);
    out.set(relative(REPO_ROOT, path), await readFile(path, "utf8"));
  }
  return out;
}

/** Every module a file imports (static and dynamic). */
function imports(text: string): string[] {
  return [...text.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)].map((m) => m[1] ?? "");
}

describe("the layers", () => {
  it("commands only parse and render: no command imports src/aws or an SDK client", async () => {
    const offenders: string[] = [];
    const commands = await sources("src/cli/commands");
    expect(commands.size).toBeGreaterThan(8);
    for (const [file, text] of commands) {
      for (const spec of imports(text))
        if (spec.startsWith("@aws-sdk/") || /(^|\/)aws\//.test(spec)) offenders.push(`${file}: ${spec}`);
    }
    expect(offenders).toEqual([]);
  });

  it("services, the pipeline and the Lambda reach AWS only through ports", async () => {
    const offenders: string[] = [];
    for (const dir of ["src/services", "src/pipeline", "src/plan", "src/render"]) {
      for (const [file, text] of await sources(dir)) {
        for (const spec of imports(text))
          if (spec.startsWith("@aws-sdk/") || /(^|\/)aws\//.test(spec)) offenders.push(`${file}: ${spec}`);
      }
    }
    // The handler is a composition root: it may build clients, but its logic goes through services.
    const handler = (await sources("src/lambda")).get("src/lambda/handler.ts") ?? "";
    expect(imports(handler).filter((s) => s.startsWith("@aws-sdk/"))).toEqual([]);
    expect(offenders).toEqual([]);
  });

  it("no renderer compares event subjects by string: CLI and Lambda switch on the event type", async () => {
    const renderers = new Map([...(await sources("src/cli")), ...(await sources("src/lambda"))]);
    const offenders = [...renderers]
      // local-build renders the local runner's step events (src/local), which keep their own shape.
      .filter(([file]) => file !== "src/cli/commands/local-build.ts")
      .filter(([, text]) => /\.subject\s*(===|!==|==|\.startsWith|\.includes)|subject\s*===/.test(text))
      .map(([file]) => file);
    expect(offenders).toEqual([]);
    const progress = renderers.get("src/cli/progress.ts") ?? "";
    const log = renderers.get("src/lambda/log.ts") ?? "";
    for (const text of [progress, log]) {
      expect(text).toContain("switch (event.type)");
      expect(text).toMatch(/const unhandled: never = event;/);
    }
  });

  it("the core writes nothing to the console", async () => {
    const offenders: string[] = [];
    for (const dir of ["src/services", "src/pipeline", "src/plan", "src/render", "src/aws", "src/lambda"]) {
      for (const [file, text] of await sources(dir)) if (/\bconsole\./.test(text)) offenders.push(file);
    }
    expect(offenders).toEqual([]);
  });
});
