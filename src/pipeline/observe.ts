import type { Arch, Base } from "../config/bases.js";
import type { PipelineData, ToolsetData } from "../config/types.js";
import { asOpsRigError, errorMessage } from "../errors.js";
import type { ServiceEvents } from "../events.js";
import { contentFingerprint } from "../plan/fingerprint.js";
import { AMI_NAME_FILTER, TAG } from "../plan/names.js";
import { amisOfLine, desiredFingerprint, regionsOf } from "../plan/plan.js";
import { PARAMETER_SHARE_NAME, shareable } from "../plan/share.js";
import type {
  BaseLookup,
  BuildRecord,
  LaunchPermission,
  Observed,
  ObservedLine,
  ObservedRegion,
  ObservedSharing,
  OurAmi,
} from "../plan/types.js";
import type { PipelineComponent } from "../render/component.js";
import { type LineKey, renderRecipe } from "../render/recipe.js";
import { baseKey, discoverBases } from "./bases.js";
import type { PipelinePorts, RegionInfo } from "./ports.js";

export interface ObserveInput {
  readonly ports: PipelinePorts;
  readonly pipeline: PipelineData;
  readonly toolsets: readonly ToolsetData[];
  readonly components: ReadonlyMap<string, PipelineComponent>;
  readonly now: Date;
  readonly events: ServiceEvents;
  /** The account and its regions, read once per run and shared by its passes. */
  readonly facts?: RunFacts;
}

/** What does not change during a run: read once, on first use, by whichever pass needs it first. */
export interface RunFacts {
  accountId(): Promise<string>;
  regions(): Promise<readonly RegionInfo[]>;
}

/** Run facts over the ports, memoized (a failed read is read again by the next pass). */
export function runFacts(ports: PipelinePorts, home: string): RunFacts {
  const once = <T>(read: () => Promise<T>): (() => Promise<T>) => {
    let value: Promise<T> | undefined;
    return () => {
      if (!value) {
        value = read();
        value.catch(() => {
          value = undefined;
        });
      }
      return value;
    };
  };
  return {
    accountId: once(() => ports.sts.accountId(home)),
    regions: once(() => ports.ec2.describeRegions(home)),
  };
}

export function linesOf(toolsets: readonly ToolsetData[]): LineKey[] {
  return toolsets.flatMap((toolset) =>
    toolset.bases.flatMap((base) =>
      toolset.arches.map((arch): LineKey => ({ toolset: toolset.name, base, arch })),
    ),
  );
}

/**
 * One immutable snapshot of the world. Reads are batched so a run that changes nothing costs a small,
 * fixed number of calls per region: our AMIs (one DescribeImages), our parameters (one
 * GetParametersByPath), and in the home region the bases (one GetParameters, one DescribeImages).
 * Image Builder is only asked about lines whose current image is not built and tagged yet.
 */
export async function observe(input: ObserveInput): Promise<Observed> {
  const { ports, pipeline, now, events } = input;
  const home = pipeline.homeRegion;
  events({ type: "observe-started", regions: regionsOf(pipeline) });

  const facts = input.facts ?? runFacts(ports, home);
  const lines = linesOf(input.toolsets);
  // The bases live in the home region, which is always enabled: look them up beside the region reads.
  const basesLookup = discoverBases(ports, home, lines);
  // Not a rejection nobody handles should the reads below fail first (it is awaited below).
  basesLookup.catch(() => {});
  const [accountId, regionList] = await Promise.all([facts.accountId(), facts.regions()]);
  const optIn = new Map(regionList.map((r) => [r.name, r.optInStatus]));
  const regions = await Promise.all(
    regionsOf(pipeline).map(async (region): Promise<ObservedRegion> => {
      const status = optIn.get(region);
      if (status === undefined)
        return {
          region,
          error: `${region} is not a region this account knows`,
          amis: [],
          parameters: new Map(),
        };
      if (status === "not-opted-in") {
        return {
          region,
          error: `${region} is an opt-in region that is not enabled for this account`,
          amis: [],
          parameters: new Map(),
        };
      }
      try {
        const [amis, parameters] = await Promise.all([
          ports.ec2.listOwnImages(region, AMI_NAME_FILTER),
          ports.ssm.getParametersByPath(region, pipeline.parameterPrefix),
        ]);
        const shared = await observeSharing(ports, pipeline, region, amis);
        return { region, amis, parameters: new Map(parameters.map((p) => [p.name, p])), ...shared };
      } catch (thrown) {
        const error = asOpsRigError(thrown);
        events({ type: "region-unobservable", region, error });
        return { region, error: error.message, retryable: error.retryable, amis: [], parameters: new Map() };
      }
    }),
  );
  const homeObserved = regions.find((r) => r.region === home);

  let bases = await basesLookup;
  if (!homeObserved || homeObserved.error) bases = new Map<string, BaseLookup>();

  const observedLines = await Promise.all(
    lines.map(async (line): Promise<ObservedLine> => {
      const toolset = input.toolsets.find((t) => t.name === line.toolset);
      const base: BaseLookup = bases.get(baseKey(line)) ?? {
        ok: false,
        error: `home region ${home} could not be observed`,
      };
      if (!toolset || !base.ok) return { line, base, builds: [] };
      const recipe = renderRecipe({
        toolset,
        base: line.base as Base,
        arch: line.arch as Arch,
        parent: { image: base.image.imageId, rootDeviceName: base.image.rootDeviceName },
        components: input.components,
        region: home,
        ...(pipeline.copy.kmsKeys[home] ? { kmsKeyId: pipeline.copy.kmsKeys[home] } : {}),
      });
      const content = contentFingerprint(base.image.imageId, recipe.hash);
      const withoutBuilds: ObservedLine = { line, base, recipe, content, builds: [] };
      const desired = desiredFingerprint({
        observedLine: withoutBuilds,
        homeAmis: amisOfLine(homeObserved, line),
        homeRegion: home,
        maxAgeMs: toolset.maxAge.ms,
        now,
      });
      if (desired?.homeAmi) return withoutBuilds;
      try {
        return { ...withoutBuilds, builds: await buildsOfContent(ports, recipe.name, recipe.hash, content) };
      } catch (thrown) {
        const error = asOpsRigError(thrown);
        events({ type: "line-unobservable", line, error });
        return {
          line,
          base: {
            ok: false,
            error: `cannot list Image Builder builds: ${errorMessage(error)}`,
            retryable: error.retryable,
          },
          builds: [],
        };
      }
    }),
  );

  events({ type: "observed", lines: observedLines.length, regions: regions.length });
  return { accountId, homeRegion: home, regions, lines: observedLines };
}

