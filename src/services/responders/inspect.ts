import { asOpsRigError } from "../../errors.js";
import {
  adoptSteps,
  audited,
  type CaseRequest,
  custodyStep,
  evidenceLocation,
  findInstance,
  type ResponderDeps,
  runSteps,
  sha256,
} from "./common.js";
import { flowLogsOf } from "./isolate.js";
import type {
  FlowLogInfo,
  GroupDetail,
  InstanceInfo,
  ProfilePolicies,
  TrailEvent,
  VolumeInfo,
} from "./ports.js";

export interface InspectRequest extends CaseRequest {
  readonly instanceId: string;
  /** How far back CloudTrail management events are looked up (LookupEvents keeps 90 days). */
  readonly sinceHours?: number;
  readonly maxEvents?: number;
}

/** A part of the report that could not be read (a rig session may not read trails): said, not hidden. */
export type Section<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: string };

export interface InspectReport {
  readonly caseId: string;
  readonly region: string;
  readonly instance: InstanceInfo;
  readonly securityGroups: Section<GroupDetail[]>;
  readonly volumes: Section<VolumeInfo[]>;
  readonly instanceProfile: Section<ProfilePolicies | null>;
  readonly trailEvents: Section<TrailEvent[]>;
  readonly flowLogs: Section<{ readonly logs: FlowLogInfo[]; readonly unlogged: string[] }>;
}

export interface InspectResult {
  readonly report: InspectReport;
  readonly text: string;
  readonly sha256: string;
  /** `s3://bucket/key` of the JSON report (absent in a dry run). */
  readonly location?: string;
  readonly dryRun: boolean;
  readonly changes: readonly string[];
}

async function section<T>(read: () => Promise<T>): Promise<Section<T>> {
  try {
    return { ok: true, value: await read() };
  } catch (error) {
    return { ok: false, error: asOpsRigError(error).message };
  }
}

/**
 * `ops-rig inspect`: what AWS knows about the instance, as JSON and text, written to the case's
 * evidence prefix with a custody entry. The key holds the report's hash: the same observation
 * re-run lands on the same object.
 */
export async function inspect(deps: ResponderDeps, request: InspectRequest): Promise<InspectResult> {
  return audited(deps, { ...request, command: "inspect", target: request.instanceId }, async () => {
    const { region, caseId } = request;
    const first = await findInstance(deps, region, request.instanceId);
    const adopt = await adoptSteps(deps, request, first);
    const changes = await runSteps(deps, request, adopt);
    // The report shows the instance as it is now, case tag included (the same after a crash and re-run).
    const instance =
      adopt.length > 0 && !request.dryRun ? await findInstance(deps, region, request.instanceId) : first;
    const groupIds = [...new Set(instance.interfaces.flatMap((e) => e.groups.map((g) => g.groupId)))];
    const since = new Date(deps.now().getTime() - (request.sinceHours ?? 72) * 3600_000);
    const report: InspectReport = {
      caseId,
      region,
      instance,
      securityGroups: await section(() => deps.port.groups(region, groupIds)),
      volumes: await section(() =>
        deps.port.volumes(
          region,
          instance.volumes.map((v) => v.volumeId),
        ),
      ),
      instanceProfile: await section(async () =>
        instance.instanceProfile
          ? ((await deps.port.profilePolicies(instance.instanceProfile.arn)) ?? null)
          : null,
      ),
      trailEvents: await section(() =>
        deps.port.trailEvents(region, instance.instanceId, since, request.maxEvents ?? 50),
      ),
      flowLogs: await section(async () => {
        const { flowLogs, unlogged } = await flowLogsOf(deps, region, instance);
        return { logs: flowLogs, unlogged };
      }),
    };
    const json = `${JSON.stringify(report, null, 2)}\n`;
    const hash = sha256(json);
    const text = renderInspect(report);
    if (request.dryRun) return { report, text, sha256: hash, dryRun: true, changes };
    const location = await evidenceLocation(deps, request);
    const base = `${location.prefix}inspect/${instance.instanceId}-${hash.slice(0, 16)}`;
    const put = (key: string, body: string, contentType: string) => ({
      resource: `s3://${location.bucket}/${key}`,
      change: "write the inspect report",
      run: () => deps.port.putObject(region, { bucket: location.bucket, key, body, contentType }),
    });
    changes.push(
      ...(await runSteps(deps, request, [
        put(`${base}.json`, json, "application/json"),
        put(`${base}.txt`, text, "text/plain; charset=utf-8"),
        custodyStep(deps, region, location, `inspect-${instance.instanceId}-${hash.slice(0, 16)}`, {
          caseId,
          artefact: `s3://${location.bucket}/${base}.json`,
          kind: "inspect-report",
          region,
          source: instance.instanceId,
          sha256: hash,
          location: `s3://${location.bucket}/${base}.json`,
          recordedBy: location.actor,
          at: deps.now().toISOString(),
        }),
      ])),
    );
    return {
      report,
      text,
      sha256: hash,
      location: `s3://${location.bucket}/${base}.json`,
      dryRun: false,
      changes,
    };
  });
}

