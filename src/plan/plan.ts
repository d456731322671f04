import type { PipelineData, ToolsetData } from "../config/types.js";
import { type LineKey, lineId } from "../render/recipe.js";
import { epochFingerprint, shortFingerprint } from "./fingerprint.js";
import {
  buildLabel,
  IMAGE_BUILDER_ARN_TAG,
  lineFromTags,
  parameterNamesFor,
  sameLine,
  TAG,
} from "./names.js";
import { builtAt, planRetention } from "./retention.js";
import { planSharing } from "./share.js";
import {
  type Action,
  BUILD_IN_FLIGHT,
  type BuildRecord,
  type LineStatus,
  type Observed,
  type ObservedLine,
  type ObservedRegion,
  type OurAmi,
  type Plan,
  type PlanOptions,
} from "./types.js";

export interface PlanInput {
  readonly pipeline: PipelineData;
  readonly toolsets: readonly ToolsetData[];
  readonly observed: Observed;
  readonly now: Date;
  readonly options?: PlanOptions;
}

/**
 * The reconciler's decision: from one snapshot of the world and the time, the actions that move
 * every line toward "a fresh, tested AMI in every target region, published". Pure: no AWS, no clock.
 */
export function plan(input: PlanInput): Plan {
  const { pipeline, observed, now } = input;
  const actions: Action[] = [];
  const statuses: LineStatus[] = [];
  const home = regionOf(observed, observed.homeRegion);

  for (const observedLine of observed.lines) {
    const toolset = input.toolsets.find((t) => t.name === observedLine.line.toolset);
    if (!toolset) continue;
    const lineActions: Action[] = [];
    const lineStatuses: LineStatus[] = [];
    planLine({ ...input, toolset, observedLine, home, actions: lineActions, statuses: lineStatuses });
    for (const region of regionsOf(pipeline)) {
      const observedRegion = regionOf(observed, region);
      if (!observedRegion || observedRegion.error) continue;
      lineActions.push(
        ...planRetention({ line: observedLine.line, toolset, pipeline, region: observedRegion, now }),
      );
    }
    actions.push(...lineActions);
    statuses.push(...lineStatuses);
  }
  const publishing = new Set(
    actions.flatMap((a) =>
      a.kind === "publish" ? a.parameters.map((p) => `${a.region}\u0000${p.name}`) : [],
    ),
  );
  actions.push(...planSharing({ pipeline, toolsets: input.toolsets, observed, publishing }));
  return { actions, lines: statuses };
}

/** Home region first (copies start there), then the targets in configuration order. */
export function regionsOf(pipeline: PipelineData): string[] {
  return [...new Set([pipeline.homeRegion, ...pipeline.targetRegions])];
}

export function regionOf(observed: Observed, region: string): ObservedRegion | undefined {
  return observed.regions.find((r) => r.region === region);
}

export function amisOfLine(region: ObservedRegion | undefined, line: LineKey): OurAmi[] {
  return (region?.amis ?? []).filter((ami) => {
    const tagged = lineFromTags(ami.tags);
    return tagged !== undefined && sameLine(tagged, line);
  });
}

/** How long a finished build's AMI may take to show up before the line is rebuilt (it was deleted). */
const AMI_VISIBILITY_MS = 3_600_000;

function newestFirst<T extends { creationDate: string }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => b.creationDate.localeCompare(a.creationDate));
}

function newestBuildFirst(builds: readonly BuildRecord[]): BuildRecord[] {
  return [...builds].sort((a, b) => b.dateCreated.localeCompare(a.dateCreated));
}

function age(now: Date, iso: string): number {
  return now.getTime() - Date.parse(iso);
}

/** A build whose image exists, in flight or done, that the line should carry on with. */
function usableBuild(
  builds: readonly BuildRecord[],
  homeRegion: string,
  homeAmis: readonly OurAmi[],
): BuildRecord | undefined {
  return newestBuildFirst(builds).find(
    (b) =>
      BUILD_IN_FLIGHT.includes(b.status) ||
      (b.status === "AVAILABLE" &&
        homeAmis.some(
          (a) => a.imageId === b.amis[homeRegion] && (a.state === "available" || a.state === "pending"),
        )),
  );
}

