import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseProject } from "../../src/config/parse.js";
import { ConfigError } from "../../src/errors.js";
import {
  checkScript,
  checkSupplyChain,
  renderProject,
  SSM_AGENT_KEY,
  SSM_AGENT_KEY_FINGERPRINT,
  ssmAgentUserData,
  unhashedLockLines,
} from "../../src/render/index.js";
import { shippedFiles } from "../helpers/project.js";

type Files = Map<string, string>;

function problemsOf(files: Files): string[] {
  try {
    renderProject(parseProject(files));
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems.map((p) => `${p.file}${p.path ? ` ${p.path}` : ""}: ${p.message}`);
  }
}

function edit(files: Files, file: string, from: string | RegExp, to: string): Files {
  const text = files.get(file) ?? "";
  const next = text.replace(from, to);
  if (next === text) throw new Error(`${file}: ${String(from)} not found (the test is out of date)`);
  return new Map(files).set(file, next);
}

describe("supply chain: what components fetch is pinned and verified", () => {
  let shipped: Files;
  beforeAll(async () => {
    shipped = await shippedFiles();
  });

  it("the shipped components pass, and really install from a hash lock and verify what they download", () => {
    const project = renderProject(parseProject(shipped));
    expect(checkSupplyChain(project.components.values())).toEqual([]);
    const vol = project.components.get("volatility3")?.document ?? "";
    expect(vol.replace(/\\\n\s*/g, "")).toMatch(/pip install[^\n]*--require-hashes[^\n]*-r "\$lock"/);
    expect(vol).toMatch(/volatility3==\S+ --hash=sha256:[0-9a-f]{64}/);
    expect(vol).not.toMatch(/--upgrade pip/);
    const cli = project.components.get("aws-cli")?.document ?? "";
    expect(cli).toContain("BEGIN PGP PUBLIC KEY BLOCK");
    expect(cli).not.toMatch(/--recv-keys|--keyserver|pks\/lookup/);
    const plaso = project.components.get("plaso")?.document ?? "";
    expect(plaso).toContain("signed-by=/etc/apt/keyrings/ops-rig-gift.asc");
    expect(plaso).toContain("Pin-Priority: 100");
  });

  it("refuses pip without --require-hashes, naming the component and step", () => {
    const files = edit(
      shipped,
      "components/volatility3.yaml",
      "--require-hashes --no-deps --no-binary",
      "--no-deps --no-binary",
    );
    expect(problemsOf(files)).toEqual([
      expect.stringMatching(
        /^components\/volatility3\.yaml build \/ InstallVolatility3: pip install without --require-hashes/,
      ),
    ]);
  });

  it("refuses a lock line without a hash or an exact version", () => {
    const noHash = edit(
      shipped,
      "components/volatility3.yaml",
      /pefile==2024\.8\.26 --hash=sha256:[0-9a-f]+/,
      "pefile==2024.8.26",
    );
    expect(problemsOf(noHash)).toEqual([
      expect.stringMatching(/requirements without an exact version and SHA-256: pefile==2024\.8\.26$/),
    ]);
    expect(unhashedLockLines(`# c\n\nvolatility3>=2 --hash=sha256:${"a".repeat(64)}`)).toEqual([
      `volatility3>=2 --hash=sha256:${"a".repeat(64)}`,
    ]);
    expect(unhashedLockLines(`pefile==1 --hash=sha256:${"0".repeat(64)}`)).toEqual([]);
  });

  it("refuses upgrading pip from the package index", () => {
    const files = edit(
      shipped,
      "components/volatility3.yaml",
      "python3 -m venv --system-site-packages /opt/volatility3/venv",
      "python3 -m venv --system-site-packages /opt/volatility3/venv\n                /opt/volatility3/venv/bin/pip install --upgrade pip",
    );
    expect(problemsOf(files).join("\n")).toMatch(/upgrades pip from the package index/);
  });

  it("refuses a key fetched from a keyserver", () => {
    const files = edit(
      shipped,
      "components/aws-cli.yaml",
      "gpg --batch --dearmor",
      'gpg --batch --keyserver hkps://keyserver.ubuntu.com --recv-keys "$KEY_FINGERPRINT"\n              gpg --batch --dearmor',
    );
    expect(problemsOf(files)).toEqual([
      expect.stringMatching(
        /^components\/aws-cli\.yaml build \/ InstallAwsCli: fetches a key from a keyserver/,
      ),
    ]);
  });

  it("refuses a download that nothing checks", () => {
    const files = edit(
      shipped,
      "components/sleuthkit.yaml",
      "- apt_install sleuthkit e2fsprogs",
      "- curl -fsSL -o /usr/local/bin/tool https://example.com/tool",
    );
    expect(problemsOf(files)).toEqual([
      expect.stringMatching(
        /^components\/sleuthkit\.yaml build \/ InstallSleuthkit: downloads a file without checking it/,
      ),
    ]);
    // A checksum kept in the component is enough.
    expect(
      checkScript(
        "x",
        "s",
        'curl -fsSL -o /tmp/t https://example.com/t\necho "abc  /tmp/t" | sha256sum -c -',
      ),
    ).toEqual([]);
  });

  it("refuses a third-party apt source that is not apt-pinned", () => {
    const files = edit(
      shipped,
      "components/plaso.yaml",
      /\s+> \/etc\/apt\/preferences\.d\/ops-rig-gift/,
      " > /dev/null",
    );
    expect(problemsOf(files).join("\n")).toMatch(/adds an apt source without an apt pin/);
  });

  it("the Debian SSM agent user data installs the .deb only with a valid signature by the pinned key", () => {
    const script = ssmAgentUserData("eu-west-1");
    expect(checkScript("user data", "ssm", script)).toEqual([]);
    expect(script).toContain(SSM_AGENT_KEY_FINGERPRINT);
    const unverified = script.replace(/ {2}if ! grep -Eq[\s\S]*? {2}fi\n/, "");
    expect(unverified).not.toBe(script);
    expect(checkScript("user data", "ssm", unverified.replace(/gpgv[^\n]*\n/, ""))).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/downloads a file without checking it/) }),
    ]);
  });

  it("every shipped key is the one its fingerprint pins (checked by gpg)", () => {
    const project = renderProject(parseProject(shipped));
    const keyIn = (component: string, path: string): string => {
      for (const phase of project.components.get(component)?.model.phases ?? [])
        for (const step of phase.steps)
          if (step.action === "CreateFile" && Array.isArray(step.inputs))
            for (const entry of step.inputs as { path?: string; content?: string }[])
              if (entry.path === path && entry.content) return entry.content;
      throw new Error(`${component} writes no ${path}`);
    };
    const constant = (component: string, name: string): string =>
      project.components.get(component)?.model.constants.find((c) => c.name === name)?.value ?? "";
    const keys = [
      { what: "SSM agent", key: SSM_AGENT_KEY, fingerprint: SSM_AGENT_KEY_FINGERPRINT },
      {
        what: "AWS CLI",
        key: keyIn("aws-cli", "/usr/share/ops-rig/keys/aws-cli.asc"),
        fingerprint: constant("aws-cli", "AwsCliKeyFingerprint"),
      },
      {
        what: "GIFT PPA",
        key: keyIn("plaso", "/usr/share/ops-rig/keys/gift-ppa.asc"),
        fingerprint: constant("plaso", "GiftKeyFingerprint"),
      },
    ];
    const dir = mkdtempSync(join(tmpdir(), "ops-rig-key-"));
    try {
      const fingerprints = keys.map(({ what, key }) => {
        writeFileSync(join(dir, "key.asc"), key);
        // gpg is part of every Debian/Ubuntu install this suite runs on; its absence fails loudly.
        const colons = execFileSync(
          "gpg",
          ["--batch", "--show-keys", "--with-colons", join(dir, "key.asc")],
          {
            encoding: "utf8",
            env: { ...process.env, GNUPGHOME: dir },
          },
        );
        return { what, fingerprint: /^fpr:+([0-9A-F]{40}):/m.exec(colons)?.[1] };
      });
      expect(fingerprints).toEqual(keys.map(({ what, fingerprint }) => ({ what, fingerprint })));
      for (const { fingerprint } of keys) expect(fingerprint).toMatch(/^[0-9A-F]{40}$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
