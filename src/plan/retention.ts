import type { PipelineData, ToolsetData } from "../config/types.js";
import type { LineKey } from "../render/index.js";
import { lineFromTags, parameterNamesFor, sameLine, TAG } from "./names.js";
import type { Action, ObservedRegion, OurAmi } from "./types.js";

export interface RetentionInput {
  readonly line: LineKey;
  readonly toolset: ToolsetData;
  readonly pipeline: PipelineData;
  readonly region: ObservedRegion;
  readonly now: Date;
}

/** Build time of an AMI: Image Builder puts it in the name; copies keep the name, so it sorts copies right. */
export function builtAt(ami: OurAmi): string {
  const match = /(\d{4}-\d{2}-\d{2}T\d{2}[-:]\d{2}[-:]\d{2})/.exec(ami.name);
  return match?.[1]
    ? `${match[1].slice(0, 10)}T${match[1].slice(11).replaceAll("-", ":")}`
    : ami.creationDate;
}

/**
 * Which AMIs of a line in a region go. Kept: the newest `keep`, the published one, the one published
 * before it (rollback), and anything younger than the grace period. The rest is deprecated first and
 * deregistered (with its snapshots) on a later run, so nothing disappears without a visible warning.
 */
export function planRetention(input: RetentionInput): Action[] {
  const { line, region, now, pipeline } = input;
  const amis = region.amis
    .filter((ami) => {
      const tagged = lineFromTags(ami.tags);
      return tagged !== undefined && sameLine(tagged, line) && ami.state === "available";
    })
    // Names carry the build time to the second: ties fall back to the registration time, then the id,
    // so the same AMIs are always kept whatever order the region listed them in.
    .sort(
      (a, b) =>
        builtAt(b).localeCompare(builtAt(a)) ||
        b.creationDate.localeCompare(a.creationDate) ||
        b.imageId.localeCompare(a.imageId),
    );
  const published = new Set(
    parameterNamesFor(pipeline.parameterPrefix, input.toolset, line)
      .map((name) => region.parameters.get(name)?.value)
      .filter((v): v is string => v !== undefined),
  );
  // The rollback target: the most recently published AMI that is not published now.
  const rollback = amis
    .filter((ami) => ami.tags[TAG.published] && !published.has(ami.imageId))
    .sort((a, b) => (b.tags[TAG.published] ?? "").localeCompare(a.tags[TAG.published] ?? ""))[0];

  const actions: Action[] = [];
  amis.forEach((ami, index) => {
    if (index < pipeline.retention.keep) return;
    if (published.has(ami.imageId) || ami.imageId === rollback?.imageId) return;
    if (now.getTime() - Date.parse(ami.creationDate) < pipeline.retention.gracePeriod.ms) return;
    const deprecatedAt = ami.deprecationTime ? Date.parse(ami.deprecationTime) : undefined;
    const why = `beyond the newest ${pipeline.retention.keep} and older than ${pipeline.retention.gracePeriod.text}`;
    if (deprecatedAt !== undefined && deprecatedAt <= now.getTime()) {
      actions.push({
        kind: "deregister",
        line,
        region: region.region,
        imageId: ami.imageId,
        reason: `${why}; deprecated since ${ami.deprecationTime}`,
      });
    } else if (deprecatedAt === undefined) {
      actions.push({ kind: "deprecate", line, region: region.region, imageId: ami.imageId, reason: why });
    }
  });
  return actions;
}
