// GET /api/catalog, with the look-ups the forms need. Pure: no DOM, no fetch.

/** The catalog with helpers: trigger(name), argsSchema(type), needsValue(operator). */
export function makeCatalog(raw) {
  const noValue = new Set(raw.operators?.noValue ?? []);
  const leafOperators = (raw.operators?.leaf ?? []).map((op) =>
    typeof op === "string" ? { name: op, needsValue: !noValue.has(op) } : op,
  );
  const byName = new Map(leafOperators.map((op) => [op.name, op]));
  return {
    triggers: raw.triggers ?? [],
    leafOperators,
    groupOperators: raw.operators?.group ?? ["and", "or"],
    actions: raw.actions ?? [],
    limits: raw.limits ?? {},
    trigger(name) {
      return this.triggers.find((t) => t.name === name) ?? null;
    },
    argsSchema(type) {
      return this.actions.find((a) => a.type === type)?.argsSchema ?? { properties: {} };
    },
    needsValue(operator) {
      return byName.get(operator)?.needsValue ?? true;
    },
  };
}
