import { renderChart, renderSample } from "/static/backtest.js";
import { equal } from "/js/assert.js";

function chartSvg() {
  document.body.innerHTML = '<svg id="backtest-svg" hidden></svg>'; // parsed as SVG, as on the page
  return document.getElementById("backtest-svg");
}

const DAYS = [
  { day: "2026-12-01", scanned: 10, matched: 5 },
  { day: "2026-12-02", scanned: 0, matched: 0 },
  { day: "2026-12-03", scanned: 20, matched: 20 },
];

export const tests = {
  "the chart has a bar pair per day, scaled to the busiest day"() {
    const svg = chartSvg();
    const [legend, table] = renderChart(svg, DAYS);
    equal(svg.hasAttribute("hidden"), false);
    equal(svg.getAttribute("aria-label"), "Events per day: 30 scanned, 25 matched, over 3 days");
    const days = svg.querySelectorAll("g.day");
    equal(days.length, 3);
    const height = (g, cls) => Number(g.querySelector(`rect.${cls}`).getAttribute("height"));
    equal(height(days[2], "scanned"), 2 * height(days[0], "scanned"));
    equal(height(days[0], "matched"), height(days[0], "scanned") / 2);
    equal(height(days[1], "scanned"), 0);
    equal(days[0].querySelector("title").textContent, "2026-12-01: 10 scanned, 5 matched");
    equal(legend.textContent.trim(), "scanned  matched");
    equal(table.querySelectorAll("tbody tr").length, 3);
  },
  "an empty window draws an empty chart"() {
    const svg = chartSvg();
    renderChart(svg, []);
    equal(svg.querySelectorAll("g.day").length, 0);
  },
  "the sample lists would-be actions with their outcome, args and errors"() {
    equal(renderSample([]).textContent, "No event matched: the rule would not have run.");
    const list = renderSample([
      {
        eventId: "e1",
        occurredAt: "2026-12-01T10:00:00Z",
        trace: { field: "a", operator: "exists", actual: 1, passed: true },
        actions: [
          { index: 0, type: "create_note", outcome: "would_run", args: { body: "Hi Ada" } },
          { index: 1, type: "draft_sms", outcome: "would_fail", error: "unresolved placeholder {x}" },
          { index: 2, type: "create_task", outcome: "not_reached", error: "action 1 would fail" },
        ],
      },
    ]);
    const items = list.querySelectorAll(".would-actions > li");
    equal(items.length, 3);
    equal(items[0].textContent.includes('"body": "Hi Ada"'), true);
    equal(items[1].textContent.includes("would fail unresolved placeholder {x}"), true);
    equal(items[2].classList.contains("not_reached"), true);
    equal(list.querySelector("li").dataset.eventId, "e1");
  },
};
