import { locKey, placeErrors } from "/static/errors.js";
import { deepEqual, equal } from "/js/assert.js";

const TARGETS = new Set([
  "name",
  "conditionsJson",
  "conditionsJson.conditions.0.value",
  "actionsJson",
  "actionsJson.1",
  "actionsJson.1.args.subject",
]);
const has = (key) => TARGETS.has(key);

export const tests = {
  "locKey drops the body prefix"() {
    equal(locKey(["body", "actionsJson", 1, "args", "subject"]), "actionsJson.1.args.subject");
    equal(locKey(["query", "limit"]), "query.limit");
    equal(locKey([]), "");
  },
  "an error lands on the exact element"() {
    deepEqual(placeErrors([{ loc: ["body", "actionsJson", 1, "args", "subject"], msg: "m" }], has), [
      { key: "actionsJson.1.args.subject", msg: "m" },
    ]);
  },
  "an error deeper than any element lands on the nearest one"() {
    const detail = [
      { loc: ["body", "conditionsJson", "conditions", 0, "value", 3], msg: "bad item" },
      { loc: ["body", "actionsJson", 1, "args", "fields", "email"], msg: "not allowed" },
      { loc: ["body", "conditionsJson", "conditions", 7, "operator"], msg: "unknown" },
    ];
    deepEqual(
      placeErrors(detail, has).map((p) => p.key),
      ["conditionsJson.conditions.0.value", "actionsJson.1", "conditionsJson"],
    );
  },
  "an error with no element is kept, with where it was"() {
    deepEqual(placeErrors([{ loc: ["body", "extra"], msg: "Extra inputs are not permitted" }], has), [
      { key: null, msg: "Extra inputs are not permitted", where: "extra" },
    ]);
  },
};
