import { Document, Scalar, visit } from "yaml";

/**
 * Serialises a plain value as YAML the way AWSTOE needs it: strings holding `{{ variables }}`
 * double-quoted (a plain `{{` would be read as a flow mapping), multi-line strings as literal
 * blocks, no line folding. Deterministic: the same value always gives the same bytes.
 */
export function toAwstoeYaml(value: unknown): string {
  const doc = new Document(value);
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== "string") return;
      if (node.value.includes("\n") && !node.value.includes("{{") && !/[ \t]\n/.test(node.value)) {
        node.type = Scalar.BLOCK_LITERAL;
      } else if (node.value.includes("{{")) {
        node.type = Scalar.QUOTE_DOUBLE;
      }
    },
  });
  return doc.toString({ lineWidth: 0, indentSeq: true });
}
