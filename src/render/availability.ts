import { ARCHES, type Arch, BASES, type Base } from "../config/bases.js";
import { componentOnLine, type Toolset } from "../config/types.js";
import type { Problem } from "../errors.js";

/**
 * Where each tool comes from on each base and architecture: the per-base truth table README shows
 * and `validate` enforces. A line (toolset, base, arch) whose recipe includes a component that has
 * no source there is refused at validate with the reason, not discovered in an hour-long bake.
 */

export type ToolSource =
  | { readonly kind: "package"; readonly detail: string }
  | { readonly kind: "ppa"; readonly detail: string }
  | { readonly kind: "venv"; readonly detail: string }
  | { readonly kind: "installer"; readonly detail: string }
  /** A build step, not a tool (the upgrade at the start, the cleanup at the end). */
  | { readonly kind: "step"; readonly detail: string }
  | { readonly kind: "none"; readonly reason: string };

const DISTRIBUTION: ToolSource = { kind: "package", detail: "the distribution's archive" };

/** Components whose source differs per base or arch; every other one comes from the archive. */
const SOURCES: Readonly<Record<string, (base: Base, arch: Arch) => ToolSource>> = {
  "base-upgrade": () => ({ kind: "step", detail: "full upgrade at the start of every build" }),
  "image-cleanup": () => ({ kind: "step", detail: "nothing of the build ships" }),
  "aws-cli": (base) =>
    base.startsWith("debian")
      ? { kind: "package", detail: "Debian's awscli (v2)" }
      : {
          kind: "installer",
          detail: "AWS's installer, PGP signature checked against the key shipped in the component",
        },
  volatility3: () => ({
    kind: "venv",
    detail: "pinned virtualenv, every requirement hash-locked (--require-hashes), the distribution's pip",
  }),
  plaso: (base, arch) => {
    switch (base) {
      case "debian-13":
        return { kind: "package", detail: "Debian's plaso (20241006)" };
      case "debian-12":
        return {
          kind: "none",
          reason:
            "Debian 12 has no plaso package, and plaso's ~70 Python dependencies (many native) have no hash-locked virtualenv here; use debian-13 or ubuntu-24.04 amd64",
        };
      case "ubuntu-22.04":
        return {
          kind: "none",
          reason:
            "the GIFT PPA publishes current plaso for the newest LTS only (noble), and Ubuntu 22.04's own python3-plaso is from 2020",
        };
      default:
        return arch === "amd64"
          ? {
              kind: "ppa",
              detail:
                "GIFT PPA plaso-tools: key shipped and pinned by fingerprint, apt-pinned so it only adds plaso's packages",
            }
          : {
              kind: "none",
              reason:
                "the GIFT PPA publishes amd64 builds only (Launchpad builds arm64 only when the owner enables it)",
            };
    }
  },
};

export function toolSource(component: string, base: Base, arch: Arch): ToolSource {
  return SOURCES[component]?.(base, arch) ?? DISTRIBUTION;
}

/** Every (base, arch) a toolset builds on, in table order. */
function lines(toolset: Toolset): { base: Base; arch: Arch }[] {
  return BASES.filter((b) => toolset.bases.includes(b)).flatMap((base) =>
    ARCHES.filter((a) => toolset.arches.includes(a)).map((arch) => ({ base, arch })),
  );
}

/** A toolset line whose recipe includes a component with no source there: refused with the reason. */
export function checkToolAvailability(toolset: Toolset): Problem[] {
  const problems: Problem[] = [];
  toolset.components.forEach((ref, index) => {
    for (const { base, arch } of lines(toolset)) {
      if (!componentOnLine(ref, base, arch)) continue;
      const source = toolSource(ref.name, base, arch);
      if (source.kind === "none")
        problems.push(
          toolset.source.problem(
            ["components", index],
            `${toolset.name} on ${base}/${arch} cannot carry ${ref.name}: ${source.reason} (limit it with bases: or except:)`,
          ),
        );
    }
  });
  return problems;
}

const SHORT: Readonly<Record<ToolSource["kind"], string>> = {
  package: "package",
  ppa: "PPA",
  venv: "pinned venv",
  installer: "installer",
  step: "build step",
  none: "—",
};

/**
 * README's truth table, generated from the toolsets and the sources above: one row per component,
 * one column per base/arch; a cell names the source and the toolsets that carry the tool there.
 */
export function truthTableMarkdown(toolsets: readonly Toolset[]): string {
  const columns = BASES.flatMap((base) => ARCHES.map((arch) => ({ base, arch })));
  const names: string[] = [];
  for (const t of toolsets)
    for (const ref of t.components) if (!names.includes(ref.name)) names.push(ref.name);
  const header = `| tool | ${columns.map((c) => `${c.base} ${c.arch}`).join(" | ")} |`;
  const rule = `| --- | ${columns.map(() => "---").join(" | ")} |`;
  const rows = names.map((name) => {
    const cells = columns.map(({ base, arch }) => {
      const carriedBy = toolsets
        .filter((t) => t.bases.includes(base) && t.arches.includes(arch))
        .filter((t) => t.components.some((ref) => ref.name === name && componentOnLine(ref, base, arch)))
        .map((t) => t.name);
      const source = toolSource(name, base, arch);
      if (carriedBy.length === 0) return source.kind === "none" ? "—" : "not in any toolset";
      return `${SHORT[source.kind]} (${carriedBy.join(", ")})`;
    });
    return `| ${name} | ${cells.join(" | ")} |`;
  });
  const sources = names.flatMap((name) => {
    const seen = new Map<string, string[]>();
    for (const { base, arch } of columns) {
      const source = toolSource(name, base, arch);
      if (source === DISTRIBUTION) continue;
      const text = source.kind === "none" ? `cannot carry it: ${source.reason}` : source.detail;
      seen.set(text, [...(seen.get(text) ?? []), `${base} ${arch}`]);
    }
    return [...seen].map(([text, where]) => `- **${name}** on ${where.join(", ")}: ${text}.`);
  });
  return [header, rule, ...rows, "", ...sources].join("\n");
}
