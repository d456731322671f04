import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { loadProject } from "../../src/config/load.js";
import { type LocalBuildResult, runLocalBuild } from "../../src/local/index.js";
import type { AwstoeStep } from "../../src/render/awstoe.js";
import { renderProject } from "../../src/render/index.js";
import { REPO_ROOT } from "../helpers/project.js";
import { recordEvents, report } from "./helpers.js";

const rendered = renderProject(await loadProject(REPO_ROOT));

function stepsOf(component: string, phase: string): readonly AwstoeStep[] {
  const steps = rendered.components.get(component)?.model.phases.find((p) => p.name === phase)?.steps;
  if (!steps || steps.length === 0) throw new Error(`${component} has no ${phase} steps`);
  return steps;
}

/** A local Debian package repository (flat, signed by nobody: trusted for this root only). */
const LOCAL_REPO = String.raw`
make_deb() { # name version [file-to-ship]
  local dir; dir="$(mktemp -d)"
  mkdir -p "$dir/DEBIAN"
  printf 'Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: ops-rig tests <t@example.com>\nDescription: ops-rig test package\n' "$1" "$2" > "$dir/DEBIAN/control"
  if [ "$#" -ge 3 ]; then mkdir -p "$dir$(dirname "$3")"; echo "test kernel" > "$dir$3"; fi
  dpkg-deb --build --root-owner-group "$dir" "/srv/ops-rig-repo/$1_$2_all.deb" >/dev/null
  rm -rf "$dir"
}
publish_repo() {
  cd /srv/ops-rig-repo
  : > Packages
  for deb in *.deb; do
    dpkg-deb -f "$deb" >> Packages
    printf 'Filename: ./%s\nSize: %s\nSHA256: %s\n\n' "$deb" "$(stat -c %s "$deb")" "$(sha256sum "$deb" | cut -d' ' -f1)" >> Packages
  done
  printf 'Origin: ops-rig-test\nLabel: ops-rig-test\nSuite: test\nCodename: test\nDate: %s\nArchitectures: all amd64 arm64\nSHA256:\n %s %s Packages\n' \
    "$(date -Ru)" "$(sha256sum Packages | cut -d' ' -f1)" "$(stat -c %s Packages)" > Release
  echo 'deb [trusted=yes] file:/srv/ops-rig-repo ./' > /etc/apt/sources.list.d/ops-rig-test.list
  cd /
}
mkdir -p /srv/ops-rig-repo
`;

function document(build: readonly AwstoeStep[], validate: readonly AwstoeStep[]): string {
  const step = (s: AwstoeStep) => ({ ...s, onFailure: "Continue" });
  return stringify({
    name: "old-state",
    schemaVersion: "1.0",
    phases: [
      { name: "build", steps: build },
      { name: "validate", steps: validate.map(step) },
    ],
  });
}

/** The output each step printed, from the runner's streamed output events. */
function outputs(recorder: ReturnType<typeof recordEvents>): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of recorder.events)
    if (e.data?.kind === "output" && typeof e.data.text === "string")
      out.set(e.subject, (out.get(e.subject) ?? "") + e.data.text);
  return out;
}

function failedSteps(recorder: ReturnType<typeof recordEvents>): string[] {
  return recorder.events.filter((e) => e.type === "failed" && e.data?.kind === "step").map((e) => e.subject);
}

