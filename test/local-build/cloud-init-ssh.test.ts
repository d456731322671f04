import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { loadProject } from "../../src/config/load.js";
import { runLocalBuild } from "../../src/local/index.js";
import { BOOTSTRAP_PATH, BOOTSTRAP_STATUS, renderProject } from "../../src/render/index.js";
import { REPO_ROOT } from "../helpers/project.js";
import { expectNoLeftovers, recordEvents, report } from "./helpers.js";

/**
 * `ops-rig launch --stock`: a stock Debian instance already booted, with the SSH host keys it
 * generated at first boot and a working sshd, runs the rendered light bootstrap. The keys must
 * survive (no image cleanup on this path) and `sshd -t` must still pass with them.
 */
describe("the light cloud-init bootstrap on a stock instance", () => {
  it("keeps the instance's SSH host keys and leaves a configuration sshd -t accepts", async () => {
    const rendered = renderProject(await loadProject(REPO_ROOT));
    const cloudInit = rendered.toolsets.find((t) => t.toolset.name === "light")?.cloudInit;
    if (!cloudInit) throw new Error("the light toolset renders no cloud-init");
    const packed = gzipSync(Buffer.from(cloudInit.script, "utf8"), { level: 9 }).toString("base64");
    const document = stringify({
      name: "stock-instance",
      schemaVersion: "1.0",
      phases: [
        {
          name: "build",
          steps: [
            {
              name: "StockInstance",
              action: "ExecuteBash",
              inputs: {
                commands: [
                  `set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get -q -o APT::Update::Error-Mode=any update
# openssh-server generates the host keys at install, as cloud-init does at first boot.
apt-get -q -y install --no-install-recommends openssh-server
ls /etc/ssh/ssh_host_*_key
install -d -m 0755 /run/sshd
/usr/sbin/sshd -t
for key in /etc/ssh/ssh_host_*_key; do ssh-keygen -lf "$key"; done > /root/host-keys.before`,
                ],
              },
            },
            {
              name: "RunBootstrap",
              action: "ExecuteBash",
              timeoutSeconds: 3600,
              inputs: {
                commands: [
                  `set -euo pipefail
echo '${packed}' | base64 -d | gunzip > ${BOOTSTRAP_PATH}
chmod 0700 ${BOOTSTRAP_PATH}
${BOOTSTRAP_PATH}
cat ${BOOTSTRAP_STATUS}
[ "$(cat ${BOOTSTRAP_STATUS})" = "ready: light" ]`,
                ],
              },
            },
          ],
        },
        {
          name: "validate",
          steps: [
            {
              name: "HostKeysSurvive",
              action: "ExecuteBash",
              inputs: {
                commands: [
                  `set -euo pipefail
for key in /etc/ssh/ssh_host_*_key; do ssh-keygen -lf "$key"; done > /root/host-keys.after
diff /root/host-keys.before /root/host-keys.after
echo "host keys unchanged: $(wc -l < /root/host-keys.after)"`,
                ],
              },
            },
            {
              name: "SshdAcceptsConfiguration",
              action: "ExecuteBash",
              inputs: {
                commands: [
                  `set -euo pipefail
install -d -m 0755 /run/sshd
/usr/sbin/sshd -t
config="$(/usr/sbin/sshd -T -C user=nobody,host=localhost,addr=127.0.0.1)"
grep -qx "passwordauthentication no" <<< "$config"
grep -qx "permitrootlogin no" <<< "$config"
systemctl is-enabled ops-rig-break-glass.timer
echo "sshd -t passes with the instance's own host keys"`,
                ],
              },
            },
          ],
        },
      ],
    });
    expect(document.length).toBeLessThan(16_000);
    const recorder = recordEvents();
    const result = await runLocalBuild({
      base: "debian-12",
      components: [{ name: "stock-instance", document, parameters: {} }],
      onEvent: recorder.onEvent,
    });
    report("light cloud-init bootstrap on a stock instance", result);
    expect(result.failure).toBeUndefined();
    expect(result.ok).toBe(true);
    // The bootstrap ran every build and validate step of the light components but the baked-only cleanup.
    const ran = recorder.events
      .filter((e) => e.data?.kind === "output" && e.subject === "stock-instance/build/RunBootstrap")
      .map((e) => String(e.data?.text))
      .join("");
    expect(ran).toContain("ops-rig: responder-access/build/HardenSshd (attempt 1/1)");
    expect(ran).toContain("ops-rig: light rig ready");
    expect(ran).not.toContain("image-cleanup");
    await expectNoLeftovers(recorder.work());
  });
});
