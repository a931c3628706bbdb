// The create/edit form: name, trigger, condition builder, action list, dry-run preview and Test.
// The model (state) is the source of truth; structural edits re-render the builder or the action
// list and put the focus back on the control that was used.
import { describeError } from "./api.js";
import * as cond from "./conditions.js";
import { fill, h, json, options, uid } from "./dom.js";
import { placeErrors } from "./errors.js";
import { renderTrace, runTest } from "./runsui.js";
import { argFields, argText, readArgs } from "./schemaform.js";

const GROUP_LABELS = { and: "ALL (and)", or: "ANY (or)", not: "NOT" };
const OPERATOR_LABELS = { equals: "equals", not_equals: "does not equal", greater_than: ">", less_than: "<" };
const ARG_HINTS = {
  patientId: "Usually {patientId}: the patient of the event.",
  fields: 'JSON object, e.g. {"status": "inactive"}.',
  seconds: "Later actions run after this many seconds.",
  dueInSeconds: "Due this many seconds after the run.",
};

export function createEditor(ctx) {
  const $ = (id) => document.getElementById(id);
  const form = $("rule-form");
  const nameInput = $("rule-name");
  const triggerSelect = $("rule-trigger");
  const enabledInput = $("rule-enabled");
  const builder = $("condition-builder");
  const actionList = $("action-list");
  const sampleInput = $("sample-data");
  const summary = $("form-errors");
  const testButton = $("test-rule");
  const deleteButton = $("delete-rule");
  const saveState = $("save-state");
  const state = { ruleId: null, version: null, root: cond.newGroup(), actions: [], dirty: false };
  let actionIds = 0;

  const catalog = () => ctx.catalog;
  const trigger = () => catalog().trigger(triggerSelect.value);

  function newAction(type, texts = {}) {
    const action = { id: ++actionIds, type, texts: { ...texts } };
    withDefaults(action);
    return action;
  }

  function withDefaults(action) {
    for (const field of argFields(catalog().argsSchema(action.type))) {
      if (field.name === "patientId" && field.required && !action.texts.patientId) {
        action.texts.patientId = "{patientId}";
      }
    }
  }

  function changed() {
    state.dirty = true;
    saveState.textContent = state.ruleId ? "Unsaved changes" : "";
  }

  function focusKey(key) {
    if (key) form.querySelector(`[data-focus="${key}"]`)?.focus();
  }

  // --- the trigger: field suggestions, placeholders, sample data ------------------------------

  function applyTrigger({ resetSample }) {
    const spec = trigger();
    fill($("field-paths"), (spec?.fieldPaths ?? []).map((path) => h("option", { value: path })));
    $("rule-trigger-hint").textContent = spec?.description ?? "";
    fill(
      $("placeholder-list"),
      ["patientId", "eventId", "eventName", "entityId", ...(spec?.fieldPaths ?? [])].map((path, i) => [
        i ? ", " : "",
        h("code", {}, `{${path}}`),
      ]),
    );
    if (resetSample) sampleInput.value = json(spec?.sampleData ?? {});
  }

  /** The sample data as typed, or ``{error}``; ``edited`` tells whether it differs from the catalog's. */
  function readSample() {
    try {
      const data = JSON.parse(sampleInput.value);
      return { data, edited: JSON.stringify(data) !== JSON.stringify(trigger()?.sampleData ?? {}) };
    } catch (error) {
      return { error: `not valid JSON (${error.message})` };
    }
  }

  // --- the condition builder -------------------------------------------------------------------

  function renderBuilder(focus) {
    fill(builder, renderGroup(state.root, ["conditionsJson"], null));
    focusKey(focus);
  }

  function structural(focus) {
    changed();
    renderBuilder(focus);
  }

  function renderGroup(group, loc, parent) {
    const key = loc.join(".");
    const labelId = uid("group");
    const select = h(
      "select",
      {
        "aria-labelledby": labelId,
        "data-loc": `${key}.operator`,
        "data-focus": `${group.id}:operator`,
        onChange: (event) => {
          cond.setGroupOperator(group, event.target.value);
          structural(`${group.id}:operator`);
        },
      },
      options(
        catalog().groupOperators.map((op) => [op, GROUP_LABELS[op] ?? op]),
        group.operator,
      ),
    );
    const full = group.operator === "not" && group.children.length >= 1;
    const depth = loc.filter((part) => part === "conditions").length;
    return h(
      "div",
      {
        class: parent ? "cond-group nested" : "cond-group",
        role: "group",
        "aria-labelledby": labelId,
        "data-loc": parent ? key : null,
        "data-label": `condition group ${depth}`,
      },
      h(
        "div",
        { class: "row" },
        h("span", { id: labelId }, parent ? "Group: match" : "Match"),
        select,
        h("span", {}, group.operator === "not" ? "— the condition below must not hold" : "of these conditions"),
        parent ? removeButton(group, parent, "Remove group") : null,
      ),
      group.children.length
        ? h(
            "ul",
            { class: "cond-items" },
            group.children.map((child, i) =>
              h(
                "li",
                {},
                child.kind === "group"
                  ? renderGroup(child, [...loc, "conditions", i], group)
                  : renderLeaf(child, [...loc, "conditions", i], group),
              ),
            ),
          )
        : h("p", { class: "muted" }, parent ? "Empty group." : "No conditions: the rule runs on every event."),
      h(
        "div",
        { class: "row" },
        h(
          "button",
          {
            type: "button",
            disabled: full,
            "data-focus": `${group.id}:add`,
            onClick: () => {
              const leaf = cond.newLeaf();
              group.children.push(leaf);
              structural(`${leaf.id}:field`);
            },
          },
          "Add condition",
        ),
        h(
          "button",
          {
            type: "button",
            disabled: full || depth + 1 >= (catalog().limits.maxConditionDepth ?? 32),
            onClick: () => {
              const leaf = cond.newLeaf();
              group.children.push(cond.newGroup(group.operator === "and" ? "or" : "and", [leaf]));
              structural(`${leaf.id}:field`);
            },
          },
          "Add group",
        ),
      ),
    );
  }

  function removeButton(node, parent, label) {
    return h(
      "button",
      {
        type: "button",
        class: "quiet danger",
        "aria-label": label,
        onClick: () => {
          parent.children = parent.children.filter((child) => child !== node);
          structural(`${parent.id}:add`);
        },
      },
      "Remove",
    );
  }

  function renderLeaf(leaf, loc, parent) {
    const key = loc.join(".");
    const sample = () => cond.sampleValue(trigger()?.sampleData, leaf.field.trim());
    const hint = h("span", { class: "hint sample" });
    const showHint = () => {
      const value = sample();
      hint.textContent = value === undefined ? "" : `sample: ${JSON.stringify(value)}`;
    };
    showHint();
    const fieldId = uid("field");
    const operatorId = uid("op");
    const field = h("input", {
      id: fieldId,
      list: "field-paths",
      value: leaf.field,
      autocomplete: "off",
      spellcheck: "false",
      placeholder: "e.g. patient.email",
      "data-loc": `${key}.field`,
      "data-focus": `${leaf.id}:field`,
      onInput: (event) => {
        leaf.field = event.target.value;
        changed();
        showHint();
      },
      onChange: () => {
        if (leaf.valueText === "" && catalog().needsValue(leaf.operator)) {
          leaf.valueType = cond.defaultValueType(leaf.operator, sample());
          structural(`${leaf.id}:field`);
        }
      },
    });
    const operator = h(
      "select",
      {
        id: operatorId,
        "data-loc": `${key}.operator`,
        "data-focus": `${leaf.id}:operator`,
        onChange: (event) => {
          leaf.operator = event.target.value;
          if (leaf.valueText === "") leaf.valueType = cond.defaultValueType(leaf.operator, sample());
          structural(`${leaf.id}:operator`);
        },
      },
      options(
        catalog().leafOperators.map((op) => [op.name, OPERATOR_LABELS[op.name] ?? op.name.replaceAll("_", " ")]),
        leaf.operator,
      ),
    );
    return h(
      "div",
      { class: "cond-leaf", "data-loc": key, "data-label": "condition" },
      h("div", { class: "field" }, h("label", { for: fieldId }, "Field"), field, hint),
      h("div", { class: "field" }, h("label", { for: operatorId }, "Operator"), operator),
      catalog().needsValue(leaf.operator) ? valueControls(leaf, key) : h("div", { class: "field muted" }, "(no value)"),
      h("div", { class: "field end" }, removeButton(leaf, parent, "Remove condition")),
    );
  }

  function valueControls(leaf, key) {
    const typeId = uid("type");
    const valueId = uid("value");
    const type = h(
      "select",
      {
        id: typeId,
        "data-focus": `${leaf.id}:type`,
        onChange: (event) => {
          leaf.valueType = event.target.value;
          if (leaf.valueType === "boolean") leaf.valueText = "true";
          structural(`${leaf.id}:type`);
        },
      },
      options(cond.VALUE_TYPES, leaf.valueType),
    );
    const common = {
      id: valueId,
      "data-loc": `${key}.value`,
      "data-focus": `${leaf.id}:value`,
      onInput: (event) => {
        leaf.valueText = event.target.value;
        changed();
      },
      onChange: (event) => {
        leaf.valueText = event.target.value;
        changed();
      },
    };
    let value;
    if (leaf.valueType === "boolean") {
      value = h("select", common, options(["true", "false"], leaf.valueText));
    } else if (leaf.valueType === "null") {
      value = h("input", { ...common, value: "null", disabled: true });
    } else if (leaf.valueType === "json") {
      value = h("textarea", { ...common, rows: 1, spellcheck: "false", placeholder: '["a", "b"]', value: leaf.valueText });
    } else {
      value = h("input", {
        ...common,
        value: leaf.valueText,
        autocomplete: "off",
        inputmode: leaf.valueType === "number" ? "decimal" : null,
      });
    }
    return [
      h("div", { class: "field" }, h("label", { for: typeId }, "Type"), type),
      h("div", { class: "field grow" }, h("label", { for: valueId }, "Value"), value),
    ];
  }

  // --- the action list -------------------------------------------------------------------------

  function renderActions(focus) {
    fill(
      actionList,
      state.actions.map((action, index) => renderAction(action, index)),
    );
    focusKey(focus);
  }

  function restructureActions(focus) {
    changed();
    renderActions(focus);
  }

  function move(index, delta) {
    const [action] = state.actions.splice(index, 1);
    state.actions.splice(index + delta, 0, action);
    const edge = index + delta === 0 || index + delta === state.actions.length - 1;
    restructureActions(`${action.id}:${edge ? "type" : delta < 0 ? "up" : "down"}`);
  }

  function renderAction(action, index) {
    const key = `actionsJson.${index}`;
    const step = index + 1;
    const last = index === state.actions.length - 1;
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
        catalog().actions.map((a) => a.type),
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
              state.actions.splice(index, 1);
              restructureActions("add-action");
            },
          },
          "Remove",
        ),
      ),
      h(
        "div",
        { class: "action-args" },
        argFields(catalog().argsSchema(action.type)).map((field) => argInput(action, field, key)),
      ),
    );
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
        changed();
      },
    };
    const control =
      field.kind === "text" || field.kind === "json"
        ? h("textarea", { ...common, rows: field.kind === "json" ? 2 : 3 })
        : h("input", { ...common, autocomplete: "off", inputmode: field.kind === "number" ? "numeric" : null });
    return h(
      "div",
      { class: field.kind === "text" ? "field wide" : "field" },
      h("label", { for: id }, field.label, field.required ? "" : h("span", { class: "muted" }, " (optional)")),
      control,
      hintId ? h("p", { class: "hint", id: hintId }, hintText) : null,
    );
  }

  // --- errors next to their fields -------------------------------------------------------------

  function target(key) {
    return form.querySelector(`[data-loc="${CSS.escape(key)}"]`);
  }

  function clearErrors() {
    form.querySelectorAll(".field-error.placed").forEach((el) => el.remove());
    form.querySelectorAll("[aria-invalid]").forEach((el) => {
      el.removeAttribute("aria-invalid");
      const ids = (el.getAttribute("aria-describedby") ?? "").split(" ").filter((i) => !i.startsWith("err-"));
      if (ids.length) el.setAttribute("aria-describedby", ids.join(" "));
      else el.removeAttribute("aria-describedby");
    });
    form.querySelectorAll(".invalid").forEach((el) => el.classList.remove("invalid"));
    summary.hidden = true;
    summary.replaceChildren();
  }

  function labelOf(el) {
    return el.labels?.[0]?.textContent.trim() || el.dataset.label || el.getAttribute("aria-label") || "form";
  }

  function attachError(el, msg) {
    const error = h("p", { class: "field-error placed", id: uid("err") }, msg);
    if (el.matches("input, select, textarea")) {
      el.setAttribute("aria-invalid", "true");
      el.setAttribute("aria-describedby", `${el.getAttribute("aria-describedby") ?? ""} ${error.id}`.trim());
      el.after(error);
    } else {
      el.classList.add("invalid");
      const head = el.querySelector(":scope > legend, :scope > .row");
      if (head) head.after(error);
      else el.prepend(error);
    }
  }

  /** Show 422 items (or the form's own parse errors) next to their fields and in a summary. */
  function showErrors(detail) {
    const placed = placeErrors(detail, (key) => target(key) !== null);
    const items = placed.map(({ key, msg, where }) => {
      const el = key ? target(key) : null;
      if (el) attachError(el, msg);
      return h(
        "li",
        {},
        el
          ? h("button", { type: "button", class: "link", onClick: () => (el.matches("input, select, textarea") ? el : el.querySelector("input, select, textarea, button") ?? el).focus() }, labelOf(el))
          : h("code", {}, where || "request"),
        `: ${msg}`,
      );
    });
    fill(summary, h("p", {}, h("strong", {}, items.length === 1 ? "1 problem" : `${items.length} problems`), " to fix:"), h("ul", {}, items));
    summary.hidden = false;
    summary.focus();
  }

  function showFailure(error) {
    if (error.fieldErrors?.length) showErrors(error.fieldErrors);
    else showErrors([{ loc: [], msg: describeError(error) }]);
  }

  // --- save, dry-run, test, delete -------------------------------------------------------------

  function collect() {
    const { json: conditionsJson, errors } = cond.toJson(state.root, (op) => catalog().needsValue(op));
    const actionsJson = state.actions.map((action, index) => {
      const fields = argFields(catalog().argsSchema(action.type));
      const read = readArgs(fields, action.texts, ["body", "actionsJson", index]);
      errors.push(...read.errors);
      return { type: action.type, args: read.args };
    });
    const body = {
      name: nameInput.value,
      enabled: enabledInput.checked,
      triggerEvent: triggerSelect.value,
      conditionsJson,
      actionsJson,
    };
    return { body, errors };
  }

  function showSaved(rule) {
    state.ruleId = rule.id;
    state.version = rule.version;
    state.dirty = false;
    $("editor-title").textContent = `Edit rule: ${rule.name}`;
    testButton.disabled = false;
    deleteButton.hidden = false;
    saveState.textContent = `Saved · version ${rule.version}`;
  }

  async function save() {
    clearErrors();
    const { body, errors } = collect();
    if (errors.length) {
      showErrors(errors);
      return null;
    }
    try {
      const creating = !state.ruleId;
      const rule = creating
        ? (await ctx.api.post("/api/automations", body)).body
        : await ctx.api.patch(`/api/automations/${state.ruleId}`, body);
      showSaved(rule);
      ctx.rulesChanged();
      ctx.remember("editor", { ruleId: rule.id });
      ctx.notify(creating ? `Rule “${rule.name}” created.` : `Rule “${rule.name}” saved.`);
      return rule;
    } catch (error) {
      showFailure(error);
      return null;
    }
  }

  async function dryRun() {
    clearErrors();
    const result = $("dry-run-result");
    const { json: conditionsJson, errors } = cond.toJson(state.root, (op) => catalog().needsValue(op));
    const sample = readSample();
    if (sample.error) errors.push({ loc: ["body", "data"], msg: sample.error });
    if (errors.length) {
      result.replaceChildren();
      showErrors(errors);
      return;
    }
    try {
      const { body } = await ctx.api.post("/api/automations/dry-run", { conditionsJson, data: sample.data });
      fill(
        result,
        h(
          "p",
          { class: body.matched ? "outcome pass" : "outcome fail" },
          body.matched ? "Matches: the actions would run." : "Does not match: the run would be skipped.",
        ),
        renderTrace(body.trace),
      );
    } catch (error) {
      result.replaceChildren();
      showFailure(error);
    }
  }

  async function test() {
    const sample = readSample();
    if (sample.error) {
      clearErrors();
      showErrors([{ loc: ["body", "data"], msg: sample.error }]);
      return;
    }
    if ((!state.ruleId || state.dirty) && !(await save())) return;
    const body = sample.edited ? { data: sample.data } : {};
    testButton.disabled = true;
    try {
      await runTest($("editor-test"), ctx, () => ctx.api.post(`/api/automations/${state.ruleId}/test`, body));
    } finally {
      testButton.disabled = false;
    }
    $("editor-test").scrollIntoView({ block: "nearest" });
  }

  async function remove() {
    if (!window.confirm(`Delete the rule “${nameInput.value}”? Its run history stays.`)) return;
    try {
      await ctx.api.del(`/api/automations/${state.ruleId}`);
      ctx.rulesChanged();
      ctx.notify("Rule deleted.");
      ctx.navigate("rules");
    } catch (error) {
      showFailure(error);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save();
  });
  form.addEventListener("input", (event) => {
    if (event.target === nameInput || event.target === enabledInput) changed();
  });
  enabledInput.addEventListener("change", changed);
  triggerSelect.addEventListener("change", () => {
    changed();
    applyTrigger({ resetSample: true });
    renderBuilder();
    ctx.notify("Trigger changed: sample data and field suggestions now follow it.");
  });
  $("add-action").addEventListener("click", () => {
    const action = newAction(catalog().actions[0]?.type);
    state.actions.push(action);
    restructureActions(`${action.id}:type`);
  });
  $("add-action").dataset.focus = "add-action";
  $("dry-run-button").addEventListener("click", dryRun);
  $("reset-sample").addEventListener("click", () => applyTrigger({ resetSample: true }));
  testButton.addEventListener("click", test);
  deleteButton.addEventListener("click", remove);

  return {
    /** Open the form for the rule ``ruleId``, or empty for a new rule. */
    async open({ ruleId } = {}) {
      clearErrors();
      $("editor-test").replaceChildren();
      $("dry-run-result").replaceChildren();
      fill(
        triggerSelect,
        catalog().triggers.map((t) => h("option", { value: t.name }, t.name)),
      );
      state.ruleId = null;
      state.dirty = false;
      saveState.textContent = "";
      testButton.disabled = true;
      deleteButton.hidden = true;
      $("editor-title").textContent = "Create rule";
      if (ruleId) {
        const rule = await ctx.api.get(`/api/automations/${ruleId}`);
        nameInput.value = rule.name;
        enabledInput.checked = rule.enabled;
        triggerSelect.value = rule.triggerEvent;
        state.root = cond.fromJson(rule.conditionsJson);
        state.actions = rule.actionsJson.map((item) => {
          const fields = argFields(catalog().argsSchema(item.type));
          return newAction(item.type, Object.fromEntries(fields.map((f) => [f.name, argText(f, item.args?.[f.name])])));
        });
        showSaved(rule);
      } else {
        nameInput.value = "";
        enabledInput.checked = true;
        triggerSelect.selectedIndex = 0;
        state.root = cond.newGroup("and");
        state.actions = [newAction(catalog().actions[0]?.type)];
      }
      applyTrigger({ resetSample: true });
      renderBuilder();
      renderActions();
    },
  };
}
