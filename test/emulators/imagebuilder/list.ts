import { ImageBuilderError, invalidValue } from "./errors.js";
import type { Fields } from "./input.js";

const PAGE_MAX = 25;

/** `filters: [{name, values}]` against per-filter accessors; unknown filter names are errors. */
export function readFilters<T>(
  input: Fields,
  accessors: Readonly<Record<string, (item: T) => readonly string[]>>,
): (item: T) => boolean {
  const filters = (input.list("filters", { max: 10 }) ?? []).map((f, index) => {
    const name = f.str("name", { required: true });
    const values = f.strList("values", { required: true, min: 1, max: 10 }) ?? [];
    const accessor = accessors[name];
    if (!accessor)
      throw invalidValue(
        `The filter 'filters[${index}].name' ${JSON.stringify(name)} is not supported here (supported: ${Object.keys(accessors).join(", ")}).`,
      );
    return { accessor, values };
  });
  return (item) => filters.every(({ accessor, values }) => accessor(item).some((v) => values.includes(v)));
}

/** `maxResults` (1–25) and an opaque `nextToken` that only this operation accepts back. */
export function paginate<T>(
  input: Fields,
  op: string,
  items: readonly T[],
): { items: T[]; next: { nextToken?: string } } {
  const max = input.int("maxResults", { min: 1, max: PAGE_MAX }) ?? PAGE_MAX;
  const token = input.str("nextToken", { min: 1, max: 65_535 });
  let offset = 0;
  if (token !== undefined) {
    let parsed: { op?: unknown; offset?: unknown } | undefined;
    try {
      parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as {
        op?: unknown;
        offset?: unknown;
      };
    } catch {
      parsed = undefined;
    }
    if (!parsed || parsed.op !== op || typeof parsed.offset !== "number" || parsed.offset < 0)
      throw new ImageBuilderError(
        "InvalidPaginationTokenException",
        `The nextToken ${JSON.stringify(token)} is not valid for ${op}.`,
      );
    offset = parsed.offset;
  }
  const page = items.slice(offset, offset + max);
  const end = offset + page.length;
  return {
    items: page,
    next:
      end < items.length
        ? { nextToken: Buffer.from(JSON.stringify({ op, offset: end })).toString("base64url") }
        : {},
  };
}
