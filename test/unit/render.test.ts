import { gunzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseProject } from "../../src/config/parse.js";
import {
  checkAwstoeDocument,
  MAX_USER_DATA_BYTES,
  RESOURCE_NAME_PATTERN,
  type RenderedProject,
  recipeResourceName,
  renderProject,
  sha256Hex,
} from "../../src/render/index.js";
import { shippedFiles } from "../helpers/project.js";

type Files = Map<string, string>;

function render(files: Files): RenderedProject {
  return renderProject(parseProject(files));
}

/** Every hash the project renders, by a stable key. */
function allHashes(project: RenderedProject): Map<string, string> {
  const hashes = new Map<string, string>();
  for (const [name, component] of project.components) hashes.set(`component:${name}`, component.hash);
  for (const t of project.toolsets) {
    for (const recipe of t.recipes) hashes.set(`recipe:${recipe.name}`, recipe.hash);
    if (t.cloudInit) hashes.set(`cloud-init:${t.toolset.name}`, t.cloudInit.hash);
  }
  return hashes;
}

function changedKeys(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...before.keys()].filter((key) => before.get(key) !== after.get(key)).sort();
}

describe("renderer", () => {
  let shipped: Files;
  let project: RenderedProject;
  beforeAll(async () => {
    shipped = await shippedFiles();
    project = render(shipped);
  });

  it("renders the same bytes every time", () => {
    const again = render(new Map(shipped));
    for (const [name, component] of project.components)
      expect(again.components.get(name)?.document).toBe(component.document);
    expect(again.toolsets.map((t) => t.cloudInit?.userData)).toEqual(
      project.toolsets.map((t) => t.cloudInit?.userData),
    );
    expect([...allHashes(again)]).toEqual([...allHashes(project)]);
  });

  it("hashes each document's exact text with sha256", () => {
    for (const component of project.components.values()) {
      expect(component.hash).toBe(sha256Hex(component.document));
      expect(component.hash).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it("produces documents Image Builder accepts: valid AWSTOE, within 16,000 characters, prelude first", () => {
    for (const component of project.components.values()) {
      const checked = checkAwstoeDocument(component.resourceName, component.document);
      expect(checked.problems).toEqual([]);
      expect(component.size).toBeLessThanOrEqual(16_000);
      expect(component.document).toContain(`name: ${component.resourceName}`);
      for (const phase of checked.document?.phases ?? []) {
        for (const step of phase.steps) {
          if (step.action !== "ExecuteBash") continue;
          const commands = (step.inputs as { commands: string[] }).commands;
          expect(commands[0], `${component.name} ${phase.name}.${step.name}`).toBe("set -euo pipefail");
        }
      }
    }
  });

  it("keeps {{ variables }} in double-quoted strings in the output", () => {
    const base = project.components.get("responder-base");
    expect(base?.document).toContain(`- "EXTRA_PACKAGES=\\"{{ ExtraPackages }}\\""`);
  });

  it("carries light's essentials and gives heavy everything", () => {
    const names = (toolset: string) =>
      project.toolsets.find((t) => t.toolset.name === toolset)?.components.map((c) => c.name);
    expect(names("light")).toEqual([
      "base-upgrade",
      "responder-base",
      "aws-cli",
      "sleuthkit",
      "network-capture",
      "lime",
      "evidence-mount",
      "responder-access",
      "hardening",
      "image-cleanup",
    ]);
    expect(new Set(names("heavy"))).toEqual(new Set(project.components.keys()));
  });

  it("renders one recipe per base and arch with encrypted gp3 root volumes on the base's root device", () => {
    const light = project.toolsets.find((t) => t.toolset.name === "light");
    expect(light?.recipes).toHaveLength(8);
    const debian = light?.recipes.find((r) => r.line.base === "debian-12" && r.line.arch === "arm64");
    expect(debian?.name).toBe("ops-rig-light-debian-12-arm64");
    expect(debian?.parentImage).toBe("ssm:/aws/service/debian/release/12/latest/arm64");
    expect(debian?.blockDeviceMappings).toEqual([
      {
        deviceName: "/dev/xvda",
        ebs: { volumeSize: 16, volumeType: "gp3", encrypted: true, deleteOnTermination: true },
      },
    ]);
    // Debian AMIs lack the SSM agent that Image Builder drives builds with.
    const userData = Buffer.from(debian?.userDataOverride ?? "", "base64").toString();
    expect(userData).toContain(`amazon-ssm-us-east-1/latest/debian_\${arch}/amazon-ssm-agent.deb`);
    const ubuntu = light?.recipes.find((r) => r.line.base === "ubuntu-24.04" && r.line.arch === "amd64");
    expect(ubuntu?.name).toBe("ops-rig-light-ubuntu-24-04-amd64");
    expect(ubuntu?.blockDeviceMappings[0]?.deviceName).toBe("/dev/sda1");
    expect(ubuntu?.userDataOverride).toBeUndefined();
    for (const recipe of light?.recipes ?? []) expect(recipe.name).toMatch(RESOURCE_NAME_PATTERN);
    expect(recipeResourceName({ toolset: "heavy", base: "ubuntu-22.04", arch: "arm64" })).toBe(
      "ops-rig-heavy-ubuntu-22-04-arm64",
    );
  });

  it("passes the toolset's parameter values to the recipe", () => {
    const files = new Map(shipped);
    files.set(
      "recipes/light.yaml",
      (files.get("recipes/light.yaml") ?? "").replace(
        "  - name: lime\n",
        "  - name: lime\n    parameters:\n      ExtraKernels: 6.1.0-30-cloud-amd64\n",
      ),
    );
    const recipe = render(files).toolsets.find((t) => t.toolset.name === "light")?.recipes[0];
    expect(recipe?.components.find((c) => c.name === "lime")?.parameters).toEqual([
      { name: "ExtraKernels", value: ["6.1.0-30-cloud-amd64"] },
    ]);
  });

  it("renders light's cloud-init from the same components, within EC2's 16 KB", () => {
    const light = project.toolsets.find((t) => t.toolset.name === "light");
    const cloudInit = light?.cloudInit;
    expect(cloudInit).toBeDefined();
    if (!cloudInit) return;
    expect(cloudInit.userData.startsWith("#cloud-config\n")).toBe(true);
    expect(cloudInit.bytes).toBeLessThanOrEqual(MAX_USER_DATA_BYTES);
    const config = parse(cloudInit.userData) as {
      write_files: { path: string; encoding?: string; content: string }[];
      runcmd: string[][];
    };
    const file = config.write_files[0];
    expect(file?.path).toBe("/usr/local/sbin/ops-rig-bootstrap");
    const script =
      file?.encoding === "gz+b64"
        ? gunzipSync(Buffer.from(file.content, "base64")).toString()
        : (file?.content ?? "");
    expect(script).toBe(cloudInit.script);
    expect(config.runcmd).toEqual([["/usr/local/sbin/ops-rig-bootstrap"]]);
    // Build phases of every component in recipe order, then the validate phases; test phases are for baked images.
    const labels = [...script.matchAll(/^run '([^']+)'/gm)].map((m) => m[1] ?? "");
    const firstValidate = labels.findIndex((l) => l.includes("/validate/"));
    expect(labels.slice(0, firstValidate).every((l) => l.includes("/build/"))).toBe(true);
    expect(labels.slice(firstValidate).every((l) => l.includes("/validate/"))).toBe(true);
    expect(labels.some((l) => l.includes("/test/"))).toBe(false);
    expect(labels[0]).toBe("base-upgrade/build/FullUpgrade");
    // The end-of-build cleanup is for baked images only: a stock instance keeps its identity and host keys.
    expect(labels.some((l) => l.startsWith("image-cleanup/"))).toBe(false);
    expect(script).not.toContain("ssh_host_");
    // A stock instance is already booted: the break-glass timer is started, not only enabled.
    expect(script).toContain("/etc/systemd/system/timers.target.wants/ops-rig-*.timer");
    // Parameter defaults are filled in; nothing is left for AWSTOE to substitute.
    expect(script).not.toContain("{{");
    expect(script).toContain('BREAK_GLASS_PARAMETER="/ops-rig/break-glass/secret-id"');
    // The heavy toolset does not ask for cloud-init.
    expect(project.toolsets.find((t) => t.toolset.name === "heavy")?.cloudInit).toBeUndefined();
  });

  it("changing one component changes its hash and only the hashes that depend on it", () => {
    const before = allHashes(project);
    const files = new Map(shipped);
    files.set(
      "components/plaso.yaml",
      (files.get("components/plaso.yaml") ?? "").replace(
        '"$name" --version',
        '"$name" --version\n                  "$name" -h >/dev/null',
      ),
    );
    const changed = changedKeys(before, allHashes(render(files)));
    // plaso is only in heavy, on the lines that can carry it: its component and those recipes
    // change; light and heavy's other lines stay the same.
    const withPlaso = (project.toolsets.find((t) => t.toolset.name === "heavy")?.recipes ?? []).filter((r) =>
      r.components.some((c) => c.name === "plaso"),
    );
    expect(withPlaso.map((r) => `${r.line.base}/${r.line.arch}`)).toEqual([
      "ubuntu-24.04/amd64",
      "debian-13/amd64",
      "debian-13/arm64",
    ]);
    expect(changed).toEqual(["component:plaso", ...withPlaso.map((r) => `recipe:${r.name}`)].sort());
  });

  it("a change to a component both toolsets use changes both toolsets' recipes and the cloud-init", () => {
    const before = allHashes(project);
    const files = new Map(shipped);
    files.set(
      "components/sleuthkit.yaml",
      (files.get("components/sleuthkit.yaml") ?? "").replace("istat -V", "istat -V\n              mmstat -V"),
    );
    const changed = changedKeys(before, allHashes(render(files)));
    expect(changed).toContain("component:sleuthkit");
    expect(changed).toContain("cloud-init:light");
    expect(changed.filter((k) => k.startsWith("component:"))).toEqual(["component:sleuthkit"]);
    expect(changed.filter((k) => k.startsWith("recipe:"))).toHaveLength(16);
  });

  it("a toolset setting changes that toolset's recipes only", () => {
    const before = allHashes(project);
    const files = new Map(shipped);
    files.set(
      "recipes/heavy.yaml",
      (files.get("recipes/heavy.yaml") ?? "").replace("sizeGiB: 40", "sizeGiB: 48"),
    );
    const changed = changedKeys(before, allHashes(render(files)));
    expect(changed).toHaveLength(8);
    expect(changed.every((k) => k.startsWith("recipe:ops-rig-heavy-"))).toBe(true);
  });

  it("the prelude is part of every document: changing it changes every component", () => {
    const before = allHashes(project);
    const files = new Map(shipped);
    files.set("components/lib/prelude.sh", `${files.get("components/lib/prelude.sh")}\numask 022\n`);
    const changed = changedKeys(before, allHashes(render(files)));
    expect(changed.filter((k) => k.startsWith("component:"))).toHaveLength(project.components.size);
  });
});
