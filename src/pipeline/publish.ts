import { PublishNotStoredError } from "../errors.js";
import type { PipelinePorts } from "./ports.js";

/** SSM keeps 100 versions; labels on the one that would drop make PutParameter fail. */
export const SSM_HISTORY_LIMIT = 100;
/** Reads after PutParameter until SSM's asynchronous aws:ec2:image validation shows its result. */
export const READ_BACK_ATTEMPTS = 4;
export const READ_BACK_DELAY_MS = 1500;

export interface PublishRequest {
  readonly region: string;
  readonly imageId: string;
  /** Each parameter with the version it holds now, when it exists (for the 100-version limit). */
  readonly parameters: readonly { readonly name: string; readonly version?: number }[];
  /** Tags put on the AMI before any parameter points at it (`ops-rig:published`). */
  readonly tags: Readonly<Record<string, string>>;
  /** Version label (`build-...` for the pipeline, `rollback-...` for a rollback). */
  readonly label: string;
  /** Parameter description: who published and why (a rollback records what it rolled back from). */
  readonly description: string;
}

export interface PublishedParameter {
  readonly name: string;
  /** The version read back: what launches resolve now. */
  readonly version: number;
  /** The version PutParameter reported (differs only when someone else wrote in between). */
  readonly reported: number;
}

/**
 * The one way ops-rig points a parameter at an AMI, used by the pipeline and by rollback: tag the
 * AMI first (if the run dies after it, the AMI is merely kept longer), free the labels of the version
 * SSM is about to drop, PutParameter, read it back until SSM's asynchronous aws:ec2:image validation
 * shows (a 200 is no proof), then label the version. Throws on the first parameter that fails.
 */
export async function publishImage(
  ports: Pick<PipelinePorts, "ssm" | "ec2">,
  sleep: (ms: number) => Promise<void>,
  request: PublishRequest,
): Promise<PublishedParameter[]> {
  const { ssm, ec2 } = ports;
  const { region, imageId } = request;
  if (Object.keys(request.tags).length > 0) await ec2.createTags(region, imageId, request.tags);
  const published: PublishedParameter[] = [];
  for (const parameter of request.parameters) {
    if (parameter.version !== undefined && parameter.version >= SSM_HISTORY_LIMIT - 1) {
      await releaseOldestLabels(ports, region, parameter.name, parameter.version);
    }
    const reported = await ssm.putImageParameter(region, parameter.name, imageId, request.description);
    let stored = await ssm.getParameter(region, parameter.name);
    for (let attempt = 1; attempt < READ_BACK_ATTEMPTS && stored?.value !== imageId; attempt++) {
      await sleep(READ_BACK_DELAY_MS);
      stored = await ssm.getParameter(region, parameter.name);
    }
    if (stored?.value !== imageId)
      throw new PublishNotStoredError(parameter.name, region, imageId, stored?.value);
    await ssm.labelParameterVersion(region, parameter.name, stored.version, [request.label]);
    published.push({ name: parameter.name, version: stored.version, reported });
  }
  return published;
}

/** Frees the version SSM is about to drop from its labels, or the next PutParameter fails. */
async function releaseOldestLabels(
  ports: Pick<PipelinePorts, "ssm">,
  region: string,
  name: string,
  version: number,
): Promise<void> {
  const history = await ports.ssm.getParameterHistory(region, name);
  const dropping = history.filter((h) => h.version <= version + 1 - SSM_HISTORY_LIMIT && h.labels.length > 0);
  for (const entry of dropping)
    await ports.ssm.unlabelParameterVersion(region, name, entry.version, entry.labels);
}

/** `rollback-20261129-031500`: labels may not start with a digit, `aws` or `ssm`. */
export function rollbackLabel(at: Date): string {
  const digits = at.toISOString().replace(/[^0-9]/g, "");
  return `rollback-${digits.slice(0, 8)}-${digits.slice(8, 14)}`;
}

/** The description of a version the pipeline publishes. */
export function pipelineDescription(line: { toolset: string; base: string; arch: string }): string {
  return `ops-rig ${line.toolset} ${line.base} ${line.arch} (published by ops-rig)`;
}
