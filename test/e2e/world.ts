import { type AwsClientOptions, createAwsClients, createPipelinePorts } from "../../src/aws/index.js";
import { loadProject } from "../../src/config/load.js";
import { applyEnvOverrides } from "../../src/config/overrides.js";
import type { PipelineSettings, Toolset } from "../../src/config/types.js";
import type { PipelinePorts } from "../../src/pipeline/ports.js";
import {
  type PipelineProject,
  type ReconcileOptions,
  type ReconcileResult,
  reconcile,
} from "../../src/pipeline/run.js";
import { renderProject } from "../../src/render/index.js";
import type { LocalAws } from "../emulators/local-aws.js";
import { deployLocally, type LocalDeployment } from "../helpers/deployment.js";
import { REPO_ROOT } from "../helpers/project.js";

export const HOME = "us-east-1";
export const REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"] as const;

/** The shipped project, optionally narrowed (fewer lines keep crash-by-crash tests fast). */
export async function shippedProject(narrow?: {
  toolsets?: readonly string[];
  bases?: Toolset["bases"];
  arches?: Toolset["arches"];
  components?: readonly string[];
  regions?: readonly string[];
  pipeline?: (p: PipelineSettings) => PipelineSettings;
}): Promise<PipelineProject> {
  const rendered = renderProject(await loadProject(REPO_ROOT));
  let pipeline: PipelineSettings = applyEnvOverrides(rendered.config.pipeline, {});
  if (narrow?.regions) pipeline = { ...pipeline, targetRegions: [...narrow.regions] };
  if (narrow?.pipeline) pipeline = narrow.pipeline(pipeline);
  const toolsets = rendered.config.toolsets
    .filter((t) => !narrow?.toolsets || narrow.toolsets.includes(t.name))
    .map((t): Toolset => {
      const bases = narrow?.bases ?? t.bases;
      const arches = narrow?.arches ?? t.arches;
      return {
        ...t,
        bases,
        arches,
        default: {
          base: bases.includes(t.default.base) ? t.default.base : (bases[0] ?? t.default.base),
          arch: arches.includes(t.default.arch) ? t.default.arch : (arches[0] ?? t.default.arch),
        },
        components: narrow?.components
          ? t.components.filter((c) => narrow.components?.includes(c.name))
          : t.components,
      };
    });
  return { pipeline, toolsets, components: rendered.components };
}

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
  ports(options?: Pick<AwsClientOptions, "onClient" | "retryMode" | "maxAttempts">): {
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
