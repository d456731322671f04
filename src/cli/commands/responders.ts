import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { topicArn } from "../../config/overrides.js";
import { UsageError } from "../../errors.js";
import {
  attach,
  captureMemory,
  checkAccount,
  checkAggregator,
  checkCase,
  type InstanceLocation,
  inspect,
  isolate,
  locateAccount,
  locateInstance,
  memberSession,
  type ResponderCommand,
  type ResponderDeps,
  type ResponderEvent,
  type ResponderPort,
  release,
  snapshot,
  sshRoute,
  TRACKED_CONNECTIONS_NOTE,
  terminate,
} from "../../services/responders/index.js";
import type { CommandContext } from "../context.js";
import { paint } from "../output.js";
import { pipelineProject, realClock } from "../project.js";

interface CaseOptions {
  case: string;
  dryRun?: boolean;
  account?: string;
  aggregator?: string;
}

/** The responder outcomes: `inspect`, `isolate`, `release`, `snapshot`, `attach`, `capture-memory`, `ssh-route`, `terminate`. */
export function registerResponders(program: Command, context: () => CommandContext): void {
  const command = (name: string, description: string) =>
    program
      .command(name)
      .description(description)
      .requiredOption("--case <id>", "the incident's case id (tagged on everything touched)")
      .option(
        "--account <id>",
        "the member account the instance is in: act through its ops-rig-responder role (assumed with the case tag)",
      )
      .option(
        "--aggregator <name>",
        "without --account: find the instance's account and region in this AWS Config aggregator (or $OPS_RIG_CONFIG_AGGREGATOR)",
      )
      .option("--dry-run", "say what would change, change nothing");

  command("inspect", "report what AWS knows about an instance; stored under the case's evidence prefix")
    .argument("<instance>", "instance id (i-...)")
    .option("--since-hours <n>", "CloudTrail window in hours (default 72)")
    .action(async (instanceId: string, options: CaseOptions & { sinceHours?: string }) => {
      const sinceHours =
        options.sinceHours === undefined ? undefined : positive(options.sinceHours, "--since-hours");
      const { ctx, deps, region } = await setup(context, "inspect", instanceId, options);
      const result = await inspect(deps, {
        ...base(options, region),
        instanceId,
        ...(sinceHours ? { sinceHours } : {}),
      });
      if (ctx.output.json) return ctx.output.writeJson(result);
      ctx.output.out(result.text);
      ctx.output.out(
        result.location ? `Stored ${result.location} (sha256 ${result.sha256})` : "Dry run: nothing stored.",
      );
    });

  command("isolate", "quarantine an instance: every interface to the quarantine group, profile removed")
    .argument("<instance>", "instance id (i-...)")
    .action(async (instanceId: string, options: CaseOptions) => {
      const { ctx, deps, region } = await setup(context, "isolate", instanceId, options);
      const result = await isolate(deps, { ...base(options, region), instanceId });
      if (ctx.output.json) return ctx.output.writeJson(result);
      ctx.output.out(
        [
          headline(
            result.dryRun,
            `${instanceId} in ${region} quarantined (${result.quarantineGroups.join(", ")})`,
            result.changes,
          ),
          ...result.previous.map((p) => `  ${p.interfaceId}: previous groups ${p.groups.join(" ") || "-"}`),
          `  previous profile: ${result.previousProfile ?? "none"}`,
          "",
          ...TRACKED_CONNECTIONS_NOTE,
          ...result.flowLogs.map(
            (f) =>
              `  flow log ${f.flowLogId} on ${f.resourceId} → ${f.logGroupName ?? f.destination ?? f.destinationType}`,
          ),
          ...result.unlogged.map((e) => `  ${e}: no flow log, its connections cannot be listed`),
          `Undo: ops-rig release ${instanceId} --case ${options.case} --region ${region}${accountFlag(options)}`,
        ].join("\n"),
      );
    });

  command("release", "undo isolate: restore the recorded groups and instance profile exactly")
    .argument("<instance>", "instance id (i-...)")
    .action(async (instanceId: string, options: CaseOptions) => {
      const { ctx, deps, region } = await setup(context, "release", instanceId, options);
      const result = await release(deps, { ...base(options, region), instanceId });
      if (ctx.output.json) return ctx.output.writeJson(result);
      ctx.output.out(headline(result.dryRun, `${instanceId} in ${region} released`, result.changes));
    });

  command("snapshot", "snapshot every attached volume, case-tagged, and wait for them")
    .argument("<instance>", "instance id (i-...)")
    .option("--no-wait", "return once the snapshots are started")
    .action(async (instanceId: string, options: CaseOptions & { wait: boolean }) => {
      const { ctx, deps, region } = await setup(context, "snapshot", instanceId, options);
      const result = await snapshot(deps, { ...base(options, region), instanceId, wait: options.wait });
      if (ctx.output.json) return ctx.output.writeJson(result);
      ctx.output.out(
        [
          headline(
            result.dryRun,
            `${instanceId} in ${region}: ${result.snapshots.length} volume(s)`,
            result.changes,
          ),
          ...result.snapshots.map(
            (s) =>
              `  ${s.device} ${s.volumeId} → ${s.snapshotId ?? "(new)"} ${s.state} ${s.progress}${s.reused ? " (the case's, reused)" : ""}`,
          ),
          `Next: ops-rig attach ${instanceId} --rig <rig> --case ${options.case} --region ${region}${accountFlag(options)}`,
        ].join("\n"),
      );
    });

  command("attach", "volumes from the case's snapshots in the rig's AZ, attached to the rig")
    .argument("<source>", "a snapshot (snap-...) or the instance whose case snapshots to attach (i-...)")
    .requiredOption("--rig <instance>", "the rig (launched with ops-rig launch --case)")
    .action(async (source: string, options: CaseOptions & { rig: string }) => {
      const { ctx, deps, region } = await setup(context, "attach", options.rig, options);
      const result = await attach(deps, { ...base(options, region), source, rigId: options.rig });
      if (ctx.output.json) return ctx.output.writeJson(result);
      ctx.output.out(
        [
          headline(
            result.dryRun,
            `${result.evidence.length} evidence volume(s) on ${options.rig}`,
            result.changes,
          ),
          ...result.evidence.map(
            (e) => `  ${e.snapshotId} (${e.origin}) → ${e.volumeId ?? "(new)"} ${e.device ?? ""} ${e.status}`,
          ),
          "On the rig, mount each read-only (device set read-only first; refuses anything that would write):",
          ...result.evidence.map((e) => `  ${e.mountCommand}`),
        ].join("\n"),
      );
    });

  command("capture-memory", "capture memory with LiME through Run Command into the region's evidence bucket")
    .argument("<instance>", "instance id (i-...)")
    .option(
      "--lime-url <url>",
      "https URL of a LiME module for the target's kernel (lime-build on a matching rig)",
    )
    .option("--lime-sha256 <hash>", "the module's SHA-256 (the target refuses any other file)")
    .action(async (instanceId: string, options: CaseOptions & { limeUrl?: string; limeSha256?: string }) => {
      if (options.limeUrl !== undefined && !/^https:\/\/\S+$/.test(options.limeUrl))
        throw new UsageError(`"${options.limeUrl}" is not an https URL`, "--lime-url");
      if (options.limeSha256 !== undefined && !/^[0-9a-f]{64}$/.test(options.limeSha256))
        throw new UsageError("not a SHA-256 (64 lowercase hex digits)", "--lime-sha256");
      const { ctx, deps, region } = await setup(context, "capture-memory", instanceId, options);
      const result = await captureMemory(deps, {
        ...base(options, region),
        instanceId,
        ...(options.limeUrl ? { limeUrl: options.limeUrl } : {}),
        ...(options.limeSha256 ? { limeSha256: options.limeSha256 } : {}),
      });
      if (ctx.output.json) return ctx.output.writeJson(result);
      if (result.path === "ssh") {
        ctx.output.out(result.steps.join("\n"));
        return;
      }
      ctx.output.out(
        [
          headline(
            result.dryRun,
            `${instanceId}: memory ${result.status} → ${result.location}`,
            result.changes,
          ),
          ...(result.sha256
            ? [`  sha256 ${result.sha256}${result.bytes ? `, ${result.bytes} bytes` : ""}`]
            : []),
          ...(result.dryRun && result.script ? ["The command Run Command would run:", result.script] : []),
        ].join("\n"),
      );
    });

  command("ssh-route", "let the rig reach the target's SSH (the SSH-route group on its interface)")
    .argument("<instance>", "instance id (i-...)")
    .requiredOption("--rig <instance>", "the rig")
    .option("--remove", "take the route away again")
    .action(async (instanceId: string, options: CaseOptions & { rig: string; remove?: boolean }) => {
      const { ctx, deps, region } = await setup(context, "ssh-route", instanceId, options);
      const result = await sshRoute(deps, {
        ...base(options, region),
        instanceId,
        rigId: options.rig,
        ...(options.remove ? { remove: true } : {}),
      });
      if (ctx.output.json) return ctx.output.writeJson(result);
      ctx.output.out(
        [
          headline(
            result.dryRun,
            `${instanceId}: SSH route ${result.open ? "open" : "closed"} (${result.routeGroup} on ${result.interfaceId})`,
            result.changes,
          ),
          ...(result.open && result.targetAddress
            ? [`  from the rig: ssh <user>@${result.targetAddress}`]
            : []),
          ...(result.open && !result.sameVpc
            ? ["  the rig is in another VPC: it needs peering or a transit route to reach it"]
            : []),
        ].join("\n"),
      );
    });

  command("terminate", "terminate a quarantined instance of the case, once its volumes are snapshotted")
    .argument("<instance>", "instance id (i-...)")
    .option("--without-evidence", "terminate even when a volume has no snapshot in the case")
    .option("-y, --yes", "do not ask for confirmation")
    .action(
      async (instanceId: string, options: CaseOptions & { withoutEvidence?: boolean; yes?: boolean }) => {
        const { ctx, deps, region } = await setup(context, "terminate", instanceId, options);
        let confirmed = Boolean(options.yes);
        if (!confirmed && !options.dryRun && process.stdin.isTTY && !ctx.output.json) {
          const rl = createInterface({ input: process.stdin, output: process.stderr });
          const answer = await rl.question(
            `Type ${instanceId} to terminate it in ${region} (case ${options.case}): `,
          );
          rl.close();
          confirmed = answer.trim() === instanceId;
        }
        const result = await terminate(deps, {
          ...base(options, region),
          instanceId,
          confirmed,
          ...(options.withoutEvidence ? { withoutEvidence: true } : {}),
        });
        if (ctx.output.json) return ctx.output.writeJson(result);
        ctx.output.out(
          [
            headline(result.dryRun, `${instanceId} in ${region}: ${result.state}`, result.changes),
            ...result.evidence.map((e) => `  ${e.device} ${e.volumeId}: ${e.snapshotId ?? "NO SNAPSHOT"}`),
          ].join("\n"),
        );
      },
    );
}