interface Desired {
  readonly fingerprint: string;
  /** The home AMI with that fingerprint, when it is available. */
  readonly homeAmi?: OurAmi;
  readonly build?: BuildRecord;
}

/**
 * Which fingerprint the line should have now. An AMI with the same content younger than maxAge keeps
 * its fingerprint; a build of the same content in flight (or done, not yet tagged) is carried on even
 * across an epoch boundary; otherwise the content is (re)built for the current maxAge epoch.
 */
export function desiredFingerprint(input: {
  readonly observedLine: ObservedLine;
  readonly homeAmis: readonly OurAmi[];
  readonly homeRegion: string;
  readonly maxAgeMs: number;
  readonly now: Date;
}): Desired | undefined {
  const { observedLine, homeAmis, now } = input;
  const content = observedLine.content;
  if (!content) return undefined;
  const fresh = newestFirst(homeAmis).find(
    (a) =>
      a.state === "available" && a.tags[TAG.content] === content && age(now, a.creationDate) < input.maxAgeMs,
  );
  const freshFingerprint = fresh?.tags[TAG.fingerprint];
  if (fresh && freshFingerprint) return { fingerprint: freshFingerprint, homeAmi: fresh };
  const build = usableBuild(observedLine.builds, input.homeRegion, homeAmis);
  if (build && age(now, build.dateCreated) < input.maxAgeMs) return { fingerprint: build.fingerprint, build };
  return { fingerprint: epochFingerprint(content, input.maxAgeMs, now) };
}

interface LineContext extends PlanInput {
  readonly toolset: ToolsetData;
  readonly observedLine: ObservedLine;
  readonly home: ObservedRegion | undefined;
  readonly actions: Action[];
  readonly statuses: LineStatus[];
}

