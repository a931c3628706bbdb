// The action list editor: an ordered list of steps, each a type and typed arguments built from
// the catalog's argsSchema; steps can be added, moved up or down and removed. ``delay_until`` gets
// friendly controls instead (a date field of the trigger, before/after by an amount, a time of day),
// and so does ``wait_for_event``; every step has an "Only when…" condition (waitevent.js).
import { fill, h, options, uid } from "./dom.js";
import { argFields, argText, readArgs } from "./schemaform.js";
import { UNITS, dateFields, delayFromArgs, delayToArgs, placeholderPath } from "./timing.js";
import { WAIT_FOR_EVENT, keepBuilders, readWhen, waitFromArgs, waitInputs, waitToArgs, whenEditor, whenFieldPaths } from "./waitevent.js";
import { SEND_WEBHOOK, webhookTestPanel } from "./webhook.js";

const DELAY_UNTIL = "delay_until";

const SHORT_TEXT = 200; // longer single-line arguments (titles, subjects) get a whole row
const ARG_HINTS = {
  patientId: "Usually {patientId}: the patient of the event.",
  fields: 'JSON object, e.g. {"status": "inactive"}.',
  seconds: "Later actions run after this many seconds.",
  dueInSeconds: "Due this many seconds after the run.",
  url: "https:// address of the receiver; may hold placeholders such as {patientId}.",
  headers: 'JSON object, e.g. {"Authorization": "Bearer …"}.',
};

/**
 * Steps go in ``list`` (an <ol>); ``addButton`` appends one; ``onChange()`` runs on every edit;
 * ``sampleData()`` is the trigger's sample (its date fields are what delay_until waits for);
 * ``trigger()`` the trigger's catalog entry (the fields a wait_for_event may match on).
 */
