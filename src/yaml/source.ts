import { createHash } from "node:crypto";
import {
  type Document,
  isMap,
  isNode,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
} from "yaml";
import type { Problem } from "../errors.js";
import { isPlainJson, type Memo } from "../memo.js";

export type YamlPath = readonly (string | number)[];

/**
 * A parsed YAML file that remembers where every value came from, so that problems found anywhere
 * (schema, cross-file references, AWSTOE rules) can name the file, the path and the line.
 */
export interface YamlSource {
  readonly file: string;
  readonly text: string;
  /** Plain JS value of the document (undefined when the document is empty). */
  readonly value: unknown;
  /** Parse errors; when non-empty `value` must not be trusted. */
  readonly syntaxProblems: readonly Problem[];
  /** Line/column of the node at `path`, or of its nearest existing ancestor. */
  locate(path: YamlPath, options?: { key?: boolean }): { line: number; column: number } | undefined;
  /** The raw YAML node at `path` (for checks that depend on quoting style). */
  nodeAt(path: YamlPath): Node | undefined;
  problem(path: YamlPath, message: string, options?: { key?: boolean }): Problem;
}

export function formatPath(path: YamlPath): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(part)) out += out ? `.${part}` : part;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out || "(document)";
}

/**
 * Parses `text` as the file `file`. With a memo, a text parsed cleanly before is not parsed again:
 * its value comes from the memo, and the syntax tree that positions and quoting styles need is
 * parsed only when something asks for one (a problem to place, a quoting check).
 */
export function parseYamlSource(file: string, text: string, memo?: Memo): YamlSource {
  const key = memo ? `yaml-value\0${createHash("sha256").update(text, "utf8").digest("hex")}` : undefined;
  const remembered = key === undefined ? undefined : (memo?.get(key) as { value: unknown } | undefined);
  if (remembered !== undefined) return yamlSource(file, text, remembered.value, [], () => parseTree(text));

  const tree = parseTree(text);
  const { doc } = tree;
  const syntaxProblems: Problem[] = [...doc.errors, ...doc.warnings].map((error) => {
    const position = error.linePos?.[0];
    return {
      file,
      ...(position ? { line: position.line, column: position.col } : {}),
      message: `YAML ${doc.errors.includes(error) ? "syntax error" : "warning"}: ${firstLine(error.message)}`,
    };
  });

  // Aliases are expanded when the document becomes a value; a "billion laughs" document would
  // expand into gigabytes. The yaml library stops at maxAliasCount: report that as this file's
  // problem instead of an anonymous ReferenceError.
  let value: unknown;
  if (doc.errors.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      syntaxProblems.push({
        file,
        message: `YAML aliases expand too much (${firstLine((error as Error).message)}): refused as a resource-exhaustion attack`,
      });
    }
  }
  if (key !== undefined && syntaxProblems.length === 0 && isPlainJson(value ?? null))
    memo?.set(key, value === undefined ? {} : { value });
  return yamlSource(file, text, value, syntaxProblems, () => tree);
}

interface YamlTree {
  readonly doc: Document.Parsed;
  readonly lineCounter: LineCounter;
}

function parseTree(text: string): YamlTree {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  return { doc, lineCounter };
}

function yamlSource(
  file: string,
  text: string,
  value: unknown,
  syntaxProblems: readonly Problem[],
  loadTree: () => YamlTree,
): YamlSource {
  let tree: YamlTree | undefined;
  const getTree = () => {
    tree ??= loadTree();
    return tree;
  };

  // Walks the path through maps and sequences; returns the deepest node reached and, for the last
  // map step, the key node (so "unknown key" problems point at the key, not the value).
  const walk = (path: YamlPath): { node: Node | undefined; keyNode: Node | undefined; complete: boolean } => {
    let node: unknown = getTree().doc.contents;
    let keyNode: Node | undefined;
    for (const part of path) {
      keyNode = undefined;
      if (isMap(node)) {
        const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === part);
        if (!pair || !isPair(pair)) return { node: node as Node, keyNode: undefined, complete: false };
        keyNode = isNode(pair.key) ? pair.key : undefined;
        if (!isNode(pair.value)) return { node: keyNode ?? (node as Node), keyNode, complete: true };
        node = pair.value;
      } else if (isSeq(node) && typeof part === "number") {
        const item = node.items[part];
        if (!isNode(item)) return { node: node as Node, keyNode: undefined, complete: false };
        node = item;
      } else {
        return { node: isNode(node) ? node : undefined, keyNode: undefined, complete: false };
      }
    }
    return { node: isNode(node) ? node : undefined, keyNode, complete: true };
  };

  const source: YamlSource = {
    file,
    text,
    value,
    syntaxProblems,
    locate(path, options) {
      const { node, keyNode } = walk(path);
      const target = options?.key && keyNode ? keyNode : node;
      const range = target?.range;
      if (!range) return undefined;
      const position = getTree().lineCounter.linePos(range[0]);
      return { line: position.line, column: position.col };
    },
    nodeAt(path) {
      const { node, complete } = walk(path);
      return complete ? node : undefined;
    },
    problem(path, message, options) {
      const position = source.locate(path, options);
      return {
        file,
        path: formatPath(path),
        ...(position ? { line: position.line, column: position.column } : {}),
        message,
      };
    },
  };
  return source;
}

/** The yaml library's first message line, without the position it appends (the problem has it). */
function firstLine(message: string): string {
  return (message.split("\n")[0] ?? message).replace(/ at line \d+, column \d+:?$/, "");
}
