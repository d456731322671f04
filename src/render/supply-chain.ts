import type { Problem } from "../errors.js";
import { isRecord } from "./awstoe.js";
import type { RenderedComponent } from "./component.js";

/**
 * What a rendered component may fetch, and how it must prove it got the right thing. Checked on the
 * final documents (and the SSM agent user data), so `validate` refuses a component that:
 * - runs `pip install` without `--require-hashes -r <lock>`, or with a lock line lacking a SHA-256,
 *   or upgrades pip from the package index;
 * - fetches a key from a keyserver (`--recv-keys`, `hkp(s)://`, `pks/lookup`, `apt-key adv`,
 *   `add-apt-repository`): keys ship inside the component, pinned by full fingerprint;
 * - adds an apt source without `signed-by=` and an apt pin (a third-party source could replace any
 *   package);
 * - downloads a file (`curl -o`, `wget -O`) without checking it: `sha256sum -c` against a value in
 *   the component, or `gpgv` whose VALIDSIG must name a full 40-hex fingerprint.
 */

const KEYSERVER = /--recv-keys?|--keyserver|hkps?:\/\/|pks\/lookup|apt-key\s+adv|add-apt-repository/;
const PIP_INSTALL = /\bpip3?\s+install\b|-m\s+pip\s+install\b/;
const PIP_UPGRADE_SELF = /pip3?\s+install\b[^\n]*--upgrade\s+pip\b|pip3?\s+install\b[^\n]*-U\s+pip\b/;
const DOWNLOAD = /\b(curl|wget)\b[^\n]*(\s-o\s|\s-O\s|\s--output[\s=]|\s-O\S|\s-o\S)/;
const CHECKSUM = /sha256sum\s+(-c|--check)\b/;
const SIGNATURE =
  /gpgv\b[\s\S]*VALIDSIG[\s\S]*\b[0-9A-F]{40}\b|gpgv\b[\s\S]*VALIDSIG[\s\S]*\$\{?[A-Z_]*FINGERPRINT/;
/** Writing an apt source (reading or testing for one is fine). */
const APT_SOURCE = /(>>?\s*|\btee\s+(-a\s+)?|\binstall\s[^\n]*)\/etc\/apt\/sources\.list(\.d\/\S*)?/;
const LOCK_LINE = /^[A-Za-z0-9._-]+(\[[^\]]*\])?==\S+(\s+--hash=sha256:[0-9a-f]{64})+$/;

/** Lines of a pip lock that are not pinned with a hash (comments and blank lines aside). */
export function unhashedLockLines(lock: string): string[] {
  return lock
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .filter((line) => !LOCK_LINE.test(line));
}

interface Script {
  readonly where: string;
  readonly text: string;
}

/** The bash of every ExecuteBash step, and the files CreateFile steps write, by path. */
function contents(component: RenderedComponent): { scripts: Script[]; files: Map<string, string> } {
  const scripts: Script[] = [];
  const files = new Map<string, string>();
  for (const phase of component.model.phases)
    for (const step of phase.steps) {
      const where = `${phase.name} / ${step.name}`;
      if (step.action === "ExecuteBash" && isRecord(step.inputs) && Array.isArray(step.inputs.commands))
        scripts.push({ where, text: step.inputs.commands.map(String).join("\n") });
      if (step.action === "CreateFile" && Array.isArray(step.inputs))
        for (const entry of step.inputs)
          if (isRecord(entry) && typeof entry.path === "string" && typeof entry.content === "string") {
            files.set(entry.path, entry.content);
            // A helper script the image installs (lime-build, the break-glass fetcher) runs later: same rules.
            if (entry.content.startsWith("#!"))
              scripts.push({ where: `${where} (${entry.path})`, text: entry.content });
          }
    }
  return { scripts, files };
}

/** Problems in one script; `files` resolves pip lock paths written by the same component. */
export function checkScript(
  file: string,
  where: string,
  text: string,
  files: ReadonlyMap<string, string> = new Map(),
): Problem[] {
  const problems: Problem[] = [];
  const problem = (message: string) => problems.push({ file, path: where, message });
  // Comments say why; only commands count.
  const code = text
    .split("\n")
    .filter((line) => !/^\s*#/.test(line))
    .join("\n")
    .replace(/\\\n/g, " ");
  if (KEYSERVER.test(code))
    problem("fetches a key from a keyserver: ship the key in the component and pin its full fingerprint");
  if (PIP_UPGRADE_SELF.test(code))
    problem("upgrades pip from the package index: use the distribution's pip (pinned by the release)");
  for (const line of code.split("\n").filter((l) => PIP_INSTALL.test(l))) {
    if (!/--require-hashes\b/.test(line)) {
      problem(`pip install without --require-hashes: ${line.trim()}`);
      continue;
    }
    const lock = /\s-r\s+("?)([^\s"]+)\1/.exec(line)?.[2];
    if (!lock) {
      problem(`pip install must install from a hash-locked requirements file (-r <lock>): ${line.trim()}`);
      continue;
    }
    // A lock named through a variable: resolve the variable's literal assignment in the script.
    const path = lock.startsWith("$")
      ? new RegExp(`\\b${lock.replace(/^\$\{?|\}$/g, "")}=("?)([^\\s"]+)\\1`).exec(code)?.[2]
      : lock;
    const content = path ? files.get(path) : undefined;
    if (content === undefined) {
      problem(
        `pip lock ${lock} is not written by the component (CreateFile), so its hashes cannot be checked`,
      );
      continue;
    }
    const bad = unhashedLockLines(content);
    if (bad.length > 0)
      problem(`pip lock ${path} has requirements without an exact version and SHA-256: ${bad.join("; ")}`);
    else if (!content.split("\n").some((l) => LOCK_LINE.test(l.trim())))
      problem(`pip lock ${path} pins nothing`);
  }
  if (DOWNLOAD.test(code) && !CHECKSUM.test(code) && !SIGNATURE.test(code))
    problem(
      "downloads a file without checking it: compare a SHA-256 kept in the component (sha256sum -c) or a gpgv signature by a pinned fingerprint",
    );
  if (APT_SOURCE.test(code)) {
    if (!/signed-by=/.test(code)) problem("adds an apt source without signed-by= (a key only it may use)");
    if (!/preferences\.d\//.test(code) || !/Pin-Priority/.test(code))
      problem("adds an apt source without an apt pin: it could replace any package of the distribution");
  }
  return problems;
}

export function checkSupplyChain(components: Iterable<RenderedComponent>): Problem[] {
  const problems: Problem[] = [];
  for (const component of components) {
    const { scripts, files } = contents(component);
    for (const script of scripts)
      problems.push(...checkScript(component.file, script.where, script.text, files));
  }
  return problems;
}
