import { mkdir, symlink } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseProject } from "../../src/config/parse.js";
import { ConfigError, type Problem } from "../../src/errors.js";
import { renderProject } from "../../src/render/index.js";
import { removeProject, runCli, shippedFiles, writeProject } from "../helpers/project.js";

type Files = Map<string, string>;

interface BadInput {
  readonly name: string;
  readonly mutate: (files: Files) => void;
  /** The file the problem must name. */
  readonly file: string;
  /** Text the problem's path (field) must contain; undefined where the problem is about the whole file. */
  readonly field?: string;
  readonly message: RegExp;
  /** Whether the problem must carry a line number. */
  readonly line?: boolean;
}

/** Text gzip cannot shrink much: a deterministic pseudo-random base64 alphabet stream. */
function noise(length: number, seed: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  let state = seed;
  let out = "";
  while (out.length < length) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    out += alphabet[(state >>> 16) & 63];
  }
  return out;
}

const ORG = "arn:aws:organizations::111111111111:organization/o-abc1234567";
const COPY_WITH_KEYS =
  "copy:\n  concurrencyPerRegion: 5\n  kmsKeys:\n    us-east-1: alias/ops-rig-ami\n    eu-west-1: alias/ops-rig-ami-eu\n    ap-southeast-2: alias/ops-rig-ami\n";

function edit(files: Files, path: string, from: string | RegExp, to: string): void {
  const text = files.get(path);
  if (text === undefined) throw new Error(`no ${path}`);
  const next = text.replace(from, to);
  if (next === text) throw new Error(`fixture edit did not apply to ${path}: ${String(from)}`);
  files.set(path, next);
}

const LIGHT = "recipes/light.yaml";
const HEAVY = "recipes/heavy.yaml";
const PIPELINE = "recipes/pipeline.yaml";
const SLEUTHKIT = "components/sleuthkit.yaml";
const BASE = "components/responder-base.yaml";

const LONG_COMPONENT = `c${"x".repeat(139)}`;
/** A "billion laughs" document: nine levels of nine aliases each. */
const ALIAS_BOMB = [
  'a0: &a0 ["lol"]',
  ...Array.from({ length: 8 }, (_, i) => `a${i + 1}: &a${i + 1} [${Array(9).fill(`*a${i}`).join(", ")}]`),
  "description: *a8",
].join("\n");

