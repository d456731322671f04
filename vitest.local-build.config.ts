import { defineConfig } from "vitest/config";

// The local-build suite: component documents executed for real in Debian roots. Needs root,
// mmdebstrap (installed by the setup when missing) and the machine's Debian mirror. The expensive
// proofs (`*.full.test.ts`, e.g. heavy on debian-13) are the full tier: left out of CI's run unless
// OPS_RIG_LOCAL_FULL=1 (`npm run test:local-build:full`), so `.ci/run` stays within its budget.
const full = process.env.OPS_RIG_LOCAL_FULL === "1";

export default defineConfig({
  test: {
    include: ["test/local-build/**/*.test.ts"],
    exclude: full ? [] : ["test/local-build/**/*.full.test.ts"],
    globalSetup: ["test/local-build/setup.ts"],
    // One build at a time: they share two cores and the base cache.
    fileParallelism: false,
    sequence: { concurrent: false },
    // Light with --out took 715 s (warm cache) at load 13 on this 2-core machine: room for a busy CI.
    testTimeout: 1_200_000,
    hookTimeout: 600_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  },
});
