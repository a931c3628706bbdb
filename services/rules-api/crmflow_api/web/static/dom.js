// Tiny DOM helpers. Text always goes in as text nodes (never innerHTML): run traces and action
// results may hold patient data, and nothing from the API is ever interpreted as markup.

/** The element with this id (every id the page uses is in index.html). */
export const $ = (id) => document.getElementById(id);

const PROPS = new Set(["value", "checked", "selected", "disabled", "hidden", "textContent", "open"]);

/** h("button", {type: "button", onClick: fn, class: "x"}, "text", child, [more]) */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (PROPS.has(key)) {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace the children of ``el``. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let counter = 0;
/** A page-unique id for label/aria wiring. */
export function uid(prefix = "el") {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** "<select>" options from [value, label] pairs (or plain values), with ``selected`` chosen. */
export function options(pairs, selected) {
  return pairs.map((pair) => {
    const [value, label] = Array.isArray(pair) ? pair : [pair, pair];
    return h("option", { value, selected: value === selected }, label);
  });
}

export function statusBadge(status) {
  if (!status) return h("span", { class: "muted" }, "never run");
  return h("span", { class: `badge status-${status}` }, status);
}

/** Local date and time with milliseconds (runs are fast; seconds alone hide the order). */
export function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const day = date.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
  const time = date.toLocaleTimeString(undefined, {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    fractionalSecondDigits: 3,
    hour12: false,
  });
  return `${day} ${time}`;
}

/** "+1.234 s" / "+56 ms" from ``since`` to ``iso``; "" when either is missing. */
export function formatDelta(since, iso) {
  if (!since || !iso) return "";
  const ms = new Date(iso).getTime() - new Date(since).getTime();
  if (Number.isNaN(ms)) return "";
  const sign = ms < 0 ? "−" : "+";
  const abs = Math.abs(ms);
  return abs < 1000 ? `${sign}${abs} ms` : `${sign}${(abs / 1000).toFixed(3)} s`;
}

export function shortId(id) {
  return id ? String(id).slice(0, 8) : "—";
}

export function json(value) {
  return JSON.stringify(value, null, 2);
}
