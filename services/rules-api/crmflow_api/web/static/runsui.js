// Pieces shared by the editor, the rules list, run history and the trace view: condition traces,
// action logs, run cards and the Test button's result.
import { describeError } from "./api.js";
import { fill, formatDelta, formatTime, h, json, shortId, statusBadge } from "./dom.js";

const GROUP_WORDS = { and: "ALL of", or: "ANY of", not: "NOT" };
const DONE = new Set(["succeeded", "failed", "skipped", "blocked", "waiting", "cancelled", "held"]);

function mark(passed) {
  return h(
    "span",
    { class: passed ? "mark pass" : "mark fail" },
    h("span", { "aria-hidden": "true" }, passed ? "✓" : "✗"),
    h("span", { class: "visually-hidden" }, passed ? "passed" : "failed"),
  );
}

function traceNode(node) {
  if (Array.isArray(node?.conditions)) {
    return h(
      "li",
      {},
      mark(node.passed),
      " ",
      h("strong", {}, GROUP_WORDS[node.operator] ?? node.operator),
      node.conditions.length ? null : h("span", { class: "muted" }, " (no conditions)"),
      h("ul", {}, node.conditions.map(traceNode)),
    );
  }
  return h(
    "li",
    {},
    mark(node.passed),
    " ",
    h("code", {}, node.field),
    ` ${node.operator} `,
    "value" in node ? h("code", {}, JSON.stringify(node.value)) : null,
    h(
      "span",
      { class: "muted" },
      node.missing ? " — field missing" : ` — actual ${JSON.stringify(node.actual)}`,
      node.now ? ` (now ${node.now})` : "",
    ),
  );
}

/** A condition trace ({operator, conditions} / leaf) as a nested list; run traces may wrap it. */
export function renderTrace(trace) {
  const inner = trace && "trace" in trace && "matched" in trace ? trace.trace : trace;
  if (inner === null || inner === undefined) {
    return h("p", { class: "muted" }, "No conditions: the rule matches every event of its trigger.");
  }
  if (typeof inner !== "object" || !("operator" in inner)) return h("pre", { class: "json" }, json(inner));
  return h("ul", { class: "trace" }, traceNode(inner));
}

function valueCell(value) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "—");
  return h("pre", { class: "json small" }, json(value));
}

/** The action log of a run: one row per attempt outcome. */
export function renderActions(actions, since) {
  if (!actions?.length) return h("p", { class: "muted" }, "No action ran.");
  return h(
    "table",
    { class: "data actions-log" },
    h("caption", { class: "visually-hidden" }, "Action log"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["#", "Action", "Status", "Attempt", "Args", "Result", "Error", "At"].map((label) =>
          h("th", { scope: "col" }, label),
        ),
      ),
    ),
    h(
      "tbody",
      {},
      actions.map((a) =>
        h(
          "tr",
          { dataset: { status: a.status } },
          h("td", { class: "num" }, a.index + 1),
          h("td", {}, h("code", {}, a.type)),
          h("td", {}, statusBadge(a.status)),
          h("td", { class: "num" }, a.attempt),
          h("td", {}, valueCell(a.args)),
          h("td", {}, valueCell(a.result)),
          h("td", { class: "error-text" }, a.error ?? ""),
          h("td", { class: "nowrap" }, formatTime(a.createdAt), since ? h("br") : null, formatDelta(since, a.createdAt)),
        ),
      ),
    ),
  );
}

/** One run with its actions, as the Test result and the trace view show it. */
function renderRunCard(run, ctx, ruleName) {
  return h(
    "article",
    { class: "run-card", dataset: { runId: run.id, status: run.status } },
    h(
      "h3",
      {},
      ruleName ?? `Rule ${shortId(run.ruleId)}`,
      " ",
      statusBadge(run.status),
    ),
    h(
      "p",
      { class: "muted" },
      `Run ${shortId(run.id)} · version ${run.ruleVersion} · started ${formatTime(run.startedAt)}`,
      run.finishedAt ? ` · took ${formatDelta(run.startedAt, run.finishedAt).slice(1)}` : "",
    ),
    run.error ? h("p", { class: "error-text" }, run.error) : null,
    renderActions(run.actions, run.startedAt),
    h(
      "button",
      { type: "button", class: "quiet", onClick: () => ctx.navigate("run", { runId: run.id }) },
      "Run details",
    ),
  );
}

/** Whether the trace of a tested event is final: published, its run recorded, every run done. */
function allDone(event) {
  return event.status === "published" && event.runs.length > 0 && event.runs.every((run) => DONE.has(run.status));
}

/**
 * Press Test: call ``start()`` (a POST returning {status, body: {eventId, runs}}) and show the runs
 * in ``container``. A 202 means the pipeline was not done in time: keep polling the event's trace.
 */
export async function runTest(container, ctx, start) {
  fill(container, h("h2", {}, "Test result"), h("p", { class: "muted" }, "Running the pipeline…"));
  let response;
  try {
    response = await start();
  } catch (error) {
    fill(container, h("h2", {}, "Test result"), h("p", { class: "error-text" }, describeError(error)));
    return;
  }
  const { eventId } = response.body;
  let runs = response.body.runs;
  let pending = response.status === 202;
  const names = await ctx.ruleNames();
  const render = () =>
    fill(container, 
      h("h2", {}, "Test result"),
      h(
        "p",
        {},
        "Event ",
        h("code", { class: "event-id" }, eventId),
        " ",
        h("button", { type: "button", class: "quiet", onClick: () => ctx.navigate("trace", { eventId }) }, "View trace"),
      ),
      pending ? h("p", { class: "warn" }, "The pipeline is still working; this updates by itself…") : null,
      runs.length
        ? runs.map((run) => renderRunCard(run, ctx, names.get(run.ruleId)))
        : h("p", { class: "muted" }, pending ? "No run recorded yet." : "No rule ran for this event."),
    );
  render();
  for (let attempt = 0; pending && attempt < 30; attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    try {
      const event = await ctx.api.get(`/api/events/${eventId}`);
      runs = event.runs;
      pending = !allDone(event);
    } catch (error) {
      if (error.status !== 404) throw error;
    }
    render();
  }
}
