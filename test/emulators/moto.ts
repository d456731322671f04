import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
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
