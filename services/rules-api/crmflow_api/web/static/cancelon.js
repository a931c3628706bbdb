// The rule's cancelOn editor (SPEC section 8): "Stop waiting when [event] arrives whose [path]
// equals the trigger's, and [conditions]". Each entry's conditions use the condition builder,
// suggesting the fields of that event; a preset adds the common case in one click.
import { createConditionBuilder } from "./builder.js";
import { unwrapSingle } from "./conditions.js";
import { fill, h, options, uid } from "./dom.js";
import { APPOINTMENT_CANCELLED, matchPaths } from "./timing.js";

/** Entries go in ``list``; ``trigger()`` is the rule's trigger spec; ``onChange()`` on every edit. */
export function createCancelOnEditor({ list, addButton, presetButton, catalog, trigger, onChange }) {
  const max = catalog.limits.maxCancelOn ?? 5;
  let entries = [];
  let lastId = 0;

  function newEntry({ eventName, match, conditionsJson } = {}) {
    const entry = { id: ++lastId, eventName: eventName ?? catalog.triggers[0]?.name, match: match ?? "" };
    entry.conditionsJson = conditionsJson ?? null;
    return entry;
  }

  /** Entries are redrawn whole (their keys follow their index): conditions are kept as JSON. */
  function render(focus) {
    for (const entry of entries) if (entry.builder) entry.conditionsJson = entry.builder.read().json;
    fill(
      list,
      entries.map((entry, index) => renderEntry(entry, index)),
    );
    addButton.disabled = entries.length >= max;
    const presetFits = matchPaths(trigger(), catalog.trigger(APPOINTMENT_CANCELLED.eventName)).includes(
      APPOINTMENT_CANCELLED.match,
    );
    presetButton.hidden = !presetFits;
    presetButton.disabled = entries.length >= max;
    if (focus) list.parentElement.querySelector(`[data-focus="${focus}"]`)?.focus();
  }

  function restructure(focus) {
    onChange();
    render(focus);
  }

  function renderEntry(entry, index) {
    const key = `cancelOn.${index}`;
    const eventId = uid("cancel-event");
    const matchId = uid("cancel-match");
    const pathsId = uid("cancel-paths");
    const fieldsId = uid("cancel-fields");
    const event = catalog.trigger(entry.eventName);
    const conditions = h("div", { class: "cancel-conditions" });
    entry.builder = createConditionBuilder({
      container: conditions,
      catalog,
      sampleData: () => catalog.trigger(entry.eventName)?.sampleData,
      onChange,
      rootLoc: ["cancelOn", index, "conditionsJson"],
      fieldList: fieldsId,
    });
    entry.builder.set(entry.conditionsJson);
    return h(
      "li",
      { class: "cancel-entry", "data-loc": key, "data-label": `stop ${index + 1}` },
      h(
        "div",
        { class: "row" },
        h("label", { for: eventId }, "Stop waiting when this event arrives"),
        h(
          "select",
          {
            id: eventId,
            "data-loc": `${key}.eventName`,
            "data-focus": `${entry.id}:event`,
            onChange: (e) => {
              entry.eventName = e.target.value;
              restructure(`${entry.id}:event`);
            },
          },
          options(
            catalog.triggers.map((t) => t.name),
            entry.eventName,
          ),
        ),
        h("label", { for: matchId }, "whose field"),
        h("input", {
          id: matchId,
          list: pathsId,
          value: entry.match,
          autocomplete: "off",
          spellcheck: "false",
          placeholder: "e.g. appointment.id",
          "data-loc": `${key}.match`,
          onInput: (e) => {
            entry.match = e.target.value;
            onChange();
          },
        }),
        h("span", {}, "equals the trigger's"),
        h("span", { class: "spacer" }),
        h(
          "button",
          {
            type: "button",
            class: "quiet danger",
            "aria-label": `Remove stop ${index + 1}`,
            onClick: () => {
              entries.splice(index, 1);
              restructure("add-cancel");
            },
          },
          "Remove",
        ),
      ),
      h("datalist", { id: pathsId }, matchPaths(trigger(), event).map((path) => h("option", { value: path }))),
      h("datalist", { id: fieldsId }, (event?.fieldPaths ?? []).map((path) => h("option", { value: path }))),
      h("p", { class: "hint" }, "…and, optionally, only when that event's data matches:"),
      conditions,
    );
  }

  function add(fields) {
    if (entries.length >= max) return;
    const entry = newEntry(fields);
    entries.push(entry);
    restructure(`${entry.id}:event`);
  }

  addButton.dataset.focus = "add-cancel";
  addButton.addEventListener("click", () => add());
  presetButton.addEventListener("click", () => add(APPOINTMENT_CANCELLED));

  return {
    /** Show ``cancelOn`` (null: none). */
    set(cancelOn) {
      entries = (cancelOn ?? []).map((item) => newEntry(item));
      render();
    },
    /** Re-render, e.g. after the trigger changed (the match suggestions follow it). */
    refresh: () => render(),
    /** ``{json, errors}``: the cancelOn to send (null when empty) and the unreadable values. */
    read() {
      const errors = [];
      const json = entries.map((entry) => {
        const conditions = entry.builder.read();
        errors.push(...conditions.errors);
        const item = { eventName: entry.eventName, match: entry.match.trim() };
        if (conditions.json !== null) item.conditionsJson = unwrapSingle(conditions.json);
        return item;
      });
      return { json: json.length ? json : null, errors };
    },
  };
}
