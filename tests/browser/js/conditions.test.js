import * as cond from "/static/conditions.js";
import { deepEqual, equal, ok } from "/js/assert.js";

const needsValue = (op) => !fixtures.noValue.includes(op);

const NESTED = {
  operator: "and",
  conditions: [
    { field: "patient.email", operator: "exists" },
    { field: "patient.tags", operator: "contains", value: "vip" },
    {
      operator: "or",
      conditions: [
        { field: "appointment.visitType", operator: "in", value: ["Consultation", "Follow-up"] },
        { field: "patient.age", operator: "greater_than", value: 17.5 },
        { field: "patient.active", operator: "equals", value: true },
        { field: "patient.nextFollowUpAt", operator: "equals", value: null },
      ],
    },
    { operator: "not", conditions: [{ field: "patient.status", operator: "equals", value: "archived" }] },
  ],
};

export const tests = {
  "a lone condition of an and group is sent as itself"() {
    const leaf = { field: "changes.status", operator: "changed_to", value: "cancelled" };
    deepEqual(cond.unwrapSingle({ operator: "and", conditions: [leaf] }), leaf);
    const two = { operator: "and", conditions: [leaf, leaf] };
    deepEqual(cond.unwrapSingle(two), two);
    const nested = { operator: "and", conditions: [{ operator: "or", conditions: [leaf] }] };
    deepEqual(cond.unwrapSingle(nested), nested);
    deepEqual(cond.unwrapSingle({ operator: "or", conditions: [leaf] }), { operator: "or", conditions: [leaf] });
    equal(cond.unwrapSingle(null), null);
  },
  "no conditions is an empty root, sent as null"() {
    for (const empty of [null, undefined, {}]) {
      const root = cond.fromJson(empty);
      equal(root.kind, "group");
      equal(root.children.length, 0);
      deepEqual(cond.toJson(root, needsValue), { json: null, errors: [] });
    }
  },
  "nested groups and every value type survive a round trip"() {
    deepEqual(cond.toJson(cond.fromJson(NESTED), needsValue), { json: NESTED, errors: [] });
  },
  "a bare leaf is wrapped in an and-group"() {
    const leaf = { field: "patient.status", operator: "equals", value: "active" };
    deepEqual(cond.toJson(cond.fromJson(leaf), needsValue).json, { operator: "and", conditions: [leaf] });
  },
  "not with 'condition' becomes not with one 'conditions' item"() {
    const inner = { field: "patient.email", operator: "exists" };
    const root = cond.fromJson({ operator: "not", condition: inner });
    deepEqual(cond.toJson(root, needsValue).json, { operator: "not", conditions: [inner] });
  },
  "operators without a value send none"() {
    const root = cond.newGroup("and", [cond.newLeaf("patient.email", "exists")]);
    root.children[0].valueText = "left over";
    deepEqual(cond.toJson(root, needsValue).json.conditions[0], { field: "patient.email", operator: "exists" });
  },
  "a value that cannot be parsed is an error at the API's loc, not a request"() {
    const bad = cond.newLeaf("patient.age", "greater_than");
    bad.valueType = "number";
    bad.valueText = "twelve";
    const list = cond.newLeaf("patient.tags", "in");
    list.valueType = "json";
    list.valueText = "[1, 2";
    const root = cond.newGroup("and", [cond.newLeaf("patient.email", "exists"), cond.newGroup("or", [bad, list])]);
    const { errors } = cond.toJson(root, needsValue);
    deepEqual(
      errors.map((e) => e.loc),
      [
        ["body", "conditionsJson", "conditions", 1, "conditions", 0, "value"],
        ["body", "conditionsJson", "conditions", 1, "conditions", 1, "value"],
      ],
    );
    equal(errors[0].msg, "enter a number");
    ok(errors[1].msg.startsWith("not valid JSON"), "JSON message");
  },
  "typed values parse exactly"() {
    deepEqual(cond.parseValue("number", " 42 "), { value: 42 });
    deepEqual(cond.parseValue("number", "-1.5e2"), { value: -150 });
    ok("error" in cond.parseValue("number", ""), "empty number is an error");
    ok("error" in cond.parseValue("number", "Infinity"), "Infinity is an error");
    deepEqual(cond.parseValue("boolean", "false"), { value: false });
    ok("error" in cond.parseValue("boolean", "yes"), "yes is not a boolean");
    deepEqual(cond.parseValue("null", "anything"), { value: null });
    deepEqual(cond.parseValue("string", " 1 "), { value: " 1 " });
    deepEqual(cond.parseValue("json", '["a", 1]'), { value: ["a", 1] });
  },
  "switching a group of several to not wraps them in and"() {
    const group = cond.newGroup("or", [cond.newLeaf("a"), cond.newLeaf("b")]);
    cond.setGroupOperator(group, "not");
    equal(group.operator, "not");
    equal(group.children.length, 1);
    equal(group.children[0].operator, "and");
    equal(group.children[0].children.length, 2);
  },
  "sample values and default types follow the trigger's sample data"() {
    const data = fixtures.triggers.find((t) => t.name === "crm/appointment.created").sampleData;
    equal(cond.sampleValue(data, "patient.firstName"), data.patient.firstName);
    equal(cond.sampleValue(data, "patient.tags.0"), data.patient.tags[0]);
    equal(cond.sampleValue(data, "patient.nope"), undefined);
    equal(cond.defaultValueType("equals", "x"), "string");
    equal(cond.defaultValueType("equals", 3), "number");
    equal(cond.defaultValueType("equals", false), "boolean");
    equal(cond.defaultValueType("in", "x"), "json");
    equal(cond.defaultValueType("within_next", undefined), "string");
  },
};