/** Builds of the recipe version that has this content (the recipe hash is tagged on the recipe). */
async function buildsOfContent(
  ports: PipelinePorts,
  recipeName: string,
  recipeHash: string,
  content: string,
): Promise<BuildRecord[]> {
  const versions = await ports.imageBuilder.listRecipeVersions(recipeName);
  const recipe = versions.find((v) => v.tags[TAG.recipeHash] === recipeHash);
  if (!recipe) return [];
  const imageVersionArn = recipe.arn.replace(":image-recipe/", ":image/");
  const builds = await ports.imageBuilder.listImageBuilds(imageVersionArn);
  return builds.filter((b) => b.tags[TAG.content] === content);
}

/** DescribeImageAttribute calls in flight at once per region (EC2's describe rate is generous). */
const LAUNCH_PERMISSION_READS = 8;

/**
 * What is shared in a region. Read only where something is or was shared: with `share:` configured,
 * or when an AMI carries `ops-rig:shared` (so removing `share:` still finds what to unshare); a run
 * that never shared anything makes no extra call. A failure leaves sharing for the next run.
 */
async function observeSharing(
  ports: PipelinePorts,
  pipeline: PipelineData,
  region: string,
  amis: readonly OurAmi[],
): Promise<{ sharing?: ObservedSharing; sharingError?: string }> {
  const tagged = amis.filter((a) => a.tags[TAG.shared] !== undefined && a.state !== "deregistered");
  if (!pipeline.share && tagged.length === 0) return {};
  const share = ports.share;
  if (!share) return pipeline.share ? { sharingError: "this run has no way to share (no share port)" } : {};
  try {
    const look = new Map<string, OurAmi>();
    for (const ami of tagged) look.set(ami.imageId, ami);
    if (pipeline.share)
      for (const ami of amis.filter((a) => a.tags[TAG.toolset] && shareable(a))) look.set(ami.imageId, ami);
    const ids = [...look.keys()];
    const permissions = new Map<string, readonly LaunchPermission[]>();
    for (let i = 0; i < ids.length; i += LAUNCH_PERMISSION_READS) {
      const batch = ids.slice(i, i + LAUNCH_PERMISSION_READS);
      const read = await Promise.all(batch.map((id) => share.launchPermissions(region, id)));
      batch.forEach((id, index) => {
        permissions.set(id, read[index] ?? []);
      });
    }
    const keyId = pipeline.copy.kmsKeys[region];
    const [parameterShare, key] = await Promise.all([
      share.findParameterShare(region, PARAMETER_SHARE_NAME),
      keyId ? share.describeKey(region, keyId) : Promise.resolve(undefined),
    ]);
    return {
      sharing: {
        launchPermissions: permissions,
        ...(parameterShare ? { parameterShare } : {}),
        ...(key ? { key } : {}),
      },
    };
  } catch (thrown) {
    return { sharingError: errorMessage(asOpsRigError(thrown)) };
  }
}
