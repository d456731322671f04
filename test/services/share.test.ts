import { describe, expect, it } from "vitest";
import type { PipelineData, ShareSettings } from "../../src/config/types.js";
import type { PipelineProject } from "../../src/pipeline/run.js";
import { aliasParameterName, lineParameterName, TAG } from "../../src/plan/names.js";
import { memberResolveName } from "../../src/plan/share.js";
import { FakeCrash } from "../fakes/fake-aws.js";
import { shippedProject } from "../helpers/shipped.js";
import { converge, EU, type FakeWorld, fakeWorld, HOME, run } from "./fake-world.js";

const LINE = { toolset: "light", base: "debian-12", arch: "amd64" } as const;
const PARAM = lineParameterName("/ops-rig", LINE);
const ALIAS = aliasParameterName("/ops-rig", "light");
const ORG = "arn:aws:organizations::111111111111:organization/o-abc1234567";
const OU_A = "arn:aws:organizations::111111111111:ou/o-abc1234567/ou-ab12-aaaaaaaa";
const OU_B = "arn:aws:organizations::111111111111:ou/o-abc1234567/ou-ab12-bbbbbbbb";
const IN_A = "222222222222";
const IN_B = "333333333333";
const ALSO_B = "444444444444";

/** A key policy that lets accounts of OU A use the key through EC2 (as README shows). */
const policyFor = (paths: string[]) => ({
  Version: "2012-10-17",
  Statement: [
    {
      Sid: "OrganizationLaunchesSharedAmis",
      Effect: "Allow",
      Principal: { AWS: "*" },
      Action: [
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:CreateGrant",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:ReEncrypt*",
      ],
      Resource: "*",
      Condition: { "ForAnyValue:StringLike": { "aws:PrincipalOrgPaths": paths } },
    },
  ],
});

async function sharedProject(share: ShareSettings | undefined): Promise<PipelineProject> {
  return shippedProject({
    toolsets: ["light"],
    bases: ["debian-12"],
    arches: ["amd64"],
    components: ["sleuthkit"],
    regions: [HOME, EU],
    pipeline: (p): PipelineData => ({
      ...p,
      copy: { ...p.copy, kmsKeys: { [HOME]: "alias/ops-rig-ami", [EU]: "alias/ops-rig-ami" } },
      ...(share ? { share } : {}),
    }),
  });
}

function organizationWorld(
  project: PipelineProject,
  policy = policyFor(["o-abc1234567/r-ab12/ou-ab12-aaaaaaaa/*"]),
) {
  const world = fakeWorld(project);
  world.aws.organization = { arn: ORG, accounts: { [IN_A]: OU_A, [IN_B]: OU_B, [ALSO_B]: OU_B } };
  const keys = [HOME, EU].map((region) => world.aws.createKey(region, ["alias/ops-rig-ami"], policy));
  return { world, keys };
}

const published = (world: FakeWorld, region: string) => world.aws.parameter(region, PARAM)?.value ?? "";
const resolveIn = (world: FakeWorld, region: string, name = PARAM) =>
  memberResolveName(region, world.aws.account, name);

