import type { ToolsetData } from "../config/types.js";
import { asOpsRigError, NoRollbackTargetError, type OpsRigError, ParameterNotFoundError } from "../errors.js";
import type { ParameterHistoryEntry } from "../pipeline/ports.js";
import { publishImage, rollbackLabel } from "../pipeline/publish.js";
import type { PipelineDeps, PipelineProject } from "../pipeline/run.js";
import {
  AMI_NAME_FILTER,
  lineFromTags,
  lineParameterName,
  parameterNamesFor,
  sameLine,
  TAG,
} from "../plan/names.js";
import { builtAt } from "../plan/retention.js";
import type { LineKey, OurAmi } from "../plan/types.js";

export interface RollbackRequest {
  readonly toolset: ToolsetData;
  readonly line: LineKey;
  readonly regions: readonly string[];
  /** Go back to this version of the line's parameter (per region) instead of the previous good AMI. */
  readonly to?: number;
}

export interface RolledBackParameter {
  readonly name: string;
  readonly from: string;
  readonly to: string;
  /** The version written by this rollback; absent when the parameter already pointed there. */
  readonly version?: number;
}

export type RegionRollback =
  | {
      readonly region: string;
      readonly status: "done";
      /** Parameters this run changed (empty: the region was already rolled back). */
      readonly changed: readonly RolledBackParameter[];
      readonly target: string;
      readonly withdrawn: readonly string[];
    }
  | { readonly region: string; readonly status: "failed"; readonly error: OpsRigError };

export interface RollbackResult {
  readonly line: LineKey;
  /** The build being rolled back from: its fingerprint (or `ami:<home AMI>` when it has none). */
  readonly from: string;
  readonly regions: readonly RegionRollback[];
  readonly failed: readonly Extract<RegionRollback, { status: "failed" }>[];
}

/**
 * `ops-rig rollback`: points a line's parameters back at the previous good AMI (or `--to` version) in
 * each region, through the pipeline's one publish path, then marks the bad build's AMIs withdrawn
 * where no parameter points at them any more (so the pipeline never publishes them again).
 *
 * Safe to re-run after any partial failure: the bad build is the newest build that a parameter
 * points at or that a rollback version names in its description (written atomically with the value),
 * so a re-run resumes the same rollback and converges to the same end state; a withdrawn AMI is never
 * a target. Going further back than one rollback needs `--to`.
 */
export async function rollback(
  project: PipelineProject,
  deps: PipelineDeps,
  request: RollbackRequest,
): Promise<RollbackResult> {
  const { pipeline } = project;
  const { line } = request;
  const names = parameterNamesFor(pipeline.parameterPrefix, request.toolset, line);
  const lineParameter = lineParameterName(pipeline.parameterPrefix, line);
  const who = (await deps.ports.sts.identity(pipeline.homeRegion)).arn;

  const views = await Promise.all(
    request.regions.map(async (region): Promise<RegionView | { region: string; error: OpsRigError }> => {
      try {
        const [histories, amis] = await Promise.all([
          Promise.all(names.map((name) => deps.ports.ssm.getParameterHistory(region, name))),
          deps.ports.ec2.listOwnImages(region, AMI_NAME_FILTER),
        ]);
        const lineAmis = amis.filter((a) => {
          const tagged = lineFromTags(a.tags);
          return tagged !== undefined && sameLine(tagged, line);
        });
        if ((histories[0] ?? []).length === 0) throw new ParameterNotFoundError(lineParameter, region);
        return {
          region,
          parameters: names.map((name, i) => ({ name, history: histories[i] ?? [] })),
          amis: lineAmis,
        };
      } catch (error) {
        return { region, error: asOpsRigError(error) };
      }
    }),
  );
  const readable = views.filter((v): v is RegionView => !("error" in v));
  const bad = badBuild(readable);

  const regions = await Promise.all(
    views.map(async (view): Promise<RegionRollback> => {
      if ("error" in view) return failed(deps, view.region, view.error);
      try {
        if (!bad) {
          throw new NoRollbackTargetError(
            view.region,
            `${lineParameter} in ${view.region} points at no AMI ops-rig knows: nothing to roll back from`,
          );
        }
        return await rollbackRegion(deps, view, {
          bad,
          to: request.to,
          lineParameter,
          who,
          shared: pipeline.share !== undefined,
        });
      } catch (error) {
        return failed(deps, view.region, asOpsRigError(error));
      }
    }),
  );
  return {
    line,
    from: bad?.identity ?? "",
    regions,
    failed: regions.filter((r): r is Extract<RegionRollback, { status: "failed" }> => r.status === "failed"),
  };
}

