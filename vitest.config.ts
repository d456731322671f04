import { defineConfig } from "vitest/config";
import SlowestFirstSequencer from "./test/sequencer.js";

const env = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" };

/**
 * `npm test` runs the fast suites first (`unit`: pure code, adapters with mocked clients, services and
 * the pipeline on the in-memory AWS), then the ones that start local services or synthesize the
 * stack. The local-build suite needs root and Debian's mirror: it has its own config and command.
 * Both run two files at once (`--maxWorkers=2`; vitest's default on two cores is one): unit 21.9 s →
 * 16.5 s idle here (a third worker made the slow tier slower, 116 → 128 s: it is CPU-bound).
 * Every tier shares one module graph per worker (`isolate: false`): the files import the SDK, the
 * emulators, aws-cdk-lib once per worker instead of once per file (integration and e2e: 42.9 s of
 * imports → 12.8 s), and the local AWS's moto is the worker's, lent to one file at a time
 * (test/emulators/moto.ts, lendMoto). What a file starts (servers, child processes) it stops in its
 * own afterAll, and none of them mocks modules. The slow tier, idle: 190 s → 112–116 s.
 * Both workers are busy to the end, so only CPU cuts shorten it (test/sequencer.ts keeps them busy;
 * the tests' Lambda bundles come from a cache shared by workers and runs, test/helpers/bundle-cache.ts;
 * in-process synths skip CloudFormation's WASM rules, the member template's too): 78–86 s idle,
 * 141–158 s of CPU counting moto's (was ~195).
 */
export default defineConfig({
  test: {
    // vitest reads the sequencer from the root config only (a project's `sequence.sequencer` is
    // ignored): SLOWEST_FIRST ranks only slow-tier files, so the unit tier keeps vitest's order.
    sequence: { sequencer: SlowestFirstSequencer },
    projects: [
      {
        test: {
          name: "unit",
          // One module graph per worker, not per file: importing the SDK and the CLI once is most of the cost.
          isolate: false,
          pool: "threads",
          include: ["test/unit/**/*.test.ts", "test/services/**/*.test.ts"],
          testTimeout: 20_000,
          env,
        },
      },
      {
        test: {
          name: "slow",
          // Integration (a local AWS), end-to-end (the CLI, the Lambda, the responder's commands) and
          // infrastructure (the synthesized stack) in one project: vitest runs projects one after
          // another, so three projects meant three tails with one worker idle; one project, its
          // longest files first (test/sequencer.ts), keeps both workers busy to the end.
          isolate: false,
          globalSetup: ["test/infra/global-setup.ts"],
          include: ["test/integration/**/*.test.ts", "test/e2e/**/*.test.ts", "test/infra/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          env,
        },
      },
    ],
  },
});