const badInputs: BadInput[] = [
  {
    name: "YAML alias bomb",
    mutate: (f) => f.set(LIGHT, ALIAS_BOMB),
    file: LIGHT,
    message: /YAML aliases expand too much .*refused as a resource-exhaustion attack/,
  },
  {
    name: "component name over Image Builder's 128 characters",
    mutate: (f) => {
      f.set(`components/${LONG_COMPONENT}.yaml`, f.get(SLEUTHKIT) ?? "");
    },
    file: `components/${LONG_COMPONENT}.yaml`,
    message: /would have a 148-character name; Image Builder allows 128/,
  },
  {
    name: "maxAge under an hour (1m is one minute, not a month)",
    mutate: (f) => edit(f, LIGHT, "maxAge: 1d", "maxAge: 1m"),
    file: LIGHT,
    field: "maxAge",
    message:
      /maxAge 1m is under an hour \(m means minutes: write 30d for a month\).*confirm: \{maxAgeUnderAnHour: true\}/,
    line: true,
  },
  {
    name: "misspelt target region",
    mutate: (f) =>
      edit(f, PIPELINE, "targetRegions: [us-east-1, eu-west-1,", "targetRegions: [us-east-1, eu-wset-1,"),
    file: PIPELINE,
    field: "targetRegions[1]",
    message:
      /"eu-wset-1" is not an AWS region \(did you mean "eu-west-1"\?\).*confirm: \{unlistedRegions: \[eu-wset-1\]\}/,
    line: true,
  },
  {
    name: "target region in another partition",
    mutate: (f) => edit(f, PIPELINE, "targetRegions: [us-east-1,", "targetRegions: [cn-north-1,"),
    file: PIPELINE,
    field: "targetRegions[0]",
    message: /"cn-north-1" is in the aws-cn partition, the home region us-east-1 in aws/,
    line: true,
  },
  {
    name: "a listed region confirmed as unlisted",
    mutate: (f) => edit(f, PIPELINE, "copy:\n", "confirm:\n  unlistedRegions: [eu-west-1]\ncopy:\n"),
    file: PIPELINE,
    field: "confirm.unlistedRegions[0]",
    message: /"eu-west-1" is a listed AWS region: it needs no confirmation/,
    line: true,
  },
  {
    name: "malformed YAML",
    mutate: (f) => edit(f, LIGHT, "maxAge: 1d", "maxAge: [1d"),
    file: LIGHT,
    message: /YAML syntax error/,
    line: true,
  },
  {
    name: "unknown key in a toolset",
    mutate: (f) => edit(f, LIGHT, "maxAge: 1d", "maxAge: 1d\ncolour: blue"),
    file: LIGHT,
    field: "colour",
    message: /unknown key "colour"/,
    line: true,
  },
  {
    name: "unknown component",
    mutate: (f) => edit(f, LIGHT, "- name: sleuthkit", "- name: sleutkit"),
    file: LIGHT,
    field: "components[3].name",
    message: /unknown component "sleutkit" \(did you mean "sleuthkit"\?\)/,
    line: true,
  },
  {
    name: "undefined variable",
    mutate: (f) => edit(f, SLEUTHKIT, "- apt_install sleuthkit e2fsprogs", "- 'apt_install {{ Packages }}'"),
    file: SLEUTHKIT,
    field: "phases[0].steps[0].inputs.commands[0]",
    message: /undefined variable "\{\{ Packages \}\}"/,
    line: true,
  },
  {
    name: "a variable opening an unquoted value (a YAML mapping, not a string)",
    mutate: (f) => edit(f, BASE, `- 'EXTRA_PACKAGES="{{ ExtraPackages }}"'`, `- {{ ExtraPackages }}`),
    file: BASE,
    field: "phases[0].steps[1].inputs.commands[0]",
    message: /quote it: an unquoted \{\{ at the start of a value is a YAML mapping/,
    line: true,
  },
  {
    name: "unknown action",
    mutate: (f) => edit(f, SLEUTHKIT, /action: ExecuteBash/, "action: ExecuteBsh"),
    file: SLEUTHKIT,
    field: "phases[0].steps[0].action",
    message: /unknown action "ExecuteBsh"/,
    line: true,
  },
  {
    name: "duplicate step name",
    mutate: (f) =>
      edit(
        f,
        SLEUTHKIT,
        "      - name: SleuthkitRuns\n",
        "      - name: SleuthkitRuns\n        action: ExecuteBash\n        inputs:\n          commands:\n            - fls -V\n      - name: SleuthkitRuns\n",
      ),
    file: SLEUTHKIT,
    field: "phases[1].steps[1].name",
    message: /step name "SleuthkitRuns" is used twice in phase "validate"/,
    line: true,
  },
  {
    name: "oversized document",
    mutate: (f) =>
      edit(
        f,
        SLEUTHKIT,
        "- apt_install sleuthkit e2fsprogs",
        `- apt_install sleuthkit e2fsprogs\n            - "# ${"x".repeat(16_500)}"`,
      ),
    file: SLEUTHKIT,
    message: /rendered document is \d+ characters; Image Builder accepts at most 16000/,
  },
  {
    name: "more than 20 components",
    mutate: (f) => {
      for (let i = 0; i < 21; i++) f.set(`components/extra-${i}.yaml`, f.get(SLEUTHKIT) ?? "");
      const list = Array.from({ length: 21 }, (_, i) => `  - name: extra-${i}`).join("\n");
      edit(f, HEAVY, /components:\n( {2}- name: .*\n| {2}#.*\n| {4}.*\n)*/, `components:\n${list}\n`);
    },
    file: HEAVY,
    field: "components",
    message: /at most 20 components per recipe/,
    line: true,
  },
  {
    name: "component file name that cannot be an Image Builder name",
    mutate: (f) => f.set("components/Sleuth_Kit.yaml", f.get(SLEUTHKIT) ?? ""),
    file: "components/Sleuth_Kit.yaml",
    message: /"Sleuth_Kit" is not a valid component name/,
  },
  {
    name: "unknown base",
    mutate: (f) => edit(f, LIGHT, "bases: [ubuntu-24.04,", "bases: [ubuntu-20.04,"),
    file: LIGHT,
    field: "bases[0]",
    message: /expected one of ubuntu-24\.04, ubuntu-22\.04, debian-12, debian-13/,
    line: true,
  },
  {
    name: "unknown arch",
    mutate: (f) => edit(f, LIGHT, "arches: [amd64, arm64]", "arches: [amd64, x86_64]"),
    file: LIGHT,
    field: "arches[1]",
    message: /expected one of amd64, arm64/,
    line: true,
  },
  {
    name: "empty toolset",
    mutate: (f) => edit(f, LIGHT, /components:\n( {2}- name: .*\n| {2}#.*\n| {4}.*\n)*/, "components: []\n"),
    file: LIGHT,
    field: "components",
    message: /a toolset needs at least one component/,
    line: true,
  },
  {
    name: "oversized cloud-init",
    mutate: (f) => {
      // Each document stays well under 16,000 characters, but together they do not compress below 16 KiB.
      edit(
        f,
        SLEUTHKIT,
        "- apt_install sleuthkit e2fsprogs",
        `- apt_install sleuthkit e2fsprogs\n            - "# ${noise(8_000, 1)}"`,
      );
      edit(
        f,
        "components/network-capture.yaml",
        "apt_install tcpdump tshark libcap2-bin ngrep",
        `apt_install tcpdump tshark libcap2-bin ngrep\n              # ${noise(8_000, 2)}`,
      );
      edit(
        f,
        "components/aws-cli.yaml",
        "                apt_install awscli\n",
        `                apt_install awscli\n                # ${noise(8_000, 3)}\n`,
      );
    },
    file: LIGHT,
    message: /cloud-init user data is \d+ bytes even compressed; EC2 allows 16384/,
  },
  {
    name: "missing required field",
    mutate: (f) => edit(f, LIGHT, "maxAge: 1d\n", ""),
    file: LIGHT,
    field: "maxAge",
    message: /required .* is missing/,
  },
  {
    name: "duration without a unit",
    mutate: (f) => edit(f, LIGHT, "maxAge: 1d", "maxAge: 1 day"),
    file: LIGHT,
    field: "maxAge",
    message: /expected a duration like "30m", "6h", "1d" or "2w"/,
    line: true,
  },
  {
    name: "default base not built",
    mutate: (f) => {
      edit(
        f,
        LIGHT,
        "bases: [ubuntu-24.04, ubuntu-22.04, debian-12, debian-13]",
        "bases: [ubuntu-24.04, ubuntu-22.04, debian-12]",
      );
      edit(f, LIGHT, "  base: ubuntu-24.04", "  base: debian-13");
    },
    file: LIGHT,
    field: "default.base",
    message: /"debian-13" is not in bases/,
    line: true,
  },
  {
    name: "parameter the component does not declare",
    mutate: (f) =>
      edit(
        f,
        LIGHT,
        "  - name: lime\n",
        "  - name: lime\n    parameters:\n      ExtraKernel: 6.1.0-1-amd64\n",
      ),
    file: LIGHT,
    field: "components[5].parameters.ExtraKernel",
    message: /component "lime" has no parameter "ExtraKernel" \(it has: ExtraKernels\)/,
    line: true,
  },
  {
    name: "required parameter not given",
    mutate: (f) =>
      edit(
        f,
        SLEUTHKIT,
        "schemaVersion: 1.0\n",
        `schemaVersion: 1.0\nparameters:\n  - Depth:\n      type: string\n`,
      ),
    file: LIGHT,
    field: "components[3]",
    message: /component "sleuthkit" requires parameter "Depth"/,
    line: true,
  },
  {
    name: "share: organization ARN of the wrong shape",
    mutate: (f) =>
      edit(
        f,
        PIPELINE,
        "copy:\n",
        `share:\n  organization: arn:aws:organizations::111111111111:o-abc1234567\ncopy:\n`,
      ),
    file: PIPELINE,
    field: "share.organization",
    message: /expected an organization ARN: arn:aws:organizations::<management-account>:organization\/o-/,
    line: true,
  },
  {
    name: "share: OU ARN of the wrong shape",
    mutate: (f) => edit(f, PIPELINE, "copy:\n", `share:\n  organizationalUnits: [ou-ab12-cdef3456]\ncopy:\n`),
    file: PIPELINE,
    field: "share.organizationalUnits[0]",
    message: /expected an OU ARN/,
    line: true,
  },
  {
    name: "share: an OU of another organization",
    mutate: (f) =>
      edit(
        f,
        PIPELINE,
        "copy:\n  concurrencyPerRegion: 5\n",
        `share:\n  organization: ${ORG}\n  organizationalUnits: [arn:aws:organizations::111111111111:ou/o-zzz9999999/ou-ab12-cdef3456]\n${COPY_WITH_KEYS}`,
      ),
    file: PIPELINE,
    field: "share.organizationalUnits[0]",
    message: /ou-ab12-cdef3456 is in organization o-zzz9999999 .*ops-rig shares within one organization/,
    line: true,
  },
  {
    name: "share: an account id that is not 12 digits",
    mutate: (f) =>
      edit(
        f,
        PIPELINE,
        "copy:\n  concurrencyPerRegion: 5\n",
        `share:\n  accounts: ["12345"]\n${COPY_WITH_KEYS}`,
      ),
    file: PIPELINE,
    field: "share.accounts[0]",
    message: /an AWS account id is 12 digits/,
    line: true,
  },
  {
    name: "share: with nobody",
    mutate: (f) => edit(f, PIPELINE, "copy:\n  concurrencyPerRegion: 5\n", `share: {}\n${COPY_WITH_KEYS}`),
    file: PIPELINE,
    field: "share",
    message: /share with something: organization, organizationalUnits or accounts/,
    line: true,
  },
  {
    name: "share: AMIs under the AWS-managed aws/ebs key (no customer key in some regions)",
    mutate: (f) => edit(f, PIPELINE, "copy:\n", `share:\n  organization: ${ORG}\ncopy:\n`),
    file: PIPELINE,
    field: "share",
    message:
      /without copy.kmsKeys for us-east-1, eu-west-1, ap-southeast-2 they are encrypted with the AWS-managed aws\/ebs key, which cannot be shared/,
    line: true,
  },
  {
    name: "share: alias/aws/ebs named as the copy key",
    mutate: (f) =>
      edit(
        f,
        PIPELINE,
        "copy:\n  concurrencyPerRegion: 5\n",
        `share:\n  organization: ${ORG}\n${COPY_WITH_KEYS.replace("alias/ops-rig-ami-eu", "alias/aws/ebs")}`,
      ),
    file: PIPELINE,
    field: "copy.kmsKeys.eu-west-1",
    message: /alias\/aws\/ebs is the AWS-managed EBS key: AMIs encrypted with it cannot be shared/,
    line: true,
  },
  {
    name: "bad region",
    mutate: (f) => edit(f, PIPELINE, "targetRegions: [us-east-1,", "targetRegions: [us-east,"),
    file: PIPELINE,
    field: "targetRegions[0]",
    message: /not an AWS region name/,
    line: true,
  },
  {
    name: "parameter prefix in the reserved aws namespace",
    mutate: (f) => edit(f, PIPELINE, "parameterPrefix: /ops-rig", "parameterPrefix: /aws/ops-rig"),
    file: PIPELINE,
    field: "parameterPrefix",
    message: /may not start with "aws" or "ssm"/,
    line: true,
  },
  {
    name: "wrong schemaVersion",
    mutate: (f) => edit(f, SLEUTHKIT, "schemaVersion: 1.0", "schemaVersion: 2.0"),
    file: SLEUTHKIT,
    field: "schemaVersion",
    message: /schemaVersion must be 1\.0/,
    line: true,
  },
  {
    name: "timeoutSeconds of 0",
    mutate: (f) =>
      edit(f, SLEUTHKIT, "        maxAttempts: 3\n", "        maxAttempts: 3\n        timeoutSeconds: 0\n"),
    file: SLEUTHKIT,
    field: "phases[0].steps[0].timeoutSeconds",
    message: /0 is invalid/,
    line: true,
  },
  {
    name: "unknown onFailure",
    mutate: (f) =>
      edit(f, SLEUTHKIT, "        maxAttempts: 3\n", "        maxAttempts: 3\n        onFailure: Retry\n"),
    file: SLEUTHKIT,
    field: "phases[0].steps[0].onFailure",
    message: /onFailure must be one of Abort, Continue, Ignore/,
    line: true,
  },
  {
    name: "permissions that are not an octal mode",
    mutate: (f) => edit(f, BASE, `permissions: "0750"`, `permissions: "u+rwx"`),
    file: BASE,
    field: "phases[0].steps[2].inputs[0].permissions",
    message: /octal mode like "0644", not "u\+rwx"/,
    line: true,
  },
  {
    name: "unknown phase",
    mutate: (f) => edit(f, SLEUTHKIT, "  - name: build", "  - name: install"),
    file: SLEUTHKIT,
    field: "phases",
    message: /a build component needs a "build" phase/,
    line: true,
  },
  {
    name: "component listed twice",
    mutate: (f) => edit(f, LIGHT, "  - name: hardening\n", "  - name: hardening\n  - name: sleuthkit\n"),
    file: LIGHT,
    field: "components[9].name",
    message: /component "sleuthkit" is listed twice/,
    line: true,
  },
  {
    name: "missing pipeline settings",
    mutate: (f) => f.delete(PIPELINE),
    file: PIPELINE,
    message: /missing: pipeline-wide settings/,
  },
  {
    name: "empty toolset file",
    mutate: (f) => f.set(LIGHT, "# nothing yet\n"),
    file: LIGHT,
    message: /file is empty/,
  },
  {
    name: "build component without a validate phase",
    mutate: (f) => edit(f, SLEUTHKIT, / {2}- name: validate\n( {4}.*\n| {6}.*\n)*?(?= {2}- name: test)/, ""),
    file: SLEUTHKIT,
    field: "phases",
    message: /a build component needs a "validate" phase/,
    line: true,
  },
  {
    name: "unknown step key",
    mutate: (f) =>
      edit(f, SLEUTHKIT, "        maxAttempts: 3\n", "        maxAttempts: 3\n        timeout: 60\n"),
    file: SLEUTHKIT,
    field: "phases[0].steps[0].timeout",
    message: /unknown step key "timeout"/,
    line: true,
  },
  {
    name: "toolset file name that cannot be an Image Builder name",
    mutate: (f) => f.set("recipes/Light_Set.yaml", f.get(LIGHT) ?? ""),
    file: "recipes/Light_Set.yaml",
    message: /"Light_Set" is not a valid toolset name/,
  },
  {
    name: "KMS key for a region that is not a target",
    mutate: (f) =>
      edit(
        f,
        PIPELINE,
        "  concurrencyPerRegion: 5\n",
        "  concurrencyPerRegion: 5\n  kmsKeys:\n    sa-east-1: alias/ops-rig\n",
      ),
    file: PIPELINE,
    field: "copy.kmsKeys.sa-east-1",
    message: /"sa-east-1" is not a target region/,
    line: true,
  },
];

function problemsOf(files: Files): Problem[] {
  try {
    renderProject(parseProject(files));
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

function matching(problems: readonly Problem[], bad: BadInput): Problem | undefined {
  return problems.find(
    (p) =>
      p.file === bad.file &&
      (bad.field === undefined || (p.path ?? "").includes(bad.field)) &&
      bad.message.test(p.message),
  );
}

describe("bad input is rejected with a message naming the file and field", () => {
  let shipped: Files;
  beforeAll(async () => {
    shipped = await shippedFiles();
  });

  it("the shipped project has no problems", () => {
    expect(problemsOf(new Map(shipped))).toEqual([]);
  });

  it("covers at least 20 distinct bad inputs", () => {
    expect(new Set(badInputs.map((b) => b.name)).size).toBeGreaterThanOrEqual(20);
  });

  it.each(badInputs.map((b) => [b.name, b] as const))("%s", (_name, bad) => {
    const files = new Map(shipped);
    bad.mutate(files);
    const problems = problemsOf(files);
    const problem = matching(problems, bad);
    expect(
      problem,
      `expected a problem in ${bad.file} ${bad.field ?? ""} matching ${bad.message}; got:\n${problems.map((p) => JSON.stringify(p)).join("\n")}`,
    ).toBeDefined();
    if (bad.line) expect(problem?.line).toBeGreaterThan(0);
  });
});

describe("the CLI exits non-zero on bad input and names the file and field", () => {
  let shipped: Files;
  const dirs: string[] = [];
  beforeAll(async () => {
    shipped = await shippedFiles();
  });
  afterAll(async () => {
    await Promise.all(dirs.map(removeProject));
  });

  it.each(badInputs.map((b) => [b.name, b] as const))("validate: %s", async (_name, bad) => {
    const files = new Map(shipped);
    bad.mutate(files);
    const dir = await writeProject(files);
    dirs.push(dir);
    const result = await runCli(["--config", dir, "validate"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(bad.file);
    if (bad.field) expect(result.stderr).toContain(bad.field);
    expect(result.stderr).toMatch(bad.message);
  });
});

describe("share: a valid section parses into settings", () => {
  it("organization, an OU of it and an account, with a customer key in every region", async () => {
    const files = await shippedFiles();
    const ou = "arn:aws:organizations::111111111111:ou/o-abc1234567/ou-ab12-cdef3456";
    edit(
      files,
      PIPELINE,
      "copy:\n  concurrencyPerRegion: 5\n",
      `share:\n  organization: ${ORG}\n  organizationalUnits: [${ou}]\n  accounts: ["222222222222"]\n${COPY_WITH_KEYS}`,
    );
    const project = parseProject(files);
    expect(project.pipeline.share).toEqual({
      organizationArn: ORG,
      organizationalUnitArns: [ou],
      accountIds: ["222222222222"],
    });
  });
});

describe("legal but almost certainly wrong values pass once confirmed", () => {
  it("maxAge under an hour with confirm: {maxAgeUnderAnHour: true}", async () => {
    const files = await shippedFiles();
    edit(files, LIGHT, "maxAge: 1d", "maxAge: 30m\nconfirm:\n  maxAgeUnderAnHour: true");
    expect(problemsOf(files)).toEqual([]);
  });

  it("a region newer than the list, named in confirm.unlistedRegions", async () => {
    const files = await shippedFiles();
    edit(
      files,
      PIPELINE,
      "targetRegions: [us-east-1,",
      "confirm:\n  unlistedRegions: [eu-north-9]\ntargetRegions: [eu-north-9, us-east-1,",
    );
    expect(problemsOf(files)).toEqual([]);
  });
});

describe("unreadable project files are problems naming the file (exit 2), not raw EISDIR/ENOENT", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map(removeProject));
  });

  it("a folder named recipes/x.yaml", async () => {
    const dir = await writeProject(await shippedFiles());
    dirs.push(dir);
    await mkdir(join(dir, "recipes/x.yaml"));
    const result = await runCli(["--config", dir, "validate"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("recipes/x.yaml: is a folder, not a file");
    expect(result.stderr).not.toContain("EISDIR");
  });

  it("a dangling component symlink", async () => {
    const dir = await writeProject(await shippedFiles());
    dirs.push(dir);
    await symlink("/nonexistent/ops-rig/forensics.yaml", join(dir, "components/forensics.yaml"));
    const result = await runCli(["--config", dir, "validate"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      "components/forensics.yaml: is a symbolic link to /nonexistent/ops-rig/forensics.yaml, which does not exist",
    );
    expect(result.stderr).not.toContain("ENOENT");
  });

  it("a YAML alias bomb names its file and exits 2", async () => {
    const files = await shippedFiles();
    files.set(LIGHT, ALIAS_BOMB);
    const dir = await writeProject(files);
    dirs.push(dir);
    const result = await runCli(["--config", dir, "validate"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${LIGHT}: YAML aliases expand too much`);
  });
});
