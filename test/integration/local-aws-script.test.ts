import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DescribeImagesCommand, EC2Client } from "@aws-sdk/client-ec2";
import {
  CreateImageCommand,
  CreateImageRecipeCommand,
  GetImageCommand,
  ImagebuilderClient,
} from "@aws-sdk/client-imagebuilder";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BASE_INFO } from "../../src/config/bases.js";
import { processExists } from "../emulators/processes.js";
import { REPO_ROOT, runCli } from "../helpers/project.js";
import { motoChildren } from "./helpers.js";
import {
  createInfrastructure,
  createRecipeComponents,
  recipeInput,
  recipeShape,
} from "./imagebuilder-fixtures.js";

/** `npm run local-aws` for real: started as a process, used through the environment it prints, stopped by signal. */

const started: ChildProcess[] = [];
const motoPids: number[] = [];
const fileStart = performance.now();

function runScript(args: readonly string[]): {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/local-aws.ts", ...args], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  started.push(child);
  let out = "";
  let err = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString("utf8");
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    err += chunk.toString("utf8");
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  // Readiness bounds, not performance assertions: on a loaded 2-core machine moto's start plus the
  // stack's topics and IAM (lazily imported by moto) can take tens of seconds.
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function credentials(env: Record<string, string>) {
  return { accessKeyId: env.AWS_ACCESS_KEY_ID ?? "", secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? "" };
}

function printedEnv(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .split("\n")
      .map((line) => /^export ([A-Z0-9_]+)=(.*)$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1] ?? "", m[2] ?? ""]),
  );
}

afterAll(async () => {
  for (const child of started)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const pid of motoPids)
    await until(`moto ${pid} to exit`, () => (processExists(pid) ? undefined : true), 10_000);
  expect(motoChildren()).toEqual([]);
  console.log(
    `[local-aws] local-aws-script.test.ts: ${((performance.now() - fileStart) / 1000).toFixed(1)} s`,
  );
});

