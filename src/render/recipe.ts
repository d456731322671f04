import { type Arch, BASE_INFO, type Base } from "../config/bases.js";
import { componentOnLine, type Toolset, type ToolsetData } from "../config/types.js";
import type { Problem } from "../errors.js";
import type { PipelineComponent, RenderedComponent } from "./component.js";
import { canonicalJson, sha256Hex } from "./hash.js";
import { SSM_AGENT_KEY, SSM_AGENT_KEY_FINGERPRINT } from "./keys.js";
import { RESOURCE_PREFIX } from "./names.js";

/** Image Builder's resource name pattern (components, recipes, configurations). */
export const RESOURCE_NAME_PATTERN = /^[-_A-Za-z-0-9][-_A-Za-z0-9 ]{1,126}[-_A-Za-z-0-9]$/;
export const MAX_RECIPE_COMPONENTS = 20;

/** A line is one (toolset, base, arch): the unit that is baked, copied and published. */
export interface LineKey {
  readonly toolset: string;
  readonly base: Base;
  readonly arch: Arch;
}

export function lineId(line: LineKey): string {
  return `${line.toolset}/${line.base}/${line.arch}`;
}

/** `ops-rig-light-ubuntu-24-04-amd64`: dots are not allowed in Image Builder names. */
export function recipeResourceName(line: LineKey): string {
  return `${RESOURCE_PREFIX}-${line.toolset}-${line.base.replaceAll(".", "-")}-${line.arch}`;
}

export interface RecipeComponent {
  readonly name: string;
  readonly resourceName: string;
  readonly hash: string;
  readonly parameters: readonly { readonly name: string; readonly value: readonly string[] }[];
}

export interface BlockDeviceMapping {
  readonly deviceName: string;
  readonly ebs: {
    readonly volumeSize: number;
    readonly volumeType: "gp3";
    readonly encrypted: true;
    readonly deleteOnTermination: true;
    readonly iops?: number;
    readonly throughput?: number;
    readonly kmsKeyId?: string;
  };
}

/** Everything Image Builder needs to know about a line's image recipe (component versions aside). */
export interface RecipeShape {
  readonly line: LineKey;
  readonly name: string;
  readonly description: string;
  readonly parentImage: string;
  readonly components: readonly RecipeComponent[];
  readonly blockDeviceMappings: readonly BlockDeviceMapping[];
  /** Base64 user data replacing Image Builder's own (which installs the SSM agent where it knows how). */
  readonly userDataOverride?: string;
  readonly instanceTypes: readonly string[];
  /** sha256 over all of the above: part of the line's fingerprint. */
  readonly hash: string;
}

export interface RecipeInput {
  readonly toolset: ToolsetData;
  readonly base: Base;
  readonly arch: Arch;
  /** The parent AMI (or `ssm:` parameter) and its root device name. */
  readonly parent: { readonly image: string; readonly rootDeviceName: string };
  /** Rendered components by name (every component the toolset lists). */
  readonly components: ReadonlyMap<string, PipelineComponent>;
  /** The build region: the SSM agent for Debian is fetched from this region's bucket. */
  readonly region: string;
  readonly kmsKeyId?: string;
}

export function renderRecipe(input: RecipeInput): RecipeShape {
  const { toolset, base, arch } = input;
  const line = { toolset: toolset.name, base, arch };
  // A component limited to some bases or arches is left out of the other lines' recipes.
  const onLine = toolset.components.filter((ref) => componentOnLine(ref, base, arch));
  const components = onLine.map((ref): RecipeComponent => {
    const rendered = input.components.get(ref.name);
    if (!rendered) throw new Error(`component ${ref.name} was not rendered`);
    return {
      name: ref.name,
      resourceName: rendered.resourceName,
      hash: rendered.hash,
      parameters: Object.keys(ref.parameters)
        .sort()
        .map((name) => ({ name, value: [ref.parameters[name] ?? ""] })),
    };
  });
  const userData = BASE_INFO[base].ssmAgentPreinstalled ? undefined : ssmAgentUserData(input.region);
  const shape = {
    line,
    name: recipeResourceName(line),
    description: `ops-rig ${toolset.name} toolset on ${base} ${arch}: ${toolset.description}`.slice(0, 1024),
    parentImage: input.parent.image,
    components,
    blockDeviceMappings: [
      {
        deviceName: input.parent.rootDeviceName,
        ebs: {
          volumeSize: toolset.rootVolume.sizeGiB,
          volumeType: "gp3" as const,
          encrypted: true as const,
          deleteOnTermination: true as const,
          ...(toolset.rootVolume.iops !== undefined ? { iops: toolset.rootVolume.iops } : {}),
          ...(toolset.rootVolume.throughput !== undefined
            ? { throughput: toolset.rootVolume.throughput }
            : {}),
          ...(input.kmsKeyId !== undefined ? { kmsKeyId: input.kmsKeyId } : {}),
        },
      },
    ],
    ...(userData !== undefined ? { userDataOverride: Buffer.from(userData, "utf8").toString("base64") } : {}),
    instanceTypes: toolset.instanceTypes[arch] ?? [],
  };
  return { ...shape, hash: sha256Hex(canonicalJson(shape)) };
}