describe("the cleanup's and the upgrade's checks fail on the old behaviour", () => {
  it("every image-cleanup validate step fails on a root in the old state, with a clear message", async () => {
    // The state an image had before image-cleanup existed: everything the build left behind.
    const oldState: AwstoeStep = {
      name: "OldState",
      action: "ExecuteBash",
      inputs: {
        commands: [
          `set -euo pipefail
${LOCAL_REPO}
# Left behind before the cleanup (older than the machine-id written after them).
mkdir -p /var/lib/cloud/instances/i-0123456789abcdef0 /var/lib/amazon/ssm /root /var/log/journal/abc
echo '{}' > /var/lib/cloud/instances/i-0123456789abcdef0/obj.pkl
echo 'registration' > /var/lib/amazon/ssm/registration
echo 'apt-get install everything' > /root/.bash_history
echo leftover > /tmp/build-leftover
echo journal > /var/log/journal/abc/system.journal
echo old > /var/log/syslog.1
head -c 200000 /dev/zero | tr '\\0' x > /var/log/build.log
touch -d '1 hour ago' /tmp/build-leftover /var/log/journal/abc/system.journal
install -d /var/lib/apt/lists && echo list > /var/lib/apt/lists/deb.debian.org_debian_dists_stable_InRelease
ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key 2>/dev/null || { mkdir -p /etc/ssh; echo key > /etc/ssh/ssh_host_ed25519_key; }
echo 0123456789abcdef0123456789abcdef > /etc/machine-id
# A package the build did not upgrade: version 1 installed, version 2 in a repository.
make_deb ops-rig-probe 1
dpkg -i /srv/ops-rig-repo/ops-rig-probe_1_all.deb >/dev/null
make_deb ops-rig-probe 2
rm /srv/ops-rig-repo/ops-rig-probe_1_all.deb
publish_repo
apt-get -q -o APT::Update::Error-Mode=any update >/dev/null`,
        ],
      },
    };
    const checks = [
      ...stepsOf("image-cleanup", "build").filter((s) => s.name === "NothingLeftToUpgrade"),
      ...stepsOf("image-cleanup", "validate"),
    ];
    expect(checks.map((s) => s.name)).toEqual([
      "NothingLeftToUpgrade",
      "MachineIdEmpty",
      "NoCloudInitInstanceData",
      "NoSsmRegistration",
      "NoShellHistory",
      "NoAptLists",
      "NoBuildLogs",
      "NoTemporaryFiles",
      "NoHostKeys",
    ]);
    const recorder = recordEvents();
    const result: LocalBuildResult = await runLocalBuild({
      base: "debian-12",
      components: [{ name: "old-state", document: document([oldState], checks), parameters: {} }],
      onEvent: recorder.onEvent,
    });
    report("image-cleanup checks on the old state", result);
    expect(result.ok).toBe(false);
    // Every check ran and failed (onFailure: Continue), none passed by accident.
    expect(failedSteps(recorder)).toEqual(checks.map((s) => `old-state/validate/${s.name}`));
    const said = outputs(recorder);
    const message = (step: string) => said.get(`old-state/validate/${step}`) ?? "";
    expect(message("NothingLeftToUpgrade")).toMatch(
      /packages still upgradable at the end of the build: .*ops-rig-probe/,
    );
    expect(message("MachineIdEmpty")).toContain(
      '/etc/machine-id is "0123456789abcdef0123456789abcdef", not empty',
    );
    expect(message("NoCloudInitInstanceData")).toContain(
      "/var/lib/cloud/instances holds the build instance's cloud-init state",
    );
    expect(message("NoSsmRegistration")).toContain("/var/lib/amazon/ssm/registration ships");
    expect(message("NoShellHistory")).toContain("shell histories ship: /root/.bash_history");
    expect(message("NoAptLists")).toMatch(/apt lists ship \(\/var\/lib\/apt\/lists\//);
    expect(message("NoBuildLogs")).toMatch(/journal files of the build ship|rotated logs ship|untruncated/);
    expect(message("NoTemporaryFiles")).toContain("temporary files of the build ship: /tmp/build-leftover");
    expect(message("NoHostKeys")).toContain(
      "SSH host keys are baked into the image: /etc/ssh/ssh_host_ed25519_key",
    );
  });

  it("the full upgrade installs a pending update, asks for a reboot when it brought a new kernel, and ends after it", async () => {
    const oldState: AwstoeStep = {
      name: "PendingKernelUpdate",
      action: "ExecuteBash",
      inputs: {
        commands: [
          `set -euo pipefail
${LOCAL_REPO}
make_deb ops-rig-kernel 1
dpkg -i /srv/ops-rig-repo/ops-rig-kernel_1_all.deb >/dev/null
rm /srv/ops-rig-repo/ops-rig-kernel_1_all.deb
# Version 2 brings a new kernel image, as a linux-image upgrade does.
make_deb ops-rig-kernel 2 /boot/vmlinuz-9.9.9-ops-rig-test
publish_repo`,
        ],
      },
    };
    const upgrade = stepsOf("base-upgrade", "build");
    const proof = stepsOf("image-cleanup", "build").filter((s) => s.name === "NothingLeftToUpgrade");
    const recorder = recordEvents();
    const result = await runLocalBuild({
      base: "debian-12",
      components: [
        {
          name: "upgrade",
          document: stringify({
            name: "upgrade",
            schemaVersion: "1.0",
            phases: [
              { name: "build", steps: [oldState, ...upgrade] },
              { name: "validate", steps: proof },
            ],
          }),
          parameters: {},
        },
      ],
      onEvent: recorder.onEvent,
    });
    report("full upgrade with a new kernel", result);
    expect(result.failure).toBeUndefined();
    expect(result.ok).toBe(true);
    // Exit 194 once (AWSTOE's reboot), then the re-run finds nothing new and ends.
    const reboots = recorder.events.filter(
      (e) =>
        e.subject === "upgrade/build/FullUpgrade" &&
        e.type === "progress" &&
        e.data?.kind === "step" &&
        e.data.reboot,
    );
    expect(reboots).toHaveLength(1);
    expect(outputs(recorder).get("upgrade/build/FullUpgrade")).toContain(
      "new kernel installed (vmlinuz-9.9.9-ops-rig-test): rebooting into it",
    );
    expect(outputs(recorder).get("upgrade/validate/NothingLeftToUpgrade")).toContain(
      "no package left to upgrade",
    );
  });
});
