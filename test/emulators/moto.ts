import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stopProcess, trackProcess } from "./processes.js";

/** moto 5.2.1 behind ops-rig's launcher (moto_server.py): see EMULATOR.md. */
export interface MotoServer {
  readonly url: string;
  readonly pid: number;
  readonly logFile: string;
  /** A call to the launcher's /_ops-rig/ control API. */
  control<T>(call: "seed" | "reset" | "register-image" | "image-state", body: unknown): Promise<T>;
  stop(): Promise<void>;
}

const LAUNCHER = join(import.meta.dirname, "moto_server.py");
const START_TIMEOUT_MS = 30_000;

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

export async function startMoto(options: { logFile: string; python?: string }): Promise<MotoServer> {
  const python = options.python ?? process.env.OPS_RIG_PYTHON ?? "python3";
  const logFd = openSync(options.logFile, "a");
  let child: ChildProcess;
  try {
    child = spawn(python, [LAUNCHER], {
      stdio: ["pipe", "pipe", logFd],
      env: {
        ...process.env,
        MOTO_EC2_LOAD_DEFAULT_AMIS: "false",
        // Region-less clients and tools should not need a real account's configuration.
        AWS_ACCESS_KEY_ID: "testing",
        AWS_SECRET_ACCESS_KEY: "testing",
        PYTHONUNBUFFERED: "1",
      },
    });
  } finally {
    closeSync(logFd);
  }
  trackProcess(child);
  const failure = (why: string) =>
    new Error(
      `moto (${python} ${LAUNCHER}) ${why}; last lines of ${options.logFile}:\n${tail(options.logFile)}`,
    );

  let onEarlyExit: ((code: number | null, signal: NodeJS.Signals | null) => void) | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(failure(`did not report ready within ${START_TIMEOUT_MS / 1000} s`));
    }, START_TIMEOUT_MS);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(failure(`could not be started: ${error.message}`));
    });
    onEarlyExit = (code, signal) => {
      clearTimeout(timer);
      reject(failure(`exited before it was ready (code ${code}, signal ${signal})`));
    };
    child.once("exit", onEarlyExit);
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (!line || !out.includes("\n")) return;
      clearTimeout(timer);
      try {
        const ready = JSON.parse(line) as { ready?: boolean; port?: number };
        if (ready.ready && typeof ready.port === "number") resolve(ready.port);
        else reject(failure(`reported something unexpected: ${line}`));
      } catch {
        reject(failure(`reported something unexpected: ${line}`));
      }
    });
  });
  if (onEarlyExit) child.off("exit", onEarlyExit);
  // Keep the launcher's stdin open: it exits when this process goes away and the pipe closes.
  child.stdout?.removeAllListeners("data");
  child.stdout?.resume();
  const url = `http://127.0.0.1:${port}`;
  const pid = child.pid ?? -1;

  return {
    url,
    pid,
    logFile: options.logFile,
    async control<T>(call: string, body: unknown): Promise<T> {
      const response = await fetch(`${url}/_ops-rig/${call}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`moto launcher ${call} answered ${response.status}: ${text}`);
      return JSON.parse(text) as T;
    },
    async stop() {
      await stopProcess(child);
    },
  };
}

let shared: { server: Promise<MotoServer>; inUse: boolean; pid?: number } | undefined;

/** The pid of this worker's lent moto, once started (it outlives the loans on purpose). */
export function lentMotoPid(): number | undefined {
  return shared?.pid;
}

/**
 * One moto per test worker, lent to one user at a time and reset (every backend, the seeded images
 * and parameters) before each loan: the same state a fresh moto starts with, without the 1.2–1.9 s
 * and ~2 s of CPU a start costs. Test files run one after another in a worker (`isolate: false`
 * keeps this module, and the moto, across them). `stop()` ends the loan and leaves moto running; it
 * exits with the worker (the launcher exits when its stdin closes). A second loan while the first is
 * out gets a moto of its own, stopped for real by its `stop()`.
 */
export async function lendMoto(options: { logFile: string }): Promise<MotoServer> {
  if (shared?.inUse) return startMoto(options);
  if (!shared) {
    const logFile = join(mkdtempSync(join(tmpdir(), "ops-rig-shared-moto-")), "moto.log");
    const server = startMoto({ logFile });
    shared = { server, inUse: false };
    server.catch(() => {
      shared = undefined;
    });
  }
  const current = shared;
  current.inUse = true;
  try {
    const server = await current.server;
    current.pid = server.pid;
    await server.control("reset", {});
    let returned = false;
    return {
      url: server.url,
      pid: server.pid,
      logFile: server.logFile,
      control: server.control,
      async stop() {
        if (returned) return;
        returned = true;
        current.inUse = false;
      },
    };
  } catch (error) {
    current.inUse = false;
    throw error;
  }
}