const accountFlag = (options: CaseOptions) => (options.account ? ` --account ${options.account}` : "");

function positive(value: string, flag: string): number {
  if (!/^[1-9]\d{0,4}$/.test(value)) throw new UsageError(`"${value}" is not a positive whole number`, flag);
  return Number(value);
}

const base = (options: CaseOptions, region: string) => ({
  caseId: options.case,
  region,
  ...(options.dryRun ? { dryRun: true } : {}),
});

function headline(dryRun: boolean, text: string, changes: readonly string[]): string {
  const lines =
    changes.length > 0 ? changes.map((c) => `  ${dryRun ? "would: " : ""}${c}`) : ["  nothing to change"];
  return [dryRun ? `Dry run: ${text}` : text, ...lines].join("\n");
}

/**
 * Ports, clock, audit topic and the instance's region (the one given, else where the instance is).
 * With `--account` (or an aggregator that finds the instance's account) the port acts through the
 * member account's responder role; evidence and the audit event stay in the caller's (security)
 * account.
 */
async function setup(
  context: () => CommandContext,
  command: ResponderCommand,
  instanceId: string,
  options: CaseOptions,
): Promise<{ ctx: CommandContext; deps: ResponderDeps; region: string }> {
  const ctx = context();
  // Flags first: bad input never reaches AWS.
  checkCase(options.case);
  if (options.account !== undefined) checkAccount(options.account);
  const aggregator = options.aggregator ?? (ctx.env.OPS_RIG_CONFIG_AGGREGATOR || undefined);
  if (aggregator !== undefined)
    checkAggregator(aggregator, options.aggregator ? "--aggregator" : "OPS_RIG_CONFIG_AGGREGATOR");
  const securityAccount = ctx.env.OPS_RIG_SECURITY_ACCOUNT || undefined;
  if (securityAccount !== undefined) checkAccount(securityAccount, "OPS_RIG_SECURITY_ACCOUNT");
  if ((ctx.regions?.length ?? 0) > 1)
    throw new UsageError("responder commands work in one region: the instance's", "--region");
  const own: ResponderPort | undefined = ctx.aws.responders?.();
  if (!own) throw new UsageError("this AWS has no responder port");
  const project = await pipelineProject(ctx).catch(() => undefined);
  const candidates = ctx.regions ?? [
    ctx.env.AWS_REGION ?? "",
    ctx.env.AWS_DEFAULT_REGION ?? "",
    ...(project?.pipeline.targetRegions ?? []),
  ];
  const home = project?.pipeline.homeRegion ?? candidates.find(Boolean) ?? "us-east-1";

  let port = own;
  let located: InstanceLocation | undefined;
  let cross: Pick<ResponderDeps, "evidenceAccount" | "target"> = {};
  if (options.account !== undefined || aggregator !== undefined) {
    const access = ctx.aws.memberAccess?.();
    if (!access) throw new UsageError("this AWS cannot reach member accounts", "--account");
    if (options.account === undefined && aggregator !== undefined)
      located = await locateAccount(access, aggregator, home, instanceId);
    const account = options.account ?? located?.account ?? "";
    const region = ctx.regions?.[0] ?? located?.region ?? candidates.find(Boolean) ?? home;
    const session = await memberSession(access, { account, region, command, caseId: options.case });
    if (session.credentials) {
      const member = ctx.aws.responders?.(session.credentials) ?? own;
      // The audit topic is the security account's: publish with the caller's own credentials.
      port = { ...member, publish: (topic, subject, message) => own.publish(topic, subject, message) };
    }
    cross = {
      evidenceAccount: session.credentials
        ? session.callerAccount
        : (securityAccount ?? session.callerAccount),
      target: { account, ...(session.roleArn ? { roleArn: session.roleArn } : {}) },
    };
  }
  const region =
    ctx.regions?.[0] ?? located?.region ?? (await locateInstance(port, instanceId, candidates, cross.target));
  const clock = realClock(ctx.env);
  let auditTopicArn = ctx.env.OPS_RIG_AUDIT_TOPIC;
  if (!auditTopicArn && project) {
    auditTopicArn = topicArn(project.pipeline.notifications.topic, home, (await own.identity(home)).account);
  }
  const deps: ResponderDeps = {
    port,
    now: clock.now,
    sleep: (ms) => clock.sleep(ms, ctx.signal),
    events: (event) => renderEvent(ctx, event),
    // How often to look at snapshots and Run Command while waiting (tests and local AWS use less).
    ...(/^[1-9]\d{0,6}$/.test(ctx.env.OPS_RIG_POLL_MS ?? "")
      ? { pollMs: Number(ctx.env.OPS_RIG_POLL_MS) }
      : {}),
    ...(auditTopicArn ? { auditTopicArn } : {}),
    ...cross,
  };
  return { ctx, deps, region };
}

function renderEvent(ctx: CommandContext, event: ResponderEvent): void {
  if (ctx.output.json) return;
  const o = ctx.output;
  const line = (() => {
    switch (event.type) {
      case "responder-change":
        return `${paint(o, "green", "done")} ${event.resource}: ${event.change}`;
      case "snapshot-progress":
        return `${event.snapshotId}: ${event.progress}`;
      case "volume-waiting":
        return `${event.volumeId}: ${event.state}, waiting`;
      case "command-waiting":
        return `Run Command ${event.commandId}: ${event.status}, waiting`;
      case "audit":
        return o.verbose ? `audit: ${JSON.stringify(event.record)}` : undefined;
      case "audit-failed":
        return `${paint(o, "red", "FAILED")} audit event: ${event.error.message}`;
    }
  })();
  if (line) o.err(line);
}
