import { resolve } from "node:path";
import { ConfigError, formatProblem, OpsRigError } from "../../src/errors.js";
import { buildApp } from "../lib/app.js";
import { removeBundle } from "../lib/bundle.js";

// The CDK app that `cdk synth` and `cdk deploy` run (cdk.json: `node --import tsx infra/bin/ops-rig.ts`).
// Context comes from cdk.json and `-c key=value`; nothing here calls AWS.
const projectRoot = resolve(import.meta.dirname, "..", "..");
try {
  const { app, bundle, brokerBundle, apiBundle } = await buildApp({ projectRoot, env: process.env });
  app.synth();
  // The assets are staged into cdk.out by now; the bundle folders were only waypoints.
  removeBundle(bundle);
  removeBundle(brokerBundle);
  removeBundle(apiBundle);
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(
      `ops-rig infra: invalid configuration\n${error.problems.map((p) => `  ${formatProblem(p)}`).join("\n")}\n`,
    );
    process.exit(2);
  }
  if (error instanceof OpsRigError) {
    process.stderr.write(`ops-rig infra: ${error.message}\n`);
    process.exit(1);
  }
  throw error;
}