interface RegionView {
  readonly region: string;
  readonly parameters: readonly {
    readonly name: string;
    readonly history: readonly ParameterHistoryEntry[];
  }[];
  readonly amis: readonly OurAmi[];
}

interface Bad {
  readonly identity: string;
  readonly builtAt: string;
}

/** Which build an AMI belongs to, the same in every region (copies carry the home AMI's fingerprint). */
function identityOf(ami: OurAmi): string {
  return ami.tags[TAG.fingerprint] ?? `ami:${ami.tags[TAG.sourceAmi] ?? ami.imageId}`;
}

const withdrawnTag = (ami: OurAmi) => ami.tags[TAG.withdrawn] !== undefined;
const rollbackTag = (ami: OurAmi) => ami.tags[TAG.rollback] !== undefined;

/** The description of a rollback version: written in the same PutParameter as the value. */
function rollbackDescription(bad: Bad, target: string, who: string): string {
  return `ops-rig rollback from ${bad.identity} built ${bad.builtAt} to ${target} by ${who}`.slice(0, 1024);
}

function parseRollbackDescription(description: string | undefined): Bad | undefined {
  const match = /^ops-rig rollback from (\S+) built (\S+) to /.exec(description ?? "");
  return match?.[1] && match[2] ? { identity: match[1], builtAt: match[2] } : undefined;
}

/**
 * The bad build: of the builds the current versions point at, name as rolled back from, or that a
 * rollback marked first, the newest. A rollback interrupted half-way has marked it (and named it in
 * the regions it reached); the other regions still point at it.
 */
function badBuild(views: readonly RegionView[]): Bad | undefined {
  const candidates: Bad[] = [];
  for (const view of views) {
    for (const ami of view.amis.filter(rollbackTag))
      candidates.push({ identity: identityOf(ami), builtAt: builtAt(ami) });
    for (const { history } of view.parameters) {
      const current = history.at(-1);
      if (!current) continue;
      const rolledBack = parseRollbackDescription(current.description);
      if (rolledBack) {
        candidates.push(rolledBack);
        continue;
      }
      const ami = view.amis.find((a) => a.imageId === current.value);
      if (ami) candidates.push({ identity: identityOf(ami), builtAt: builtAt(ami) });
    }
  }
  return candidates.sort((a, b) => b.builtAt.localeCompare(a.builtAt))[0];
}

