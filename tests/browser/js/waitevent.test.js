import { currentDue, timingOf } from "/static/timing.js";
import { WAIT_FOR_EVENT, waitFromArgs, waitToArgs, whenFieldPaths } from "/static/waitevent.js";
import { deepEqual, equal, ok } from "/js/assert.js";

const trigger = (name) => fixtures.triggers.find((t) => t.name === name);
const LOC = ["body", "actionsJson", 1];

export const tests = {
  "the catalog offers wait_for_event with its arguments"() {
    const schema = fixtures.argsSchemas[WAIT_FOR_EVENT];
    deepEqual(schema.required, ["eventName", "match", "timeoutSeconds"]);
    ok(schema.properties.eventName.enum.includes("crm/appointment.updated"));
  },
  "saved args show as an event, a field, a timeout in its largest unit and what to do after"() {
    const wait = waitFromArgs({
      eventName: "crm/appointment.updated",
      match: "appointment.id",
      timeoutSeconds: 172800,
      onTimeout: "stop",
    });
    deepEqual(wait, {
      eventName: "crm/appointment.updated",
      match: "appointment.id",
      conditionsJson: null,
      amount: 2,
      unit: "days",
      onTimeout: "stop",
    });
    const fresh = waitFromArgs({}, "crm/patient.created");
    equal(fresh.eventName, "crm/patient.created");
    equal(fresh.onTimeout, "continue");
    equal(fresh.amount * 86400, 172800);
  },
  "the state becomes args; a single condition is sent as itself"() {
    const wait = { eventName: "crm/appointment.updated", match: " appointment.id ", amount: "36", unit: "hours", onTimeout: "continue" };
    const leaf = { field: "appointment.status", operator: "equals", value: "confirmed" };
    deepEqual(waitToArgs(wait, { operator: "and", conditions: [leaf] }, LOC), {
      args: {
        eventName: "crm/appointment.updated",
        match: "appointment.id",
        conditionsJson: leaf,
        timeoutSeconds: 129600,
        onTimeout: "continue",
      },
      errors: [],
    });
    const bad = waitToArgs({ ...wait, amount: "soon" }, null, LOC);
    deepEqual(bad.errors.map((e) => e.loc), [["body", "actionsJson", 1, "args", "timeoutSeconds"]]);
    equal("conditionsJson" in bad.args, false);
  },
  "a waiting wait is due at its timeout at the latest"() {
    const timeoutAt = "2026-12-09T10:00:00+00:00";
    const run = { status: "waiting", actions: [{ type: WAIT_FOR_EVENT, status: "scheduled", result: { timeoutAt } }] };
    const facts = timingOf(run);
    deepEqual(facts, [{ kind: "scheduled", dueAt: timeoutAt, awaits: true }]);
    equal(currentDue(facts), timeoutAt);
  },
  "when suggests the trigger's fields, then waitedEvent and the awaited event's data"() {
    const created = trigger("crm/appointment.created");
    const plain = whenFieldPaths(created, []);
    deepEqual(plain, created.fieldPaths);
    const after = whenFieldPaths(created, [trigger("crm/appointment.updated")]);
    ok(after.includes("waitedEvent"));
    ok(after.includes("waitedEvent.data.appointment.status"));
    ok(after.includes("appointment.id"));
  },
};
