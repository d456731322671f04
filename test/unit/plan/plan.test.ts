import { beforeAll, describe, expect, it } from "vitest";
import type { PipelineSettings, Toolset } from "../../../src/config/types.js";
import { epochFingerprint } from "../../../src/plan/fingerprint.js";
import { IMAGE_BUILDER_ARN_TAG, TAG } from "../../../src/plan/names.js";
import { plan } from "../../../src/plan/plan.js";
import type { Action, Observed, Plan } from "../../../src/plan/types.js";
import {
  ALIAS,
  ami,
  build,
  builtAmi,
  content,
  DAY,
  EU,
  HOME,
  HOUR,
  iso,
  loadFixtureConfig,
  NOW,
  PARAM,
  world,
} from "./fixtures.js";

let pipeline: PipelineSettings;
let toolset: Toolset;
beforeAll(async () => {
  ({ pipeline, toolset } = await loadFixtureConfig());
});

function run(
  observed: Observed,
  options: { force?: boolean; now?: Date; pipeline?: PipelineSettings } = {},
): Plan {
  return plan({
    pipeline: options.pipeline ?? pipeline,
    toolsets: [toolset],
    observed,
    now: options.now ?? NOW,
    options: { force: options.force ?? false },
  });
}

function kinds(p: Plan): string[] {
  return p.actions.map((a) => `${a.kind}${"region" in a && a.region ? `@${a.region}` : ""}`);
}

function only<K extends Action["kind"]>(p: Plan, kind: K, region?: string): Extract<Action, { kind: K }> {
  const found = p.actions.filter(
    (a): a is Extract<Action, { kind: K }> =>
      a.kind === kind && (region === undefined || ("region" in a && a.region === region)),
  );
  expect(found, `${kind}${region ? `@${region}` : ""} in ${kinds(p).join(", ")}`).toHaveLength(1);
  return found[0] as Extract<Action, { kind: K }>;
}

const fp = () => epochFingerprint(content(), toolset.maxAge.ms, NOW);

