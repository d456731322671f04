import { isRecord } from "../render/awstoe.js";
import { shellQuote } from "../render/bash.js";

/**
 * AWSTOE's comparison and logical operators, shared by the `Assert` action and a step's `if`.
 * String comparisons ignore case and do not trim; numeric ones convert strings and are false when
 * a value is not a number. File operators look inside the root, through `probe`.
 */

/** Runs a small script inside the root; resolves its exit code and stdout. */
export type Probe = (script: string) => Promise<{ exitCode: number; stdout: string }>;

const STRING_OPERATORS = [
  "stringEquals",
  "stringLessThan",
  "stringLessThanEquals",
  "stringGreaterThan",
  "stringGreaterThanEquals",
] as const;
const NUMBER_OPERATORS = [
  "numberEquals",
  "numberLessThan",
  "numberLessThanEquals",
  "numberGreaterThan",
  "numberGreaterThanEquals",
] as const;
const HASH_OPERATORS: Readonly<Record<string, string>> = {
  fileMD5Equals: "md5sum",
  fileSHA1Equals: "sha1sum",
  fileSHA256Equals: "sha256sum",
  fileSHA512Equals: "sha512sum",
};
const SINGLE_OPERATORS = [
  "stringIsEmpty",
  "stringIsWhitespace",
  "binaryExists",
  "fileExists",
  "folderExists",
  "platform",
];
const OPERATORS = new Set<string>([
  ...STRING_OPERATORS,
  ...NUMBER_OPERATORS,
  ...Object.keys(HASH_OPERATORS),
  ...SINGLE_OPERATORS,
  "patternMatches",
  "and",
  "or",
  "not",
]);
/** Keys that may sit next to the operator in an `if` mapping. */
const IF_KEYS = new Set(["then", "else"]);

export type IfAction = "Execute" | "Skip" | "Abort";

export class ConditionError extends Error {}

/** The single operator key of an expression mapping (besides `value`, `then`, `else`). */
function operatorOf(expression: Record<string, unknown>): string {
  const keys = Object.keys(expression).filter((k) => k !== "value" && !IF_KEYS.has(k));
  if (keys.length !== 1 || !OPERATORS.has(keys[0] ?? ""))
    throw new ConditionError(
      `a condition needs exactly one operator (one of ${[...OPERATORS].join(", ")}), got: ${keys.join(", ") || "none"}`,
    );
  return keys[0] as string;
}

function asText(value: unknown, what: string): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  throw new ConditionError(`${what} must be a string or number`);
}

function asNumber(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "string" && value.trim() !== "") {
    const n = Number(value);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/** Evaluates an expression; throws ConditionError for a malformed one. */
export async function evaluateCondition(expression: unknown, probe: Probe): Promise<boolean> {
  if (!isRecord(expression)) throw new ConditionError("a condition is a mapping with one operator");
  const operator = operatorOf(expression);
  const operand = expression[operator];
  switch (operator) {
    case "and":
    case "or": {
      if (!Array.isArray(operand) || operand.length === 0)
        throw new ConditionError(`${operator} needs a list of conditions`);
      for (const item of operand) {
        const result = await evaluateCondition(item, probe);
        // Evaluation stops at the first deciding condition, as AWSTOE documents.
        if (operator === "and" && !result) return false;
        if (operator === "or" && result) return true;
      }
      return operator === "and";
    }
    case "not":
      return !(await evaluateCondition(operand, probe));
    case "stringIsEmpty":
      return asText(operand, operator) === "";
    case "stringIsWhitespace": {
      const text = asText(operand, operator);
      return text.length > 0 && /^[ \t\r\n]+$/.test(text);
    }
    case "patternMatches": {
      const value = asText(expression.value, `${operator}.value`);
      try {
        return new RegExp(asText(operand, operator)).test(value);
      } catch (error) {
        throw new ConditionError(`patternMatches: invalid regular expression: ${(error as Error).message}`);
      }
    }
    case "binaryExists":
      return (await probe(`command -v ${shellQuote(asText(operand, operator))} >/dev/null`)).exitCode === 0;
    case "fileExists":
      return (await probe(`test -f ${shellQuote(asText(operand, operator))}`)).exitCode === 0;
    case "folderExists":
      return (await probe(`test -d ${shellQuote(asText(operand, operator))}`)).exitCode === 0;
    case "platform":
      // A local root is always Linux; compared like the other string operators, ignoring case.
      return asText(operand, operator).toLowerCase() === "linux";
    default:
      break;
  }
  if ((STRING_OPERATORS as readonly string[]).includes(operator)) {
    const a = asText(operand, operator).toLowerCase();
    const b = asText(expression.value, `${operator}.value`).toLowerCase();
    return compare(operator.slice("string".length), a < b ? -1 : a > b ? 1 : 0);
  }
  if ((NUMBER_OPERATORS as readonly string[]).includes(operator)) {
    const a = asNumber(operand);
    const b = asNumber(expression.value);
    if (a === undefined || b === undefined) return false;
    return compare(operator.slice("number".length), Math.sign(a - b));
  }
  const tool = HASH_OPERATORS[operator];
  if (tool) {
    const path = asText(operand, operator);
    const expected = asText(expression.value, `${operator}.value`).trim().toLowerCase();
    const result = await probe(`${tool} ${shellQuote(path)}`);
    if (result.exitCode !== 0) return false;
    return (result.stdout.trim().split(/\s+/)[0] ?? "").toLowerCase() === expected;
  }
  throw new ConditionError(`unsupported operator ${operator}`);
}

function compare(kind: string, order: number): boolean {
  switch (kind) {
    case "Equals":
      return order === 0;
    case "LessThan":
      return order < 0;
    case "LessThanEquals":
      return order <= 0;
    case "GreaterThan":
      return order > 0;
    default:
      return order >= 0;
  }
}

/**
 * A step's `if`: run the step when true (`then`, default Execute), skip it when false (`else`,
 * default Skip). Accepts the mapping form and AWSTOE's documented one-item list form.
 */
export async function evaluateIf(raw: unknown, probe: Probe): Promise<IfAction> {
  const expression = Array.isArray(raw) && raw.length === 1 ? raw[0] : raw;
  if (!isRecord(expression)) throw new ConditionError("if must be a mapping with one operator");
  const result = await evaluateCondition(expression, probe);
  const chosen = result ? (expression.then ?? "Execute") : (expression.else ?? "Skip");
  if (chosen !== "Execute" && chosen !== "Skip" && chosen !== "Abort")
    throw new ConditionError(`then/else must be Execute, Skip or Abort, not ${JSON.stringify(chosen)}`);
  return chosen;
}

/** A short human rendering of an expression for failure messages. */
export function describeCondition(expression: unknown): string {
  return JSON.stringify(expression);
}
