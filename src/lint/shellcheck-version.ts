import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { LocalRunError } from "../errors.js";

/**
 * shellcheck's version (it keys cached findings and results), or a clear error when it is missing.
 * Plain child_process, not execa: `validate` with a cached result loads nothing else to run.
 */
export async function ensureShellcheck(): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)("shellcheck", ["--version"], { encoding: "utf8" });
    return /version: (\S+)/.exec(stdout)?.[1] ?? "unknown";
  } catch (error) {
    throw new LocalRunError(
      "SHELLCHECK_MISSING",
      "shellcheck is not installed, so the component scripts cannot be checked: apt-get install -y shellcheck",
      { cause: error },
    );
  }
}
