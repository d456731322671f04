import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "./helpers.js";

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/**
 * `cdk synth` exactly as a team runs it (`npm run synth` = the CDK CLI + cdk.json + tsx), with no
 * AWS account, no credentials and no AWS config: nothing but PATH and an empty HOME.
 */
async function cdkSynth(...args: string[]) {
  const home = await mkdtemp(join(tmpdir(), "ops-rig-cdk-home-"));
  const out = await mkdtemp(join(tmpdir(), "ops-rig-cdk-out-"));
  dirs.push(home, out);
  const started = performance.now();
  const result = await execa(
    join(REPO_ROOT, "node_modules/.bin/cdk"),
    ["synth", "--no-notices", "--quiet", "-o", out, ...args],
    {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: home },
      extendEnv: false,
      reject: false,
      timeout: 120_000,
    },
  );
  return { ...result, out, seconds: (performance.now() - started) / 1000 };
}

describe("cdk synth (the CLI, offline)", () => {
  it("synthesizes without an account or credentials, cdk-nag and CloudFormation rules included", async () => {
    const result = await cdkSynth(
      "-c",
      "notificationEmail=sirt@example.com",
      "-c",
      "responderCidrs=10.8.0.0/16",
    );
    console.log(`[synth-cli] cdk synth: ${result.seconds.toFixed(1)} s`);
    expect(result.stderr).not.toMatch(/AwsSolutions-|Error|error TS/);
    expect(result.exitCode, result.stderr).toBe(0);
    const template = JSON.parse(await readFile(join(result.out, "OpsRig.template.json"), "utf8")) as {
      Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
    };
    const types = Object.values(template.Resources).map((r) => r.Type);
    expect(types).toContain("AWS::Lambda::Function");
    expect(types.filter((t) => t === "AWS::Scheduler::Schedule")).toHaveLength(2);
    expect(JSON.stringify(template)).toContain('"Endpoint":"sirt@example.com"');
    const report = JSON.parse(await readFile(join(result.out, "validation-report.json"), "utf8")) as {
      pluginReports: { pluginName: string; conclusion: string; violations: unknown[] }[];
    };
    for (const plugin of report.pluginReports) expect(plugin.violations, plugin.pluginName).toEqual([]);
  }, 120_000);

  it("refuses bad context with the key named and exit code 2", async () => {
    const result = await cdkSynth("-c", "nightlyTimeZone=Mars/Olympus", "-c", "tickMinutes=1");
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain("ops-rig infra: invalid configuration");
    expect(result.stderr).toContain(
      'cdk context: nightlyTimeZone: not an IANA time zone (e.g. Europe/Berlin, UTC): "Mars/Olympus"',
    );
    expect(result.stderr).toContain("cdk context: tickMinutes: expected a whole number from 5 to 60, got");
  }, 120_000);
});
