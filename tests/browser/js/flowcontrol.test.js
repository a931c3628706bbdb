import { APPLIES, available, bulkRequest, confirmText, progressText } from "/static/bulk.js";
import { enrollmentFrom, enrollmentToForm, pausedFrom, resumeNotice } from "/static/flowcontrol.js";
import { deepEqual, equal, ok } from "/js/assert.js";

export const tests = {
  "the enrollment sent follows the form: always is null, an empty key means the patient"() {
    equal(enrollmentFrom("always", "appointment.id"), null);
    deepEqual(enrollmentFrom("never", " appointment.id "), { key: "appointment.id", reenroll: "never" });
    deepEqual(enrollmentFrom("after_finish", ""), { reenroll: "after_finish" });
  },
  "a saved enrollment shows in the form and back"() {
    deepEqual(enrollmentToForm(null), { reenroll: "always", key: "" });
    const saved = { key: "appointment.id", reenroll: "after_finish" };
    const form = enrollmentToForm(saved);
    deepEqual(enrollmentFrom(form.reenroll, form.key), saved);
  },
  "pause values: running is null"() {
    equal(pausedFrom(""), null);
    equal(pausedFrom("hold"), "hold");
    equal(pausedFrom("skip"), "skip");
    ok(resumeNotice("hold", null).includes("held runs"), "resuming a held rule says so");
    equal(resumeNotice("skip", null), null);
    equal(resumeNotice(null, "hold"), null);
  },
  "a bulk action is offered only for the statuses it applies to"() {
    deepEqual(APPLIES, { cancel: ["waiting", "held"], retry: ["failed"] });
    ok(available("cancel", "") && available("retry", ""), "all statuses");
    ok(available("cancel", "held") && !available("cancel", "failed"), "cancel");
    ok(available("retry", "failed") && !available("retry", "waiting"), "retry");
  },
  "the bulk request is the history's filter"() {
    deepEqual(bulkRequest("retry", { ruleId: "r1", status: "failed" }), {
      action: "retry",
      filter: { ruleId: "r1", status: "failed" },
    });
    deepEqual(bulkRequest("cancel", { ruleId: "", status: "" }), { action: "cancel", filter: {} });
  },
  "the confirmation names the runs and the rule"() {
    const cancel = confirmText("cancel", { ruleName: "Reminder", status: "" });
    ok(cancel.includes("waiting and held runs") && cancel.includes("“Reminder”"), cancel);
    const retry = confirmText("retry", { ruleName: "", status: "failed" });
    ok(retry.includes("failed runs of every rule") && retry.includes("not repeated"), retry);
  },
  "progress reads as processed, then changed"() {
    equal(progressText({ action: "retry", status: "running", matched: 4, processed: 2, changed: 2 }), "retry: 2 of 4 runs processed…");
    equal(
      progressText({ action: "cancel", status: "done", matched: 3, processed: 3, changed: 2 }),
      "cancel done: 2 of 3 matching runs cancelled.",
    );
  },
};