function planLine(ctx: LineContext): void {
  const { observedLine, pipeline, observed, now } = ctx;
  const { line } = observedLine;
  const homeRegion = observed.homeRegion;
  const targets = regionsOf(pipeline).filter((r) => pipeline.targetRegions.includes(r));
  const status = (
    region: string,
    state: LineStatus["state"],
    detail: string,
    extra: Partial<LineStatus> = {},
  ) => ctx.statuses.push({ line, region, state, detail, ...extra });

  if (!ctx.home || ctx.home.error) {
    const reason = `home region ${homeRegion} could not be observed: ${ctx.home?.error ?? "missing"}`;
    ctx.actions.push({
      kind: "skip",
      line,
      region: homeRegion,
      reason,
      error: true,
      ...(ctx.home?.retryable ? { retryable: true } : {}),
    });
    for (const region of targets) status(region, "skipped", reason);
    return;
  }
  if (!observedLine.base.ok || !observedLine.recipe || !observedLine.content) {
    const reason = observedLine.base.ok ? "recipe could not be rendered" : observedLine.base.error;
    ctx.actions.push({
      kind: "skip",
      line,
      region: homeRegion,
      reason: `no base image: ${reason}`,
      error: true,
      ...(!observedLine.base.ok && observedLine.base.retryable ? { retryable: true } : {}),
    });
    for (const region of targets) status(region, "skipped", `no base image: ${reason}`);
    return;
  }
  const baseImage = observedLine.base.image;
  const homeAmis = amisOfLine(ctx.home, line);
  const desired = desiredFingerprint({
    observedLine,
    homeAmis,
    homeRegion,
    maxAgeMs: ctx.toolset.maxAge.ms,
    now,
  });
  if (!desired) return;
  const { fingerprint } = desired;
  const builds = newestBuildFirst(observedLine.builds.filter((b) => b.fingerprint === fingerprint));

  // Builds of this content across maxAge epochs: a failure backs the line off whatever the epoch.
  const contentBuilds = newestBuildFirst(observedLine.builds);
  // Every failed build is reported once.
  for (const failed of contentBuilds.filter(
    (b) => (b.status === "FAILED" || b.status === "CANCELLED") && !b.tags[TAG.notified],
  )) {
    ctx.actions.push({
      kind: "notify",
      line,
      region: homeRegion,
      build: failed.arn,
      failure: failed.reason ?? failed.status,
      reason: `build ${failed.status.toLowerCase()}: ${failed.reason ?? "no reason given"}`,
    });
  }

  let homeAmi = desired.homeAmi;
  if (!homeAmi) {
    const done = builds.find((b) => b.status === "AVAILABLE" && b.amis[homeRegion]);
    const builtAmi = done ? homeAmis.find((a) => a.imageId === done.amis[homeRegion]) : undefined;
    const inFlight = builds.find((b) => BUILD_IN_FLIGHT.includes(b.status));
    if (done && builtAmi && builtAmi.state === "available") {
      // Built, but its AMI does not carry the build's identity yet: tag it from the build record.
      const tags = buildTags(done, baseImage.imageId);
      if (!tagsInclude(builtAmi.tags, tags)) {
        ctx.actions.push({
          kind: "tag",
          line,
          region: homeRegion,
          imageId: builtAmi.imageId,
          tags,
          reason: `record build ${shortFingerprint(fingerprint)} on its AMI`,
        });
      }
      homeAmi = { ...builtAmi, tags: { ...builtAmi.tags, ...tags } };
    } else if (inFlight || (done && (builtAmi || age(now, done.dateCreated) < AMI_VISIBILITY_MS))) {
      // A build that just finished may list its AMI before DescribeImages shows it: wait, never rebuild.
      const build = inFlight ?? done;
      const reason = inFlight
        ? `build ${inFlight.status.toLowerCase()} since ${inFlight.dateCreated}`
        : builtAmi
          ? `AMI ${builtAmi.imageId} is ${builtAmi.state}`
          : `AMI ${done?.amis[homeRegion]} of the finished build is not visible yet`;
      ctx.actions.push({
        kind: "wait",
        line,
        region: homeRegion,
        ...(build ? { build: build.arn } : {}),
        reason,
      });
      for (const region of targets) status(region, "building", reason, { fingerprint });
      planFallbackPublishes(ctx, targets);
      return;
    } else {
      const latest = contentBuilds[0];
      const lastFailure =
        latest && (latest.status === "FAILED" || latest.status === "CANCELLED") ? latest : undefined;
      const backoffUntil = lastFailure
        ? Date.parse(lastFailure.dateCreated) + pipeline.build.failureBackoff.ms
        : 0;
      if (lastFailure && backoffUntil > now.getTime() && !ctx.options?.force) {
        const reason = `build failed (${lastFailure.reason ?? lastFailure.status}); next attempt after ${new Date(backoffUntil).toISOString()} (or --force)`;
        ctx.actions.push({ kind: "skip", line, region: homeRegion, reason, error: false });
        for (const region of targets) status(region, "backoff", reason, { fingerprint });
        planFallbackPublishes(ctx, targets);
        return;
      }
      const reason = lastFailure
        ? `retry after failed build (${lastFailure.reason ?? lastFailure.status})${ctx.options?.force && backoffUntil > now.getTime() ? ", forced" : ""}`
        : buildReason(homeAmis, baseImage.imageId, observedLine.content, ctx.toolset.maxAge.text);
      ctx.actions.push({
        kind: "build",
        line,
        region: homeRegion,
        fingerprint,
        content: observedLine.content,
        attempt: builds.length + 1,
        recipe: observedLine.recipe,
        baseImage,
        reason,
      });
      for (const region of targets) status(region, "building", reason, { fingerprint });
      planFallbackPublishes(ctx, targets);
      return;
    }
  }

  const withdrawn = isWithdrawn(homeAmi);
  for (const region of targets) {
    const observedRegion = regionOf(observed, region);
    if (!observedRegion || observedRegion.error) {
      const reason = `region ${region} could not be observed: ${observedRegion?.error ?? "missing"}`;
      ctx.actions.push({
        kind: "skip",
        line,
        region,
        reason,
        error: true,
        ...(observedRegion?.retryable ? { retryable: true } : {}),
      });
      status(region, "skipped", reason, { fingerprint });
      continue;
    }
    const regionalAmi = region === homeRegion ? homeAmi : planCopy(ctx, observedRegion, homeAmi, fingerprint);
    if (!regionalAmi) {
      status(region, "copying", `copy of ${homeAmi.imageId} to ${region} in progress`, { fingerprint });
      planFallbackPublishes(ctx, [region]);
      continue;
    }
    if (withdrawn || isWithdrawn(regionalAmi)) {
      status(
        region,
        "withdrawn",
        `${regionalAmi.imageId} was withdrawn by a rollback; waiting for a new build`,
        {
          imageId: regionalAmi.imageId,
          fingerprint,
        },
      );
      // A rollback that failed half-way may leave a parameter on the withdrawn AMI: never keep it there.
      planFallbackPublishes(ctx, [region], new Set([regionalAmi.imageId]));
      continue;
    }
    planPublish(ctx, observedRegion, regionalAmi, "new image");
    status(region, "published", regionalAmi.name, {
      imageId: regionalAmi.imageId,
      fingerprint,
    });
  }
}

