// The few assertions the module tests need (no test framework: nothing to install).

export function equal(actual, expected, what = "value") {
  if (!Object.is(actual, expected)) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

/** JSON text with object keys sorted, so key order does not matter. */
function canonical(value) {
  return JSON.stringify(value, (key, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]))
      : v,
  );
}

export function deepEqual(actual, expected, what = "value") {
  const a = canonical(actual);
  const e = canonical(expected);
  if (a !== e) throw new Error(`${what}:\n  expected ${e}\n  got      ${a}`);
}

export function ok(condition, what = "condition") {
  if (!condition) throw new Error(`${what} is not true`);
}
