#!/usr/bin/env node
import { setMaxListeners } from "node:events";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { Command, CommanderError, Option } from "commander";
import {
  ConfigError,
  EXIT,
  errorMessage,
  exitCodeFor,
  formatProblem,
  InvariantError,
  isOpsRigError,
} from "../errors.js";
import { defaultCacheDir } from "../local/cache-dir.js";
import {
  type CliClock,
  type CommandAws,
  type CommandContext,
  createContext,
  type GlobalOptions,
  PACKAGE_ROOT,
  parseRegions,
  projectRootFrom,
} from "./context.js";
import { createOutput, type Output } from "./output.js";
import { builtResultCache, type ResultCache } from "./result-cache.js";

type Register = (program: Command, context: () => CommandContext) => void;

/**
 * The commands, one entry each, imported only when run: `ops-rig render` never loads the AWS SDK,
 * and `--version` loads no command at all. `aws: false` says the command never calls AWS (its
 * context then has no SDK behind it). A new command is one more line here.
 */
export const COMMANDS: readonly {
  readonly name: string;
  readonly aws: boolean;
  readonly load: () => Promise<Register>;
}[] = [
  {
    name: "validate",
    aws: false,
    load: async () => (await import("./commands/validate.js")).registerValidate,
  },
  { name: "render", aws: false, load: async () => (await import("./commands/render.js")).registerRender },
  { name: "bases", aws: true, load: async () => (await import("./commands/bases.js")).registerBases },
  { name: "plan", aws: true, load: async () => (await import("./commands/plan.js")).registerPlan },
  { name: "bake", aws: true, load: async () => (await import("./commands/bake.js")).registerBake },
  { name: "status", aws: true, load: async () => (await import("./commands/status.js")).registerStatus },
  { name: "launch", aws: true, load: async () => (await import("./commands/launch.js")).registerLaunch },
  { name: "prune", aws: true, load: async () => (await import("./commands/prune.js")).registerPrune },
  {
    name: "rollback",
    aws: true,
    load: async () => (await import("./commands/rollback.js")).registerRollback,
  },
  {
    name: "local-build",
    aws: false,
    load: async () => (await import("./commands/local-build.js")).registerLocalBuild,
  },
  // The responder outcomes: one module registers them all.
  ...["inspect", "isolate", "release", "snapshot", "attach", "capture-memory", "ssh-route", "terminate"].map(
    (name) => ({
      name,
      aws: true,
      load: async () => (await import("./commands/responders.js")).registerResponders,
    }),
  ),
];

/** Global options that take a value (so the value is not mistaken for the command's name). */
const VALUE_OPTIONS = new Set(["--config", "--region", "--regions", "--api"]);

/** The command `argv` runs (its first word that is neither an option nor an option's value). */
export function commandName(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") return argv[i + 1];
    if (VALUE_OPTIONS.has(arg)) i++;
    else if (!arg.startsWith("-")) return arg;
  }
  return undefined;
}

export interface CliIo {
  readonly stdout?: Writable & { isTTY?: boolean };
  readonly stderr?: Writable & { isTTY?: boolean };
  /** Aborted on Ctrl-C; the process entry point wires SIGINT/SIGTERM to it. */
  readonly signal?: AbortSignal;
  /** The AWS to talk to, instead of SDK clients from the environment (tests use an in-memory AWS). */
  readonly aws?: CommandAws;
  /** Replaces the wall clock (tests drive `bake --wait` on the local AWS's clock). */
  readonly clock?: CliClock;
  /** Where `render` and `validate` keep their results (the process entry gives the built CLI's). */
  readonly cache?: ResultCache;
}

