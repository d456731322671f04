import { PublishNotStoredError } from "../errors.js";
import type { ParameterValue } from "../plan/types.js";
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
  /** Where parameters are shared through RAM they are advanced, and stay so. */
  readonly tier?: "Advanced";
}

export interface PublishedParameter {
  readonly name: string;
  /** The version read back: what launches resolve now. */
  readonly version: number;
  /** The version PutParameter reported (differs only when someone else wrote in between). */
  readonly reported: number;
}

/**
 * The one way ops-rig points a parameter at an AMI, used by the pipeline and by rollback, in four
 * round trips whatever the number of parameters: tag the AMI first (if the run dies after it, the AMI
 * is merely kept longer); PutParameter every parameter at once (after freeing the labels of a
 * version SSM is about to drop); read them all back in one GetParameters until SSM's asynchronous
 * aws:ec2:image validation shows (a 200 is no proof); then label every stored version at once.
 * Throws when a parameter does not hold the AMI after the read-backs, before labelling anything.
 */
export async function publishImage(
  ports: Pick<PipelinePorts, "ssm" | "ec2">,
  sleep: (ms: number) => Promise<void>,
  request: PublishRequest,
): Promise<PublishedParameter[]> {
  const { ssm, ec2 } = ports;
  const { region, imageId } = request;
  if (Object.keys(request.tags).length > 0) await ec2.createTags(region, imageId, request.tags);
  const reported = await Promise.all(
    request.parameters.map(async (parameter) => {
      if (parameter.version !== undefined && parameter.version >= SSM_HISTORY_LIMIT - 1) {
        await releaseOldestLabels(ports, region, parameter.name, parameter.version);
      }
      return ssm.putImageParameter(region, parameter.name, imageId, request.description, request.tier);
    }),
  );
  const names = request.parameters.map((p) => p.name);
  const stored = new Map<string, ParameterValue>();
  const seen = new Map<string, string>();
  for (let attempt = 1; ; attempt++) {
    const pending = names.filter((name) => !stored.has(name));
    const { found } = await ssm.getParameters(region, pending);
    for (const value of found) {
      seen.set(value.name, value.value);
      if (value.value === imageId) stored.set(value.name, value);
    }
    if (stored.size === names.length || attempt >= READ_BACK_ATTEMPTS) break;
    await sleep(READ_BACK_DELAY_MS);
  }
  const missing = names.find((name) => !stored.has(name));
  if (missing !== undefined) throw new PublishNotStoredError(missing, region, imageId, seen.get(missing));
  return Promise.all(
    request.parameters.map(async (parameter, index): Promise<PublishedParameter> => {
      const version = (stored.get(parameter.name) as ParameterValue).version;
      await ssm.labelParameterVersion(region, parameter.name, version, [request.label]);
      return { name: parameter.name, version, reported: reported[index] as number };
    }),
  );
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