describe("plan: building", () => {
  it("starts the first build of a line on an empty account", () => {
    const p = run(world());
    expect(kinds(p)).toEqual([`build@${HOME}`]);
    const b = only(p, "build");
    expect(b.reason).toBe("first build of this line (base ami-0base0002)");
    expect(b.fingerprint).toBe(fp());
    expect(b.attempt).toBe(1);
    expect(b.baseImage.imageId).toBe("ami-0base0002");
    expect(p.lines.map((l) => [l.region, l.state])).toEqual([
      [HOME, "building"],
      [EU, "building"],
    ]);
  });

  it("waits while the build is in flight, and never starts a second one", () => {
    const p = run(world({ builds: [build({ fingerprint: fp(), status: "TESTING" })] }));
    expect(kinds(p)).toEqual([`wait@${HOME}`]);
    expect(only(p, "wait").reason).toMatch(/^build testing since /);
  });

  it("carries on with a build started in the previous maxAge epoch instead of starting another", () => {
    const started = new Date(NOW.getTime() - 2 * HOUR);
    const earlier = epochFingerprint(content(), toolset.maxAge.ms, new Date(started.getTime() - DAY));
    const p = run(
      world({
        builds: [build({ fingerprint: earlier, status: "BUILDING", dateCreated: started.toISOString() })],
      }),
    );
    expect(kinds(p)).toEqual([`wait@${HOME}`]);
  });

  it("rebuilds on a new base image, naming the old and new base", () => {
    const old = content("ami-0base0001");
    const published = builtAmi("ami-0home0001", "fp-old", old, { tags: { [TAG.baseAmi]: "ami-0base0001" } });
    const p = run(
      world({
        amis: { [HOME]: [published] },
        parameters: { [HOME]: { [PARAM]: "ami-0home0001", [ALIAS]: "ami-0home0001" } },
      }),
    );
    const b = only(p, "build");
    expect(b.reason).toBe("new base image ami-0base0001 → ami-0base0002");
    // The old image stays published while the new one builds.
    expect(p.actions.some((a) => a.kind === "publish")).toBe(false);
  });

  it("rebuilds when the recipe or components change on the same base", () => {
    const published = builtAmi("ami-0home0001", "fp-old", content("ami-0base0002", "recipe-hash-0"));
    const p = run(world({ amis: { [HOME]: [published] } }));
    expect(only(p, "build").reason).toBe("recipe or components changed");
  });

  it("rebuilds an unchanged image once it is older than maxAge, with a new fingerprint", () => {
    const stale = builtAmi("ami-0home0001", "fp-stale", content(), { creationDate: iso(-25 * HOUR) });
    const p = run(
      world({
        amis: { [HOME]: [stale] },
        parameters: { [HOME]: { [PARAM]: "ami-0home0001", [ALIAS]: "ami-0home0001" } },
      }),
    );
    const b = only(p, "build");
    expect(b.reason).toMatch(/^image older than maxAge 1d \(built /);
    expect(b.fingerprint).not.toBe("fp-stale");
    expect(b.fingerprint).toBe(fp());
  });

  it("keeps a fresh image's fingerprint across the maxAge epoch boundary", () => {
    const fresh = builtAmi("ami-0home0001", "fp-yesterday", content(), { creationDate: iso(-20 * HOUR) });
    const p = run(
      world({
        amis: {
          [HOME]: [fresh],
          [EU]: [
            builtAmi("ami-0eu00001", "fp-yesterday", content(), {
              tags: { [TAG.sourceAmi]: "ami-0home0001" },
            }),
          ],
        },
        parameters: {
          [HOME]: { [PARAM]: "ami-0home0001", [ALIAS]: "ami-0home0001" },
          [EU]: { [PARAM]: "ami-0eu00001", [ALIAS]: "ami-0eu00001" },
        },
      }),
    );
    expect(kinds(p)).toEqual([]);
    expect(p.lines.map((l) => l.state)).toEqual(["published", "published"]);
  });

  it("does not start a build when the base image cannot be found, and says why", () => {
    const p = run(
      world({
        base: {
          ok: false,
          error: "no debian-12 amd64 image named debian-12-amd64-* from owner 136693071363 in us-east-1",
        },
      }),
    );
    const skip = only(p, "skip");
    expect(skip.error).toBe(true);
    expect(skip.reason).toMatch(/^no base image: no debian-12 amd64 image named/);
  });

  it("skips every line when the home region cannot be observed", () => {
    const p = run(world({ regionErrors: { [HOME]: "AuthFailure" } }));
    expect(only(p, "skip").reason).toMatch(/home region us-east-1 could not be observed: AuthFailure/);
  });
});

describe("plan: failed builds", () => {
  const failed = (hoursAgo: number, extra: Record<string, string> = {}) =>
    build({
      fingerprint: fp(),
      status: "FAILED",
      reason: "step InstallLime failed",
      dateCreated: iso(-hoursAgo * HOUR),
      tags: extra,
    });

  it("backs off after a failure, and notifies it once", () => {
    const p = run(world({ builds: [failed(1)] }));
    expect(kinds(p).sort()).toEqual([`notify@${HOME}`, `skip@${HOME}`]);
    expect(only(p, "skip").error).toBe(false);
    expect(only(p, "skip").reason).toMatch(
      /^build failed \(step InstallLime failed\); next attempt after 2026-11-29T17:00:00\.000Z \(or --force\)$/,
    );
    expect(only(p, "notify").failure).toBe("step InstallLime failed");
    expect(p.lines[0]?.state).toBe("backoff");
  });

  it("does not notify a failure twice", () => {
    const p = run(world({ builds: [failed(1, { [TAG.notified]: iso(-HOUR) })] }));
    expect(kinds(p)).toEqual([`skip@${HOME}`]);
  });

  it("retries after the back-off with the next attempt number (a new client token)", () => {
    const p = run(world({ builds: [failed(7, { [TAG.notified]: iso(-6 * HOUR) })] }));
    const b = only(p, "build");
    expect(b.attempt).toBe(2);
    expect(b.reason).toBe("retry after failed build (step InstallLime failed)");
  });

  it("retries at once with force", () => {
    const p = run(world({ builds: [failed(1, { [TAG.notified]: iso(-HOUR) })] }), { force: true });
    expect(only(p, "build").reason).toBe("retry after failed build (step InstallLime failed), forced");
  });

  it("keeps backing off across a maxAge epoch boundary (no retry storm at midnight)", () => {
    const earlier = epochFingerprint(content(), toolset.maxAge.ms, new Date(NOW.getTime() - DAY));
    const p = run(
      world({
        builds: [
          build({
            fingerprint: earlier,
            status: "FAILED",
            reason: "x",
            dateCreated: iso(-HOUR),
            tags: { [TAG.notified]: "y" },
          }),
        ],
      }),
    );
    expect(kinds(p)).toEqual([`skip@${HOME}`]);
  });
});

describe("plan: copying and publishing", () => {
  const homeAmi = () => builtAmi("ami-0home0001", fp(), content());

  it("tags a finished build's AMI from the build record, then copies and publishes in the same pass", () => {
    const untagged = ami({
      imageId: "ami-0home0001",
      tags: { ...ami({ imageId: "x" }).tags, [IMAGE_BUILDER_ARN_TAG]: "arn:ib/1" },
    });
    const p = run(
      world({
        amis: { [HOME]: [untagged] },
        builds: [build({ fingerprint: fp(), status: "AVAILABLE", amis: { [HOME]: "ami-0home0001" } })],
      }),
    );
    expect(kinds(p)).toEqual([`tag@${HOME}`, `publish@${HOME}`, `copy@${EU}`]);
    const tag = only(p, "tag");
    expect(tag.tags[TAG.fingerprint]).toBe(fp());
    expect(tag.tags[TAG.content]).toBe(content());
    expect(tag.tags[TAG.build]).toMatch(/^arn:aws:imagebuilder:/);
    const copy = only(p, "copy");
    expect(copy.tags[TAG.sourceAmi]).toBe("ami-0home0001");
    expect(copy.tags[TAG.fingerprint]).toBe(fp());
  });

  it("waits for a built AMI that is still pending", () => {
    const pending = ami({ imageId: "ami-0home0001", state: "pending" });
    const p = run(
      world({
        amis: { [HOME]: [pending] },
        builds: [build({ fingerprint: fp(), status: "AVAILABLE", amis: { [HOME]: "ami-0home0001" } })],
      }),
    );
    expect(kinds(p)).toEqual([`wait@${HOME}`]);
  });

  it("copies to each target region and publishes both parameters at home", () => {
    const p = run(world({ amis: { [HOME]: [homeAmi()] } }));
    expect(kinds(p)).toEqual([`publish@${HOME}`, `copy@${EU}`]);
    const publish = only(p, "publish");
    expect(publish.parameters.map((x) => x.name)).toEqual([PARAM, ALIAS]);
    expect(publish.tags[TAG.published]).toBe(NOW.toISOString());
    // The version label is the image's build date, read from its name (copies keep the name).
    expect(publish.label).toBe("build-20261129-110000");
    const copy = only(p, "copy");
    expect(copy).toMatchObject({
      sourceRegion: HOME,
      sourceImageId: "ami-0home0001",
      attempt: 1,
      name: homeAmi().name,
    });
    expect(copy.kmsKeyId).toBeUndefined();
  });

  it("encrypts copies with the region's KMS key when one is configured", () => {
    const withKey = { ...pipeline, copy: { ...pipeline.copy, kmsKeys: { [EU]: "alias/ops-rig-ami" } } };
    const p = run(world({ amis: { [HOME]: [homeAmi()] } }), { pipeline: withKey });
    expect(only(p, "copy").kmsKeyId).toBe("alias/ops-rig-ami");
  });

  it("waits for a pending copy and does not publish it", () => {
    const pendingCopy = builtAmi("ami-0eu00001", fp(), content(), {
      state: "pending",
      tags: { [TAG.sourceAmi]: "ami-0home0001" },
    });
    const p = run(
      world({
        amis: { [HOME]: [homeAmi()], [EU]: [pendingCopy] },
        parameters: { [HOME]: { [PARAM]: "ami-0home0001", [ALIAS]: "ami-0home0001" } },
      }),
    );
    expect(kinds(p)).toEqual([`wait@${EU}`]);
    expect(p.lines.find((l) => l.region === EU)?.state).toBe("copying");
  });

  it("retries a failed copy and cleans up the failed one", () => {
    const failedCopy = builtAmi("ami-0eu00001", fp(), content(), {
      state: "failed",
      tags: { [TAG.sourceAmi]: "ami-0home0001" },
    });
    const p = run(
      world({
        amis: { [HOME]: [homeAmi()], [EU]: [failedCopy] },
        parameters: { [HOME]: { [PARAM]: "ami-0home0001", [ALIAS]: "ami-0home0001" } },
      }),
    );
    const copy = only(p, "copy");
    expect(copy.attempt).toBe(2);
    expect(copy.replaces).toBe("ami-0eu00001");
    expect(copy.reason).toBe("retry failed copy ami-0eu00001");
  });

  it("adopts a copy an interrupted run left untagged instead of copying again", () => {
    const untaggedCopy = ami({ imageId: "ami-0eu00009", name: homeAmi().name, tags: {} });
    const p = run(
      world({
        amis: { [HOME]: [homeAmi()], [EU]: [untaggedCopy] },
        parameters: { [HOME]: { [PARAM]: "ami-0home0001", [ALIAS]: "ami-0home0001" } },
      }),
    );
    expect(kinds(p)).toEqual([`tag@${EU}`, `publish@${EU}`]);
    expect(only(p, "tag").imageId).toBe("ami-0eu00009");
    expect(only(p, "publish").imageId).toBe("ami-0eu00009");
  });

  it("publishes only the parameters that point elsewhere", () => {
    const copy = builtAmi("ami-0eu00001", fp(), content(), { tags: { [TAG.sourceAmi]: "ami-0home0001" } });
    const p = run(
      world({
        amis: { [HOME]: [homeAmi()], [EU]: [copy] },
        parameters: {
          [HOME]: { [PARAM]: "ami-0home0001", [ALIAS]: "ami-0home0001" },
          [EU]: { [PARAM]: "ami-0eu00001", [ALIAS]: "ami-0old" },
        },
      }),
    );
    const publish = only(p, "publish", EU);
    expect(publish.parameters).toEqual([{ name: ALIAS, current: "ami-0old", version: 3 }]);
  });

  it("does nothing when every region is published (converged)", () => {
    const copy = builtAmi("ami-0eu00001", fp(), content(), {
      tags: { [TAG.sourceAmi]: "ami-0home0001", [TAG.published]: iso(-HOUR) },
    });
    const home = builtAmi("ami-0home0001", fp(), content(), { tags: { [TAG.published]: iso(-HOUR) } });
    const p = run(
      world({
        amis: { [HOME]: [home], [EU]: [copy] },
        parameters: {
          [HOME]: { [PARAM]: "ami-0home0001", [ALIAS]: "ami-0home0001" },
          [EU]: { [PARAM]: "ami-0eu00001", [ALIAS]: "ami-0eu00001" },
        },
      }),
    );
    expect(p.actions).toEqual([]);
    expect(p.lines.map((l) => [l.region, l.state, l.imageId])).toEqual([
      [HOME, "published", "ami-0home0001"],
      [EU, "published", "ami-0eu00001"],
    ]);
  });

  it("skips a region that cannot be observed and carries on with the others", () => {
    const p = run(
      world({
        amis: { [HOME]: [homeAmi()] },
        regionErrors: { [EU]: "eu-west-1 is an opt-in region that is not enabled for this account" },
      }),
    );
    expect(kinds(p)).toEqual([`publish@${HOME}`, `skip@${EU}`]);
    expect(only(p, "skip").error).toBe(true);
  });

  it("never publishes an AMI a rollback withdrew", () => {
    const withdrawn = builtAmi("ami-0home0001", fp(), content(), { tags: { [TAG.withdrawn]: iso(-HOUR) } });
    const p = run(
      world({
        amis: { [HOME]: [withdrawn] },
        parameters: { [HOME]: { [PARAM]: "ami-0prev", [ALIAS]: "ami-0prev" } },
      }),
    );
    expect(p.actions.filter((a) => a.kind === "publish" || a.kind === "build")).toEqual([]);
    expect(p.lines.find((l) => l.region === HOME)?.state).toBe("withdrawn");
  });

  it("repoints a parameter whose AMI vanished at the newest available one while the new build runs", () => {
    const older = builtAmi("ami-0home0000", "fp-0", content("ami-0base0001"), {
      creationDate: iso(-30 * HOUR),
    });
    const p = run(
      world({
        amis: { [HOME]: [older] },
        parameters: { [HOME]: { [PARAM]: "ami-0gone", [ALIAS]: "ami-0home0000" } },
        builds: [build({ fingerprint: fp(), status: "BUILDING" })],
      }),
    );
    const publish = only(p, "publish", HOME);
    expect(publish.imageId).toBe("ami-0home0000");
    expect(publish.parameters.map((x) => x.name)).toEqual([PARAM]);
    expect(publish.reason).toMatch(
      /^parameter pointed at an AMI that is not available or was withdrawn; falling back/,
    );
  });
});

describe("plan: retention", () => {
  const line = (id: string, hoursAgo: number, extra: Record<string, string> = {}, deprecationTime?: string) =>
    builtAmi(id, `fp-${id}`, content(), {
      creationDate: iso(-hoursAgo * HOUR),
      ...(deprecationTime ? { deprecationTime } : {}),
      tags: { [TAG.content]: "old", ...extra },
    });

  it("keeps the newest `keep`, the published one and the rollback; deprecates the rest, deregisters deprecated ones", () => {
    const current = builtAmi("ami-0cur", fp(), content(), {
      creationDate: iso(-HOUR),
      tags: { [TAG.published]: iso(-HOUR) },
    });
    const amis = [
      current,
      line("ami-2", 100),
      line("ami-3", 200),
      line("ami-4", 300, { [TAG.published]: iso(-250 * HOUR) }), // published before the current one: rollback
      line("ami-5", 400, { [TAG.published]: iso(-350 * HOUR) }),
      line("ami-6", 500, {}, iso(-10 * HOUR)), // already deprecated
      line("ami-7", 600, {}, iso(10 * HOUR)), // deprecation scheduled in the future: leave it
    ];
    const p = run(
      world({ amis: { [HOME]: amis }, parameters: { [HOME]: { [PARAM]: "ami-0cur", [ALIAS]: "ami-0cur" } } }),
    );
    const retention = p.actions
      .filter((a) => a.kind === "deprecate" || a.kind === "deregister")
      .map((a) => `${a.kind}:${"imageId" in a ? a.imageId : ""}`);
    expect(retention).toEqual(["deprecate:ami-5", "deregister:ami-6"]);
  });

  it("never removes the published AMI, even when it is the oldest", () => {
    const amis = [
      line("ami-1", 100),
      line("ami-2", 110),
      line("ami-3", 120),
      line("ami-4", 130),
      line("ami-old", 900),
    ];
    const p = run(
      world({ amis: { [EU]: amis }, parameters: { [EU]: { [PARAM]: "ami-old", [ALIAS]: "ami-old" } } }),
    );
    const retention = p.actions
      .filter((a) => a.kind === "deprecate" && a.region === EU)
      .map((a) => ("imageId" in a ? a.imageId : ""));
    expect(retention).toEqual(["ami-4"]);
  });

  it("builds named in the same second sort by registration time, whatever order the region lists them", () => {
    // Names carry the build time to the second; the oldest by registration must be the one that goes.
    const sameSecond = `ops-rig-light-debian-12-amd64-${iso(-300 * HOUR)
      .slice(0, 19)
      .replaceAll(":", "-")}Z`;
    const amis = [100, 200, 300, 400].map((hoursAgo, i) =>
      builtAmi(`ami-${i + 1}`, `fp-${i}`, content(), {
        name: sameSecond,
        creationDate: iso(-hoursAgo * HOUR),
        tags: { [TAG.content]: "old" },
      }),
    );
    const deprecated = (listed: typeof amis) =>
      run(world({ amis: { [EU]: listed }, parameters: { [EU]: { [PARAM]: "ami-1", [ALIAS]: "ami-1" } } }))
        .actions.filter((a) => a.kind === "deprecate")
        .map((a) => ("imageId" in a ? a.imageId : ""));
    expect(deprecated(amis)).toEqual(["ami-4"]);
    expect(deprecated([...amis].reverse())).toEqual(["ami-4"]);
  });

  it("keeps anything younger than the grace period", () => {
    const amis = [line("ami-1", 1), line("ami-2", 2), line("ami-3", 3), line("ami-4", 4), line("ami-5", 5)];
    const p = run(world({ amis: { [EU]: amis } }));
    expect(p.actions.filter((a) => a.kind === "deprecate" || a.kind === "deregister")).toEqual([]);
  });
});

describe("plan: purity", () => {
  it("gives the same plan for the same input", () => {
    const input = world({ amis: { [HOME]: [builtAmi("ami-0home0001", fp(), content())] } });
    expect(run(input)).toEqual(run(input));
  });

  it("does not depend on the order AWS lists images in", () => {
    const a = builtAmi("ami-a", "fp-a", "c-a", { creationDate: iso(-500 * HOUR) });
    const b = builtAmi("ami-b", "fp-b", "c-b", { creationDate: iso(-400 * HOUR) });
    const c = builtAmi("ami-c", "fp-c", "c-c", { creationDate: iso(-300 * HOUR) });
    const d = builtAmi("ami-d", "fp-d", "c-d", { creationDate: iso(-200 * HOUR) });
    const forward = run(world({ amis: { [EU]: [a, b, c, d] } })).actions;
    const backward = run(world({ amis: { [EU]: [d, c, b, a] } })).actions;
    expect(backward).toEqual(forward);
  });
});

describe("plan: snapshots taken while things move", () => {
  it("waits for a finished build whose AMI DescribeImages does not show yet, instead of building again", () => {
    const p = run(
      world({
        builds: [
          build({
            fingerprint: fp(),
            status: "AVAILABLE",
            amis: { [HOME]: "ami-0new" },
            dateCreated: iso(-10 * 60_000),
          }),
        ],
      }),
    );
    expect(kinds(p)).toEqual([`wait@${HOME}`]);
    expect(only(p, "wait").reason).toBe("AMI ami-0new of the finished build is not visible yet");
  });

  it("rebuilds when a finished build's AMI has been gone for long (deregistered by hand)", () => {
    const p = run(
      world({
        builds: [
          build({
            fingerprint: fp(),
            status: "AVAILABLE",
            amis: { [HOME]: "ami-0gone" },
            dateCreated: iso(-3 * HOUR),
          }),
        ],
      }),
    );
    expect(only(p, "build").attempt).toBe(2);
  });
});
