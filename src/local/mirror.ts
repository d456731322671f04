import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { LocalRunError } from "../errors.js";

/**
 * The Debian mirror a local root installs from: whatever this machine's apt uses, read at run time
 * (never a hard-coded host), so builds work behind the mirror or proxy the machine is set up for.
 */

export interface DebianMirror {
  /** The archive, e.g. `http://deb.debian.org/debian`. */
  readonly archive: string;
  /** The security archive, when the machine uses one. */
  readonly security?: string;
  /** Where the URIs were read from, for messages. */
  readonly source: string;
}

export interface AptSourceEntry {
  readonly types: readonly string[];
  readonly uris: readonly string[];
  readonly suites: readonly string[];
  readonly components: readonly string[];
}

/** Suites that name a Debian release (not Ubuntu's, not third-party repositories'). */
const DEBIAN_SUITES =
  /^(buster|bullseye|bookworm|trixie|forky|duke|sid|stable|testing|unstable|oldstable)(-updates|-backports|-security|-proposed-updates)?$/;

/** Parses deb822 `.sources` text: stanzas separated by blank lines. */
export function parseDeb822Sources(text: string): AptSourceEntry[] {
  const entries: AptSourceEntry[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let current: string | undefined;
    for (const line of stanza.split("\n")) {
      if (line.startsWith("#") || line.trim() === "") continue;
      if (/^\s/.test(line) && current) {
        fields.set(current, `${fields.get(current) ?? ""} ${line.trim()}`);
        continue;
      }
      const match = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (!match) continue;
      current = (match[1] ?? "").toLowerCase();
      fields.set(current, match[2] ?? "");
    }
    if (fields.get("enabled")?.trim().toLowerCase() === "no") continue;
    const words = (key: string) => (fields.get(key) ?? "").split(/\s+/).filter(Boolean);
    if (words("uris").length === 0) continue;
    entries.push({
      types: words("types"),
      uris: words("uris"),
      suites: words("suites"),
      components: words("components"),
    });
  }
  return entries;
}

/** Parses one-line `sources.list` text (`deb [options] URI suite component...`). */
export function parseOneLineSources(text: string): AptSourceEntry[] {
  const entries: AptSourceEntry[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    const match = /^(deb|deb-src)\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!match) continue;
    entries.push({
      types: [match[1] ?? "deb"],
      uris: [match[2] ?? ""],
      suites: [match[3] ?? ""],
      components: (match[4] ?? "").split(/\s+/).filter(Boolean),
    });
  }
  return entries;
}

/** Picks the Debian archive and security archive out of apt source entries. */
export function debianMirrorFrom(
  entries: readonly AptSourceEntry[],
  source: string,
): DebianMirror | undefined {
  let archive: string | undefined;
  let security: string | undefined;
  for (const entry of entries) {
    if (!entry.types.includes("deb")) continue;
    const debianSuites = entry.suites.filter((s) => DEBIAN_SUITES.test(s));
    if (debianSuites.length === 0) continue;
    const uri = (entry.uris[0] ?? "").replace(/\/+$/, "");
    if (!/^https?:\/\//.test(uri)) continue;
    if (debianSuites.some((s) => s.endsWith("-security"))) security ??= uri;
    else archive ??= uri;
  }
  if (!archive) return undefined;
  return { archive, ...(security ? { security } : {}), source };
}

export const APT_SOURCES_DIR = "/etc/apt/sources.list.d";
export const APT_SOURCES_LIST = "/etc/apt/sources.list";

/** Reads this machine's Debian mirror from apt's configuration. */
export async function hostMirror(root = "/"): Promise<DebianMirror> {
  const entries: AptSourceEntry[] = [];
  const sourcesDir = join(root, APT_SOURCES_DIR);
  let files: string[] = [];
  try {
    files = (await readdir(sourcesDir)).sort();
  } catch {
    // No sources.list.d: the one-line file below may still configure apt.
  }
  // debian.sources first: it is where Debian itself configures the archive.
  files.sort((a, b) => Number(b === "debian.sources") - Number(a === "debian.sources"));
  for (const file of files) {
    const text = await readFile(join(sourcesDir, file), "utf8").catch(() => "");
    if (file.endsWith(".sources")) entries.push(...parseDeb822Sources(text));
    else if (file.endsWith(".list")) entries.push(...parseOneLineSources(text));
  }
  entries.push(...parseOneLineSources(await readFile(join(root, APT_SOURCES_LIST), "utf8").catch(() => "")));
  const mirror = debianMirrorFrom(entries, `${APT_SOURCES_DIR}/debian.sources`);
  if (!mirror)
    throw new LocalRunError(
      "NO_MIRROR",
      `no Debian mirror configured on this machine: expected a "URIs:" line for a Debian suite in ${APT_SOURCES_DIR}/debian.sources (or ${APT_SOURCES_LIST})`,
    );
  return mirror;
}

/** The deb822 sources file a root of `suite` uses, pointing at the machine's mirror. */
export function rootSources(mirror: DebianMirror, suite: string): string {
  const stanza = (uri: string, suites: string) =>
    [
      "Types: deb",
      `URIs: ${uri}`,
      `Suites: ${suites}`,
      "Components: main",
      "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg",
    ].join("\n");
  const stanzas = [stanza(mirror.archive, `${suite} ${suite}-updates`)];
  if (mirror.security) stanzas.push(stanza(mirror.security, `${suite}-security`));
  return `${stanzas.join("\n\n")}\n`;
}

/**
 * Fails fast, with the URL, when the mirror cannot serve the suite: otherwise the build would fail
 * 20 seconds later inside mmdebstrap or apt with a less obvious message.
 */
export async function checkMirror(mirror: DebianMirror, suite: string, signal?: AbortSignal): Promise<void> {
  const targets = [`${mirror.archive}/dists/${suite}/InRelease`];
  if (mirror.security) targets.push(`${mirror.security}/dists/${suite}-security/InRelease`);
  for (const url of targets) {
    let status: number;
    try {
      const timeout = AbortSignal.timeout(15_000);
      const response = await fetch(url, {
        method: "HEAD",
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      status = response.status;
    } catch (error) {
      signal?.throwIfAborted();
      throw new LocalRunError(
        "MIRROR_UNREACHABLE",
        `the Debian mirror is unreachable: ${url}: ${(error as Error).message} (configured in ${mirror.source})`,
        { cause: error },
      );
    }
    if (status >= 400)
      throw new LocalRunError(
        "MIRROR_UNREACHABLE",
        `the Debian mirror cannot serve ${suite}: HEAD ${url} answered ${status} (configured in ${mirror.source})`,
      );
  }
}
