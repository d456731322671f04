import { describe, expect, it } from "vitest";
import { lightBootstrap, runOnStockInstance } from "./stock-instance.js";

/** Full tier: the whole rendered light bootstrap (every light component, ~5 minutes under load). */
describe("the whole light cloud-init bootstrap on a stock instance (full tier)", () => {
  it("keeps the instance's SSH host keys and leaves a configuration sshd -t accepts", async () => {
    const ran = await runOnStockInstance(await lightBootstrap(), "light bootstrap on a stock instance");
    expect(ran).toContain("ops-rig: base-upgrade/build/FullUpgrade (attempt 1/3)");
    expect(ran).toContain("ops-rig: responder-access/build/HardenSshd (attempt 1/1)");
    expect(ran).toContain("ops-rig: light rig ready");
    expect(ran).not.toContain("image-cleanup");
  });
});
