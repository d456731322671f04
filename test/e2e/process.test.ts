import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadProject } from "../../src/config/load.js";
import { renderProject } from "../../src/render/index.js";
import { REPO_ROOT, runCli } from "../helpers/project.js";

/**
 * The command as a process: validate (runs shellcheck), the installed entry point and its exit codes,
 * and Ctrl-C delivered as a real SIGINT.
 */

/**
 * The installed command: `bin/ops-rig.js` over the bundle in dist/, built here from the sources under
 * test as `npm ci` does (`prepare`). A start costs ~0.3 s of CPU, through tsx ~1.5–3 s; the build ~3 s.
 */
const BIN = join(REPO_ROOT, "bin", "ops-rig.js");
beforeAll(async () => {
  await execa(process.execPath, ["scripts/build-cli.mjs"], { cwd: REPO_ROOT });
}, 120_000);
const installed = (
  args: readonly string[],
  options: { readonly env?: Record<string, string>; readonly extendEnv?: boolean } = {},
) => execa(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, reject: false, ...options });

describe("ops-rig as a process", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), "ops-rig-validate-"));
    dirs.push(dir);
    return dir;
  };

  it("validate passes on the shipped components and recipes, shellcheck included", async () => {
    const result = await runCli(["validate"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    // The counts come from the project itself, so adding a component or a base does not break this test.
    const rendered = renderProject(await loadProject(REPO_ROOT));
    const recipes = rendered.toolsets.reduce((n, t) => n + t.recipes.length, 0);
    expect(result.stdout).toMatch(
      new RegExp(
        `^ok: 2 toolsets \\(heavy, light\\), ${rendered.components.size} components, ${recipes} recipes, \\d+ scripts clean under shellcheck`,
      ),
    );
  });

  it("validate reports a shellcheck finding at the component's file and line", async () => {
    const dir = await tempDir();
    for (const sub of ["recipes", "components", "components/lib"]) {
      for (const file of await readdir(join(REPO_ROOT, sub), { withFileTypes: true })) {
        if (!file.isFile()) continue;
        await execa("install", ["-D", join(REPO_ROOT, sub, file.name), join(dir, sub, file.name)]);
      }
    }
    const path = join(dir, "components/sleuthkit.yaml");
    const text = await readFile(path, "utf8");
    await writeFile(
      path,
      text.replace("              mmls -V\n", "              mmls -V\n              cd $HOME/evidence\n"),
    );
    const line = text.split("\n").findIndex((l) => l.includes("mmls -V")) + 2;
    const result = await runCli(["--config", dir, "validate"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `components/sleuthkit.yaml:${line}: validate.SleuthkitRuns: shellcheck SC2086`,
    );
  });

  it("the installed command runs and exits with the CLI's codes", async () => {
    const ok = await installed(["--help"]);
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toContain("Usage: ops-rig");
    const bad = await installed(["render", "--toolset", "nope"]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('unknown toolset "nope"');
  });

  it("without credentials, a command says so and exits 1", async () => {
    const home = await tempDir();
    const result = await installed(["status"], {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: home,
        AWS_EC2_METADATA_DISABLED: "true",
        // Nothing listens there: a command that called AWS anyway would fail otherwise.
        AWS_ENDPOINT_URL: "http://127.0.0.1:9",
        AWS_REGION: "us-east-1",
      },
      extendEnv: false,
    });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain("no AWS credentials found");
  });
});

describe("Ctrl-C on the running process", () => {
  let server: Server;
  let endpoint: string;
  const sockets = new Set<Socket>();
  let onRequest: () => void = () => {};
  beforeAll(async () => {
    server = createServer(() => onRequest());
    server.on("connection", (socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it("SIGINT while a call hangs: the process exits 130 at once, saying what it interrupted", async () => {
    const child = installed(["plan"], {
      env: {
        AWS_ENDPOINT_URL: endpoint,
        AWS_ENDPOINT_URL_IMAGEBUILDER: endpoint,
        AWS_ACCESS_KEY_ID: "testing",
        AWS_SECRET_ACCESS_KEY: "testing",
        AWS_REGION: "us-east-1",
        NO_COLOR: "1",
      },
    });
    let signalledAt = 0;
    // The first request reaching the endpoint is the command waiting on AWS: interrupt it then.
    await new Promise<void>((resolve) => {
      onRequest = () => {
        if (signalledAt === 0) {
          signalledAt = performance.now();
          child.kill("SIGINT");
          resolve();
        }
      };
    });
    const result = await child;
    const ms = performance.now() - signalledAt;
    console.log(`[interrupt] process exited ${ms.toFixed(0)} ms after SIGINT`);
    expect(result.stderr).toContain("ops-rig: SIGINT: stopping now (again to force)");
    expect(result.stderr).toMatch(/ops-rig: interrupted during \S+ in us-east-1/);
    expect(result.exitCode).toBe(130);
  });
});