/** Withdrawn by a rollback, or being rolled back from: never published again. */
export function isWithdrawn(ami: OurAmi): boolean {
  return ami.tags[TAG.withdrawn] !== undefined || ami.tags[TAG.rollback] !== undefined;
}

/** The identity tags an AMI of a build carries (from the immutable build record). */
function buildTags(build: BuildRecord, baseAmi: string): Record<string, string> {
  return {
    [TAG.fingerprint]: build.fingerprint,
    ...(build.tags[TAG.content] ? { [TAG.content]: build.tags[TAG.content] } : {}),
    [TAG.baseAmi]: build.tags[TAG.baseAmi] ?? baseAmi,
    [TAG.build]: build.arn,
  };
}

function tagsInclude(
  have: Readonly<Record<string, string>>,
  want: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(want).every(([k, v]) => have[k] === v);
}

function buildReason(homeAmis: readonly OurAmi[], baseAmi: string, content: string, maxAge: string): string {
  const latest = newestFirst(homeAmis.filter((a) => a.state === "available" && a.tags[TAG.fingerprint]))[0];
  if (!latest) return `first build of this line (base ${baseAmi})`;
  if (latest.tags[TAG.baseAmi] !== baseAmi)
    return `new base image ${latest.tags[TAG.baseAmi] ?? "?"} → ${baseAmi}`;
  if (latest.tags[TAG.content] !== content) return "recipe or components changed";
  return `image older than maxAge ${maxAge} (built ${latest.creationDate})`;
}

/**
 * The copy of the home AMI in a region, when it is available; otherwise plans what gets it there
 * (copy, retry a failed copy, finish tagging an interrupted one, or wait) and returns undefined.
 */
function planCopy(
  ctx: LineContext,
  region: ObservedRegion,
  homeAmi: OurAmi,
  fingerprint: string,
): OurAmi | undefined {
  const { line } = ctx.observedLine;
  const copyTags: Record<string, string> = {
    ...Object.fromEntries(
      Object.entries(homeAmi.tags).filter(([k]) => k.startsWith("ops-rig:") && k !== TAG.published),
    ),
    [TAG.sourceAmi]: homeAmi.imageId,
    ...((homeAmi.tags[TAG.build] ?? homeAmi.tags[IMAGE_BUILDER_ARN_TAG])
      ? { [TAG.build]: homeAmi.tags[TAG.build] ?? homeAmi.tags[IMAGE_BUILDER_ARN_TAG] ?? "" }
      : {}),
  };
  const copies = newestFirst(
    region.amis.filter(
      (a) =>
        a.tags[TAG.sourceAmi] === homeAmi.imageId ||
        (a.tags[TAG.fingerprint] === fingerprint && lineMatches(a, line)),
    ),
  );
  const available = copies.find((a) => a.state === "available");
  if (available) {
    if (!tagsInclude(available.tags, copyTags)) {
      ctx.actions.push({
        kind: "tag",
        line,
        region: region.region,
        imageId: available.imageId,
        tags: copyTags,
        reason: "complete the copy's tags",
      });
    }
    return { ...available, tags: { ...available.tags, ...copyTags } };
  }
  const waitFor = (copy: OurAmi) =>
    ctx.actions.push({
      kind: "wait",
      line,
      region: region.region,
      imageId: copy.imageId,
      reason: `copy ${copy.imageId} pending`,
    });
  const pending = copies.find((a) => a.state === "pending");
  if (pending) {
    waitFor(pending);
    return undefined;
  }
  // A copy whose tagging was interrupted has no tags but the home AMI's name.
  const untagged = region.amis.find(
    (a) =>
      a.name === homeAmi.name && !a.tags[TAG.sourceAmi] && (a.state === "available" || a.state === "pending"),
  );
  if (untagged) {
    ctx.actions.push({
      kind: "tag",
      line,
      region: region.region,
      imageId: untagged.imageId,
      tags: copyTags,
      reason: "tag a copy an interrupted run left untagged",
    });
    if (untagged.state === "available") return { ...untagged, tags: { ...untagged.tags, ...copyTags } };
    waitFor(untagged);
    return undefined;
  }
  const failed = copies.filter((a) => a.state === "failed" || a.state === "error" || a.state === "invalid");
  const kmsKeyId = ctx.pipeline.copy.kmsKeys[region.region];
  ctx.actions.push({
    kind: "copy",
    line,
    region: region.region,
    sourceRegion: ctx.observed.homeRegion,
    sourceImageId: homeAmi.imageId,
    name: homeAmi.name,
    fingerprint,
    attempt: failed.length + 1,
    tags: copyTags,
    ...(kmsKeyId ? { kmsKeyId } : {}),
    ...(failed[0] ? { replaces: failed[0].imageId } : {}),
    reason: failed[0]
      ? `retry failed copy ${failed[0].imageId}`
      : `copy ${homeAmi.imageId} from ${ctx.observed.homeRegion}`,
  });
  return undefined;
}

