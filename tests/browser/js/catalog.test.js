import { makeCatalog } from "/static/catalog.js";
import { deepEqual, equal } from "/js/assert.js";

const raw = () => ({
  triggers: fixtures.triggers,
  operators: { leaf: fixtures.leafOperators, group: ["and", "or", "not"], noValue: fixtures.noValue },
  actions: Object.entries(fixtures.argsSchemas).map(([type, argsSchema]) => ({ type, argsSchema })),
  limits: { maxConditionDepth: 32, maxBodyBytes: 262144 },
});

export const tests = {
  "operators listed by name: the catalog says which take no value"() {
    const catalog = makeCatalog(raw());
    for (const op of ["exists", "not_exists", "changed"]) equal(catalog.needsValue(op), false, op);
    for (const op of ["equals", "in", "changed_to", "within_next"]) equal(catalog.needsValue(op), true, op);
    equal(catalog.leafOperators.length, fixtures.leafOperators.length);
  },
  "operators described as objects are taken as given"() {
    const catalog = makeCatalog({ ...raw(), operators: { leaf: [{ name: "exists", needsValue: true }], group: ["and"] } });
    equal(catalog.needsValue("exists"), true);
    deepEqual(catalog.groupOperators, ["and"]);
  },
  "look-ups"() {
    const catalog = makeCatalog(raw());
    equal(catalog.trigger("crm/patient.created").name, "crm/patient.created");
    equal(catalog.trigger("crm/nope"), null);
    deepEqual(catalog.argsSchema("delay_seconds").required, ["seconds"]);
    deepEqual(catalog.argsSchema("nope"), { properties: {} });
  },
};
