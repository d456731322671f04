import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { PassThrough } from "node:stream";
import { type CliIo, main } from "../../src/cli/main.js";

import { REPO_ROOT } from "./paths.js";

export { REPO_ROOT };

/** The shipped project files (recipes/, components/, prelude), path → text, for tests to mutate. */
export async function shippedFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const dir of ["recipes", "components"]) {
    for (const entry of (await readdir(join(REPO_ROOT, dir))).sort()) {
      if (/\.ya?ml$/.test(entry))
        files.set(`${dir}/${entry}`, await readFile(join(REPO_ROOT, dir, entry), "utf8"));
    }
  }
  files.set(
    "components/lib/prelude.sh",
    await readFile(join(REPO_ROOT, "components/lib/prelude.sh"), "utf8"),
  );
  return files;
}

/** Writes a project folder with these files; returns its path (remove it with `rm`). */
export async function writeProject(files: ReadonlyMap<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "ops-rig-project-"));
  for (const [path, text] of files) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return dir;
}

export async function removeProject(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the ops-rig CLI in this process with captured output. `aws` replaces the AWS the CLI would
 * build from the environment (a FakeAws in service tests).
 */
export async function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  options: Pick<CliIo, "aws" | "signal" | "clock" | "cache"> = {},
): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  stderr.on("data", (chunk: Buffer) => {
    err += chunk.toString();
  });
  const code = await main(args, { ...process.env, NO_COLOR: "1", ...env }, { stdout, stderr, ...options });
  return { code, stdout: out, stderr: err };
}
