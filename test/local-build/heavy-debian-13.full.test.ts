import { describe, expect, it } from "vitest";
import { loadProject } from "../../src/config/load.js";
import { localComponentInputs, runLocalBuild } from "../../src/local/index.js";
import { REPO_ROOT } from "../helpers/project.js";
import {
  expectAllStepsPassed,
  expectNoLeftovers,
  expectOnlyAllowedSkips,
  recordEvents,
  report,
} from "./helpers.js";

/**
 * The full tier (npm run test:local-build:full): heavy on Debian 13, where plaso is Debian's own
 * package, so plaso, the upgrade and the cleanup all run for real; the only steps left out are
 * volatility3's install from the Python package index and the check that runs vol.
 */
describe("heavy on debian-13, built for real (full tier)", () => {
  it("runs every step but volatility3's package-index steps, plaso included", async () => {
    const components = localComponentInputs(await loadProject(REPO_ROOT), "heavy", "debian-13");
    expect(components.map((c) => c.name)).toContain("plaso");
    const recorder = recordEvents();
    const result = await runLocalBuild({ base: "debian-13", components, onEvent: recorder.onEvent });
    report("heavy on debian-13", result);
    expectAllStepsPassed(result, components);
    await expectOnlyAllowedSkips(result, "heavy", "debian-13");
    for (const step of [
      "plaso/build/InstallPlaso",
      "plaso/validate/PlasoRuns",
      "base-upgrade/build/FullUpgrade",
      "image-cleanup/build/NothingLeftToUpgrade",
      "image-cleanup/validate/NoHostKeys",
      "lime/test/LimeForBootedKernel",
    ])
      expect(
        recorder.events.some((e) => e.type === "done" && e.subject === step && e.data?.status === "success"),
        step,
      ).toBe(true);
    await expectNoLeftovers(recorder.work());
  });
});