describe("npm run local-aws", () => {
  // One start serves what a user does with it in turn (the README's flow, a build on the real clock,
  // Ctrl-C): a start costs ~5 s of CPU, and the checks share nothing but the order they run in.
  describe("started once: the README's flow, a real-clock build, then Ctrl-C stops everything", () => {
    let logDir = "";
    let script: ReturnType<typeof runScript> | undefined;
    let stdout = "";
    let env: Record<string, string> = {};
    let motoPid = 0;

    beforeAll(async () => {
      logDir = await mkdtemp(join(tmpdir(), "ops-rig-local-aws-script-"));
      const started = runScript([
        "--phase-ms",
        "PENDING=50,BUILDING=150,TESTING=50,DISTRIBUTING=50",
        "--log-dir",
        logDir,
      ]);
      script = started;
      await until("the printed environment", () =>
        started.stdout().includes("# Ctrl-C stops everything.") ? true : undefined,
      );
      stdout = started.stdout();
      env = printedEnv(stdout);
      motoPid = Number(/moto \(pid (\d+)\)/.exec(stdout)?.[1]);
      motoPids.push(motoPid);
    }, 120_000);
    afterAll(async () => {
      // The last test stops the script with Ctrl-C; if it did not get there, the file's afterAll kills it.
      await rm(logDir, { recursive: true, force: true });
    });

    it("starts the pipeline's regions and prints the environment", async () => {
      expect(stdout).toMatch(/# regions: us-east-1 eu-west-1 ap-southeast-2 /); // from recipes/pipeline.yaml
      expect(Object.keys(env).sort()).toEqual([
        "AWS_ACCESS_KEY_ID",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_IMAGEBUILDER",
        "AWS_REGION",
        "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED",
        "AWS_SECRET_ACCESS_KEY",
      ]);
      expect(processExists(motoPid)).toBe(true);
      // Named as in recipes/pipeline.yaml and infra/ (what the deployed stack creates).
      expect(stdout).toMatch(
        /# as the deployed stack would: topics arn:aws:sns:us-east-1:123456789012:ops-rig-notifications and arn:aws:sns:us-east-1:123456789012:ops-rig-imagebuilder-events, instance profiles ops-rig-imagebuilder and ops-rig-forensic/,
      );
      const ec2 = new EC2Client({
        region: "ap-southeast-2",
        endpoint: env.AWS_ENDPOINT_URL ?? "",
        credentials: credentials(env),
        maxAttempts: 1,
      });
      const bases = await ec2.send(
        new DescribeImagesCommand({
          Owners: [BASE_INFO["debian-13"].owner],
          Filters: [{ Name: "name", Values: [BASE_INFO["debian-13"].namePattern("arm64")] }],
        }),
      );
      expect(bases.Images).toHaveLength(3);
    });

    it("README's flow: ops-rig bake and ops-rig launch exit 0 against it", async () => {
      // A user pastes the printed exports into a shell and runs ops-rig there: first, on the fresh account.
      const userEnv = { ...env, AWS_MAX_ATTEMPTS: "3" };
      const bake = await runCli(["bake", "--toolset", "light", "--wait", "--poll", "1"], userEnv);
      expect(bake.stderr).not.toMatch(/NotFound|does not exist/);
      expect(bake.code, `${bake.stdout}\n${bake.stderr}`).toBe(0);
      const launch = await runCli(
        [
          "--region",
          "eu-west-1",
          "launch",
          "--toolset",
          "light",
          "--ssh-cidr",
          "10.8.0.0/16",
          "--case",
          "IR-1",
        ],
        userEnv,
      );
      expect(launch.code, `${launch.stdout}\n${launch.stderr}`).toBe(0);
      expect(launch.stdout).toMatch(/i-[0-9a-f]+/);
    }, 240_000);

    it("serves real-clock builds", async () => {
      // The real clock moves a build along by itself. Recipe and infrastructure under names of their
      // own: the bake above made the pipeline's.
      const ib = new ImagebuilderClient({
        region: "us-east-1",
        endpoint: env.AWS_ENDPOINT_URL_IMAGEBUILDER ?? "",
        credentials: credentials(env),
        maxAttempts: 1,
      });
      const shape = await recipeShape("light", "ubuntu-24.04", "arm64");
      const components = await createRecipeComponents(ib, shape);
      const recipe = await ib.send(
        new CreateImageRecipeCommand(recipeInput(shape, components, { name: "local-aws-real-clock" })),
      );
      const infra = await createInfrastructure(ib, undefined, "local-aws-real-clock");
      const image = await ib.send(
        new CreateImageCommand({
          imageRecipeArn: recipe.imageRecipeArn,
          infrastructureConfigurationArn: infra,
        }),
      );
      const seen = new Set<string>();
      await until("the image to become AVAILABLE", async () => {
        const status = (
          await ib.send(new GetImageCommand({ imageBuildVersionArn: image.imageBuildVersionArn }))
        ).image?.state?.status;
        if (status) seen.add(status);
        return status === "AVAILABLE" ? true : undefined;
      });
      expect(seen.has("AVAILABLE")).toBe(true);
    });

    it("stops everything on Ctrl-C and keeps the logs where it said", async () => {
      if (!script) throw new Error("npm run local-aws did not start (see beforeAll)");
      script.child.kill("SIGINT");
      expect(await script.exited).toBe(0);
      expect(script.stderr()).toMatch(/SIGINT: stopping …\nlocal-aws: stopped/);
      expect(processExists(motoPid)).toBe(false);
      // Nothing lost: moto's and the emulator's logs are where the script said.
      expect(await readFile(join(logDir, "moto.log"), "utf8")).toMatch(/"POST \/ HTTP\/1\.1" 200/);
      expect(await readFile(join(logDir, "imagebuilder.log"), "utf8")).toMatch(/AVAILABLE/);
    });
  });

  it("leaves no moto behind even when killed outright", async () => {
    const logDir = await mkdtemp(join(tmpdir(), "ops-rig-local-aws-script-"));
    try {
      const script = runScript(["--regions", "eu-west-1", "--log-dir", logDir]);
      await until("the printed environment", () =>
        script.stdout().includes("# Ctrl-C stops everything.") ? true : undefined,
      );
      const motoPid = Number(/moto \(pid (\d+)\)/.exec(script.stdout())?.[1]);
      motoPids.push(motoPid);
      script.child.kill("SIGKILL");
      await script.exited;
      // moto's launcher watches its stdin: when the owner dies the pipe closes and it exits.
      await until(`moto ${motoPid} to exit`, () => (processExists(motoPid) ? undefined : true), 10_000);
    } finally {
      await rm(logDir, { recursive: true, force: true });
    }
  }, 120_000);

  it("rejects bad flags, naming them, without starting anything", async () => {
    const badRegion = runScript(["--regions", "us-east-1,nowhere"]);
    const badPhase = runScript(["--phase-ms", "COOKING=5"]);
    const unknown = runScript(["--region", "us-east-1"]);
    expect(await Promise.all([badRegion.exited, badPhase.exited, unknown.exited])).toEqual([2, 2, 2]);
    expect(badRegion.stderr()).toMatch(/--regions: "nowhere" is not a list of region names/);
    expect(badPhase.stderr()).toMatch(/--phase-ms: "COOKING=5" is not <PHASE>=<milliseconds>/);
    expect(unknown.stderr()).toMatch(/Unknown option '--region'/);
  });
});
