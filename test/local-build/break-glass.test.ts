import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { loadProject } from "../../src/config/load.js";
import { localComponentInputs, runLocalBuild } from "../../src/local/index.js";
import { shellQuote } from "../../src/render/bash.js";
import { REPO_ROOT } from "../helpers/project.js";
import { recordEvents, report } from "./helpers.js";

const scratch = await mkdtemp(join(tmpdir(), "ops-rig-break-glass-"));
const kept: string[] = [];
afterAll(async () => {
  await Promise.all([scratch, ...kept].map((d) => rm(d, { recursive: true, force: true })));
});

const keygen = (...args: string[]) => execa("ssh-keygen", ["-q", ...args]);

/**
 * Break-glass when AWS is down: the rendered responder-access component, built for real with the
 * team's CA public key as its parameter; then, with no network at all (`unshare -n`, only loopback),
 * sshd from the image's own configuration accepts a certificate that CA signed for the
 * ops-rig-break-glass principal, and refuses everything else.
 */
describe("break-glass with an SSH CA and no network", () => {
  it("logs in as breakglass with a CA-signed certificate; other CAs, principals and plain keys fail", async () => {
    const has = await execa("sh", ["-c", "command -v ssh-keygen"], { reject: false });
    if (has.exitCode !== 0) throw new Error("this test needs ssh-keygen on the build host (openssh-client)");
    // The team's CA, a responder key it certifies, and the keys it must refuse.
    await keygen("-t", "ed25519", "-N", "", "-C", "sirt-ca", "-f", join(scratch, "ca"));
    await keygen("-t", "ed25519", "-N", "", "-C", "rogue-ca", "-f", join(scratch, "rogue-ca"));
    for (const key of ["responder", "wrong-principal", "rogue", "plain"])
      await keygen("-t", "ed25519", "-N", "", "-f", join(scratch, key));
    const sign = (ca: string, key: string, principal: string) =>
      keygen(
        "-s",
        join(scratch, ca),
        "-I",
        `${key}@test`,
        "-n",
        principal,
        "-V",
        "-5m:+1h",
        join(scratch, `${key}.pub`),
      );
    await sign("ca", "responder", "ops-rig-break-glass");
    await sign("ca", "wrong-principal", "breakglass");
    await sign("rogue-ca", "rogue", "ops-rig-break-glass");
    const caPublic = (await readFile(join(scratch, "ca.pub"), "utf8")).trim();

    const project = await loadProject(REPO_ROOT);
    const access = localComponentInputs(project, "light", "debian-12").find(
      (c) => c.name === "responder-access",
    );
    if (!access) throw new Error("the light toolset has no responder-access component");
    const recorder = recordEvents();
    const result = await runLocalBuild({
      base: "debian-12",
      components: [{ ...access, parameters: { ...access.parameters, BreakGlassCaKeys: caPublic } }],
      keep: true,
      onEvent: recorder.onEvent,
    });
    kept.push(recorder.work());
    report("responder-access with a CA on debian-12", result);
    expect(result.failure).toBeUndefined();
    const root = result.rootDir;
    if (!root) throw new Error("the build kept no root");
    expect((await readFile(join(root, "etc/ssh/ops-rig-break-glass-ca.pub"), "utf8")).trim()).toBe(caPublic);

    // Inside the image, with no network: host keys as first boot makes them, sshd on loopback from
    // the image's own configuration, and an ssh client per key.
    const attempt = (key: string, cert: boolean) =>
      `ssh -F none -p 2222 -i /tmp/keys/${key} ${cert ? `-o CertificateFile=/tmp/keys/${key}-cert.pub` : ""} -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 breakglass@127.0.0.1 'echo "login:$(id -un)"' 2>&1; echo "exit:${key}:$?"`;
    const script = [
      "set -u",
      "ip link set lo up",
      "ip -o link show | grep -v ' lo:' | grep . && { echo 'a network interface besides loopback exists'; exit 9; }",
      "ssh-keygen -A >/dev/null",
      "install -d -m 0755 /run/sshd",
      "/usr/sbin/sshd -t",
      "/usr/sbin/sshd -p 2222 -o ListenAddress=127.0.0.1 -E /tmp/sshd.log",
      "for i in $(seq 50); do (echo > /dev/tcp/127.0.0.1/2222) 2>/dev/null && break; sleep 0.1; done",
      attempt("responder", true),
      attempt("wrong-principal", true),
      attempt("rogue", true),
      attempt("plain", false),
      'curl -sS -m 3 http://169.254.169.254/latest/api/token -X PUT >/dev/null 2>&1; echo "aws:$?"',
    ].join("\n");
    const setup = [
      `mount -t proc proc ${shellQuote(join(root, "proc"))}`,
      `mount --rbind /dev ${shellQuote(join(root, "dev"))}`,
      `mkdir -p ${shellQuote(join(root, "tmp/keys"))}`,
      `cp ${["responder", "wrong-principal", "rogue", "plain"].flatMap((k) => [k, `${k}-cert.pub`].map((f) => shellQuote(join(scratch, f)))).join(" ")} ${shellQuote(join(root, "tmp/keys"))}/ 2>/dev/null || true`,
      `chmod 0600 ${shellQuote(join(root, "tmp/keys"))}/*`,
    ].join(" && ");
    const run = await execa(
      "unshare",
      [
        "--mount",
        "--pid",
        "--fork",
        "--net",
        "--kill-child",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        `${setup} && exec chroot ${shellQuote(root)} /bin/bash -c ${shellQuote(script)}`,
      ],
      { reject: false, all: true, timeout: 60_000 },
    );
    const out = run.all ?? "";
    process.stderr.write(`${out}\n`);
    expect(out).toContain("login:breakglass");
    expect(out).toMatch(/exit:responder:0/);
    for (const refused of ["wrong-principal", "rogue", "plain"])
      expect(out).toMatch(new RegExp(`exit:${refused}:255`));
    expect(out.match(/login:/g)).toHaveLength(1);
    // No AWS API was reachable: the login needed none.
    expect(out).toMatch(/aws:[1-9]/);
  });
});