async function rollbackRegion(
  deps: PipelineDeps,
  view: RegionView,
  context: { bad: Bad; to: number | undefined; lineParameter: string; who: string; shared: boolean },
): Promise<RegionRollback> {
  const { region } = view;
  const { bad, who } = context;
  const amiOf = (id: string) => view.amis.find((a) => a.imageId === id);
  const usable = (ami: OurAmi | undefined): boolean =>
    ami !== undefined && ami.state === "available" && !withdrawnTag(ami) && identityOf(ami) !== bad.identity;
  const needsRollback = (value: string) => !usable(amiOf(value));

  const [lineView] = view.parameters;
  const lineHistory = lineView?.history ?? [];
  const lineCurrent = lineHistory.at(-1);
  if (!lineCurrent) throw new ParameterNotFoundError(context.lineParameter, region);

  let target: string;
  if (context.to !== undefined) {
    const entry = lineHistory.find((h) => h.version === context.to);
    if (!entry)
      throw new NoRollbackTargetError(
        region,
        `${context.lineParameter} has no version ${context.to} in ${region} (history keeps the last 100)`,
      );
    const ami = amiOf(entry.value);
    if (!usable(ami)) {
      const why = !ami
        ? "gone"
        : ami.state !== "available"
          ? ami.state
          : withdrawnTag(ami)
            ? "withdrawn by a rollback"
            : "the build being rolled back from";
      throw new NoRollbackTargetError(
        region,
        `version ${context.to}'s AMI ${entry.value} is ${why} in ${region}; pick another with --to`,
      );
    }
    target = entry.value;
  } else if (!needsRollback(lineCurrent.value)) {
    // Already rolled back here (an earlier, interrupted run got this far): keep its target.
    target = lineCurrent.value;
  } else {
    const previous = [...lineHistory].reverse().find((h) => usable(amiOf(h.value)));
    if (!previous)
      throw new NoRollbackTargetError(
        region,
        `${context.lineParameter} in ${region} has never pointed at another available AMI that was not withdrawn`,
      );
    target = previous.value;
  }

  // First mark the bad build here, so the pipeline never publishes it again, even if this run dies
  // before it withdraws it.
  for (const ami of view.amis) {
    if (identityOf(ami) !== bad.identity || rollbackTag(ami)) continue;
    await deps.ports.ec2.createTags(region, ami.imageId, {
      [TAG.rollback]: `${deps.now().toISOString()} by ${who}`.slice(0, 256),
    });
  }

  const targetAmi = amiOf(target) as OurAmi;
  const changed: RolledBackParameter[] = [];
  const pointedAt = new Set<string>();
  for (const { name, history } of view.parameters) {
    const current = history.at(-1);
    const move = context.to !== undefined || !current || needsRollback(current.value);
    if (!move && current) pointedAt.add(current.value);
    if (move) pointedAt.add(target);
    if (move && current?.value !== target) {
      const [published] = await publishImage(deps.ports, deps.sleep, {
        region,
        imageId: target,
        parameters: [{ name, ...(current ? { version: current.version } : {}) }],
        tags: targetAmi.tags[TAG.published] ? {} : { [TAG.published]: deps.now().toISOString() },
        label: rollbackLabel(deps.now()),
        description: rollbackDescription(bad, target, who),
        // Shared parameters are advanced: a write without the tier would try to downgrade them.
        ...(context.shared ? { tier: "Advanced" as const } : {}),
      });
      const version = published?.version ?? 0;
      deps.events({ type: "parameter-published", region, parameter: name, imageId: target, version });
      changed.push({ name, from: current?.value ?? "", to: target, version });
    } else if (current && parseRollbackDescription(current.description) && !hasRollbackLabel(current)) {
      // Interrupted between PutParameter and the label: finish the version like the publish path would.
      await deps.ports.ssm.labelParameterVersion(region, name, current.version, [rollbackLabel(deps.now())]);
    }
  }

  // Only now, and only where no parameter points at them, are the bad build's AMIs withdrawn.
  const withdrawn: string[] = [];
  for (const ami of view.amis) {
    if (identityOf(ami) !== bad.identity || withdrawnTag(ami) || pointedAt.has(ami.imageId)) continue;
    await deps.ports.ec2.createTags(region, ami.imageId, {
      [TAG.withdrawn]: `${deps.now().toISOString()} by ${who}`.slice(0, 256),
    });
    deps.events({ type: "image-withdrawn", region, imageId: ami.imageId });
    withdrawn.push(ami.imageId);
  }
  return { region, status: "done", changed, target, withdrawn };
}

function hasRollbackLabel(entry: ParameterHistoryEntry): boolean {
  return entry.labels.some((l) => l.startsWith("rollback-"));
}

function failed(deps: PipelineDeps, region: string, error: OpsRigError): RegionRollback {
  deps.events({ type: "rollback-region-failed", region, error });
  return { region, status: "failed", error };
}
