import { gzipSync } from "node:zlib";
import type { Prelude, Toolset } from "../config/types.js";
import type { Problem } from "../errors.js";
import type { PhaseName } from "./awstoe.js";
import { type BashStep, shellQuote, stepToBash } from "./bash.js";
import { preludeLines, type RenderedComponent } from "./component.js";
import { toAwstoeYaml } from "./document.js";
import { sha256Hex } from "./hash.js";

/** EC2 accepts at most 16 KB of user data before base64. */
export const MAX_USER_DATA_BYTES = 16_384;
export const BOOTSTRAP_PATH = "/usr/local/sbin/ops-rig-bootstrap";
export const BOOTSTRAP_LOG = "/var/log/ops-rig-bootstrap.log";
export const BOOTSTRAP_STATUS = "/var/lib/ops-rig/bootstrap.status";

/** Phases a stock instance runs at boot: `test` belongs to a fresh instance of a baked image. */
const CLOUD_INIT_PHASES: readonly PhaseName[] = ["build", "validate"];

export interface RenderedCloudInit {
  readonly toolset: string;
  /** `#cloud-config` user data, ready for RunInstances. */
  readonly userData: string;
  readonly bytes: number;
  readonly hash: string;
  /** Whether the bootstrap script had to be gzip-compressed to fit. */
  readonly compressed: boolean;
  /** The bootstrap script inside the user data (uncompressed), for shellcheck and humans. */
  readonly script: string;
  readonly steps: number;
}

/**
 * Renders the toolset's components as cloud-init user data that turns a stock Ubuntu/Debian AMI
 * into a rig at first boot: the same documents Image Builder runs, translated to one bash script
 * (build phases of every component in recipe order, then the validate phases), with the toolset's
 * parameter values filled in.
 */
export function renderCloudInit(
  toolset: Toolset,
  components: ReadonlyMap<string, RenderedComponent>,
  prelude: Prelude,
): { cloudInit?: RenderedCloudInit; problems: Problem[] } {
  const problems: Problem[] = [];
  const steps: BashStep[] = [];
  const prefix = preludeLines(prelude);
  for (const phase of CLOUD_INIT_PHASES) {
    for (const ref of toolset.components) {
      // Baked-image-only steps (the end-of-build cleanup) would wipe a live instance's identity.
      if (ref.cloudInit === false) continue;
      const component = components.get(ref.name);
      if (!component) continue;
      const values = new Map<string, string>();
      for (const p of component.model.parameters) {
        const value = ref.parameters[p.name] ?? p.default;
        if (value !== undefined) values.set(p.name, value);
      }
      for (const c of component.model.constants) if (c.value !== undefined) values.set(c.name, c.value);
      for (const step of component.model.phases.find((p) => p.name === phase)?.steps ?? []) {
        const translated = stepToBash(
          withoutPrelude(step, prefix),
          `${ref.name}/${phase}/${step.name}`,
          (name) => values.get(name),
        );
        if (translated.problem)
          problems.push({ file: component.file, message: `cannot render cloud-init: ${translated.problem}` });
        steps.push(...translated.steps);
      }
    }
  }
  if (problems.length > 0) return { problems };

  const script = bootstrapScript(toolset, steps, prelude);
  let compressed = false;
  let userData = cloudConfig(toolset, script, false);
  if (Buffer.byteLength(userData, "utf8") > MAX_USER_DATA_BYTES) {
    compressed = true;
    userData = cloudConfig(toolset, script, true);
  }
  const bytes = Buffer.byteLength(userData, "utf8");
  if (bytes > MAX_USER_DATA_BYTES) {
    problems.push({
      file: toolset.file,
      message: `cloud-init user data is ${bytes} bytes even compressed; EC2 allows ${MAX_USER_DATA_BYTES} (move components to a baked toolset)`,
    });
    return { problems };
  }
  return {
    cloudInit: {
      toolset: toolset.name,
      userData,
      bytes,
      hash: sha256Hex(userData),
      compressed,
      script,
      steps: steps.length,
    },
    problems,
  };
}

/** The rendered ExecuteBash steps carry the prelude; the bootstrap defines it once instead. */
function withoutPrelude<T extends { action: string; inputs?: unknown }>(
  step: T,
  prefix: readonly string[],
): T {
  if (step.action !== "ExecuteBash") return step;
  const commands = (step.inputs as { commands?: unknown }).commands;
  if (!Array.isArray(commands) || !prefix.every((line, index) => commands[index] === line)) return step;
  return { ...step, inputs: { ...(step.inputs as object), commands: commands.slice(prefix.length) } };
}