export function createActionList({ list, addButton, catalog, sampleData, onChange, trigger = () => null, testWebhook }) {
  let actions = [];
  let lastId = 0;

  function newAction(type, texts = {}, args = {}, when = null) {
    const action = { id: ++lastId, type, texts: { ...texts }, delay: delayFromArgs(args), when };
    action.wait = waitFromArgs(type === WAIT_FOR_EVENT ? args : {}, catalog.triggers[0]?.name);
    withDefaults(action);
    return action;
  }

  /** The date fields of the trigger as placeholders, and the saved ``at`` if it is another one. */
  function dateChoices(at) {
    const choices = dateFields(sampleData()).map((path) => [`{${path}}`, path]);
    if (at && !choices.some(([value]) => value === at)) {
      choices.push([at, placeholderPath(at) ?? at]);
    }
    return choices;
  }

  /** A new step about the event's patient starts with {patientId}, what it almost always is;
   * a new delay_until waits for the trigger's first date field. */
  function withDefaults(action) {
    if (action.type === DELAY_UNTIL && !action.delay.at) action.delay.at = dateChoices("")[0]?.[0] ?? "";
    for (const field of argFields(catalog.argsSchema(action.type))) {
      if (field.name === "patientId" && field.required && !action.texts.patientId) {
        action.texts.patientId = "{patientId}";
      }
    }
  }

  function renderActions(focus) {
    actions.forEach(keepBuilders);
    fill(
      list,
      actions.map((action, index) => renderAction(action, index)),
    );
    if (focus) list.parentElement.querySelector(`[data-focus="${focus}"]`)?.focus();
  }

  function restructureActions(focus) {
    onChange();
    renderActions(focus);
  }

  function move(index, delta) {
    const [action] = actions.splice(index, 1);
    actions.splice(index + delta, 0, action);
    const edge = index + delta === 0 || index + delta === actions.length - 1;
    restructureActions(`${action.id}:${edge ? "type" : delta < 0 ? "up" : "down"}`);
  }

  function renderAction(action, index) {
    const key = `actionsJson.${index}`;
    const step = index + 1;
    const last = index === actions.length - 1;
    const typeId = uid("action");
    const type = h(
      "select",
      {
        id: typeId,
        "data-loc": `${key}.type`,
        "data-focus": `${action.id}:type`,
        onChange: (event) => {
          action.type = event.target.value;
          withDefaults(action);
          restructureActions(`${action.id}:type`);
        },
      },
      options(
        catalog.actions.map((a) => a.type),
        action.type,
      ),
    );
    return h(
      "li",
      { class: "action-card", "data-loc": key, "data-label": `step ${step}` },
      h(
        "div",
        { class: "row" },
        h("strong", { class: "step" }, `Step ${step}`),
        h("label", { for: typeId }, "Action"),
        type,
        h("span", { class: "spacer" }),
        h(
          "button",
          { type: "button", disabled: index === 0, "aria-label": `Move step ${step} up`, "data-focus": `${action.id}:up`, onClick: () => move(index, -1) },
          "↑ Up",
        ),
        h(
          "button",
          { type: "button", disabled: last, "aria-label": `Move step ${step} down`, "data-focus": `${action.id}:down`, onClick: () => move(index, 1) },
          "↓ Down",
        ),
        h(
          "button",
          {
            type: "button",
            class: "quiet danger",
            "aria-label": `Remove step ${step}`,
            onClick: () => {
              actions.splice(index, 1);
              restructureActions("add-action");
            },
          },
          "Remove",
        ),
      ),
      h(
        "div",
        { class: "action-args" },
        action.type === DELAY_UNTIL
          ? delayInputs(action, key)
          : action.type === WAIT_FOR_EVENT
            ? waitInputs({ action, index, catalog, trigger, onChange, redraw: restructureActions })
            : argFields(catalog.argsSchema(action.type)).map((field) => argInput(action, field, key)),
      ),
      whenEditor({ action, index, catalog, fieldPaths: whenFieldPaths(trigger(), awaitedBefore(index)), onChange }),
      action.type === SEND_WEBHOOK && testWebhook
        ? webhookTestPanel({
            readArgs: () => readArgs(argFields(catalog.argsSchema(action.type)), action.texts, ["body", "actionsJson", index]),
            testWebhook,
          })
        : null,
    );
  }

  /** The catalog entries of the events the waits before step ``index`` await. */
  function awaitedBefore(index) {
    return actions
      .slice(0, index)
      .filter((a) => a.type === WAIT_FOR_EVENT)
      .map((a) => catalog.trigger(a.wait.eventName))
      .filter(Boolean);
  }

  /** "Wait until [date field], [amount] [unit] [before/after], at [time of day]; if past [..]". */
  function delayInputs(action, key) {
    const delay = action.delay;
    const control = (tag, name, label, props, children) => {
      const id = uid("delay");
      const set = (event) => {
        delay[name] = event.target.value;
        onChange();
      };
      return h(
        "div",
        { class: "field" },
        h("label", { for: id }, label),
        h(tag, { id, "data-focus": `${action.id}:${name}`, onInput: set, onChange: set, ...props }, children),
      );
    };
    const args = `${key}.args`;
    return [
      control("select", "at", "Wait for the date", { "data-loc": `${args}.at` }, options(dateChoices(delay.at), delay.at)),
      control("input", "amount", "Amount", {
        "data-loc": `${args}.offsetSeconds`,
        value: String(delay.amount),
        inputmode: "decimal",
        autocomplete: "off",
        size: 6,
      }),
      control("select", "unit", "Unit", {}, options(UNITS.map(([unit]) => unit), delay.unit)),
      control("select", "direction", "Before or after", {}, options(["before", "after"], delay.direction)),
      control("input", "atLocalTime", "At time of day (optional, practice's zone)", {
        "data-loc": `${args}.atLocalTime`,
        type: "time",
        value: delay.atLocalTime,
      }),
      control(
        "select",
        "ifPast",
        "If that time has passed",
        { "data-loc": `${args}.ifPast` },
        options(
          [
            ["run", "continue at once"],
            ["skip", "skip the rest of the run"],
          ],
          delay.ifPast,
        ),
      ),
    ];
  }

  function argInput(action, field, key) {
    const id = uid("arg");
    const hintText = [ARG_HINTS[field.name], field.min !== undefined ? `${field.min} – ${field.max}` : null]
      .filter(Boolean)
      .join(" ");
    const hintId = hintText ? uid("hint") : null;
    const common = {
      id,
      "data-loc": `${key}.args.${field.name}`,
      "data-focus": `${action.id}:${field.name}`,
      "aria-describedby": hintId,
      "aria-required": field.required ? "true" : null,
      value: action.texts[field.name] ?? "",
      spellcheck: field.kind === "json" ? "false" : null,
      maxlength: field.maxLength ?? null,
      onInput: (event) => {
        action.texts[field.name] = event.target.value;
        onChange();
      },
    };
    const control =
      field.kind === "text" || field.kind === "json"
        ? h("textarea", { ...common, rows: field.kind === "json" ? 2 : 3 })
        : h("input", { ...common, autocomplete: "off", inputmode: field.kind === "number" ? "numeric" : null });
    return h(
      "div",
      { class: field.kind === "text" || (field.maxLength ?? 0) > SHORT_TEXT ? "field wide" : "field" },
      h("label", { for: id }, field.label, field.required ? "" : h("span", { class: "muted" }, " (optional)")),
      control,
      hintId ? h("p", { class: "hint", id: hintId }, hintText) : null,
    );
  }

  function readStep(action, index, errors) {
    if (action.type === DELAY_UNTIL) {
      const read = delayToArgs(action.delay, ["body", "actionsJson", index]);
      errors.push(...read.errors);
      return { type: action.type, args: read.args };
    }
    if (action.type === WAIT_FOR_EVENT) {
      const conditions = action.waitBuilder?.read() ?? { json: action.wait.conditionsJson, errors: [] };
      errors.push(...conditions.errors);
      const read = waitToArgs(action.wait, conditions.json, ["body", "actionsJson", index]);
      errors.push(...read.errors);
      return { type: action.type, args: read.args };
    }
    const read = readArgs(argFields(catalog.argsSchema(action.type)), action.texts, ["body", "actionsJson", index]);
    errors.push(...read.errors);
    return { type: action.type, args: read.args };
  }

  addButton.dataset.focus = "add-action";
  addButton.addEventListener("click", () => {
    const action = newAction(catalog.actions[0]?.type);
    actions.push(action);
    restructureActions(`${action.id}:type`);
  });

  return {
    /** Show ``actionsJson`` (null: one empty step of the first type). */
    set(actionsJson) {
      actions = (actionsJson ?? [{ type: catalog.actions[0]?.type, args: {} }]).map((item) => {
        const fields = argFields(catalog.argsSchema(item.type));
        const texts = Object.fromEntries(fields.map((f) => [f.name, argText(f, item.args?.[f.name])]));
        const saved = item.type === DELAY_UNTIL || item.type === WAIT_FOR_EVENT ? item.args : {};
        return newAction(item.type, texts, saved, item.when ?? null);
      });
      renderActions();
    },
    /** Re-render, e.g. after the trigger (and with it its date fields) changed. */
    refresh: () => renderActions(),
    /** ``{json, errors}``: the actionsJson to send and the arguments that could not be read. */
    read() {
      const errors = [];
      const json = actions.map((action, index) => {
        const item = readStep(action, index, errors);
        const when = readWhen(action);
        errors.push(...when.errors);
        if (when.when !== null) item.when = when.when;
        return item;
      });
      return { json, errors };
    },
  };
}