/** Runs the CLI; returns the exit code (0 ok, 1 failure, 2 bad usage or bad input files). */
export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CliIo = {},
): Promise<number> {
  if (argv.length === 1 && argv[0] === "--version") {
    (io.stdout ?? process.stdout).write(`${packageVersion()}\n`);
    return 0;
  }
  // The SDK warns about Node 20 on every client; the CLI supports Node 20 on purpose.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  // Only the command being run is loaded (all of them for --help or an unknown name).
  const name = commandName(argv);
  const entry = COMMANDS.find((c) => c.name === name);
  const selected = entry ? [entry] : COMMANDS;
  const program = new Command("ops-rig")
    .description(
      "Fresh forensic incident-response AMIs in every AWS region, published through SSM Parameter Store.",
    )
    .addOption(
      new Option(
        "--config <dir>",
        "project folder with recipes/ and components/ (default: $OPS_RIG_CONFIG or the installed ones)",
      ),
    )
    .addOption(
      new Option(
        "--region <region>",
        "AWS region to work on (repeat or comma-separate for several; default: the pipeline's regions)",
      ).argParser((value: string, previous: RegionFlag[] | undefined) => [
        ...(previous ?? []),
        { flag: "--region", value },
      ]),
    )
    .addOption(
      new Option("--regions <list>", "same as --region, comma-separated").argParser(
        (value: string, previous: RegionFlag[] | undefined) => [
          ...(previous ?? []),
          { flag: "--regions", value },
        ],
      ),
    )
    .addOption(
      new Option(
        "--api <url>",
        "call the region's ops-rig API (its ApiUrl output) SigV4-signed instead of AWS directly (launch; default: $OPS_RIG_API)",
      ),
    )
    .option("--json", "machine-readable JSON on stdout")
    .option("-v, --verbose", "more detail, including error causes")
    // `-V` only: `--version <n>` belongs to `launch` (pin a parameter version). A lone `--version` works below.
    .version(packageVersion(), "-V", "print ops-rig's version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => (io.stdout ?? process.stdout).write(text),
      writeErr: (text) => (io.stderr ?? process.stderr).write(text),
    });

  let output: Output | undefined;
  let context: CommandContext | undefined;
  const signal = io.signal ?? new AbortController().signal;
  // Every AWS call in flight listens on it (a run has dozens at once): not a leak, no warning.
  setMaxListeners(0, signal);
  const aws: CommandAws & { destroy(): void } = io.aws
    ? { ...io.aws, destroy: () => {} }
    : selected.some((c) => c.aws)
      ? (await import("./aws.js")).cliAws(env, signal)
      : noAws(name ?? "this command");
  const getContext = (): CommandContext => {
    if (!context) {
      const options = program.opts<GlobalOptions & { region?: RegionFlag[]; regions?: RegionFlag[] }>();
      output = createOutput({ json: Boolean(options.json), verbose: Boolean(options.verbose), env, ...io });
      context = createContext({
        output,
        projectRoot: projectRootFrom(options, env),
        env,
        regions: parseRegions([...(options.region ?? []), ...(options.regions ?? [])]),
        api: options.api ?? (env.OPS_RIG_API || undefined),
        aws,
        signal,
        ...(io.clock ? { clock: io.clock } : {}),
        ...(io.cache ? { cache: io.cache } : {}),
      });
    }
    return context;
  };
  for (const register of new Set(await Promise.all(selected.map((c) => c.load()))))
    register(program, getContext);

  try {
    await program.parseAsync(argv, { from: "user" });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const out = output ?? createOutput({ json: false, verbose: false, env, ...io });
    reportError(out, error);
    return exitCodeFor(error);
  } finally {
    aws.destroy();
  }
}

/** The AWS of a command declared `aws: false` in COMMANDS: reaching for it is a bug, said plainly. */
function noAws(command: string): CommandAws & { destroy(): void } {
  const refuse = (): never => {
    throw new InvariantError(`${command} is declared without AWS in the CLI's COMMANDS table but called AWS`);
  };
  return { ports: refuse, launch: refuse, lambda: refuse, templates: refuse, api: refuse, destroy: () => {} };
}

interface RegionFlag {
  readonly flag: string;
  readonly value: string;
}

function packageVersion(): string {
  try {
    const text = readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8");
    return (JSON.parse(text) as { version?: string }).version ?? "unknown";
  } catch {
    return "unknown";
  }
}

function reportError(output: Output, error: unknown): void {
  if (error instanceof ConfigError && error.problems.length > 1) {
    output.err(`ops-rig: ${error.problems.length} problems:`);
    for (const problem of error.problems) output.err(`  ${formatProblem(problem)}`);
  } else {
    output.err(`ops-rig: ${errorMessage(error)}`);
  }
  if (output.verbose) {
    let cause = error instanceof Error ? error.cause : undefined;
    while (cause) {
      output.err(`  caused by: ${errorMessage(cause)}`);
      cause = cause instanceof Error ? cause.cause : undefined;
    }
    if (!isOpsRigError(error) && error instanceof Error && error.stack) output.err(error.stack);
  }
}

/**
 * Process entry: Ctrl-C aborts the running command: in-flight AWS calls end at once, no new one
 * starts, and the command reports what it did before exiting 130. A second Ctrl-C exits at once.
 */
export async function runAsProcess(argv: readonly string[]): Promise<void> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts++;
    if (interrupts > 1) process.exit(EXIT.interrupted);
    process.stderr.write(`\nops-rig: ${signal}: stopping now (again to force)\n`);
    controller.abort(new Error(signal));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const cache = await builtResultCache(import.meta.url, defaultCacheDir(process.env));
  process.exitCode = await main(argv, process.env, {
    signal: controller.signal,
    ...(cache ? { cache } : {}),
  });
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
}

const isEntryPoint =
  process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntryPoint) await runAsProcess(process.argv.slice(2));
