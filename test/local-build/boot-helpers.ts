import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { connect } from "node:net";
import { loadavg } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import type { OpsRigEvent } from "../../src/events.js";
import { type BootDisk, type BootResult, writeBootDisk } from "../../src/local/boot.js";
import { planComponents } from "../../src/local/build.js";
import { runPhase } from "../../src/local/engine.js";
import { LocalRoot } from "../../src/local/root.js";

/** Every check of a boot that reached SSH, in the order they run. */
export const BOOT_CHECKS = [
  "ssh-key-login",
  "cloud-init",
  "sshd-after-cloud-init",
  "host-keys",
  "password-login",
  "root-login",
  "sudo",
  "lime-capture",
  "lime-build",
  "packet-capture",
  "fls",
  "break-glass",
  "auditd",
  "evidence-volume",
];

export function reportBoot(what: string, boot: BootResult): void {
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  const lines = boot.checks.map(
    (c) => `  ${c.ok ? "ok    " : "FAILED"} ${c.name} (${c.seconds.toFixed(1)} s): ${c.message}`,
  );
  process.stderr.write(
    `${what}: ${boot.ok ? "passed" : "FAILED"} (${boot.accel}), boot to SSH ${boot.bootToSshSeconds ?? "-"} s, whole check ${boot.seconds.toFixed(1)} s (load ${load})\n${lines.join("\n")}\n`,
  );
}

/** PIDs whose command line mentions `text` (a QEMU of this boot names its work folder). */
async function processesMentioning(text: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes(text)) pids.push(Number(entry));
  }
  return pids;
}

async function portAnswers(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      done(true);
    });
    socket.once("error", () => done(false));
  });
}

/** After a boot (passed, failed or aborted): no QEMU of it runs, its folder is gone, its port is closed. */
export async function expectBootLeftovers(events: readonly OpsRigEvent[]): Promise<void> {
  const start = events.find((e) => e.data?.kind === "boot" && typeof e.data.work === "string");
  const work = start?.data?.work;
  if (typeof work !== "string") throw new Error("the boot never announced its work folder");
  const portEvent = events.find((e) => e.data?.kind === "boot" && typeof e.data.port === "number");
  const port = portEvent?.data?.port;
  if (typeof port !== "number") throw new Error("the boot never announced its SSH port");
  expect(await processesMentioning(work)).toEqual([]);
  expect(existsSync(work)).toBe(false);
  expect(await portAnswers(port)).toBe(false);
}

/**
 * A disk of the kept light image with a fixture component's validate phase run on top (in a fresh
 * overlay root over the kept image, as the local build runs components), without a second build.
 */
export async function fixtureDisk(imageRoot: string, componentFile: string): Promise<BootDisk> {
  const work = await mkdtemp("/dev/shm/ops-rig-boot-fixture-");
  const [planned] = planComponents([
    { name: "boot-breaks-image", document: await readFile(componentFile, "utf8"), parameters: {} },
  ]);
  if (!planned) throw new Error(`${componentFile} does not parse`);
  const root = await LocalRoot.create("fixture", { dir: join(work, "root"), lower: [imageRoot] });
  await root.prepare("true", {});
  const outcome = await runPhase({
    component: planned.input.name,
    document: planned.document,
    phase: "validate",
    variables: planned.variables,
    outputs: planned.outputs,
    executor: root.executor(),
    now: () => performance.now(),
  });
  if (outcome.failure)
    throw new Error(`the fixture component failed: ${outcome.failure.message}\n${outcome.failure.output}`);
  expect(outcome.stepsRun).toBe(2);
  return writeBootDisk(root, join(work, "disk"));
}
