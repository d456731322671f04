import type { z } from "zod";
import { ConfigError, type Problem } from "../errors.js";
import type { Memo } from "../memo.js";
import { RESOURCE_PREFIX } from "../render/component.js";
import { parseYamlSource, type YamlPath, type YamlSource } from "../yaml/source.js";
import type { Arch, Base } from "./bases.js";
import { pipelineSchema, SLUG_PATTERN, toolsetSchema } from "./schema.js";
import type { ComponentTemplate, PipelineSettings, ProjectConfig, Toolset } from "./types.js";

/** Layout of a project directory, relative to its root. */
export const PIPELINE_FILE = "recipes/pipeline.yaml";
export const RECIPES_DIR = "recipes";
export const COMPONENTS_DIR = "components";
export const PRELUDE_FILE = "components/lib/prelude.sh";
/** Image Builder resource names: `^[-_A-Za-z-0-9][-_A-Za-z0-9 ]{1,126}[-_A-Za-z-0-9]$`. */
export const IMAGE_BUILDER_NAME_MAX = 128;
/** The longest `<base>-<arch>` suffix of a recipe name (`ops-rig-<toolset>-ubuntu-24-04-amd64`). */
const LONGEST_LINE_SUFFIX = "-ubuntu-24-04-arm64";

/**
 * Builds the project configuration from file contents (path relative to the project root → text).
 * Pure: the caller reads the files. Collects every problem in every file before failing, so one
 * `ops-rig validate` shows all that is wrong. A memo spares parsing the files parsed before.
 */
export function parseProject(files: ReadonlyMap<string, string>, memo?: Memo): ProjectConfig {
  const problems: Problem[] = [];

  const componentFiles = [...files.keys()]
    .filter((path) => path.startsWith(`${COMPONENTS_DIR}/`) && /^[^/]+\/[^/]+\.ya?ml$/.test(path))
    .sort();
  const components: ComponentTemplate[] = [];
  for (const file of componentFiles) {
    const name = baseName(file);
    const source = parseYamlSource(file, files.get(file) ?? "", memo);
    if (!SLUG_PATTERN.test(name)) {
      problems.push({
        file,
        message: `file name "${name}" is not a valid component name (lower-case letters, digits, dashes)`,
      });
    }
    const resourceName = `${RESOURCE_PREFIX}-${name}`;
    if (resourceName.length > IMAGE_BUILDER_NAME_MAX)
      problems.push({
        file,
        message: `the Image Builder component "${resourceName.slice(0, 24)}..." would have a ${resourceName.length}-character name; Image Builder allows ${IMAGE_BUILDER_NAME_MAX} (shorten the file name to at most ${IMAGE_BUILDER_NAME_MAX - RESOURCE_PREFIX.length - 1} characters)`,
      });
    problems.push(...source.syntaxProblems);
    components.push({ name, file, source });
  }
  const componentNames = new Set(components.map((c) => c.name));

  const prelude = files.get(PRELUDE_FILE);
  if (prelude === undefined)
    problems.push({ file: PRELUDE_FILE, message: "missing: every ExecuteBash step starts with it" });

  let pipeline: PipelineSettings | undefined;
  const pipelineText = files.get(PIPELINE_FILE);
  if (pipelineText === undefined) {
    problems.push({
      file: PIPELINE_FILE,
      message: "missing: pipeline-wide settings (regions, parameter prefix, ...)",
    });
  } else {
    const source = parseYamlSource(PIPELINE_FILE, pipelineText, memo);
    const parsed = validate(source, pipelineSchema, problems);
    if (parsed) {
      const { share, ...rest } = parsed;
      pipeline = {
        file: PIPELINE_FILE,
        ...rest,
        ...(share
          ? {
              share: {
                ...(share.organization ? { organizationArn: share.organization } : {}),
                organizationalUnitArns: share.organizationalUnits ?? [],
                accountIds: share.accounts ?? [],
              },
            }
          : {}),
        copy: { concurrencyPerRegion: parsed.copy.concurrencyPerRegion, kmsKeys: parsed.copy.kmsKeys ?? {} },
        build: dropUndefined(parsed.build),
        source,
      };
    }
  }

  const toolsetFiles = [...files.keys()]
    .filter((path) => /^recipes\/[^/]+\.ya?ml$/.test(path) && path !== PIPELINE_FILE)
    .sort();
  if (toolsetFiles.length === 0)
    problems.push({ file: RECIPES_DIR, message: "no toolsets (recipes/<toolset>.yaml)" });
  const toolsets: Toolset[] = [];
  for (const file of toolsetFiles) {
    const name = baseName(file);
    const source = parseYamlSource(file, files.get(file) ?? "", memo);
    if (!SLUG_PATTERN.test(name)) {
      problems.push({
        file,
        message: `file name "${name}" is not a valid toolset name (lower-case letters, digits, dashes)`,
      });
    }
    const recipeName = `${RESOURCE_PREFIX}-${name}${LONGEST_LINE_SUFFIX}`;
    if (recipeName.length > IMAGE_BUILDER_NAME_MAX)
      problems.push({
        file,
        message: `recipes of this toolset ("${RESOURCE_PREFIX}-${name.slice(0, 16)}...-<base>-<arch>") would have names of up to ${recipeName.length} characters; Image Builder allows ${IMAGE_BUILDER_NAME_MAX}`,
      });
    const parsed = validate(source, toolsetSchema, problems);
    if (!parsed) continue;
    parsed.components.forEach((ref, index) => {
      for (const base of ref.bases ?? [])
        if (!parsed.bases.includes(base))
          problems.push(
            source.problem(
              ["components", index, "bases"],
              `${base} is not one of the toolset's bases (${parsed.bases.join(", ")})`,
            ),
          );
      (ref.except ?? []).forEach((line, i) => {
        const [base, arch] = line.split("/") as [Base, Arch];
        if (!parsed.bases.includes(base) || !parsed.arches.includes(arch))
          problems.push(
            source.problem(["components", index, "except", i], `${line} is not one of the toolset's lines`),
          );
      });
      // One bootstrap serves every base: a component limited to some bases cannot be in it.
      if (parsed.cloudInit && (ref.bases || ref.except) && ref.cloudInit !== false)
        problems.push(
          source.problem(
            ["components", index, "bases"],
            "a cloud-init toolset's bootstrap runs on every base: a component limited to some bases needs `cloudInit: false`",
          ),
        );
      if (!componentNames.has(ref.name)) {
        const hint = closest(ref.name, [...componentNames]);
        problems.push(
          source.problem(
            ["components", index, "name"],
            `unknown component "${ref.name}"${hint ? ` (did you mean "${hint}"?)` : ""}; components are the files in ${COMPONENTS_DIR}/`,
          ),
        );
      }
    });
    toolsets.push({
      name,
      file,
      description: parsed.description,
      maxAge: parsed.maxAge,
      bases: parsed.bases,
      arches: parsed.arches,
      default: parsed.default,
      rootVolume: dropUndefined(parsed.rootVolume),
      instanceTypes: dropUndefined(parsed.instanceTypes),
      cloudInit: parsed.cloudInit ?? false,
      components: parsed.components.map((ref) => ({
        name: ref.name,
        parameters: ref.parameters ?? {},
        ...(ref.bases ? { bases: ref.bases } : {}),
        ...(ref.except ? { except: ref.except } : {}),
        ...(ref.cloudInit === false ? { cloudInit: false as const } : {}),
        ...(ref.local ? { local: dropUndefined(ref.local) } : {}),
      })),
      source,
    });
  }

  if (problems.length > 0 || !pipeline || prelude === undefined) throw new ConfigError(problems);
  return { pipeline, toolsets, components, prelude: { file: PRELUDE_FILE, text: prelude } };
}