const rule = (r: { protocol: string; fromPort?: number; toPort?: number; peer: string }) =>
  `${r.protocol === "-1" ? "all" : r.protocol}${r.fromPort !== undefined ? ` ${r.fromPort}${r.toPort !== r.fromPort ? `-${r.toPort}` : ""}` : ""} ${r.peer}`;

/** The readable report (also stored next to the JSON). */
export function renderInspect(report: InspectReport): string {
  const i = report.instance;
  const lines = [
    `Instance ${i.instanceId} (${i.instanceType}, ${i.state}) in ${i.availabilityZone}, case ${report.caseId}`,
    `  image ${i.imageId}, launched ${i.launchTime ?? "?"}, key ${i.keyName ?? "none"}`,
    `  private ${i.privateIp ?? "-"}, public ${i.publicIp ?? "-"}, VPC ${i.vpcId ?? "-"}, subnet ${i.subnetId ?? "-"}`,
    `  profile ${i.instanceProfile?.arn ?? "none"}`,
    "Tags:",
    ...Object.entries(i.tags)
      .sort()
      .map(([k, v]) => `  ${k} = ${v}`),
    "Network interfaces:",
    ...i.interfaces.map(
      (e) =>
        `  ${e.interfaceId} ${e.privateIp ?? ""} subnet ${e.subnetId} groups ${e.groups.map((g) => `${g.groupId} (${g.name})`).join(", ")}`,
    ),
    "Security groups:",
    ...(report.securityGroups.ok
      ? report.securityGroups.value.flatMap((g) => [
          `  ${g.groupId} ${g.name}`,
          ...g.ingress.map((r) => `    in  ${rule(r)}`),
          ...g.egress.map((r) => `    out ${rule(r)}`),
        ])
      : [`  unavailable: ${report.securityGroups.error}`]),
    "Volumes:",
    ...(report.volumes.ok
      ? report.volumes.value.map(
          (v) =>
            `  ${v.volumeId} ${v.sizeGiB} GiB ${v.volumeType ?? ""} ${v.encrypted ? "encrypted" : "UNENCRYPTED"} ${v.attachments.map((a) => a.device).join(",")} from ${v.snapshotId || "-"}`,
        )
      : [`  unavailable: ${report.volumes.error}`]),
    "Instance profile policies:",
    ...(report.instanceProfile.ok
      ? report.instanceProfile.value
        ? report.instanceProfile.value.roles.map(
            (r) =>
              `  role ${r.roleName}: attached ${r.attached.join(", ") || "-"}; inline ${r.inline.join(", ") || "-"}`,
          )
        : ["  none"]
      : [`  unavailable: ${report.instanceProfile.error}`]),
    "CloudTrail management events (LookupEvents):",
    ...(report.trailEvents.ok
      ? report.trailEvents.value.length > 0
        ? report.trailEvents.value.map(
            (e) => `  ${e.eventTime} ${e.eventSource ?? ""} ${e.eventName} by ${e.username ?? "?"}`,
          )
        : ["  none in the window"]
      : [`  unavailable: ${report.trailEvents.error}`]),
    "VPC flow logs:",
    ...(report.flowLogs.ok
      ? [
          ...report.flowLogs.value.logs.map(
            (f) =>
              `  ${f.flowLogId} on ${f.resourceId} (${f.trafficType}, ${f.status}) → ${f.destinationType} ${f.logGroupName ?? f.destination ?? ""}`,
          ),
          ...report.flowLogs.value.unlogged.map(
            (e) => `  ${e}: no flow log on the interface, its subnet or VPC`,
          ),
        ]
      : [`  unavailable: ${report.flowLogs.error}`]),
  ];
  return `${lines.join("\n")}\n`;
}
