// wait_for_event and ``when`` in the action editor (SPEC section 13): "Wait up to [amount] [unit]
// for [event] whose [field] equals the trigger's (and [conditions]); if it does not come: continue
// or stop", and, on every step, "Only when…" (a condition on the event and waitedEvent).
// The pure helpers (state <-> args, field suggestions) come first; the DOM parts use the builder.
import { createConditionBuilder } from "./builder.js";
import { unwrapSingle } from "./conditions.js";
import { h, options, uid } from "./dom.js";
import { UNITS, matchPaths, offsetToParts, partsToOffset } from "./timing.js";

export const WAIT_FOR_EVENT = "wait_for_event";
const ON_TIMEOUT = [
  ["continue", "continue with the next steps"],
  ["stop", "stop the run"],
];

/** The friendly state of saved ``wait_for_event`` args (a new one: 2 days, continue). */
export function waitFromArgs(args, defaultEvent) {
  const { amount, unit } = offsetToParts(args?.timeoutSeconds ?? 172800);
  return {
    eventName: args?.eventName ?? defaultEvent ?? "",
    match: args?.match ?? "",
    conditionsJson: args?.conditionsJson ?? null,
    amount,
    unit,
    onTimeout: args?.onTimeout ?? "continue",
  };
}

/** ``{args, errors}`` for a wait's state; errors in the API's format under ``locPrefix``. */
export function waitToArgs(wait, conditionsJson, locPrefix) {
  const errors = [];
  const args = { eventName: wait.eventName, match: String(wait.match ?? "").trim() };
  if (conditionsJson !== null && conditionsJson !== undefined) args.conditionsJson = unwrapSingle(conditionsJson);
  const timeout = partsToOffset({ direction: "after", amount: wait.amount, unit: wait.unit });
  if ("error" in timeout) errors.push({ loc: [...locPrefix, "args", "timeoutSeconds"], msg: timeout.error });
  else args.timeoutSeconds = timeout.value;
  args.onTimeout = wait.onTimeout;
  return { args, errors };
}

/**
 * Field paths a step's ``when`` may use: the trigger's, then ``waitedEvent`` and the data of the
 * events the earlier waits await (``waitedEvent.data.appointment.status``).
 */
export function whenFieldPaths(triggerSpec, awaitedSpecs) {
  const paths = [...(triggerSpec?.fieldPaths ?? [])];
  if (awaitedSpecs.length) paths.push("waitedEvent", "waitedEvent.id", "waitedEvent.name", "waitedEvent.occurredAt");
  for (const spec of awaitedSpecs) {
    for (const path of spec?.fieldPaths ?? []) {
      const full = `waitedEvent.data.${path}`;
      if (!paths.includes(full)) paths.push(full);
    }
  }
  return paths;
}

/**
 * The controls of a wait step; its conditions builder is kept on ``action.waitBuilder``.
 * ``redraw(focus)`` draws the steps again (another event: other fields to suggest).
 */
export function waitInputs({ action, index, catalog, trigger, onChange, redraw }) {
  const wait = action.wait;
  const key = `actionsJson.${index}.args`;
  const control = (tag, name, label, props, children) => {
    const id = uid("wait");
    const set = (event) => {
      if (wait[name] === event.target.value) return;
      wait[name] = event.target.value;
      if (name === "eventName") {
        wait.conditionsJson = null; // the fields of another event
        action.waitBuilder = null;
        redraw(`${action.id}:${name}`);
      } else onChange();
    };
    return h(
      "div",
      { class: "field" },
      h("label", { for: id }, label),
      h(tag, { id, "data-focus": `${action.id}:${name}`, onInput: set, onChange: set, ...props }, children),
    );
  };
  const pathsId = uid("wait-paths");
  const fieldsId = uid("wait-fields");
  const event = catalog.trigger(wait.eventName);
  const conditions = h("div", { class: "wait-conditions" });
  action.waitBuilder = createConditionBuilder({
    container: conditions,
    catalog,
    sampleData: () => catalog.trigger(wait.eventName)?.sampleData,
    onChange,
    rootLoc: ["actionsJson", index, "args", "conditionsJson"],
    fieldList: fieldsId,
  });
  action.waitBuilder.set(wait.conditionsJson);
  const eventSelect = control(
    "select",
    "eventName",
    "Wait for the event",
    { "data-loc": `${key}.eventName` },
    options(
      catalog.triggers.map((t) => t.name),
      wait.eventName,
    ),
  );
  return [
    eventSelect,
    control("input", "match", "whose field equals the trigger's", {
      "data-loc": `${key}.match`,
      list: pathsId,
      value: wait.match,
      autocomplete: "off",
      spellcheck: "false",
      placeholder: "e.g. appointment.id",
    }),
    h("datalist", { id: pathsId }, matchPaths(trigger(), event).map((path) => h("option", { value: path }))),
    h("datalist", { id: fieldsId }, (event?.fieldPaths ?? []).map((path) => h("option", { value: path }))),
    control("input", "amount", "Wait at most", {
      "data-loc": `${key}.timeoutSeconds`,
      value: String(wait.amount),
      inputmode: "decimal",
      autocomplete: "off",
      size: 6,
    }),
    control("select", "unit", "Timeout unit", {}, options(UNITS.map(([unit]) => unit), wait.unit)),
    control("select", "onTimeout", "If it does not come", { "data-loc": `${key}.onTimeout` }, options(ON_TIMEOUT, wait.onTimeout)),
    h(
      "div",
      { class: "field wide" },
      h("p", { class: "hint" }, "…and, optionally, only when that event's data matches:"),
      conditions,
    ),
  ];
}

/** "Only when…": a step's ``when``, its builder kept on ``action.whenBuilder``. */
export function whenEditor({ action, index, catalog, fieldPaths, onChange }) {
  const fieldsId = uid("when-fields");
  const container = h("div", { class: "when-conditions" });
  action.whenBuilder = createConditionBuilder({
    container,
    catalog,
    sampleData: () => null,
    onChange,
    rootLoc: ["actionsJson", index, "when"],
    fieldList: fieldsId,
  });
  action.whenBuilder.set(action.when ?? null);
  const details = h(
    "details",
    { class: "when", "data-loc": `actionsJson.${index}.when`, open: Boolean(action.when) },
    h("summary", {}, action.when ? "Only when… (set)" : "Only when…"),
    h(
      "p",
      { class: "hint" },
      "Run this step only when the condition holds on the event (and waitedEvent, after a wait); otherwise it is skipped.",
    ),
    h("datalist", { id: fieldsId }, fieldPaths.map((path) => h("option", { value: path }))),
    container,
  );
  return details;
}

/** Keep what the builders of ``action`` hold before the card is drawn again. */
export function keepBuilders(action) {
  if (action.whenBuilder) action.when = unwrapSingle(action.whenBuilder.read().json);
  if (action.waitBuilder && action.wait) action.wait.conditionsJson = action.waitBuilder.read().json;
}

/** ``{when, errors}`` of a step (when null: none). */
export function readWhen(action) {
  if (!action.whenBuilder) return { when: action.when ?? null, errors: [] };
  const read = action.whenBuilder.read();
  return { when: read.json === null ? null : unwrapSingle(read.json), errors: read.errors };
}
