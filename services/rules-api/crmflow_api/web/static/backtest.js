// The rule form's Backtest panel: "What would this rule have done in the last 7 / 30 days?"
// It replays the practice's stored events through the form's definition (the saved rule when the
// form has no unsaved change, else the definition as edited) with POST /api/automations/backtest,
// polls GET /api/backtests/{id} (progress while running), and shows a per-day bar chart of
// scanned and matched events (plain SVG) and a sample of matches with their would-be actions.
// Nothing runs: the API writes no run, event or effect.
import { describeError } from "./api.js";
import { $, fill, formatTime, h, json, shortId } from "./dom.js";
import { renderTrace } from "./runsui.js";

const POLL_MS = 400;
const DAY_MS = 24 * 60 * 60 * 1000;
const CHART = { width: 640, height: 160, top: 8, bottom: 22, left: 36, right: 8 };
const OUTCOME_WORDS = { would_run: "would run", would_fail: "would fail", not_reached: "not reached" };

/** An SVG element, in the namespace of the page's own <svg> (which the HTML parser made an SVG
 * one; h() makes HTML ones); attributes only, never styles (the CSP forbids inline styles). */
function s(tag, attrs, ...children) {
  const el = document.createElementNS($("backtest-svg").namespaceURI, tag);
  for (const [key, value] of Object.entries(attrs ?? {})) el.setAttribute(key, String(value));
  for (const child of children) if (child) el.append(child instanceof Node ? child : String(child));
  return el;
}

/** The per-day bar chart, drawn into ``svg``: each day a grey bar of events scanned with its
 * matches drawn over it; returns the legend and a table of the numbers. */
export function renderChart(svg, byDay) {
  const days = byDay ?? [];
  const max = Math.max(1, ...days.map((d) => d.scanned));
  const plotW = CHART.width - CHART.left - CHART.right;
  const plotH = CHART.height - CHART.top - CHART.bottom;
  const slot = plotW / Math.max(days.length, 1);
  const barW = Math.max(1, slot * 0.8);
  const y = (n) => CHART.top + plotH - (n / max) * plotH;
  const scanned = days.reduce((sum, d) => sum + d.scanned, 0);
  const matched = days.reduce((sum, d) => sum + d.matched, 0);
  svg.setAttribute("viewBox", `0 0 ${CHART.width} ${CHART.height}`);
  svg.setAttribute("aria-label", `Events per day: ${scanned} scanned, ${matched} matched, over ${days.length} days`);
  svg.removeAttribute("hidden");
  svg.replaceChildren(
    s("line", { class: "axis", x1: CHART.left, x2: CHART.width - CHART.right, y1: y(0), y2: y(0) }),
    s("text", { class: "tick", x: CHART.left - 4, y: y(max) + 4, "text-anchor": "end" }, String(max)),
    s("text", { class: "tick", x: CHART.left - 4, y: y(0), "text-anchor": "end" }, "0"),
  );
  days.forEach((d, i) => {
    const x = CHART.left + i * slot + (slot - barW) / 2;
    svg.append(
      s(
        "g",
        { class: "day", "data-day": d.day },
        s("title", {}, `${d.day}: ${d.scanned} scanned, ${d.matched} matched`),
        s("rect", { class: "bar scanned", x, width: barW, y: y(d.scanned), height: y(0) - y(d.scanned) }),
        s("rect", { class: "bar matched", x, width: barW, y: y(d.matched), height: y(0) - y(d.matched) }),
      ),
    );
  });
  if (days.length) {
    svg.append(
      s("text", { class: "tick", x: CHART.left, y: CHART.height - 6 }, days[0].day),
      s("text", { class: "tick", x: CHART.width - CHART.right, y: CHART.height - 6, "text-anchor": "end" }, days.at(-1).day),
    );
  }
  const legend = h(
    "p",
    { class: "backtest-legend hint" },
    h("span", { class: "swatch scanned", "aria-hidden": "true" }),
    " scanned ",
    h("span", { class: "swatch matched", "aria-hidden": "true" }),
    " matched",
  );
  const table = h(
    "details",
    { class: "backtest-days" },
    h("summary", {}, "Numbers per day"),
    h(
      "table",
      { class: "data" },
      h("thead", {}, h("tr", {}, ["Day", "Scanned", "Matched"].map((label) => h("th", { scope: "col" }, label)))),
      h("tbody", {}, days.map((d) => h("tr", {}, h("td", {}, d.day), h("td", {}, d.scanned), h("td", {}, d.matched)))),
    ),
  );
  return [legend, table];
}

function actionLine(action) {
  return h(
    "li",
    { class: `would ${action.outcome}` },
    h("code", {}, action.type),
    " ",
    h("span", { class: "badge" }, OUTCOME_WORDS[action.outcome] ?? action.outcome),
    action.args !== undefined && action.args !== null ? h("pre", { class: "json small" }, json(action.args)) : null,
    action.error ? h("span", { class: "error-text" }, ` ${action.error}`) : null,
  );
}