/**
 * Debian's AMIs do not ship the SSM agent, and Image Builder drives every build step through it:
 * without this user data a Debian build times out waiting for the instance to report in. The
 * package is installed only when its detached signature is valid for AWS's key, shipped here and
 * pinned by fingerprint (a `.deb` from "latest" has no fixed checksum to pin).
 */
export function ssmAgentUserData(region: string): string {
  return [
    "#!/bin/bash",
    "# ops-rig: install the SSM agent (Debian AMIs lack it; Image Builder needs it to run the build)",
    "set -euo pipefail",
    "if ! systemctl is-active --quiet amazon-ssm-agent; then",
    '  work="$(mktemp -d)"',
    '  arch="$(dpkg --print-architecture)"',
    `  url="https://s3.${region}.amazonaws.com/amazon-ssm-${region}/latest/debian_\${arch}/amazon-ssm-agent.deb"`,
    "  for attempt in 1 2 3 4 5; do",
    '    curl -fsSL --retry 3 -o "$work/amazon-ssm-agent.deb" "$url" && curl -fsSL --retry 3 -o "$work/amazon-ssm-agent.deb.sig" "$url.sig" && break',
    '    [ "$attempt" = 5 ] && exit 1',
    "    sleep 10",
    "  done",
    `  cat > "$work/key.asc" <<'OPS_RIG_KEY'`,
    ...SSM_AGENT_KEY.trimEnd().split("\n"),
    "OPS_RIG_KEY",
    // gpgv (priority: required in Debian) needs a binary keyring; gpg itself may be absent.
    "  sed -e '/^-----/d' -e '/^[A-Za-z-]*: /d' -e '/^=/d' -e '/^[[:space:]]*$/d' \"$work/key.asc\" | base64 -d > \"$work/key.gpg\"",
    '  status="$(gpgv --status-fd 1 --keyring "$work/key.gpg" "$work/amazon-ssm-agent.deb.sig" "$work/amazon-ssm-agent.deb" 2>/dev/null || true)"',
    `  if ! grep -Eq '^\\[GNUPG:\\] VALIDSIG .* ${SSM_AGENT_KEY_FINGERPRINT}$' <<< "$status"; then`,
    '    echo "amazon-ssm-agent.deb: no valid signature by ' +
      SSM_AGENT_KEY_FINGERPRINT +
      '; not installed" >&2',
    "    exit 1",
    "  fi",
    '  dpkg -i "$work/amazon-ssm-agent.deb"',
    '  rm -rf "$work"',
    "  systemctl enable --now amazon-ssm-agent",
    "fi",
    "",
  ].join("\n");
}

/** Toolset-level checks that need the rendered components: parameters and recipe limits. */
export function checkToolsetAgainstComponents(
  toolset: Toolset,
  components: ReadonlyMap<string, RenderedComponent>,
): Problem[] {
  const problems: Problem[] = [];
  if (toolset.components.length > MAX_RECIPE_COMPONENTS) {
    problems.push(
      toolset.source.problem(
        ["components"],
        `${toolset.components.length} components; Image Builder allows at most ${MAX_RECIPE_COMPONENTS} per recipe`,
      ),
    );
  }
  toolset.components.forEach((ref, index) => {
    const component = components.get(ref.name);
    if (!component) return;
    const declared = component.model.parameters;
    for (const name of Object.keys(ref.parameters)) {
      if (!declared.some((p) => p.name === name)) {
        const known = declared.map((p) => p.name).join(", ") || "none";
        problems.push(
          toolset.source.problem(
            ["components", index, "parameters", name],
            `component "${ref.name}" has no parameter "${name}" (it has: ${known})`,
            {
              key: true,
            },
          ),
        );
      }
    }
    for (const parameter of declared) {
      if (parameter.default === undefined && ref.parameters[parameter.name] === undefined) {
        problems.push(
          toolset.source.problem(
            ["components", index],
            `component "${ref.name}" requires parameter "${parameter.name}" (it has no default)`,
          ),
        );
      }
    }
  });
  for (const base of toolset.bases) {
    for (const arch of toolset.arches) {
      const name = recipeResourceName({ toolset: toolset.name, base, arch });
      if (!RESOURCE_NAME_PATTERN.test(name)) {
        problems.push(
          toolset.source.problem([], `recipe name "${name}" does not match Image Builder's name pattern`),
        );
      }
    }
  }
  return problems;
}
