import { argFields, argText, humanize, readArg, readArgs } from "/static/schemaform.js";
import { deepEqual, equal, ok } from "/js/assert.js";

const fieldsOf = (type) => Object.fromEntries(argFields(fixtures.argsSchemas[type]).map((f) => [f.name, f]));

export const tests = {
  "labels read like words"() {
    equal(humanize("dueInSeconds"), "Due in seconds");
    equal(humanize("patientId"), "Patient ID");
    equal(humanize("body"), "Body");
  },
  "create_task: required title, optional long description, bounded integer"() {
    const f = fieldsOf("create_task");
    deepEqual(Object.keys(f), ["title", "description", "dueInSeconds", "patientId", "assignee"]);
    equal(f.title.required, true);
    equal(f.title.kind, "string");
    equal(f.description.required, false);
    equal(f.description.kind, "text");
    equal(f.dueInSeconds.kind, "number");
    equal(f.dueInSeconds.integer, true);
    equal(f.dueInSeconds.min, 0);
    ok(f.dueInSeconds.max > 0, "max");
  },
  "update_patient_fields: fields is a JSON object input"() {
    const f = fieldsOf("update_patient_fields");
    equal(f.fields.kind, "json");
    equal(f.patientId.required, true);
  },
  "every action type of the registry gets inputs"() {
    for (const [type, schema] of Object.entries(fixtures.argsSchemas)) {
      ok(argFields(schema).length > 0, `${type} has inputs`);
    }
  },
  "reading arguments"() {
    const f = fieldsOf("create_task");
    deepEqual(readArg(f.description, "  "), { omit: true });
    deepEqual(readArg(f.title, ""), { value: "" }, "required text is sent for the API to judge");
    deepEqual(readArg(f.dueInSeconds, "3600"), { value: 3600 });
    deepEqual(readArg(f.dueInSeconds, "1.5"), { value: 1.5 }, "the API says it is not an integer");
    ok("error" in readArg(f.dueInSeconds, "soon"), "text is not a number");
    const seconds = fieldsOf("delay_seconds").seconds;
    deepEqual(readArg(seconds, ""), { omit: true }, "the API reports the missing argument");
    const fields = fieldsOf("update_patient_fields").fields;
    deepEqual(readArg(fields, '{"status": "inactive"}'), { value: { status: "inactive" } });
    ok("error" in readArg(fields, "{status: inactive}"), "invalid JSON");
  },
  "readArgs collects args and errors at the API's locs"() {
    const fields = argFields(fixtures.argsSchemas.create_task);
    const texts = { title: "Call {patient.firstName}", dueInSeconds: "later", patientId: "" };
    deepEqual(readArgs(fields, texts, ["body", "actionsJson", 2]), {
      args: { title: "Call {patient.firstName}" },
      errors: [{ loc: ["body", "actionsJson", 2, "args", "dueInSeconds"], msg: "enter a number" }],
    });
  },
  "saved values show as text and read back the same"() {
    const f = fieldsOf("update_patient_fields");
    const value = { tags: ["a", "b"], status: "inactive" };
    deepEqual(readArg(f.fields, argText(f.fields, value)), { value });
    equal(argText(fieldsOf("delay_seconds").seconds, 60), "60");
    equal(argText(f.patientId, undefined), "");
  },
};
