// The path of one event: outbox row -> Kafka topic/partition/offset -> runs -> actions, with
// timestamps (and deltas from the outbox write), then the events its actions caused.
import { $, fill, formatDelta, formatTime, h, shortId, statusBadge } from "./dom.js";
import { renderActions } from "./runsui.js";

function hop(title, time, since, ...body) {
  return h(
    "li",
    { class: "hop" },
    h(
      "div",
      { class: "hop-head" },
      h("h3", {}, title),
      time ? h("span", { class: "when" }, formatTime(time), " ", h("span", { class: "muted" }, formatDelta(since, time))) : null,
    ),
    body,
  );
}

export function createTraceView(ctx) {
  const input = $("trace-event-id");
  const detail = $("trace-detail");

  async function show(eventId) {
    fill(detail, h("p", { class: "muted" }, "Loading…"));
    let event;
    try {
      event = await ctx.api.get(`/api/events/${eventId}`);
    } catch (error) {
      fill(detail, h("p", { class: "error-text" }, error.status === 404 ? "No event with this ID in your practice." : String(error.message)));
      return;
    }
    const names = await ctx.ruleNames();
    const since = event.outbox.createdAt;
    const kafka = event.kafka;
    fill(
      detail,
      h(
        "p",
        {},
        h("code", {}, event.name),
        ` on ${event.entityType ?? "entity"} ${shortId(event.entityId)} · depth ${event.depth} · correlation `,
        h("code", {}, shortId(event.correlationId)),
        event.causationId && event.causationId !== event.id
          ? [" · caused by ", h("button", { type: "button", class: "link", onClick: () => ctx.navigate("trace", { eventId: event.causationId }) }, shortId(event.causationId))]
          : null,
      ),
      h(
        "ol",
        { class: "timeline" },
        hop("Outbox row written", since, since, h("p", {}, "Committed with the CRM change, in one transaction.")),
        hop(
          "Streamed to Kafka",
          kafka?.timestamp ?? event.outbox.publishedAt,
          since,
          kafka
            ? h(
                "p",
                { class: "kafka" },
                "Topic ",
                h("code", {}, kafka.topic),
                " · partition ",
                h("code", {}, String(kafka.partition)),
                " · offset ",
                h("code", {}, String(kafka.offset)),
                event.outbox.publishedAt ? ` · marked published ${formatTime(event.outbox.publishedAt)}` : "",
              )
            : h("p", { class: "warn" }, "Not yet streamed or evaluated (status: ", event.status, ")."),
        ),
        event.runs.length
          ? event.runs.map((run) =>
              hop(
                ["Run: ", names.get(run.ruleId) ?? `rule ${shortId(run.ruleId)}`, " ", statusBadge(run.status)],
                run.startedAt,
                since,
                h(
                  "p",
                  {},
                  run.finishedAt ? `finished ${formatTime(run.finishedAt)} (${formatDelta(since, run.finishedAt)}) · ` : "",
                  run.error ? h("span", { class: "error-text" }, run.error, " · ") : null,
                  h("button", { type: "button", class: "link", onClick: () => ctx.navigate("run", { runId: run.id }) }, "Run details"),
                ),
                renderActions(run.actions, since),
              ),
            )
          : hop("Runs", null, since, h("p", { class: "muted" }, "No rule ran for this event (yet).")),
        event.causedEvents.length
          ? hop(
              "Caused events",
              null,
              since,
              h(
                "ul",
                {},
                event.causedEvents.map((caused) =>
                  h(
                    "li",
                    {},
                    h("code", {}, caused.name),
                    ` ${formatTime(caused.createdAt)} (${formatDelta(since, caused.createdAt)}) `,
                    h("button", { type: "button", class: "link", onClick: () => ctx.navigate("trace", { eventId: caused.id }) }, "Trace"),
                  ),
                ),
              ),
            )
          : null,
      ),
    );
  }

  $("trace-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const eventId = input.value.trim();
    if (!eventId) return;
    ctx.remember("trace", { eventId });
    show(eventId);
  });

  return {
    async open({ eventId } = {}) {
      input.value = eventId ?? "";
      if (eventId) await show(eventId);
      else detail.replaceChildren();
    },
  };
}
