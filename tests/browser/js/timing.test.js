import {
  APPOINTMENT_CANCELLED,
  currentDue,
  dateFields,
  delayFromArgs,
  delayToArgs,
  formatInZone,
  matchPaths,
  offsetToParts,
  partsToOffset,
  placeholderPath,
  timingOf,
} from "/static/timing.js";
import { deepEqual, equal, ok } from "/js/assert.js";

const trigger = (name) => fixtures.triggers.find((t) => t.name === name);

export const tests = {
  "an offset shows as before/after, an amount and the largest unit that divides it"() {
    deepEqual(offsetToParts(-86400), { direction: "before", amount: 1, unit: "days" });
    deepEqual(offsetToParts(7200), { direction: "after", amount: 2, unit: "hours" });
    deepEqual(offsetToParts(-90000), { direction: "before", amount: 25, unit: "hours" });
    deepEqual(offsetToParts(15552000), { direction: "after", amount: 180, unit: "days" });
    deepEqual(offsetToParts(-90), { direction: "before", amount: 90, unit: "seconds" });
    deepEqual(offsetToParts(0), { direction: "after", amount: 0, unit: "hours" });
    deepEqual(offsetToParts(undefined), { direction: "after", amount: 0, unit: "hours" });
  },
  "before/after, amount and unit make the offset"() {
    deepEqual(partsToOffset({ direction: "before", amount: "1", unit: "days" }), { value: -86400 });
    deepEqual(partsToOffset({ direction: "after", amount: "36", unit: "hours" }), { value: 129600 });
    deepEqual(partsToOffset({ direction: "before", amount: "1.5", unit: "hours" }), { value: -5400 });
    deepEqual(partsToOffset({ direction: "before", amount: " ", unit: "days" }), { value: 0 });
    ok("error" in partsToOffset({ direction: "after", amount: "soon", unit: "days" }), "text");
    ok("error" in partsToOffset({ direction: "after", amount: "-1", unit: "days" }), "negative");
    ok("error" in partsToOffset({ direction: "after", amount: "0.3", unit: "seconds" }), "part of a second");
  },
  "every offset survives the round trip"() {
    for (const seconds of [-31536000, -86400, -3600, -61, 0, 1, 60, 5400, 86400, 31536000]) {
      const parts = offsetToParts(seconds);
      deepEqual(partsToOffset({ ...parts, amount: String(parts.amount) }), { value: seconds }, `${seconds}`);
    }
  },
  "saved args show in the controls and read back the same"() {
    const args = { at: "{appointment.startsAt}", offsetSeconds: -86400, atLocalTime: "09:00", ifPast: "skip" };
    const state = delayFromArgs(args);
    deepEqual(state, { at: args.at, direction: "before", amount: 1, unit: "days", atLocalTime: "09:00", ifPast: "skip" });
    deepEqual(delayToArgs(state, ["body", "actionsJson", 0]), { args, errors: [] });
    deepEqual(delayToArgs(delayFromArgs({ at: "{patient.nextFollowUpAt}" }), []), {
      args: { at: "{patient.nextFollowUpAt}" },
      errors: [],
    });
  },
  "an unreadable amount is an error at offsetSeconds"() {
    const state = { ...delayFromArgs({ at: "{appointment.startsAt}" }), amount: "a day" };
    deepEqual(delayToArgs(state, ["body", "actionsJson", 1]).errors, [
      { loc: ["body", "actionsJson", 1, "args", "offsetSeconds"], msg: "enter an amount of 0 or more" },
    ]);
  },
  "the date fields of the trigger's sample"() {
    const appointment = dateFields(trigger("crm/appointment.created").sampleData);
    equal(appointment[0], "appointment.startsAt");
    ok(appointment.includes("patient.nextFollowUpAt"), "null in the sample, named like a date");
    ok(!appointment.includes("appointment.visitType"), "not a date");
    ok(appointment.indexOf("appointment.createdAt") > appointment.indexOf("patient.nextFollowUpAt"), "bookkeeping last");
    ok(!dateFields(trigger("crm/appointment.updated").sampleData).some((p) => p.startsWith("changes")), "no changes");
    deepEqual(dateFields({ a: { at: "2026-03-01T09:00:00Z", n: 3, s: "2026" } }), ["a.at"]);
  },
  "placeholders name their path"() {
    equal(placeholderPath("{appointment.startsAt}"), "appointment.startsAt");
    equal(placeholderPath("2026-03-12T09:00:00+01:00"), null);
    equal(placeholderPath(undefined), null);
  },
  "the appointment preset matches fields of both events"() {
    const paths = matchPaths(trigger("crm/appointment.created"), trigger(APPOINTMENT_CANCELLED.eventName));
    ok(paths.includes(APPOINTMENT_CANCELLED.match), "appointment.id");
    ok(!matchPaths(trigger("crm/patient.created"), trigger(APPOINTMENT_CANCELLED.eventName)).includes("appointment.id"), "patients have no appointment");
  },
  "a run's timing: scheduled, re-planned, cancelled"() {
    const run = {
      status: "cancelled",
      actions: [
        { status: "scheduled", result: { dueAt: "2026-03-11T09:00:00+00:00" } },
        { status: "rescheduled", result: { from: "2026-03-11T09:00:00+00:00", to: "2026-03-12T09:00:00+00:00", eventId: "e1" } },
        { status: "skipped", result: { eventId: "e2" } },
      ],
    };
    const facts = timingOf(run);
    deepEqual(facts.map((f) => f.kind), ["scheduled", "rescheduled", "cancelled"]);
    equal(facts[2].eventId, "e2");
    equal(currentDue(facts), "2026-03-12T09:00:00+00:00");
    deepEqual(timingOf({ status: "succeeded", actions: [{ status: "succeeded", result: {} }] }), []);
  },
  "due times show in the practice's zone"() {
    const text = formatInZone("2026-03-12T08:00:00Z", "Europe/Berlin", "en-GB");
    ok(text.includes("09:00:00"), text);
    ok(formatInZone("2026-07-12T08:00:00Z", "Europe/Berlin", "en-GB").includes("10:00:00"), "summer time");
  },
};
