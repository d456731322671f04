#!/usr/bin/env node
import type { Writable } from "node:stream";
import { Command, CommanderError, Option } from "commander";
import { ConfigError, errorMessage, exitCodeFor, formatProblem, isOpsRigError } from "../errors.js";
import { registerLocalBuild } from "./commands/local-build.js";
import { registerRender } from "./commands/render.js";
import { registerValidate } from "./commands/validate.js";
import { type CommandContext, createContext, type GlobalOptions, projectRootFrom } from "./context.js";
import { createOutput, type Output } from "./output.js";

export interface CliIo {
  readonly stdout?: Writable & { isTTY?: boolean };
  readonly stderr?: Writable & { isTTY?: boolean };
}

/** Runs the CLI; returns the exit code (0 ok, 1 failure, 2 bad usage or bad input files). */
export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CliIo = {},
): Promise<number> {
  // The SDK warns about Node 20 on every client; the CLI supports Node 20 on purpose.
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
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
    .option("--json", "machine-readable JSON on stdout")
    .option("-v, --verbose", "more detail, including error causes")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => (io.stdout ?? process.stdout).write(text),
      writeErr: (text) => (io.stderr ?? process.stderr).write(text),
    });

  let output: Output | undefined;
  let context: CommandContext | undefined;
  const getContext = (): CommandContext => {
    if (!context) {
      const options = program.opts<GlobalOptions>();
      output = createOutput({ json: Boolean(options.json), verbose: Boolean(options.verbose), env, ...io });
      context = createContext(output, projectRootFrom(options, env));
    }
    return context;
  };
  registerRender(program, getContext);
  registerValidate(program, getContext);
  registerLocalBuild(program, getContext);

  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return error.exitCode === 0 ? 0 : 2;
    }
    const out = output ?? createOutput({ json: false, verbose: false, env, ...io });
    reportError(out, error);
    return exitCodeFor(error);
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

const isEntryPoint =
  process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntryPoint) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
