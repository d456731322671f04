/**
 * `npm run local-aws`: a local AWS for the CLI, the demo and a shell. Starts moto (behind the fault
 * proxy) and the Image Builder emulator on loopback, seeds Canonical's and Debian's base images in
 * the pipeline's regions, prints the environment to point the AWS SDK at them, and runs until
 * Ctrl-C, which stops everything it started.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { ProjectConfig } from "../src/config/types.js";
import { ConfigError, errorMessage, exitCodeFor, formatProblem } from "../src/errors.js";
import type { LocalAws } from "../test/emulators/local-aws.js";
import type { StackResources } from "../test/emulators/stack.js";

const USAGE = `Usage: npm run local-aws -- [options]

Starts moto + the Image Builder emulator on 127.0.0.1, seeded with public base images, and prints
the environment variables that point the AWS SDK (and ops-rig) at them. Ctrl-C stops everything.

Options:
  --regions <list>     comma-separated regions to seed (default: the pipeline's home and target
                       regions from recipes/pipeline.yaml)
  --config <dir>       project folder with recipes/ (default: the current folder)
  --phase-ms <list>    image build phase durations, e.g. PENDING=1000,BUILDING=20000,TESTING=5000,DISTRIBUTING=5000
  --log-dir <dir>      where moto's, the proxy's and the emulator's logs go (default: a new temporary folder)
  -h, --help           this text
`;

const PHASES = ["PENDING", "BUILDING", "TESTING", "DISTRIBUTING"] as const;
type Phase = (typeof PHASES)[number];

class UsageProblem extends Error {}

function parsePhaseMs(text: string): Partial<Record<Phase, number>> {
  const out: Partial<Record<Phase, number>> = {};
  for (const item of text.split(",").filter(Boolean)) {
    const [phase, value] = item.split("=");
    const ms = Number(value);
    if (!PHASES.includes(phase as Phase) || !(ms >= 0) || value === undefined || value === "")
      throw new UsageProblem(
        `--phase-ms: ${JSON.stringify(item)} is not <PHASE>=<milliseconds> (phases: ${PHASES.join(", ")})`,
      );
    out[phase as Phase] = ms;
  }
  return out;
}

/** `--regions`, checked before anything is loaded. */
function parseRegions(flag: string): string[] {
  const regions = flag
    .split(",")
    .map((r) => r.trim())
    .filter(Boolean);
  const bad = regions.filter((r) => !/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/.test(r));
  if (regions.length === 0 || bad.length > 0)
    throw new UsageProblem(
      `--regions: ${bad.length > 0 ? bad.map((b) => JSON.stringify(b)).join(", ") : "(empty)"} is not a list of region names`,
    );
  return regions;
}

/** The pipeline's home and target regions. */
function pipelineRegions(project: ProjectConfig): string[] {
  const { homeRegion, targetRegions } = project.pipeline;
  return [homeRegion, ...targetRegions.filter((r) => r !== homeRegion)];
}

async function main(): Promise<number> {
  let values: { regions?: string; config?: string; "phase-ms"?: string; "log-dir"?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        regions: { type: "string" },
        config: { type: "string" },
        "phase-ms": { type: "string" },
        "log-dir": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`local-aws: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }

  let aws: LocalAws;
  let project: ProjectConfig;
  let stack: StackResources;
  try {
    // The flags first: a bad one is answered before the configuration (zod, yaml) is even loaded.
    const regionsFlag = values.regions !== undefined ? parseRegions(values.regions) : undefined;
    const phaseMs = values["phase-ms"] !== undefined ? parsePhaseMs(values["phase-ms"]) : {};
    // The configuration names what the deployed stack would have made (topics, instance profiles).
    const { loadProject } = await import("../src/config/index.js");
    project = await loadProject(resolve(values.config ?? "."));
    const regions = regionsFlag ?? pipelineRegions(project);
    process.stderr.write(
      `local-aws: starting moto and the Image Builder emulator for ${regions.join(", ")} …\n`,
    );
    // Loaded only once the flags are good: it pulls in the AWS SDK clients.
    const { startLocalAws } = await import("../test/emulators/local-aws.js");
    aws = await startLocalAws({
      regions,
      clock: "real",
      phaseMs,
      ...(values["log-dir"] !== undefined ? { logDir: resolve(values["log-dir"]) } : {}),
    });
    const { createStackResources } = await import("../test/emulators/stack.js");
    try {
      stack = await createStackResources(aws, project.pipeline);
    } catch (error) {
      await aws.stop();
      throw error;
    }
  } catch (error) {
    if (error instanceof UsageProblem) {
      process.stderr.write(`local-aws: ${error.message}\n`);
      return 2;
    }
    if (error instanceof ConfigError) {
      for (const problem of error.problems) process.stderr.write(`local-aws: ${formatProblem(problem)}\n`);
      return 2;
    }
    process.stderr.write(`local-aws: ${errorMessage(error)}\n`);
    return exitCodeFor(error);
  }

  const lines = [
    `# ops-rig local AWS — moto (pid ${aws.pids.join(", ")}) behind the fault proxy, and the Image Builder emulator`,
    `# regions: ${aws.regions.join(" ")} — seeded with Canonical and Debian base images and their /aws/service/… parameters`,
    `# account: ${aws.accountId}; logs: ${aws.logDir}`,
    `# as the deployed stack would: topics ${stack.notificationTopicArn} and ${stack.buildTopicArn}, instance profiles ${stack.instanceProfiles.join(" and ")}`,
    "# Paste these into a shell (or put them in an env file) to point the AWS SDK and ops-rig here:",
    ...Object.entries(aws.env).map(([key, value]) => `export ${key}=${value}`),
    "# Ctrl-C stops everything.",
    "",
  ];
  process.stdout.write(lines.join("\n"));

  return await new Promise<number>((done) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`local-aws: ${signal}: stopping …\n`);
      aws
        .stop()
        .then(() => {
          process.stderr.write("local-aws: stopped\n");
          done(0);
        })
        .catch((error: unknown) => {
          process.stderr.write(`local-aws: stopping failed: ${errorMessage(error)}\n`);
          done(1);
        });
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`local-aws: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
