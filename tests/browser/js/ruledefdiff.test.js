import { diffDefinitions, lineDiff, pretty, summarize } from "/static/ruledefdiff.js";
import { deepEqual, equal } from "/js/assert.js";

const V1 = {
  name: "Welcome",
  enabled: true,
  triggerEvent: "crm/patient.created",
  conditionsJson: null,
  actionsJson: [{ type: "create_note", args: { patientId: "{patientId}", body: "Hi" } }],
  cancelOn: null,
};

export const tests = {
  "a line diff keeps common lines and marks removals before additions"() {
    deepEqual(lineDiff(["a", "b", "c"], ["a", "x", "c", "d"]), [
      { op: " ", text: "a" },
      { op: "-", text: "b" },
      { op: "+", text: "x" },
      { op: " ", text: "c" },
      { op: "+", text: "d" },
    ]);
    deepEqual(lineDiff([], ["n"]), [{ op: "+", text: "n" }]);
    deepEqual(lineDiff(["o"], []), [{ op: "-", text: "o" }]);
  },
  "identical definitions have no changed field, whatever their key order"() {
    const reordered = { ...V1, actionsJson: [{ args: { body: "Hi", patientId: "{patientId}" }, type: "create_note" }] };
    const diff = diffDefinitions(V1, reordered);
    equal(diff.some((d) => d.changed), false);
    equal(summarize(diff), "No differences");
  },
  "a changed action body shows as one removed and one added line"() {
    const v2 = { ...V1, enabled: false, actionsJson: [{ type: "create_note", args: { patientId: "{patientId}", body: "Hello" } }] };
    const diff = diffDefinitions(V1, v2);
    const actions = diff.find((d) => d.field === "actionsJson");
    equal(actions.changed, true);
    deepEqual(
      actions.lines.filter((l) => l.op !== " "),
      [
        { op: "-", text: '      "body": "Hi",' },
        { op: "+", text: '      "body": "Hello",' },
      ],
    );
    deepEqual(diff.find((d) => d.field === "enabled").lines, [
      { op: "-", text: "true" },
      { op: "+", text: "false" },
    ]);
    equal(summarize(diff), "Enabled and Actions changed");
  },
  "missing values read as none (conditions added)"() {
    equal(pretty(undefined), "none");
    const diff = diffDefinitions(V1, { ...V1, conditionsJson: { field: "patient.email", operator: "exists" } });
    const conditions = diff.find((d) => d.field === "conditionsJson");
    equal(conditions.lines[0].op, "-");
    equal(conditions.lines[0].text, "none");
    equal(summarize(diff), "Conditions changed");
  },
};
