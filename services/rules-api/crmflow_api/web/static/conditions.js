// The condition builder's model and its conversion to and from conditionsJson (SPEC section 5).
// Pure: no DOM. The builder always edits a root group; an empty root means "no conditions".
//
// Nodes:  {kind: "group", id, operator: "and"|"or"|"not", children: [node]}
//         {kind: "leaf", id, field, operator, valueType, valueText}
// The value is kept as the text the user typed plus a type, and parsed only when saving, so a
// half-typed number or list never loses what was typed.

export const VALUE_TYPES = [
  ["string", "text"],
  ["number", "number"],
  ["boolean", "true/false"],
  ["null", "null"],
  ["json", "list (JSON)"],
];

let lastId = 0;
const nextId = () => ++lastId;

export function newLeaf(field = "", operator = "equals") {
  return { kind: "leaf", id: nextId(), field, operator, valueType: "string", valueText: "" };
}

export function newGroup(operator = "and", children = []) {
  return { kind: "group", id: nextId(), operator, children };
}

export function valueTypeOf(value) {
  if (value === null) return "null";
  if (typeof value === "number") return "number";
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "string") return "string";
  return "json";
}

export function valueText(value, type = valueTypeOf(value)) {
  if (type === "string") return value;
  if (type === "null") return "";
  return type === "json" ? JSON.stringify(value) : String(value);
}

const TEXT_OPERATORS = new Set(["within_next", "within_last", "matches", "starts_with", "ends_with"]);

/** The value type a leaf starts with: a list for in/not_in, else the type of the sample value. */
export function defaultValueType(operator, sample) {
  if (operator === "in" || operator === "not_in") return "json";
  if (TEXT_OPERATORS.has(operator)) return "string";
  if (typeof sample === "number") return "number";
  if (typeof sample === "boolean") return "boolean";
  return "string";
}

/** ``{value}`` or ``{error}`` for what the user typed as a value of ``type``. */
export function parseValue(type, text) {
  switch (type) {
    case "string":
      return { value: text };
    case "number": {
      const trimmed = text.trim();
      const number = Number(trimmed);
      return trimmed === "" || !Number.isFinite(number) ? { error: "enter a number" } : { value: number };
    }
    case "boolean":
      return text === "true" || text === "false" ? { value: text === "true" } : { error: "choose true or false" };
    case "null":
      return { value: null };
    case "json":
      try {
        return { value: JSON.parse(text) };
      } catch (error) {
        return { error: `not valid JSON (${error.message})` };
      }
    default:
      return { error: `unknown value type ${type}` };
  }
}

function isGroup(json) {
  return json !== null && typeof json === "object" && ("conditions" in json || "condition" in json);
}

function toNode(json) {
  if (isGroup(json)) {
    const items = Array.isArray(json.conditions) ? json.conditions : [json.condition];
    return newGroup(json.operator, items.map(toNode));
  }
  const leaf = newLeaf(json?.field ?? "", json?.operator ?? "equals");
  if (json && "value" in json) {
    leaf.valueType = valueTypeOf(json.value);
    leaf.valueText = valueText(json.value, leaf.valueType);
  }
  return leaf;
}

/** The builder's root group for a rule's conditionsJson (a bare leaf is wrapped in "and"). */
export function fromJson(conditionsJson) {
  if (conditionsJson === null || conditionsJson === undefined) return newGroup("and");
  if (typeof conditionsJson === "object" && Object.keys(conditionsJson).length === 0) return newGroup("and");
  const node = toNode(conditionsJson);
  return node.kind === "group" ? node : newGroup("and", [node]);
}

/**
 * ``{json, errors}``: the conditionsJson to send, and the values that could not be parsed as
 * ``[{loc, msg}]`` (locs in the API's format, so they land where the API's own errors land).
 * ``needsValue(operator)`` says whether a leaf operator takes a value; ``loc`` is where the
 * conditions sit in the request body.
 */
export function toJson(root, needsValue, loc = ["conditionsJson"]) {
  if (root.kind === "group" && root.children.length === 0) return { json: null, errors: [] };
  const errors = [];
  const convert = (node, loc) => {
    if (node.kind === "group") {
      return {
        operator: node.operator,
        conditions: node.children.map((child, i) => convert(child, [...loc, "conditions", i])),
      };
    }
    const leaf = { field: node.field.trim(), operator: node.operator };
    if (needsValue(node.operator)) {
      const parsed = parseValue(node.valueType, node.valueText);
      if ("error" in parsed) errors.push({ loc: ["body", ...loc, "value"], msg: parsed.error });
      else leaf.value = parsed.value;
    }
    return leaf;
  };
  return { json: convert(root, loc), errors };
}

/** A lone condition in an "and" group, as itself (the builder always has a group at its root). */
export function unwrapSingle(json) {
  const only = json?.operator === "and" && json.conditions?.length === 1 ? json.conditions[0] : null;
  return only && !Array.isArray(only.conditions) ? only : json;
}

/** Switch a group's operator; "not" takes exactly one condition, so several are wrapped in "and". */
export function setGroupOperator(group, operator) {
  if (operator === "not" && group.children.length > 1) {
    group.children = [newGroup("and", group.children)];
  }
  group.operator = operator;
}

/** The value found at dotted ``path`` of ``data`` (undefined if absent): for hints and defaults. */
export function sampleValue(data, path) {
  let current = data;
  for (const segment of String(path).split(".")) {
    if (current === null || typeof current !== "object" || !(segment in current)) return undefined;
    current = current[segment];
  }
  return current;
}
