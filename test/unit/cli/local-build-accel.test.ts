import { describe, expect, it } from "vitest";
import { runCli } from "../../helpers/project.js";

describe("local-build --accel", () => {
  it("an unknown accelerator, or --accel without --boot, exits 2 naming the flag before anything is built", async () => {
    const unknown = await runCli(["local-build", "--toolset", "light", "--boot", "--accel", "hvf"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--accel/);
    expect(unknown.stderr).toMatch(/unknown accelerator "hvf" \(auto, kvm, tcg\)/);
    const alone = await runCli(["local-build", "--toolset", "light", "--accel", "tcg"]);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toMatch(/--accel only goes with --boot/);
  });
});
