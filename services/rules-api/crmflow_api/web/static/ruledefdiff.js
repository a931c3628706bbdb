// A readable diff between two rule definitions (pure: tested in tests/browser/js/ruledefdiff.test.js).
// Scalar fields show "old -> new"; conditions, actions and stop events show a line diff of their
// JSON, keys sorted so that only real changes show.

export const FIELDS = [
  ["name", "Name"],
  ["enabled", "Enabled"],
  ["triggerEvent", "Trigger event"],
  ["conditionsJson", "Conditions"],
  ["actionsJson", "Actions"],
  ["cancelOn", "Stop waiting"],
];
const STRUCTURED = new Set(["conditionsJson", "actionsJson", "cancelOn"]);

/** JSON text, two-space indented, object keys sorted (null/undefined: "none"). */
export function pretty(value) {
  if (value === null || value === undefined) return "none";
  return JSON.stringify(
    value,
    (key, v) => (v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v),
    2,
  );
}

/** Lines of ``before`` and ``after`` as [{op: " " | "-" | "+", text}] (longest common subsequence). */
export function lineDiff(before, after) {
  const n = before.length;
  const m = after.length;
  const lcs = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i -= 1) {
    for (let j = m - 1; j >= 0; j -= 1) {
      lcs[i][j] = before[i] === after[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (before[i] === after[j]) {
      out.push({ op: " ", text: before[i] });
      i += 1;
      j += 1;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) {
      out.push({ op: "-", text: before[i] });
      i += 1;
    } else {
      out.push({ op: "+", text: after[j] });
      j += 1;
    }
  }
  for (; i < n; i += 1) out.push({ op: "-", text: before[i] });
  for (; j < m; j += 1) out.push({ op: "+", text: after[j] });
  return out;
}

/** Per field of the definition: {field, label, changed, lines}; ``older``/``newer`` may lack fields. */
export function diffDefinitions(older, newer) {
  return FIELDS.map(([field, label]) => {
    const a = older?.[field] ?? null;
    const b = newer?.[field] ?? null;
    const changed = pretty(a) !== pretty(b);
    let lines;
    if (STRUCTURED.has(field)) lines = lineDiff(pretty(a).split("\n"), pretty(b).split("\n"));
    else if (changed) lines = [{ op: "-", text: pretty(a) }, { op: "+", text: pretty(b) }];
    else lines = [{ op: " ", text: pretty(a) }];
    return { field, label, changed, lines };
  });
}

/** "Name and Actions changed" / "No differences". */
export function summarize(diff) {
  const labels = diff.filter((d) => d.changed).map((d) => d.label);
  if (!labels.length) return "No differences";
  const list = labels.length === 1 ? labels[0] : `${labels.slice(0, -1).join(", ")} and ${labels.at(-1)}`;
  return `${list} changed`;
}
