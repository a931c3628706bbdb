// Timed rules on the page (SPEC section 8): delay_until's friendly form (a date field of the
// trigger's data, before/after by an amount in a unit, an optional time of day, what to do when
// the time has passed), cancelOn's suggestions, and the due times a run shows. Pure: no DOM, no fetch.

/** Seconds per unit, largest first: an offset shows in the largest unit that divides it. */
export const UNITS = [
  ["days", 86400],
  ["hours", 3600],
  ["minutes", 60],
  ["seconds", 1],
];
const SECONDS = Object.fromEntries(UNITS);
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;
const PLACEHOLDER = /^\{([A-Za-z0-9_.]+)\}$/;

/** -86400 -> {direction: "before", amount: 1, unit: "days"}; 0 -> 0 hours after. */
export function offsetToParts(offsetSeconds) {
  const seconds = Number(offsetSeconds ?? 0) || 0;
  const direction = seconds < 0 ? "before" : "after";
  const abs = Math.abs(seconds);
  if (abs === 0) return { direction, amount: 0, unit: "hours" };
  const [unit, size] = UNITS.find(([, s]) => abs % s === 0) ?? ["seconds", 1];
  return { direction, amount: abs / size, unit };
}

/**
 * ``{value}`` (the offsetSeconds) or ``{error}`` for an amount as typed: empty means 0; the amount
 * must be a number >= 0 that makes whole seconds. The range is the API's to judge.
 */
export function partsToOffset({ direction, amount, unit }) {
  const text = String(amount ?? "").trim();
  if (text === "") return { value: 0 };
  const number = Number(text);
  if (!Number.isFinite(number) || number < 0) return { error: "enter an amount of 0 or more" };
  const seconds = number * (SECONDS[unit] ?? NaN);
  if (!Number.isInteger(seconds)) return { error: "the amount must make whole seconds" };
  return { value: direction === "before" ? -seconds : seconds };
}

/** "{appointment.startsAt}" -> "appointment.startsAt"; anything else -> null. */
export function placeholderPath(at) {
  return PLACEHOLDER.exec(String(at ?? "").trim())?.[1] ?? null;
}

/**
 * The dotted paths of the date-time fields of a trigger's sample data (``appointment.startsAt``):
 * ISO date-time strings, and empty fields named like one (``patient.nextFollowUpAt``: null in the
 * sample). What changed (``changes``) is not a date to wait for. Creation and update times go last.
 */
export function dateFields(sampleData) {
  const found = [];
  const walk = (value, path) => {
    if (value && typeof value === "object" && !Array.isArray(value)) {
      for (const [key, child] of Object.entries(value)) {
        if (!(path.length === 0 && key === "changes")) walk(child, [...path, key]);
      }
      return;
    }
    const name = path[path.length - 1] ?? "";
    if ((typeof value === "string" && DATE_TIME.test(value)) || (value === null && /At$/.test(name))) {
      found.push(path.join("."));
    }
  };
  walk(sampleData ?? {}, []);
  const bookkeeping = (path) => /\.(createdAt|updatedAt)$/.test(path);
  return [...found.filter((p) => !bookkeeping(p)), ...found.filter(bookkeeping)];
}

/** The usual cancelOn entry of a reminder: stop when its appointment is cancelled. */
export const APPOINTMENT_CANCELLED = Object.freeze({
  eventName: "crm/appointment.updated",
  match: "appointment.id",
  conditionsJson: { field: "changes.status", operator: "changed_to", value: "cancelled" },
});

/** The paths a cancelOn ``match`` can use: fields of both the rule's trigger and the event. */
export function matchPaths(triggerSpec, eventSpec) {
  const ofEvent = new Set(eventSpec?.fieldPaths ?? []);
  return (triggerSpec?.fieldPaths ?? []).filter((path) => ofEvent.has(path));
}

/** The friendly state of saved ``delay_until`` args. */
export function delayFromArgs(args) {
  return {
    at: args?.at ?? "",
    ...offsetToParts(args?.offsetSeconds),
    atLocalTime: args?.atLocalTime ?? "",
    ifPast: args?.ifPast ?? "run",
  };
}

/**
 * ``{args, errors}`` of a friendly state; errors as ``[{loc, msg}]`` under ``locPrefix`` (e.g.
 * ["body", "actionsJson", 0]). Defaults (offset 0, no time of day, ifPast run) are not sent.
 */
export function delayToArgs(state, locPrefix) {
  const args = { at: state.at };
  const errors = [];
  const offset = partsToOffset(state);
  if ("error" in offset) errors.push({ loc: [...locPrefix, "args", "offsetSeconds"], msg: offset.error });
  else if (offset.value !== 0) args.offsetSeconds = offset.value;
  if (state.atLocalTime) args.atLocalTime = state.atLocalTime;
  if (state.ifPast && state.ifPast !== "run") args.ifPast = state.ifPast;
  return { args, errors };
}

/**
 * What a run's action log says about its timing, oldest first: ``scheduled`` {dueAt},
 * ``rescheduled`` {from, to, eventId}, ``cancelled`` {eventId} (the run's remaining actions were
 * skipped because of that event).
 */
export function timingOf(run) {
  const facts = [];
  for (const action of run?.actions ?? []) {
    const result = action.result ?? {};
    if (action.status === "scheduled" && result.dueAt) facts.push({ kind: "scheduled", dueAt: result.dueAt });
    // wait_for_event (SPEC section 13): due at its timeout at the latest
    if (action.status === "scheduled" && result.timeoutAt) facts.push({ kind: "scheduled", dueAt: result.timeoutAt, awaits: true });
    if (action.status === "rescheduled") {
      facts.push({ kind: "rescheduled", from: result.from, to: result.to, eventId: result.eventId ?? null });
    }
  }
  if (run?.status === "cancelled") {
    const skipped = (run.actions ?? []).find((a) => a.status === "skipped" && a.result?.eventId);
    facts.push({ kind: "cancelled", eventId: skipped?.result.eventId ?? null });
  }
  return facts;
}

/** The due time the run waits for now: the last scheduled or re-planned one; null if none. */
export function currentDue(facts) {
  let due = null;
  for (const fact of facts) {
    if (fact.kind === "scheduled") due = fact.dueAt;
    if (fact.kind === "rescheduled") due = fact.to;
  }
  return due;
}

/** An instant in ``timeZone`` with the zone's name: "Tue, 10 Mar 2026, 09:00 CET". */
export function formatInZone(iso, timeZone, locale) {
  const date = new Date(iso);
  if (!iso || Number.isNaN(date.getTime())) return String(iso ?? "—");
  return new Intl.DateTimeFormat(locale, {
    timeZone: timeZone || "UTC",
    weekday: "short",
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
    timeZoneName: "short",
  }).format(date);
}