describe("sharing images and parameters with the organization (many accounts on the in-memory AWS)", () => {
  it("sharing to an OU: launch permissions, advanced parameters in a RAM share; a member resolves and launches, others cannot", async () => {
    const project = await sharedProject({ organizationalUnitArns: [OU_A], accountIds: [] });
    const { world } = organizationWorld(project);
    await converge(world, { trigger: "nightly" });
    for (const region of [HOME, EU]) {
      const ami = published(world, region);
      expect(world.aws.imageLaunchPermissions(ami), region).toEqual([
        { kind: "organizational-unit", id: OU_A },
      ]);
      expect(world.aws.image(ami)?.tags[TAG.shared], region).toBeDefined();
      expect(world.aws.parameterTier(region, PARAM)).toBe("Advanced");
      expect(world.aws.parameterTier(region, ALIAS)).toBe("Advanced");
      // The member account in the OU: by full ARN (never by name), for both the line and the alias.
      const member = world.aws.member(IN_A);
      expect(member.getParameter(region, PARAM)).toBeUndefined();
      expect(member.getParameter(region, resolveIn(world, region).replace("resolve:ssm:", ""))?.value).toBe(
        ami,
      );
      expect(member.describeImage(region, ami)?.imageId).toBe(ami);
      expect(member.runInstance(region, resolveIn(world, region, ALIAS))).toMatch(/^i-/);
      // An account of another OU sees neither the parameter nor the image.
      const other = world.aws.member(IN_B);
      expect(() => other.runInstance(region, resolveIn(world, region))).toThrow(
        /does not resolve in account 333333333333/,
      );
      expect(other.describeImage(region, ami)).toBeUndefined();
    }
    world.aws.resetCalls();
    const again = await run(world);
    expect(again.report.counts.changed).toBe(0);
    expect(world.aws.calls().filter((c) => c.mutating)).toEqual([]);
  });

  it("through rebuilds and retention: the published AMI is always shared, never deregistered, launchable by the member", async () => {
    const project = await sharedProject({ organizationalUnitArns: [OU_A], accountIds: [] });
    const { world } = organizationWorld(project);
    await converge(world, { trigger: "nightly" });
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) {
      world.clock.advance(8 * 86_400_000);
      await converge(world, { trigger: "nightly" });
      for (const region of [HOME, EU]) {
        const ami = published(world, region);
        seen.add(ami);
        expect(world.aws.image(ami)?.state, `${region} after rebuild ${i}`).toBe("available");
        expect(world.aws.imageLaunchPermissions(ami)).toEqual([{ kind: "organizational-unit", id: OU_A }]);
        expect(world.aws.member(IN_A).runInstance(region, resolveIn(world, region))).toMatch(/^i-/);
      }
    }
    // Retention did deregister older shared AMIs (so the check above was not vacuous).
    expect([...seen].filter((id) => world.aws.image(id) === undefined).length).toBeGreaterThan(0);
  });

  it("an account id gets a named KMS grant per region (org and OU sharing needs the key policy instead)", async () => {
    const project = await sharedProject({ organizationalUnitArns: [], accountIds: [ALSO_B] });
    const { world, keys } = organizationWorld(project, policyFor([]));
    await converge(world, { trigger: "nightly" });
    for (const [index, region] of [HOME, EU].entries()) {
      expect(world.aws.keyGrants(keys[index] ?? "").map((g) => [g.name, g.grantee])).toEqual([
        ["ops-rig-share-444444444444", "arn:aws:iam::444444444444:root"],
      ]);
      expect(world.aws.member(ALSO_B).runInstance(region, resolveIn(world, region))).toMatch(/^i-/);
      expect(() => world.aws.member(IN_B).runInstance(region, resolveIn(world, region))).toThrow();
    }
  });

  it("a key policy that does not let the OU decrypt holds the AMIs back, with an error; fixed, they are shared", async () => {
    const project = await sharedProject({ organizationalUnitArns: [OU_A], accountIds: [] });
    const { world, keys } = organizationWorld(project, policyFor(["o-abc1234567/r-ab12/ou-ab12-bbbbbbbb/*"]));
    const runs = await converge(world, { trigger: "nightly" });
    const skips = runs
      .flatMap((r) => r.passes.flatMap((p) => p.plan.actions))
      .filter((a) => a.kind === "skip");
    expect(skips.map((s) => s.reason).join("\n")).toMatch(
      /not sharing AMIs with .*ou-ab12-aaaaaaaa: the policy of key .* does not let them use it/,
    );
    expect(world.aws.imageLaunchPermissions(published(world, HOME))).toEqual([]);
    for (const key of keys)
      world.aws.setKeyPolicy(key, policyFor(["o-abc1234567/r-ab12/ou-ab12-aaaaaaaa/*"]));
    await converge(world);
    expect(world.aws.member(IN_A).runInstance(EU, resolveIn(world, EU))).toMatch(/^i-/);
  });

  it("removing share: unshares images, parameters and key grants; the parameters stay advanced and publishable", async () => {
    const shared = await sharedProject({ organizationalUnitArns: [OU_A], accountIds: [ALSO_B] });
    const { world, keys } = organizationWorld(shared);
    await converge(world, { trigger: "nightly" });
    expect(world.aws.member(IN_A).runInstance(HOME, resolveIn(world, HOME))).toMatch(/^i-/);

    const unshared = await sharedProject(undefined);
    const after: FakeWorld = { ...world, project: unshared, deps: world.deps };
    await converge(after);
    for (const region of [HOME, EU]) {
      expect(world.aws.imageLaunchPermissions(published(world, region))).toEqual([]);
      expect(() => world.aws.member(IN_A).runInstance(region, resolveIn(world, region))).toThrow(
        /does not resolve/,
      );
      expect(() => world.aws.member(ALSO_B).runInstance(region, published(world, region))).toThrow(
        /NotFound/,
      );
      expect(world.aws.parameterTier(region, PARAM)).toBe("Advanced");
    }
    for (const key of keys) expect(world.aws.keyGrants(key)).toEqual([]);
    // A rebuild still publishes (as Advanced: a standard write would be refused as a downgrade).
    world.clock.advance(8 * 86_400_000);
    await converge(after, { trigger: "nightly" });
    expect(world.aws.image(published(world, EU))?.state).toBe("available");
    expect(world.aws.history(EU, PARAM).length).toBeGreaterThan(2);
  });

  it("crash after every mutating call while sharing: every re-run converges to the same shared state", async () => {
    const project = await sharedProject({ organizationalUnitArns: [OU_A], accountIds: [ALSO_B] });
    const endState = (world: FakeWorld) =>
      [HOME, EU].map((region) => {
        const ami = published(world, region);
        const member = world.aws.member(IN_A);
        return {
          region,
          permissions: world.aws.imageLaunchPermissions(ami),
          tier: world.aws.parameterTier(region, PARAM),
          resolves:
            member.getParameter(region, resolveIn(world, region).replace("resolve:ssm:", ""))?.value === ami,
          launchesByGrant: (() => {
            try {
              return world.aws.member(ALSO_B).runInstance(region, resolveIn(world, region)).startsWith("i-");
            } catch {
              return false;
            }
          })(),
        };
      });
    const reference = organizationWorld(project).world;
    reference.aws.crashAfter(Number.POSITIVE_INFINITY);
    await converge(reference, { trigger: "nightly" });
    const expected = endState(reference);
    expect(expected.every((r) => r.resolves && r.launchesByGrant && r.tier === "Advanced")).toBe(true);
    const total = reference.aws.mutatingCalls;
    for (let k = 1; k < total; k++) {
      const { world } = organizationWorld(project);
      world.aws.crashAfter(k);
      for (let i = 0; i < 8 && !world.aws.crashed; i++) {
        await run(world, { trigger: "nightly" }).catch((error: unknown) => {
          if (!(error instanceof FakeCrash)) throw error;
        });
        world.aws.finishBuilds();
        world.aws.settleCopies();
      }
      expect(world.aws.crashed, `crash ${k} happened`).toBe(true);
      world.aws.recover();
      world.aws.finishBuilds();
      world.aws.settleCopies();
      await converge(world);
      expect(endState(world), `after a crash following mutating call ${k}`).toEqual(expected);
    }
  });
});
