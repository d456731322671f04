import { type AwsClientOptions, createAwsClients } from "../../src/aws/clients.js";
import { createPipelinePorts } from "../../src/aws/index.js";
import type { PipelinePorts } from "../../src/pipeline/ports.js";
import {
  type PipelineProject,
  type ReconcileOptions,
  type ReconcileResult,
  reconcile,
} from "../../src/pipeline/run.js";
import type { LocalAws } from "../emulators/local-aws.js";
import { deployLocally, type LocalDeployment } from "../helpers/deployment.js";

export { shippedProject } from "../helpers/shipped.js";

export const HOME = "us-east-1";
export const REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"] as const;

/** Controllable time for the pipeline (AWS keeps its own clock). */
export class TestClock {
  private offsetMs = 0;
  now = (): Date => new Date(Date.now() + this.offsetMs);
  advance(ms: number): void {
    this.offsetMs += ms;
  }
  sleep = async (_ms: number): Promise<void> => {};
}

export interface World {
  readonly aws: LocalAws;
  readonly deployment: LocalDeployment;
  readonly clock: TestClock;
  ports(options?: Pick<AwsClientOptions, "onClient" | "retryMode" | "maxAttempts" | "retryDelays">): {
    ports: PipelinePorts;
    destroy(): void;
  };
}

export async function prepareWorld(aws: LocalAws, project: PipelineProject): Promise<World> {
  await aws.reset();
  aws.faults.clear();
  const deployment = await deployLocally(aws, project.pipeline);
  aws.resetCalls();
  const clock = new TestClock();
  return {
    aws,
    deployment,
    clock,
    ports: (options) => {
      const config = aws.clientConfig(HOME, { maxAttempts: 3 });
      const clients = createAwsClients({
        endpoint: aws.endpoints.aws,
        imageBuilderEndpoint: aws.endpoints.imagebuilder,
        credentials: config.credentials,
        maxAttempts: 3,
        retryMode: "standard",
        ...options,
      });
      return {
        ports: createPipelinePorts(clients, project.pipeline.homeRegion),
        destroy: () => clients.destroy(),
      };
    },
  };
}

export async function runOnce(
  world: World,
  project: PipelineProject,
  options: Partial<ReconcileOptions> = {},
  ports?: PipelinePorts,
): Promise<ReconcileResult> {
  const own = ports ? undefined : world.ports();
  try {
    return await reconcile(
      project,
      {
        ports: ports ?? (own as { ports: PipelinePorts }).ports,
        now: world.clock.now,
        sleep: world.clock.sleep,
        events: () => {},
      },
      { trigger: "tick", ...options },
    );
  } finally {
    own?.destroy();
  }
}

/**
 * Runs the pipeline the way production does (a run, Image Builder finishing builds in the
 * meantime, the next run...) until a run has nothing left to do.
 */
export async function converge(
  world: World,
  project: PipelineProject,
  options: Partial<ReconcileOptions> = {},
  maxRuns = 8,
): Promise<ReconcileResult[]> {
  const runs: ReconcileResult[] = [];
  for (let i = 0; i < maxRuns; i++) {
    const result = await runOnce(world, project, options);
    runs.push(result);
    const pending = result.passes.at(-1)?.plan.actions.filter((a) => a.kind !== "skip") ?? [];
    if (pending.length === 0) return runs;
    await world.aws.imageBuilder.settle();
  }
  const last = runs.at(-1)?.passes.at(-1)?.plan.actions ?? [];
  throw new Error(
    `did not converge in ${maxRuns} runs; still planned: ${last.map((a) => `${a.kind} ${a.reason}`).join("; ")}`,
  );
}
