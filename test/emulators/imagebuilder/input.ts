import { ImageBuilderError, invalidValue } from "./errors.js";

/**
 * Reads a request's fields with Image Builder's model constraints. Missing required fields are
 * `InvalidRequestException`; wrong types, lengths and patterns `InvalidParameterValueException`.
 * Every message names the field (with its path for nested ones).
 */

export interface StringRule {
  required?: boolean;
  min?: number;
  max?: number;
  pattern?: RegExp;
  oneOf?: readonly string[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export class Fields {
  private constructor(
    readonly value: Readonly<Record<string, unknown>>,
    private readonly prefix: string,
  ) {}

  static root(value: unknown): Fields {
    if (value === undefined || value === null) return new Fields({}, "");
    if (!isRecord(value))
      throw new ImageBuilderError("InvalidRequestException", "The request body must be a JSON object.");
    return new Fields(value, "");
  }

  path(name: string): string {
    return `${this.prefix}${name}`;
  }

  has(name: string): boolean {
    return this.value[name] !== undefined && this.value[name] !== null;
  }

  private missing(name: string): ImageBuilderError {
    return new ImageBuilderError(
      "InvalidRequestException",
      `The request is missing the required parameter '${this.path(name)}'.`,
    );
  }

  str(name: string, rule: StringRule & { required: true }): string;
  str(name: string, rule?: StringRule): string | undefined;
  str(name: string, rule: StringRule = {}): string | undefined {
    const value = this.value[name];
    if (value === undefined || value === null) {
      if (rule.required) throw this.missing(name);
      return undefined;
    }
    if (typeof value !== "string")
      throw invalidValue(`The value supplied for parameter '${this.path(name)}' must be a string.`);
    checkString(this.path(name), value, rule);
    return value;
  }

  bool(name: string): boolean | undefined {
    const value = this.value[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "boolean")
      throw invalidValue(`The value supplied for parameter '${this.path(name)}' must be a boolean.`);
    return value;
  }

  int(name: string, range: { min: number; max: number; required?: boolean }): number | undefined {
    const value = this.value[name];
    if (value === undefined || value === null) {
      if (range.required) throw this.missing(name);
      return undefined;
    }
    if (typeof value !== "number" || !Number.isInteger(value) || value < range.min || value > range.max)
      throw invalidValue(
        `The value supplied for parameter '${this.path(name)}' is not valid: it must be an integer from ${range.min} to ${range.max}.`,
      );
    return value;
  }

  strList(
    name: string,
    rule: { required?: boolean; min?: number; max?: number; item?: StringRule } = {},
  ): string[] | undefined {
    const value = this.value[name];
    if (value === undefined || value === null) {
      if (rule.required) throw this.missing(name);
      return undefined;
    }
    if (!Array.isArray(value))
      throw invalidValue(`The value supplied for parameter '${this.path(name)}' must be a list.`);
    checkCount(this.path(name), value.length, rule.min, rule.max);
    return value.map((item, index) => {
      if (typeof item !== "string")
        throw invalidValue(
          `The value supplied for parameter '${this.path(name)}[${index}]' must be a string.`,
        );
      checkString(`${this.path(name)}[${index}]`, item, rule.item ?? {});
      return item;
    });
  }

  map(name: string, rule: { required?: boolean } = {}): Record<string, string> | undefined {
    const value = this.value[name];
    if (value === undefined || value === null) {
      if (rule.required) throw this.missing(name);
      return undefined;
    }
    if (!isRecord(value))
      throw invalidValue(`The value supplied for parameter '${this.path(name)}' must be a map.`);
    const out: Record<string, string> = {};
    for (const [key, item] of Object.entries(value)) {
      if (typeof item !== "string")
        throw invalidValue(`The value supplied for parameter '${this.path(name)}.${key}' must be a string.`);
      out[key] = item;
    }
    return out;
  }

  obj(name: string, rule: { required: true }): Fields;
  obj(name: string, rule?: { required?: boolean }): Fields | undefined;
  obj(name: string, rule: { required?: boolean } = {}): Fields | undefined {
    const value = this.value[name];
    if (value === undefined || value === null) {
      if (rule.required) throw this.missing(name);
      return undefined;
    }
    if (!isRecord(value))
      throw invalidValue(`The value supplied for parameter '${this.path(name)}' must be an object.`);
    return new Fields(value, `${this.path(name)}.`);
  }

  list(name: string, rule: { required?: boolean; min?: number; max?: number } = {}): Fields[] | undefined {
    const value = this.value[name];
    if (value === undefined || value === null) {
      if (rule.required) throw this.missing(name);
      return undefined;
    }
    if (!Array.isArray(value))
      throw invalidValue(`The value supplied for parameter '${this.path(name)}' must be a list.`);
    checkCount(this.path(name), value.length, rule.min, rule.max);
    return value.map((item, index) => {
      if (!isRecord(item))
        throw invalidValue(
          `The value supplied for parameter '${this.path(name)}[${index}]' must be an object.`,
        );
      return new Fields(item, `${this.path(name)}[${index}].`);
    });
  }
}

export function checkString(path: string, value: string, rule: StringRule): void {
  if (rule.min !== undefined && value.length < rule.min)
    throw invalidValue(
      `The value supplied for parameter '${path}' is not valid: it must be at least ${rule.min} characters long.`,
    );
  if (rule.max !== undefined && value.length > rule.max)
    throw invalidValue(
      `The value supplied for parameter '${path}' is not valid: it is ${value.length} characters long; the maximum is ${rule.max}.`,
    );
  if (rule.pattern && !rule.pattern.test(value))
    throw invalidValue(
      `The value supplied for parameter '${path}' is not valid: ${JSON.stringify(value.slice(0, 200))} does not match the pattern ${rule.pattern.source}.`,
    );
  if (rule.oneOf && !rule.oneOf.includes(value))
    throw invalidValue(
      `The value supplied for parameter '${path}' is not valid: ${JSON.stringify(value)} is not one of ${rule.oneOf.join(", ")}.`,
    );
}

function checkCount(path: string, count: number, min: number | undefined, max: number | undefined): void {
  if (min !== undefined && count < min)
    throw invalidValue(
      `The value supplied for parameter '${path}' is not valid: it needs at least ${min} item(s).`,
    );
  if (max !== undefined && count > max)
    throw invalidValue(
      `The value supplied for parameter '${path}' is not valid: it has ${count} items; the maximum is ${max}.`,
    );
}
