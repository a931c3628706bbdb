// Typed action-argument inputs from the catalog's argsSchema (JSON Schema). Pure: no DOM.

const LONG_TEXT = 500; // strings allowed to be longer than this get a textarea

/** "dueInSeconds" -> "Due in seconds", "patientId" -> "Patient ID". */
export function humanize(name) {
  const words = name.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
  return (words.charAt(0).toUpperCase() + words.slice(1)).replace(/\bid\b/g, "ID");
}

/**
 * One descriptor per property of ``schema``: {name, label, kind, required, integer, min, max,
 * maxLength, description}; ``kind`` is "string", "text" (long string), "number" or "json".
 */
export function argFields(schema) {
  const required = new Set(schema?.required ?? []);
  return Object.entries(schema?.properties ?? {}).map(([name, prop]) => {
    const variants = prop.anyOf ?? prop.oneOf ?? [prop];
    const main = variants.find((variant) => variant.type !== "null") ?? {};
    let kind = "string";
    if (main.type === "integer" || main.type === "number") kind = "number";
    else if (main.type === "object" || main.type === "array") kind = "json";
    else if ((main.maxLength ?? 0) > LONG_TEXT) kind = "text";
    return {
      name,
      label: humanize(name),
      kind,
      required: required.has(name),
      integer: main.type === "integer",
      min: main.minimum,
      max: main.maximum,
      maxLength: main.maxLength,
      description: prop.description ?? main.description ?? null,
    };
  });
}

/**
 * What to send for one argument: ``{value}``, ``{omit: true}`` (optional and left empty) or
 * ``{error}`` (text that cannot become the argument's type). Anything else is sent as typed and
 * left to the API to judge, so its message shows next to the field.
 */
export function readArg(field, text) {
  const empty = text.trim() === "";
  if (empty && !field.required) return { omit: true };
  if (field.kind === "number") {
    if (empty) return { omit: true }; // the API reports the missing required argument
    const number = Number(text.trim());
    return Number.isFinite(number) ? { value: number } : { error: "enter a number" };
  }
  if (field.kind === "json") {
    try {
      return { value: JSON.parse(text) };
    } catch (error) {
      return { error: `not valid JSON (${error.message})` };
    }
  }
  return { value: text };
}

/** The text an input shows for an argument's saved value. */
export function argText(field, value) {
  if (value === undefined || value === null) return "";
  return field.kind === "json" ? JSON.stringify(value, null, 2) : String(value);
}

/**
 * ``{args, errors}`` for an action's typed texts; errors as ``[{loc, msg}]`` in the API's format
 * under ``locPrefix`` (e.g. ["body", "actionsJson", 0]).
 */
export function readArgs(fields, texts, locPrefix) {
  const args = {};
  const errors = [];
  for (const field of fields) {
    const result = readArg(field, texts[field.name] ?? "");
    if ("error" in result) errors.push({ loc: [...locPrefix, "args", field.name], msg: result.error });
    else if (!result.omit) args[field.name] = result.value;
  }
  return { args, errors };
}