function lineMatches(ami: OurAmi, line: LineKey): boolean {
  const tagged = lineFromTags(ami.tags);
  return tagged !== undefined && sameLine(tagged, line);
}

/** Points the line's parameters in a region at `ami` where they point elsewhere. */
function planPublish(ctx: LineContext, region: ObservedRegion, ami: OurAmi, why: string): void {
  const { line } = ctx.observedLine;
  const names = parameterNamesFor(ctx.pipeline.parameterPrefix, ctx.toolset, line);
  const stale = names
    .map((name) => ({ name, current: region.parameters.get(name) }))
    .filter(({ current }) => current?.value !== ami.imageId);
  const publishedTag = ami.tags[TAG.published] ? {} : { [TAG.published]: ctx.now.toISOString() };
  if (stale.length === 0) return;
  ctx.actions.push({
    kind: "publish",
    line,
    region: region.region,
    imageId: ami.imageId,
    parameters: stale.map(({ name, current }) => ({
      name,
      ...(current ? { current: current.value, version: current.version } : {}),
    })),
    tags: publishedTag,
    label: buildLabel(builtAt(ami)),
    ...(ctx.pipeline.share || region.sharing?.parameterShare ? { tier: "Advanced" as const } : {}),
    reason: `${why}: ${stale.map((s) => `${s.name} ${s.current?.value ?? "(new)"} → ${ami.imageId}`).join(", ")}`,
  });
}

/**
 * While a line's new image is not ready in a region, its parameters must still point at an
 * available AMI that was not withdrawn: if one points at an AMI that is gone or withdrawn (`withdrawn`
 * adds AMIs withdrawn through their home AMI), fall back to the newest usable one.
 */
function planFallbackPublishes(
  ctx: LineContext,
  regions: readonly string[],
  withdrawn: ReadonlySet<string> = new Set(),
): void {
  const { line } = ctx.observedLine;
  for (const regionName of regions) {
    const region = regionOf(ctx.observed, regionName);
    if (!region || region.error) continue;
    const names = parameterNamesFor(ctx.pipeline.parameterPrefix, ctx.toolset, line);
    const amis = amisOfLine(region, line);
    const usable = (a: OurAmi) => a.state === "available" && !isWithdrawn(a) && !withdrawn.has(a.imageId);
    const broken = names.some((name) => {
      const current = region.parameters.get(name);
      return current !== undefined && !amis.some((a) => a.imageId === current.value && usable(a));
    });
    if (!broken) continue;
    const fallback = newestFirst(amis.filter(usable))[0];
    if (fallback)
      planPublish(
        ctx,
        region,
        fallback,
        "parameter pointed at an AMI that is not available or was withdrawn; falling back",
      );
  }
}

export function describeAction(action: Action): string {
  const where = "region" in action && action.region ? ` ${action.region}` : "";
  return `${action.kind} ${lineId(action.line)}${where}`;
}
