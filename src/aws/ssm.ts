import {
  GetParameterCommand,
  GetParametersCommand,
  LabelParameterVersionCommand,
  type Parameter,
  ParameterNotFound,
  PutParameterCommand,
  paginateGetParameterHistory,
  paginateGetParametersByPath,
  SSMClient,
  UnlabelParameterVersionCommand,
} from "@aws-sdk/client-ssm";
import type { ParameterHistoryEntry, SsmPort } from "../pipeline/ports.js";
import type { ParameterValue } from "../plan/types.js";
import { type AdapterOptions, awsCall as call, sendOptions } from "./call.js";
import type { ClientFactory } from "./client-factory.js";

/** GetParameters takes at most 10 names; GetParametersByPath returns at most 10 a page. */
const BATCH = 10;

export function createSsmAdapter(
  client: (region: string) => SSMClient,
  options: AdapterOptions = {},
): SsmPort {
  const { signal } = options;
  const opts = sendOptions(signal);
  const awsCall = <T>(service: string, operation: string, region: string, fn: () => Promise<T>) =>
    call(service, operation, region, fn, signal);
  return {
    getParameters: (region, names) =>
      awsCall("ssm", "GetParameters", region, async () => {
        const found: ParameterValue[] = [];
        const invalid: string[] = [];
        for (let i = 0; i < names.length; i += BATCH) {
          const out = await client(region).send(
            new GetParametersCommand({ Names: names.slice(i, i + BATCH) }),
            opts,
          );
          found.push(...(out.Parameters ?? []).map(toValue));
          invalid.push(...(out.InvalidParameters ?? []));
        }
        return { found, invalid };
      }),
    getParametersByPath: (region, path) =>
      awsCall("ssm", "GetParametersByPath", region, async () => {
        const values: ParameterValue[] = [];
        for await (const page of paginateGetParametersByPath(
          { client: client(region), pageSize: BATCH },
          { Path: path, Recursive: true, MaxResults: BATCH },
          opts,
        )) {
          values.push(...(page.Parameters ?? []).map(toValue));
        }
        return values;
      }),
    getParameter: (region, name) =>
      awsCall("ssm", "GetParameter", region, async () => {
        try {
          const out = await client(region).send(new GetParameterCommand({ Name: name }), opts);
          return out.Parameter ? toValue(out.Parameter) : undefined;
        } catch (error) {
          if (error instanceof ParameterNotFound) return undefined;
          throw error;
        }
      }),
    putImageParameter: (region, name, value, description, tier) =>
      awsCall("ssm", "PutParameter", region, async () => {
        const out = await client(region).send(
          new PutParameterCommand({
            Name: name,
            Value: value,
            Type: "String",
            // Without DataType an overwrite resets it to text; with it, launches can resolve:ssm: it.
            DataType: "aws:ec2:image",
            Overwrite: true,
            Description: description,
            // Shared parameters must be advanced (and an advanced one cannot be written as standard).
            Tier: tier ?? "Standard",
          }),
          opts,
        );
        return out.Version ?? 0;
      }),
    labelParameterVersion: (region, name, version, labels) =>
      awsCall("ssm", "LabelParameterVersion", region, async () => {
        await client(region).send(
          new LabelParameterVersionCommand({ Name: name, ParameterVersion: version, Labels: [...labels] }),
          opts,
        );
      }),
    unlabelParameterVersion: (region, name, version, labels) =>
      awsCall("ssm", "UnlabelParameterVersion", region, async () => {
        await client(region).send(
          new UnlabelParameterVersionCommand({ Name: name, ParameterVersion: version, Labels: [...labels] }),
          opts,
        );
      }),
    getParameterHistory: (region, name) =>
      awsCall("ssm", "GetParameterHistory", region, async () => {
        const entries: ParameterHistoryEntry[] = [];
        try {
          for await (const page of paginateGetParameterHistory(
            { client: client(region), pageSize: 50 },
            { Name: name, MaxResults: 50 },
            opts,
          )) {
            for (const p of page.Parameters ?? []) {
              entries.push({
                version: p.Version ?? 0,
                value: p.Value ?? "",
                labels: p.Labels ?? [],
                ...(p.Description ? { description: p.Description } : {}),
              });
            }
          }
        } catch (error) {
          // A parameter that was never written has no history.
          if (error instanceof ParameterNotFound) return [];
          throw error;
        }
        return entries.sort((a, b) => a.version - b.version);
      }),
  };
}

function toValue(parameter: Parameter): ParameterValue {
  return { name: parameter.Name ?? "", value: parameter.Value ?? "", version: parameter.Version ?? 0 };
}

/** The factory's SSMClient for a region (made on first use). */
export function ssmClients(clients: ClientFactory): (region: string) => SSMClient {
  return (region) => clients.other("ssm", region, (config) => new SSMClient(config));
}

/** The port over the factory's clients: what src/aws/index.ts loads at the port's first call. */
export function ssmPort(clients: ClientFactory, options: AdapterOptions = {}): SsmPort {
  return createSsmAdapter(ssmClients(clients), options);
}
