import { topicArn } from "../../src/config/overrides.js";
import type { ServiceEvent } from "../../src/events.js";
import {
  type PipelineDeps,
  type PipelineProject,
  type ReconcileOptions,
  type ReconcileResult,
  reconcile,
} from "../../src/pipeline/run.js";
import { FakeAws, type FakeAwsOptions } from "../fakes/fake-aws.js";

export const HOME = "us-east-1";
export const EU = "eu-west-1";
export const AP = "ap-southeast-2";

/** The pipeline's clock and AWS's share one time line that tests move forward. */
export class FakeClock {
  private ms = Date.parse("2026-11-29T12:00:00.000Z");
  now = (): Date => new Date(this.ms);
  advance(ms: number): void {
    this.ms += ms;
  }
  sleep = async (_ms: number): Promise<void> => {};
}

export interface FakeWorld {
  readonly aws: FakeAws;
  readonly clock: FakeClock;
  readonly project: PipelineProject;
  readonly events: ServiceEvent[];
  deps(): PipelineDeps;
}

/** A FakeAws holding what the deployed stack would (topics, profiles) and the publishers' base images. */
export function fakeWorld(project: PipelineProject, options: Partial<FakeAwsOptions> = {}): FakeWorld {
  const clock = new FakeClock();
  const aws = new FakeAws({
    regions: project.pipeline.targetRegions,
    homeRegion: project.pipeline.homeRegion,
    now: clock.now,
    seedBases: true,
    ...options,
  });
  aws.createTopic(project.pipeline.notifications.topic);
  aws.createTopic(project.pipeline.build.notificationTopic);
  const events: ServiceEvent[] = [];
  return {
    aws,
    clock,
    project,
    events,
    deps: () => ({
      ports: aws.ports,
      now: clock.now,
      sleep: clock.sleep,
      events: (e) => {
        events.push(e);
      },
    }),
  };
}

export function notificationTopic(world: FakeWorld): string {
  return topicArn(
    world.project.pipeline.notifications.topic,
    world.project.pipeline.homeRegion,
    world.aws.account,
  );
}

export function run(world: FakeWorld, options: Partial<ReconcileOptions> = {}): Promise<ReconcileResult> {
  return reconcile(world.project, world.deps(), { trigger: "tick", ...options });
}

/**
 * Runs the pipeline as production does (a run, Image Builder and EC2 finishing in the meantime, the
 * next run...) until a run has nothing left to do.
 */
export async function converge(
  world: FakeWorld,
  options: Partial<ReconcileOptions> = {},
  maxRuns = 8,
): Promise<ReconcileResult[]> {
  const runs: ReconcileResult[] = [];
  for (let i = 0; i < maxRuns; i++) {
    const result = await run(world, options);
    runs.push(result);
    const pending = result.passes.at(-1)?.plan.actions.filter((a) => a.kind !== "skip") ?? [];
    if (pending.length === 0) return runs;
    world.aws.finishBuilds();
    world.aws.settleCopies();
    world.clock.advance(60_000);
  }
  const last = runs.at(-1)?.passes.at(-1)?.plan.actions ?? [];
  throw new Error(
    `did not converge in ${maxRuns} runs; still planned: ${last.map((a) => `${a.kind} ${a.reason}`).join("; ")}`,
  );
}