/** Validates a YAML source against a schema, turning every issue into a located problem. */
function validate<S extends z.ZodType>(
  source: YamlSource,
  schema: S,
  problems: Problem[],
): z.output<S> | undefined {
  if (source.syntaxProblems.length > 0) {
    problems.push(...source.syntaxProblems);
    return undefined;
  }
  if (source.value === undefined || source.value === null) {
    problems.push({ file: source.file, message: "file is empty" });
    return undefined;
  }
  // Without zod's compiled fast path: each schema parses a handful of files once per process, and
  // compiling it (new Function per object shape) cost more than it saved (80 of 110 ms in `render`).
  const result = schema.safeParse(source.value, { jitless: true });
  if (result.success) return result.data;
  for (const issue of result.error.issues) {
    const path = issue.path.filter((part): part is string | number => typeof part !== "symbol");
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        problems.push(source.problem([...path, key], `unknown key "${key}"`, { key: true }));
      }
      continue;
    }
    const missing = issue.code === "invalid_type" && getIn(source.value, path) === undefined;
    problems.push(
      source.problem(path, missing ? `required ${issue.expected ?? "value"} is missing` : issue.message),
    );
  }
  return undefined;
}

function getIn(value: unknown, path: YamlPath): unknown {
  let current: unknown = value;
  for (const part of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string | number, unknown>)[part];
  }
  return current;
}

function baseName(file: string): string {
  return (file.split("/").pop() ?? file).replace(/\.ya?ml$/, "");
}

/** Removes keys whose value is undefined (exactOptionalPropertyTypes: absent is not undefined). */
export function dropUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

/** The candidate within edit distance 3, for "did you mean" hints. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance <= 3 && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
