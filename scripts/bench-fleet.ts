/**
 * `npm run bench:fleet`: how the pipeline's fan-out scales with regions and lines.
 *
 * The pipeline runs `bake --wait` (reconcile with wait) on the in-memory AWS (test/fakes/fake-aws.ts,
 * the ports the services use) with a real per-call latency (default 100 ms, every call), builds that
 * take 9 s and copies that stay pending 5 s after they start. Configurations are run in pairs, one
 * after the other, repeated; it prints the wall-time ratios (median and range), the calls per region
 * by action, and what the no-op nightly after convergence calls.
 *
 * Why not moto: moto is one Python process serving every region (~30–40 calls/s here), so with
 * 17 regions the run measures moto's throughput, not ops-rig's fan-out. The in-memory AWS has no
 * throughput limit of its own, so the injected latency is what every call costs, as it is on AWS.
 *
 *   npm run bench:fleet -- [--reps 3] [--latency-ms 100] [--copy-ms 5000] [--build-ms 9000] [--concurrency 64]
 */
import { parseArgs } from "node:util";
import { PARTITION_REGIONS } from "../src/config/regions.js";
import type { ServiceEvent } from "../src/events.js";
import { linesOf } from "../src/pipeline/observe.js";
import { type PipelineProject, reconcile } from "../src/pipeline/run.js";
import { FakeAws } from "../test/fakes/fake-aws.js";
import { shippedProject } from "../test/helpers/shipped.js";

const { values } = parseArgs({
  options: {
    reps: { type: "string", default: "3" },
    "latency-ms": { type: "string", default: "100" },
    "copy-ms": { type: "string", default: "5000" },
    "build-ms": { type: "string", default: "9000" },
    "poll-ms": { type: "string", default: "500" },
    concurrency: { type: "string" },
  },
});
const REPS = Number(values.reps);
const LATENCY_MS = Number(values["latency-ms"]);
const COPY_MS = Number(values["copy-ms"]);
const BUILD_MS = Number(values["build-ms"]);
const POLL_MS = Number(values["poll-ms"]);
const CONCURRENCY = values.concurrency ? Number(values.concurrency) : undefined;

const HOME = "us-east-1";
const ALL_REGIONS = [HOME, ...(PARTITION_REGIONS.aws ?? []).filter((r) => r !== HOME)];
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Config {
  readonly name: string;
  /** Target regions (the home region is always one of the run's regions). */
  readonly targets: readonly string[];
  readonly oneLine: boolean;
}

interface RunResult {
  readonly wallMs: number;
  /** From the moment the builds finished to the end (copies, waits, tags, publishes). */
  readonly afterBuildsMs: number;
  readonly regions: number;
  readonly lines: number;
  readonly published: number;
  readonly callsByRegion: Map<string, Map<string, number>>;
  readonly noop: { readonly mutating: number; readonly perRegion: Map<string, number> };
}

async function project(config: Config): Promise<PipelineProject> {
  return shippedProject({
    regions: config.targets,
    ...(config.oneLine ? { toolsets: ["light"], bases: ["debian-12"], arches: ["amd64"] } : {}),
  });
}

