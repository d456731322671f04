import { homedir } from "node:os";
import { join } from "node:path";

/** Where ops-rig keeps what it can rebuild: `$OPS_RIG_CACHE`, else `$XDG_CACHE_HOME/ops-rig` or `~/.cache/ops-rig`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.OPS_RIG_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "ops-rig");
}
