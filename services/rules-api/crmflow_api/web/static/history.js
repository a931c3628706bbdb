// Run history (per practice or per rule, filtered by status) and the detail of one run.
import { createBulkActions } from "./bulk.js";
import { $, fill, formatDelta, formatTime, h, options, shortId, statusBadge } from "./dom.js";
import { renderDeliveries } from "./drafts.js";
import { renderActions, renderTrace } from "./runsui.js";
import { currentDue, formatInZone, timingOf } from "./timing.js";
import { renderRunRule } from "./versions.js";

const PAGE = 50;

export function createRunsView(ctx) {
  const body = $("runs-table").querySelector("tbody");
  const ruleFilter = $("runs-rule");
  const statusFilter = $("runs-status");
  let offset = 0;
  const bulk = createBulkActions(ctx, {
    filter: () => ({
      ruleId: ruleFilter.value,
      ruleName: ruleFilter.value ? ruleFilter.selectedOptions[0]?.textContent : "",
      status: statusFilter.value,
    }),
    done: () => load(),
  });

  async function load() {
    bulk.refresh();
    const ruleId = ruleFilter.value;
    const query = { status: statusFilter.value, limit: PAGE, offset };
    const page = ruleId
      ? await ctx.api.get(`/api/automations/${ruleId}/runs`, query)
      : await ctx.api.get("/api/runs", query);
    const names = await ctx.ruleNames();
    fill(
      body,
      page.items.map((run) =>
        h(
          "tr",
          { dataset: { runId: run.id, status: run.status } },
          h("td", { class: "nowrap" }, formatTime(run.startedAt)),
          h("td", {}, names.get(run.ruleId) ?? h("span", { class: "muted" }, `deleted rule ${shortId(run.ruleId)}`)),
          h(
            "td",
            {},
            h("code", {}, run.eventName),
            " ",
            h(
              "button",
              { type: "button", class: "link small", "aria-label": `Trace of event ${shortId(run.eventId)}`, onClick: () => ctx.navigate("trace", { eventId: run.eventId }) },
              shortId(run.eventId),
            ),
          ),
          h("td", {}, statusBadge(run.status)),
          h("td", { class: "num nowrap" }, formatDelta(run.startedAt, run.finishedAt).slice(1)),
          h("td", { class: "error-text" }, run.error ?? ""),
          h("td", {}, h("button", { type: "button", onClick: () => ctx.navigate("run", { runId: run.id }) }, "Details")),
        ),
      ),
    );
    $("runs-empty").hidden = page.total > 0;
    ctx.pager($("runs-pager"), page, (next) => {
      offset = next;
      load();
    });
  }

  for (const filter of [ruleFilter, statusFilter]) {
    filter.addEventListener("change", () => {
      offset = 0;
      ctx.remember("runs", { ruleId: ruleFilter.value || undefined, status: statusFilter.value || undefined });
      load();
    });
  }
  $("runs-refresh").addEventListener("click", load);

  return {
    async open({ ruleId, status } = {}) {
      const names = await ctx.ruleNames();
      fill(ruleFilter, options([["", "all rules"], ...[...names].map(([id, name]) => [id, name])], ruleId ?? ""));
      statusFilter.value = status ?? "";
      offset = 0;
      await load();
    },
  };
}

function dl(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(([, value]) => value !== null && value !== undefined && value !== "").map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
  );
}

/** The run's due time, re-plans and cancellation, times in the practice's zone. */
function renderTiming(facts, zone, link) {
  if (!facts.length) return null;
  const at = (iso) => h("time", { datetime: iso }, formatInZone(iso, zone));
  const items = facts.map((fact) => {
    if (fact.kind === "scheduled") {
      const text = fact.awaits ? "Waits for an event, at most until " : "Scheduled for ";
      return h("li", { dataset: { kind: fact.kind } }, text, at(fact.dueAt));
    }
    if (fact.kind === "rescheduled") {
      return h(
        "li",
        { dataset: { kind: fact.kind } },
        "Re-planned from ",
        at(fact.from),
        " to ",
        at(fact.to),
        fact.eventId ? [" by event ", link(fact.eventId)] : null,
      );
    }
    return h(
      "li",
      { dataset: { kind: fact.kind } },
      "Cancelled",
      fact.eventId ? [" by event ", link(fact.eventId)] : null,
      "; the remaining actions were skipped",
    );
  });
  return [
    h("h2", {}, "Timing"),
    h("div", { class: "card" }, h("p", { class: "muted timing-zone" }, `Times in the practice's zone, ${zone}.`), h("ol", { class: "timing" }, items)),
  ];
}

export function createRunView(ctx) {
  const detail = document.getElementById("run-detail");
  return {
    async open({ runId }) {
      const run = await ctx.api.get(`/api/runs/${runId}`);
      const names = await ctx.ruleNames();
      document.getElementById("run-title").textContent = `Run of “${names.get(run.ruleId) ?? "a deleted rule"}”`;
      const link = (label, onClick) => h("button", { type: "button", class: "link", onClick }, label);
      const eventLink = (eventId) => link(eventId, () => ctx.navigate("trace", { eventId }));
      const zone = ctx.practice?.timeZone ?? "UTC";
      const timing = timingOf(run);
      const due = run.status === "waiting" ? currentDue(timing) : null;
      fill(
        detail,
        h(
          "div",
          { class: "card" },
          dl([
            ["Status", statusBadge(run.status)],
            ["Due", due ? h("time", { id: "run-due", datetime: due }, formatInZone(due, zone)) : null],
            ["Error", run.error ? h("span", { class: "error-text" }, run.error) : null],
            ["Rule", link(`${names.get(run.ruleId) ?? shortId(run.ruleId)} (version ${run.ruleVersion})`, () => ctx.navigate("editor", { ruleId: run.ruleId }))],
            ["Event", [h("code", {}, run.eventName), " ", link(run.eventId, () => ctx.navigate("trace", { eventId: run.eventId }))]],
            ["Started", formatTime(run.startedAt)],
            ["Finished", run.finishedAt ? `${formatTime(run.finishedAt)} (${formatDelta(run.startedAt, run.finishedAt)})` : "not yet"],
            ["Chain depth", String(run.depth)],
            ["Correlation ID", h("code", {}, run.correlationId ?? "—")],
            [
              "Caused by event",
              run.causationId && run.causationId !== run.eventId
                ? link(run.causationId, () => ctx.navigate("trace", { eventId: run.causationId }))
                : null,
            ],
            ["Run ID", h("code", {}, run.id)],
          ]),
        ),
        renderTiming(timing, zone, eventLink),
        h("h2", {}, "Conditions"),
        h("div", { class: "card" }, renderTrace(run.trace)),
        h("h2", {}, "Action log"),
        renderActions(run.actions, run.startedAt),
        renderRunRule(run, ctx),
        renderDeliveries(run.deliveries),
      );
    },
  };
}