async function runOnce(config: Config): Promise<RunResult> {
  const p = await project(config);
  let clockMs = Date.parse("2026-11-29T02:00:00.000Z");
  const started = performance.now();
  const now = () => new Date(clockMs + (performance.now() - started));
  const aws = new FakeAws({
    regions: p.pipeline.targetRegions,
    homeRegion: p.pipeline.homeRegion,
    now,
    seedBases: true,
    copies: "pending",
  });
  aws.createTopic(p.pipeline.notifications.topic);
  aws.createTopic(p.pipeline.build.notificationTopic);

  let lastCopyAt: number | undefined;
  let buildsStartedAt: number | undefined;
  let buildsDoneAt: number | undefined;
  aws.onCall = async (call) => {
    if (call.operation === "CopyImage") lastCopyAt = performance.now();
    if (call.operation === "CreateImage") buildsStartedAt ??= performance.now();
    await sleep(LATENCY_MS);
  };
  // Time moves for AWS between passes: builds finish BUILD_MS after they started, copies land
  // COPY_MS after the last one started.
  const advance = () => {
    const t = performance.now();
    if (buildsStartedAt !== undefined && buildsDoneAt === undefined && t - buildsStartedAt >= BUILD_MS) {
      aws.finishBuilds();
      buildsDoneAt = t;
    }
    if (lastCopyAt !== undefined && t - lastCopyAt >= COPY_MS) {
      aws.settleCopies();
      lastCopyAt = undefined;
    }
  };
  const events: ServiceEvent[] = [];
  const deps = {
    ports: aws.ports,
    now,
    sleep: async (ms: number) => {
      await sleep(ms);
      advance();
    },
    events: (e: ServiceEvent) => {
      events.push(e);
    },
  };
  const t0 = performance.now();
  const { report } = await reconcile(p, deps, {
    trigger: "manual",
    wait: true,
    pollMs: POLL_MS,
    ...(CONCURRENCY ? { concurrency: CONCURRENCY } : {}),
  });
  const t1 = performance.now();
  const unpublished = report.lines.filter((l) => l.state !== "published");
  if (unpublished.length > 0 || !report.ok)
    throw new Error(
      `${config.name}: did not converge: ${unpublished.length} not published, ${report.counts.failed} failed`,
    );
  const callsByRegion = new Map<string, Map<string, number>>();
  for (const c of aws.calls()) {
    const byAction = callsByRegion.get(c.region) ?? new Map<string, number>();
    byAction.set(c.operation, (byAction.get(c.operation) ?? 0) + 1);
    callsByRegion.set(c.region, byAction);
  }

  // The next nightly: nothing to do.
  clockMs += 3_600_000;
  aws.resetCalls();
  await reconcile(p, deps, { trigger: "nightly" });
  const perRegion = new Map<string, number>();
  for (const c of aws.calls()) perRegion.set(c.region, (perRegion.get(c.region) ?? 0) + 1);
  return {
    wallMs: t1 - t0,
    afterBuildsMs: t1 - (buildsDoneAt ?? t0),
    regions: new Set([p.pipeline.homeRegion, ...p.pipeline.targetRegions]).size,
    lines: linesOf(p.toolsets).length,
    published: report.actions.filter((a) => a.kind === "publish" && a.status === "done").length,
    callsByRegion,
    noop: { mutating: aws.calls().filter((c) => c.mutating).length, perRegion },
  };
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function pair(label: string, a: Config, b: Config): Promise<RunResult> {
  const ratios: number[] = [];
  const after: number[] = [];
  let last: RunResult | undefined;
  for (let rep = 1; rep <= REPS; rep++) {
    // Alternate the order so drift (a loaded machine) falls on both sides.
    let ra: RunResult;
    let rb: RunResult;
    if (rep % 2) {
      ra = await runOnce(a);
      rb = await runOnce(b);
    } else {
      rb = await runOnce(b);
      ra = await runOnce(a);
    }
    ratios.push(rb.wallMs / ra.wallMs);
    after.push(rb.afterBuildsMs / ra.afterBuildsMs);
    console.log(
      `  rep ${rep}: ${a.name} ${fmt(ra.wallMs)} (after builds ${fmt(ra.afterBuildsMs)}, ${ra.published} published)  ` +
        `${b.name} ${fmt(rb.wallMs)} (after builds ${fmt(rb.afterBuildsMs)}, ${rb.published} published)`,
    );
    last = rb;
  }
  console.log(
    `${label}: wall ratio ${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}); ` +
      `after the builds ${median(after).toFixed(2)} (${Math.min(...after).toFixed(2)}–${Math.max(...after).toFixed(2)})`,
  );
  return last as RunResult;
}

console.log(
  `bench:fleet on the in-memory AWS: ${LATENCY_MS} ms per call, builds ${BUILD_MS / 1000} s, copies pending ${COPY_MS / 1000} s, ` +
    `poll ${POLL_MS} ms, concurrency ${CONCURRENCY ?? "default (64)"}, ${REPS} paired repetitions`,
);
const seventeen = ALL_REGIONS.slice(0, 17);
const oneRegion: Config = { name: "1 target region", targets: ["eu-west-1"], oneLine: false };
const fleet: Config = { name: "17 regions", targets: seventeen, oneLine: false };
const fleetOneLine: Config = { name: "17 regions × 1 line", targets: seventeen, oneLine: true };

console.log("\n16 lines: 1 target region (plus home) vs 17 regions");
const big = await pair("17 regions / 1 region", oneRegion, fleet);
console.log("\n17 regions: 1 line vs 16 lines");
await pair("16 lines / 1 line", fleetOneLine, fleet);

console.log(`\ncalls per region by action, 16 lines × 17 regions (bake --wait from scratch):`);
const actions = [...new Set([...big.callsByRegion.values()].flatMap((m) => [...m.keys()]))].sort();
for (const region of [HOME, "eu-west-1", "ap-southeast-2"]) {
  const m = big.callsByRegion.get(region);
  if (!m) continue;
  console.log(
    `  ${region.padEnd(15)} ${actions
      .filter((a) => m.get(a))
      .map((a) => `${a} ${m.get(a)}`)
      .join(", ")}`,
  );
}
const targetCounts = seventeen
  .filter((r) => r !== HOME)
  .map((r) => [...(big.callsByRegion.get(r)?.values() ?? [])].reduce((x, y) => x + y, 0));
console.log(`  every target region: ${Math.min(...targetCounts)}–${Math.max(...targetCounts)} calls`);

const noop = big.noop;
const targets = seventeen.filter((r) => r !== HOME).map((r) => noop.perRegion.get(r) ?? 0);
console.log(
  `\nno-op nightly at 16 lines × 17 regions: ${noop.mutating} mutating calls; reads per target region ${Math.min(...targets)}–${Math.max(...targets)}; ` +
    `home region ${noop.perRegion.get(HOME) ?? 0} (its own 3 + the run's constant: account, regions, base images)`,
);
