import { gzipSync } from "node:zlib";
import { expect } from "vitest";
import { stringify } from "yaml";
import { loadProject } from "../../src/config/load.js";
import { runLocalBuild } from "../../src/local/index.js";
import { BOOTSTRAP_PATH, BOOTSTRAP_STATUS, renderCloudInit, renderProject } from "../../src/render/index.js";
import { REPO_ROOT } from "../helpers/project.js";
import { expectNoLeftovers, recordEvents, report } from "./helpers.js";

/**
 * The bootstrap of the light toolset, or of a part of it (CI runs the access part: the whole light
 * bootstrap is the full tier's, see cloud-init-ssh.full.test.ts).
 */
export async function lightBootstrap(only?: readonly string[]): Promise<string> {
  const project = await loadProject(REPO_ROOT);
  const rendered = renderProject(project);
  const light = rendered.toolsets.find((t) => t.toolset.name === "light");
  if (!light?.cloudInit) throw new Error("the light toolset renders no cloud-init");
  if (!only) return light.cloudInit.script;
  const toolset = {
    ...light.toolset,
    components: light.toolset.components.filter((c) => only.includes(c.name)),
  };
  const part = renderCloudInit(toolset, rendered.components, project.prelude).cloudInit;
  if (!part) throw new Error("the partial bootstrap did not render");
  return part.script;
}

/**
 * `ops-rig launch --stock`: a stock Debian instance already booted, with the SSH host keys it
 * generated at first boot and a working sshd, runs the rendered light bootstrap. The keys must
 * survive (no image cleanup on this path) and `sshd -t` must still pass with them.
 */
export async function runOnStockInstance(script: string, what: string): Promise<string> {
  const ready = /^echo "ready: ([a-z]+)"/m.exec(script)?.[1] ?? "light";
  const packed = gzipSync(Buffer.from(script, "utf8"), { level: 9 }).toString("base64");
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
apt-get -q -y install --no-install-recommends openssh-server
# The base, like Debian's cloud images, ships no host keys: make them as cloud-init does at first
# boot (a fresh openssh-server install would too, but the base already has the package).
ssh-keygen -A
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
[ "$(cat ${BOOTSTRAP_STATUS})" = "ready: ${ready}" ]`,
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
  report(what, result);
  expect(result.failure).toBeUndefined();
  expect(result.ok).toBe(true);
  await expectNoLeftovers(recorder.work());
  return recorder.events
    .filter((e) => e.data?.kind === "output" && e.subject === "stock-instance/build/RunBootstrap")
    .map((e) => String(e.data?.text))
    .join("");
}
