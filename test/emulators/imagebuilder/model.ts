import { ImageBuilderError, invalidValue, notFound } from "./errors.js";

/** Records the emulator keeps, ARN and version helpers shared by its handlers. */

export type Json = Readonly<Record<string, unknown>>;

export interface ComponentParameterDetail {
  readonly name: string;
  readonly type: string;
  readonly defaultValue?: readonly string[];
  readonly description?: string;
}

export interface ComponentRecord {
  readonly arn: string;
  readonly region: string;
  readonly name: string;
  readonly version: string;
  readonly build: number;
  readonly description?: string;
  readonly changeDescription?: string;
  readonly platform: string;
  readonly supportedOsVersions?: readonly string[];
  readonly type: "BUILD" | "TEST";
  readonly data: string;
  readonly parameters: readonly ComponentParameterDetail[];
  readonly kmsKeyId?: string;
  readonly dateCreated: string;
  tags: Record<string, string>;
}

export interface RecipeComponent {
  readonly componentArn: string;
  readonly parameters?: readonly { readonly name: string; readonly value: readonly string[] }[];
}

export interface RecipeRecord {
  readonly arn: string;
  readonly region: string;
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  readonly components: readonly RecipeComponent[];
  readonly parentImage: string;
  readonly blockDeviceMappings?: readonly Json[];
  readonly workingDirectory?: string;
  readonly additionalInstanceConfiguration?: Json;
  readonly amiTags?: Readonly<Record<string, string>>;
  readonly dateCreated: string;
  tags: Record<string, string>;
}

export interface InfrastructureRecord {
  readonly arn: string;
  readonly region: string;
  readonly name: string;
  /** Every settable field as last created or updated (Update replaces them all). */
  settings: Json;
  readonly dateCreated: string;
  dateUpdated?: string;
  tags: Record<string, string>;
}

export interface DistributionRecord {
  readonly arn: string;
  readonly region: string;
  readonly name: string;
  description?: string;
  distributions: readonly Json[];
  readonly dateCreated: string;
  dateUpdated?: string;
  tags: Record<string, string>;
}

export type ImageStatus =
  | "PENDING"
  | "BUILDING"
  | "TESTING"
  | "DISTRIBUTING"
  | "AVAILABLE"
  | "FAILED"
  | "CANCELLED";
export type Phase = "PENDING" | "BUILDING" | "TESTING" | "DISTRIBUTING";
export const PHASES: readonly Phase[] = ["PENDING", "BUILDING", "TESTING", "DISTRIBUTING"];

export function isInFlight(status: ImageStatus): status is Phase {
  return (PHASES as readonly string[]).includes(status);
}

export const ARN_PARTITION = "aws";
const ARN = /^arn:aws[a-z-]*:imagebuilder:([a-z0-9-]+):(\d{12}|aws):([a-z-]+)\/(.+)$/;
const VERSION_NODE_MAX = 1_073_741_823;
export const SEMVER = /^[0-9]+\.[0-9]+\.[0-9]+$/;
/** Image Builder's resource name pattern (components, recipes, configurations). */
export const NAME_PATTERN = /^[-_A-Za-z-0-9][-_A-Za-z0-9 ]{1,126}[-_A-Za-z-0-9]$/;

export type ResourceKind =
  | "component"
  | "image-recipe"
  | "image"
  | "infrastructure-configuration"
  | "distribution-configuration";

/** Names appear in ARNs lower-cased, with spaces as hyphens. */
export function arnName(name: string): string {
  return name.toLowerCase().replace(/ /g, "-");
}

export function makeArn(
  region: string,
  account: string,
  kind: ResourceKind,
  ...parts: (string | number)[]
): string {
  return `arn:${ARN_PARTITION}:imagebuilder:${region}:${account}:${kind}/${parts.join("/")}`;
}

export interface ParsedArn {
  readonly region: string;
  readonly account: string;
  readonly kind: string;
  readonly parts: readonly string[];
}

export function parseArn(arn: string, field: string): ParsedArn {
  const match = ARN.exec(arn);
  if (!match?.[1] || !match[2] || !match[3] || !match[4])
    throw invalidValue(
      `The value supplied for parameter '${field}' is not a valid Image Builder ARN: ${JSON.stringify(arn)}.`,
    );
  return { region: match[1], account: match[2], kind: match[3], parts: match[4].split("/") };
}

export function checkSemanticVersion(field: string, version: string): void {
  if (!SEMVER.test(version) || version.split(".").some((node) => Number(node) > VERSION_NODE_MAX))
    throw new ImageBuilderError(
      "InvalidVersionNumberException",
      `The value supplied for parameter '${field}' (${JSON.stringify(version)}) is not a valid semantic version: use <major>.<minor>.<patch>, each node an integer from 0 to ${VERSION_NODE_MAX}.`,
    );
}

/** A version selector: `1.2.3`, or with `x` wildcards (`1.x.x`, `x.x.x`). */
export function versionSelector(field: string, text: string): (version: string) => boolean {
  const nodes = text.split(".");
  if (nodes.length !== 3 || nodes.some((n) => !/^([0-9]+|x)$/.test(n)))
    throw invalidValue(
      `The value supplied for parameter '${field}' has an invalid version ${JSON.stringify(text)}.`,
    );
  return (version) => {
    const have = version.split(".");
    return nodes.every((n, i) => n === "x" || Number(n) === Number(have[i]));
  };
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i += 1) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function checkTags(field: string, tags: Readonly<Record<string, string>> | undefined): void {
  if (!tags) return;
  const keys = Object.keys(tags);
  if (keys.length > 50)
    throw invalidValue(
      `The value supplied for parameter '${field}' has ${keys.length} tags; the maximum is 50.`,
    );
  for (const key of keys) {
    if (key.length < 1 || key.length > 128 || !/^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u.test(key))
      throw invalidValue(
        `The value supplied for parameter '${field}' has an invalid tag key ${JSON.stringify(key)}.`,
      );
    if (key.toLowerCase().startsWith("aws:"))
      throw invalidValue(
        `The value supplied for parameter '${field}' is not valid: tag keys starting with "aws:" are reserved (${JSON.stringify(key)}).`,
      );
    if ((tags[key] ?? "").length > 256)
      throw invalidValue(
        `The value supplied for parameter '${field}' has a tag value longer than 256 characters (key ${JSON.stringify(key)}).`,
      );
  }
}

export function notFoundArn(field: string, arn: string): ImageBuilderError {
  return notFound(`The resource ${JSON.stringify(arn)} given in '${field}' does not exist.`);
}

/** "Jul 28, 2022 1:13:45 AM", the date format of Image Builder's SNS notifications. */
export function notificationDate(ms: number): string {
  const d = new Date(ms);
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const hours = d.getUTCHours();
  const two = (n: number) => String(n).padStart(2, "0");
  return `${months[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()} ${hours % 12 || 12}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} ${hours < 12 ? "AM" : "PM"}`;
}

/** What `{{ imagebuilder:buildDate }}` becomes in an AMI name (no colons: EC2 does not allow them). */
export function buildDateText(ms: number): string {
  return new Date(ms).toISOString().replace(/:/g, "-");
}