/**
 * A stock instance is already booted when the bootstrap runs: a timer the steps enabled would only
 * start at the next boot, and sshd would keep its old configuration. Start and reload them now.
 * (A baked image never runs this: it boots with them.)
 */
export const START_ENABLED_UNITS: readonly string[] = [
  "if [ -d /run/systemd/system ]; then",
  "  systemctl daemon-reload",
  "  for unit in /etc/systemd/system/timers.target.wants/ops-rig-*.timer; do",
  '    [ -e "$unit" ] && systemctl start "$(basename "$unit")"',
  "  done",
  "  systemctl try-reload-or-restart ssh.service || true",
  "fi",
];

function bootstrapScript(toolset: Toolset, steps: readonly BashStep[], prelude: Prelude): string {
  const functions = steps.map((step, index) =>
    [`# ${step.label}`, `s${index + 1}() {`, step.script, "}"].join("\n"),
  );
  const runs = steps.map(
    (step, index) =>
      `run ${shellQuote(step.label)} ${step.maxAttempts} ${step.onFailure} ${step.timeoutSeconds} s${index + 1}`,
  );
  return [
    "#!/bin/bash",
    `# ops-rig ${toolset.name} bootstrap, rendered from components/ by ops-rig: do not edit.`,
    "# shellcheck disable=SC2317 # the step functions run through `bash -c`",
    "set -uo pipefail",
    `exec > >(tee -a ${BOOTSTRAP_LOG}) 2>&1`,
    `mkdir -p "$(dirname ${BOOTSTRAP_STATUS})"`,
    `echo running > ${BOOTSTRAP_STATUS}`,
    "failed=0",
    "prelude() {",
    ...preludeLines(prelude),
    "}",
    // Each step runs in its own bash (as AWSTOE runs each step), with the prelude and the
    // step's function exported, so timeouts, retries and `exit` behave per step.
    "run() {",
    '  local label="$1" attempts="$2" on_failure="$3" timeout="$4" fn="$5" attempt=1 reruns=0 rc',
    "  while :; do",
    '    echo "ops-rig: $label (attempt $attempt/$attempts)"',
    '    if [ "$timeout" -gt 0 ]; then timeout "$timeout" bash -c "prelude; $fn"; else bash -c "prelude; $fn"; fi',
    "    rc=$?",
    '    [ "$rc" -eq 0 ] && return 0',
    // 194 asks AWSTOE for a reboot and a re-run of the step; at first boot a re-run is enough.
    '    if [ "$rc" -eq 194 ] && [ "$reruns" -lt 3 ]; then reruns=$((reruns + 1)); continue; fi',
    '    if [ "$attempt" -lt "$attempts" ]; then attempt=$((attempt + 1)); sleep 5; continue; fi',
    '    case "$on_failure" in',
    '      Ignore) echo "ops-rig: $label failed ($rc), ignored"; return 0 ;;',
    '      Continue) echo "ops-rig: $label failed ($rc), continuing"; failed=1; return 0 ;;',
    `      *) echo "ops-rig: \${label} failed (\${rc})"; echo "failed: \${label}" > ${BOOTSTRAP_STATUS}; exit 1 ;;`,
    "    esac",
    "  done",
    "}",
    ...functions,
    `export -f prelude ${steps.map((_, index) => `s${index + 1}`).join(" ")}`,
    ...runs,
    `if [ "$failed" -ne 0 ]; then echo "failed: see ${BOOTSTRAP_LOG}" > ${BOOTSTRAP_STATUS}; exit 1; fi`,
    ...START_ENABLED_UNITS,
    `echo "ready: ${toolset.name}" > ${BOOTSTRAP_STATUS}`,
    `echo "ops-rig: ${toolset.name} rig ready"`,
    "",
  ].join("\n");
}

function cloudConfig(toolset: Toolset, script: string, compress: boolean): string {
  const file = compress
    ? {
        path: BOOTSTRAP_PATH,
        owner: "root:root",
        permissions: "0700",
        encoding: "gz+b64",
        // level 9 and Node's fixed gzip header (no mtime) keep the output byte-for-byte stable.
        content: gzipSync(Buffer.from(script, "utf8"), { level: 9 }).toString("base64"),
      }
    : { path: BOOTSTRAP_PATH, owner: "root:root", permissions: "0700", content: script };
  const body = toAwstoeYaml({ write_files: [file], runcmd: [[BOOTSTRAP_PATH]] });
  return [
    "#cloud-config",
    `# ops-rig ${toolset.name} rig for a stock AMI (no baked image at hand). Progress: ${BOOTSTRAP_LOG}; result: ${BOOTSTRAP_STATUS}`,
    body,
  ].join("\n");
}
