import { relative } from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * The slow tier's longest files, longest first (seconds measured here with two workers, idle). They
 * start first so the two workers finish together: left to vitest, a fresh clone (no duration cache,
 * as in CI) ran the 21 s `cdk synth` file last, alone, with the other worker idle. The other files
 * follow in vitest's own order (durations it has cached, else larger files first). vitest reads the
 * sequencer from the root config only (vitest.config.ts).
 */
export const SLOWEST_FIRST: readonly string[] = [
  "test/infra/synth-cli.test.ts", // 24–25 s: `cdk synth` through the CDK CLI, twice
  "test/e2e/faults.test.ts", // 19–20 s
  "test/integration/local-aws-script.test.ts", // 17–18 s: the script started and stopped as a user does
  "test/e2e/cli.test.ts", // 15–16 s
  "test/e2e/incident.test.ts", // 12–13 s
  "test/e2e/pipeline.test.ts", // 9–11 s
  "test/infra/nag.test.ts", // 7–8 s (synthesizes when first in its worker)
  "test/e2e/accounts.test.ts", // 6–7 s (as above)
  "test/infra/stack.test.ts", // 6–7 s (as above)
  "test/integration/imagebuilder-images.test.ts", // 4–5 s
  "test/infra/attacks.test.ts",
  "test/e2e/process.test.ts", // 2–3 s: builds the CLI it runs
];

export default class SlowestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (file: TestSpecification) => {
      const index = SLOWEST_FIRST.indexOf(relative(file.project.config.root, file.moduleId));
      return index === -1 ? SLOWEST_FIRST.length : index;
    };
    // Array.prototype.sort is stable: unlisted files keep vitest's order among themselves.
    return sorted.sort((a, b) => rank(a) - rank(b));
  }
}
