import { defineConfig } from "vitest/config";

// The local-build suite: component documents executed for real in Debian roots. Needs root,
// mmdebstrap (installed by the setup when missing) and the machine's Debian mirror.
export default defineConfig({
  test: {
    include: ["test/local-build/**/*.test.ts"],
    // The full tier (heavy boot, failure fixtures that cost a boot each) runs with
    // OPS_RIG_LOCAL_FULL=1: `npm run test:local-build:full`.
    exclude: process.env.OPS_RIG_LOCAL_FULL === "1" ? [] : ["test/local-build/**/*.full.test.ts"],
    globalSetup: ["test/local-build/setup.ts"],
    // One build at a time: they share two cores and the base cache.
    fileParallelism: false,
    sequence: { concurrent: false },
    testTimeout: 600_000,
    hookTimeout: 600_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  },
});
