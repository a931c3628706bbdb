// The rule's flow control (SPEC section 13): its enrollment policy ("one run per appointment")
// and its pause (hold new runs, or skip them). Pure helpers first, then the form part.
import { $ } from "./dom.js";

export const REENROLL = ["always", "never", "after_finish"];
export const PAUSED = ["", "hold", "skip"];

/** The ``enrollment`` to send from the form's values: null for "always" (no limit). */
export function enrollmentFrom(reenroll, key) {
  if (!reenroll || reenroll === "always") return null;
  const trimmed = (key ?? "").trim();
  return trimmed ? { key: trimmed, reenroll } : { reenroll };
}

/** The form's values of a saved ``enrollment`` (null: always). */
export function enrollmentToForm(enrollment) {
  return { reenroll: enrollment?.reenroll ?? "always", key: enrollment?.key ?? "" };
}

/** ``paused`` to send from the select's value ("" = running). */
export const pausedFrom = (value) => (value === "hold" || value === "skip" ? value : null);

/** What un-pausing a rule does, for the notice after saving; null when nothing is released. */
export function resumeNotice(before, after) {
  if (before === "hold" && after === null) return "Rule resumed: its held runs now run, in the order their events arrived.";
  return null;
}

/** The form part: #rule-reenroll, #rule-enrollment-key, #rule-paused; ``onChange`` on edits. */
export function createFlowControlEditor({ onChange }) {
  const reenroll = $("rule-reenroll");
  const key = $("rule-enrollment-key");
  const paused = $("rule-paused");
  let savedPaused = null;

  function sync() {
    key.disabled = reenroll.value === "always";
  }
  reenroll.addEventListener("change", () => {
    sync();
    onChange();
  });
  key.addEventListener("input", onChange);
  paused.addEventListener("change", onChange);

  return {
    /** Show a saved rule's values (null: a new rule). */
    set(rule) {
      const form = enrollmentToForm(rule?.enrollment);
      reenroll.value = form.reenroll;
      key.value = form.key;
      paused.value = rule?.paused ?? "";
      savedPaused = rule?.paused ?? null;
      sync();
    },
    /** ``{enrollment, paused}`` to send. */
    read: () => ({ enrollment: enrollmentFrom(reenroll.value, key.value), paused: pausedFrom(paused.value) }),
    /** After a save: the notice to show (held runs released), if any. */
    saved(rule) {
      const notice = resumeNotice(savedPaused, rule.paused ?? null);
      savedPaused = rule.paused ?? null;
      return notice;
    },
  };
}
