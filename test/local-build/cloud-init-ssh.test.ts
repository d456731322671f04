import { describe, expect, it } from "vitest";
import { lightBootstrap, runOnStockInstance } from "./stock-instance.js";

describe("the light cloud-init bootstrap on a stock instance", () => {
  it("its access part keeps the instance's SSH host keys and leaves a configuration sshd -t accepts", async () => {
    // responder-access hardens sshd; image-cleanup (baked images only) must not be in the bootstrap.
    const script = await lightBootstrap(["responder-access", "image-cleanup"]);
    expect(script).not.toContain("image-cleanup/");
    const ran = await runOnStockInstance(script, "light bootstrap (access part) on a stock instance");
    expect(ran).toContain("ops-rig: responder-access/build/HardenSshd (attempt 1/1)");
    expect(ran).toContain("ops-rig: light rig ready");
  });
});