/** The matches: when, which event, the would-be actions (args resolved), and the trace on demand. */
export function renderSample(sample) {
  if (!sample?.length) return h("p", { class: "muted" }, "No event matched: the rule would not have run.");
  return h(
    "ol",
    { class: "backtest-sample" },
    sample.map((match) =>
      h(
        "li",
        { dataset: { eventId: match.eventId } },
        h("p", {}, h("strong", {}, formatTime(match.occurredAt)), " · event ", h("code", { title: match.eventId }, shortId(match.eventId))),
        h("ol", { class: "would-actions" }, match.actions.map(actionLine)),
        h("details", {}, h("summary", {}, "Why it matched"), renderTrace(match.trace)),
      ),
    ),
  );
}

function summary(result) {
  const words = {
    running: `Scanning… ${result.eventsScanned} events so far, ${result.matched} matched.`,
    done: `${result.matched} of ${result.eventsScanned} events matched: the rule would have run ${result.matched} time${result.matched === 1 ? "" : "s"}.`,
    cancelled: `Cancelled after ${result.eventsScanned} events (${result.matched} matched).`,
    failed: `The backtest failed: ${result.error ?? "unknown error"}.`,
  };
  const capped = result.capped ? " It stopped at the practice's cap on events scanned." : "";
  const which = result.ruleId ? ` Saved rule, version ${result.ruleVersion}.` : " The definition as edited (not saved).";
  return `${words[result.status] ?? result.status}${capped}${result.status === "running" ? "" : which}`;
}

/**
 * ``read()`` -> {ruleId} for the saved rule unchanged, {rule} for the form's definition, or
 * {errors} (the form's own, shown by ``showErrors``).
 */
export function createBacktestPanel(ctx, { read, showErrors }) {
  const progress = $("backtest-progress");
  const chart = $("backtest-days");
  const svg = $("backtest-svg");
  const sample = $("backtest-sample");
  const cancelButton = $("backtest-cancel");
  const startButtons = [$("backtest-7"), $("backtest-30")];
  let current = null; // {id, timer}

  function stopPolling() {
    if (current?.timer) clearTimeout(current.timer);
    current = null;
    cancelButton.hidden = true;
    for (const b of startButtons) b.disabled = false;
  }

  function show(result) {
    progress.textContent = summary(result);
    progress.dataset.status = result.status;
    fill(chart, renderChart(svg, result.byDay));
    if (result.status === "running") sample.replaceChildren();
    else fill(sample, h("h3", {}, `Sample of matches (latest ${result.sample.length})`), renderSample(result.sample));
  }

  async function poll(id) {
    if (current?.id !== id) return;
    try {
      const result = await ctx.api.get(`/api/backtests/${id}`);
      if (current?.id !== id) return;
      show(result);
      if (result.status === "running") current.timer = setTimeout(() => poll(id), POLL_MS);
      else stopPolling();
    } catch (error) {
      progress.textContent = describeError(error);
      stopPolling();
    }
  }

  async function start(days) {
    const target = read();
    if (target.errors?.length) {
      showErrors(target.errors);
      return;
    }
    stopPolling();
    sample.replaceChildren();
    chart.replaceChildren();
    svg.setAttribute("hidden", "");
    const since = new Date(Date.now() - days * DAY_MS).toISOString();
    const body = target.ruleId ? { ruleId: target.ruleId, since } : { rule: target.rule, since };
    for (const b of startButtons) b.disabled = true;
    progress.dataset.status = "starting";
    progress.textContent = `Starting a backtest over the last ${days} days…`;
    try {
      const { body: started } = await ctx.api.post("/api/automations/backtest", body);
      current = { id: started.id, timer: null };
      cancelButton.hidden = false;
      poll(started.id);
    } catch (error) {
      for (const b of startButtons) b.disabled = false;
      progress.dataset.status = "error";
      if (error.status === 409) progress.textContent = "A backtest of this practice is already running: wait for it to finish.";
      else if (error.status === 422) {
        progress.textContent = "The rule has errors: see above.";
        const loc = (e) => (e.loc?.[1] === "rule" ? ["body", ...e.loc.slice(2)] : e.loc);
        showErrors(error.fieldErrors.map((e) => ({ ...e, loc: loc(e) })));
      } else progress.textContent = describeError(error);
    }
  }

  async function cancel() {
    const id = current?.id;
    if (!id) return;
    try {
      const { body } = await ctx.api.del(`/api/backtests/${id}`);
      stopPolling();
      show(body);
    } catch (error) {
      progress.textContent = describeError(error);
    }
  }

  startButtons[0].addEventListener("click", () => start(7));
  startButtons[1].addEventListener("click", () => start(30));
  cancelButton.addEventListener("click", cancel);

  return {
    /** A new form: forget the last backtest (a running one goes on; its result stays in the API). */
    reset() {
      stopPolling();
      progress.textContent = "";
      delete progress.dataset.status;
      chart.replaceChildren();
      svg.setAttribute("hidden", "");
      sample.replaceChildren();
    },
  };
}
