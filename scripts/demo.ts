/**
 * `npm run demo`: ops-rig end to end on a local AWS, no account needed. Starts moto and the Image
 * Builder emulator (three regions), runs the nightly bake to convergence with progress, shows the
 * status, launches a rig by parameter in the incident's region and proves what it resolves to,
 * publishes a newer Ubuntu base image and shows the rebake, then stops everything it started.
 *
 *   npm run demo              emulated builds (about a minute)
 *   npm run demo -- --real    Debian lines are built for real in local Debian roots (several minutes, root)
 */

import { parseArgs } from "node:util";
import { DescribeInstancesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { main } from "../src/cli/main.js";
import { loadProject } from "../src/config/index.js";
import { errorMessage } from "../src/errors.js";
import { readRegion } from "../test/e2e/inspect.js";
import { type LocalAws, startLocalAws } from "../test/emulators/local-aws.js";
import { deployLocally } from "../test/helpers/deployment.js";

// ops-rig supports Node 20 on purpose; the SDK would warn about it on every client.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const { values } = parseArgs({
  options: {
    real: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  process.stdout.write(
    "Usage: npm run demo [-- --real]\n\n  --real   build the Debian lines for real in local Debian roots (needs root and Debian's mirror)\n",
  );
  process.exit(0);
}

const bold = (text: string) => (process.stdout.isTTY ? `\u001b[1m${text}\u001b[22m` : text);
let step = 0;
function heading(text: string): void {
  step++;
  process.stdout.write(`\n${bold(`== ${step}. ${text}`)}\n\n`);
}

async function ops(env: NodeJS.ProcessEnv, ...args: string[]): Promise<void> {
  process.stdout.write(`$ ops-rig ${args.join(" ")}\n`);
  const code = await main(args, env);
  if (code !== 0) throw new Error(`ops-rig ${args.join(" ")} exited ${code}`);
}

const started = Date.now();
let aws: LocalAws | undefined;
const stop = async () => {
  const running = aws;
  aws = undefined;
  await running?.stop();
};
process.on("SIGINT", () => {
  process.stderr.write("\ndemo: interrupted, stopping the local AWS\n");
  void stop().then(() => process.exit(130));
});

try {
  const project = await loadProject(process.cwd());
  const regions = [...new Set([project.pipeline.homeRegion, ...project.pipeline.targetRegions])];
  heading(`A local AWS: moto + the Image Builder emulator, ${regions.join(", ")}`);
  const localBuilder = values.real
    ? (await import("../test/emulators/imagebuilder/local-builder.js")).createLocalRunnerBuilder(project)
    : undefined;
  aws = await startLocalAws({
    regions,
    clock: "real",
    // Emulated builds take seconds instead of the 30–60 minutes a real Image Builder build takes.
    phaseMs: { PENDING: 300, BUILDING: 1500, TESTING: 600, DISTRIBUTING: 400 },
    ...(localBuilder ? { localBuilder } : {}),
  });
  // What the CDK stack would have created: the topics and instance profiles.
  const deployment = await deployLocally(aws, project.pipeline);
  const env: NodeJS.ProcessEnv = { ...process.env, ...aws.env, AWS_MAX_ATTEMPTS: "3" };
  process.stdout.write(
    `AWS_ENDPOINT_URL=${aws.endpoints.aws}  AWS_ENDPOINT_URL_IMAGEBUILDER=${aws.endpoints.imagebuilder}\n`,
  );
  process.stdout.write(
    values.real
      ? "Debian lines are built for real in local Debian roots.\n"
      : "Image builds are emulated (a few seconds each).\n",
  );

  heading("The newest base images in each region (owner-pinned)");
  await ops(env, "bases", "--arch", "amd64");

  heading("What the nightly run will do");
  await ops(env, "plan", "--toolset", "heavy");

  heading("The nightly bake: build, copy to every region, publish — until every line converges");
  await ops(env, "bake", "--wait", "--poll", values.real ? "10" : "1");

  heading("Where every image stands");
  await ops(env, "status", "--toolset", "heavy");

  heading("An incident in eu-west-1: launch a heavy rig by parameter");
  await ops(
    env,
    "--region",
    "eu-west-1",
    "launch",
    "--toolset",
    "heavy",
    "--case",
    "IR-2026-042",
    "--ssh-cidr",
    "203.0.113.0/24",
    "--key-name",
    "responder",
  );
  const ec2 = new EC2Client(aws.clientConfig("eu-west-1", { maxAttempts: 3 }));
  const reservations =
    (
      await ec2.send(
        new DescribeInstancesCommand({ Filters: [{ Name: "tag:ops-rig:case", Values: ["IR-2026-042"] }] }),
      )
    ).Reservations ?? [];
  ec2.destroy();
  const requested = reservations[0]?.Instances?.[0]?.ImageId ?? "";
  const eu = await readRegion(aws, "eu-west-1");
  const resolved = eu.parameters.get("/ops-rig/heavy/ami-id")?.value ?? "";
  const copy = eu.amis.find((a) => a.imageId === resolved);
  process.stdout.write(
    `\nThe instance was requested with ImageId ${requested}\n` +
      `which resolves in eu-west-1 to ${resolved}: ${copy?.state} there, a copy of ${copy?.tags["ops-rig:source-ami"]} from ${project.pipeline.homeRegion}.\n` +
      "(The local EC2 stores the literal request; real EC2 resolves it at launch.)\n",
  );

  heading("Canonical publishes a newer Ubuntu 24.04: the affected lines rebake");
  const newer = await aws.bases.publishNewer("ubuntu-24.04", "amd64");
  process.stdout.write(
    `new base images: ${Object.entries(newer)
      .map(([r, id]) => `${r} ${id}`)
      .join(", ")}\n\n`,
  );
  await ops(env, "plan");
  await ops(env, "bake", "--wait", "--poll", values.real ? "10" : "1");
  await ops(env, "status", "--toolset", "heavy");
  const notes = await deployment.drain();
  process.stdout.write(
    `\nNotifications sent to the responders' topic: ${notes.map((n) => `"${n.subject}"`).join(", ")}\n`,
  );
  deployment.destroy();

  heading("Done");
  process.stdout.write(
    `Demo finished in ${Math.round((Date.now() - started) / 1000)} s; stopping the local AWS.\n`,
  );
  await stop();
} catch (error) {
  process.stderr.write(`demo: ${errorMessage(error)}\n`);
  await stop();
  process.exitCode = 1;
}
