// The condition builder: nested groups (all/any/not) of leaves (field, operator, typed value).
// It edits a model from conditions.js in place; structural edits re-render it and put the focus
// back on the control that was used. Every control carries data-loc, its path in the request body,
// so the API's 422 errors land next to it.
import * as cond from "./conditions.js";
import { fill, h, options, uid } from "./dom.js";

const GROUP_LABELS = { and: "ALL (and)", or: "ANY (or)", not: "NOT" };
const OPERATOR_LABELS = { equals: "equals", not_equals: "does not equal", greater_than: ">", less_than: "<" };

/**
 * ``sampleData()`` gives the event's data for field hints; ``onChange()`` runs on every edit;
 * ``rootLoc`` is where the conditions sit in the request body; ``fieldList`` the id of the
 * <datalist> suggesting field paths.
 */
export function createConditionBuilder({
  container,
  catalog,
  sampleData,
  onChange,
  rootLoc = ["conditionsJson"],
  fieldList = "field-paths",
}) {
  let root = cond.newGroup("and");

  function renderBuilder(focus) {
    fill(container, renderGroup(root, rootLoc, null));
    if (focus) container.querySelector(`[data-focus="${focus}"]`)?.focus();
  }

  function structural(focus) {
    onChange();
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
        catalog.groupOperators.map((op) => [op, GROUP_LABELS[op] ?? op]),
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
            disabled: full || depth + 1 >= (catalog.limits.maxConditionDepth ?? 32),
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
    const sample = () => cond.sampleValue(sampleData(), leaf.field.trim());
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
      list: fieldList,
      value: leaf.field,
      autocomplete: "off",
      spellcheck: "false",
      placeholder: "e.g. patient.email",
      "data-loc": `${key}.field`,
      "data-focus": `${leaf.id}:field`,
      onInput: (event) => {
        leaf.field = event.target.value;
        onChange();
        showHint();
      },
      onChange: () => {
        // A new field with no value typed yet: offer the sample's type. Only the value controls
        // are redrawn, so the focus stays where Tab took it.
        const type = cond.defaultValueType(leaf.operator, sample());
        if (leaf.valueText === "" && catalog.needsValue(leaf.operator) && type !== leaf.valueType) {
          leaf.valueType = type;
          fill(valueArea, valueControls(leaf, key));
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
        catalog.leafOperators.map((op) => [op.name, OPERATOR_LABELS[op.name] ?? op.name.replaceAll("_", " ")]),
        leaf.operator,
      ),
    );
    const valueArea = h(
      "div",
      { class: "value-area" },
      catalog.needsValue(leaf.operator) ? valueControls(leaf, key) : h("div", { class: "field muted" }, "(no value)"),
    );
    return h(
      "div",
      { class: "cond-leaf", "data-loc": key, "data-label": "condition" },
      h("div", { class: "field" }, h("label", { for: fieldId }, "Field"), field, hint),
      h("div", { class: "field" }, h("label", { for: operatorId }, "Operator"), operator),
      valueArea,
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
        onChange();
      },
      onChange: (event) => {
        leaf.valueText = event.target.value;
        onChange();
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

  return {
    /** Show ``conditionsJson`` (null: no conditions). */
    set(conditionsJson) {
      root = cond.fromJson(conditionsJson);
      renderBuilder();
    },
    /** Re-render, e.g. after the trigger (and with it the sample data) changed. */
    refresh: () => renderBuilder(),
    /** ``{json, errors}`` as conditions.toJson gives them. */
    read: () => cond.toJson(root, (op) => catalog.needsValue(op), rootLoc),
  };
}
