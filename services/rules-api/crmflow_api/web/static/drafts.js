// A patient's message drafts (SPEC section 9, human approval): each with a Send button that asks
// for confirmation, then POST /api/drafts/{id}/send; the draft shows sending, then sent or failed
// with the reason (no_consent, no_address, the provider's answer).
import { describeError } from "./api.js";
import { $, fill, formatTime, h, statusBadge } from "./dom.js";

const SENDABLE = new Set(["draft", "failed"]);
const POLL_MS = 1000;

export function createDraftsView(ctx) {
  const form = $("drafts-form");
  const patientInput = $("drafts-patient-id");
  const list = $("drafts-list");
  let patientId = null;
  let poll = null;

  async function load() {
    clearTimeout(poll);
    if (!patientId) return fill(list);
    let drafts;
    try {
      drafts = await ctx.api.get(`/api/patients/${encodeURIComponent(patientId)}/drafts`);
    } catch (error) {
      return fill(list, h("p", { class: "error-text" }, error.status === 404 ? "No such patient." : describeError(error)));
    }
    render(drafts);
    if (drafts.some((d) => d.status === "sending")) poll = setTimeout(load, POLL_MS);
  }

  function confirmRow(draft, cell) {
    const what = draft.channel === "sms" ? "text message" : "e-mail";
    fill(
      cell,
      h("span", { class: "confirm" }, `Send this ${what} to the patient now? `),
      h("button", { type: "button", class: "danger", dataset: { confirm: draft.id }, onClick: () => send(draft, cell) }, "Confirm send"),
      " ",
      h("button", { type: "button", class: "quiet", onClick: () => load() }, "Cancel"),
    );
    cell.querySelector("button").focus();
  }

  async function send(draft, cell) {
    fill(cell, h("span", { class: "muted" }, "Sending…"));
    try {
      const response = await ctx.api.post(`/api/drafts/${draft.id}/send`, {});
      const sent = response.body;
      ctx.notify(sent.status === "failed" ? `Not sent: ${sent.error}` : "Sending the message.", sent.status === "failed" ? "error" : "info");
    } catch (error) {
      ctx.notify(describeError(error), "error");
    }
    await load();
  }

  function render(drafts) {
    if (!drafts.length) return fill(list, h("p", { class: "empty" }, "This patient has no drafts."));
    fill(
      list,
      h(
        "table",
        { class: "data", id: "drafts-table" },
        h("caption", { class: "visually-hidden" }, "Drafts, oldest first"),
        h(
          "thead",
          {},
          h("tr", {}, ["Created", "Channel", "Subject", "Message", "Status", "Reason", "Sent", ""].map((label) => h("th", { scope: "col" }, label))),
        ),
        h(
          "tbody",
          {},
          drafts.map((d) => {
            const action = h("td", {});
            if (SENDABLE.has(d.status)) {
              action.append(h("button", { type: "button", dataset: { send: d.id }, onClick: () => confirmRow(d, action) }, d.status === "failed" ? "Send again" : "Send"));
            }
            return h(
              "tr",
              { dataset: { draftId: d.id, status: d.status } },
              h("td", { class: "nowrap" }, formatTime(d.createdAt)),
              h("td", {}, d.channel),
              h("td", {}, d.subject ?? h("span", { class: "muted" }, "—")),
              h("td", {}, d.body),
              h("td", {}, statusBadge(d.status)),
              h("td", { class: "error-text" }, d.error ?? ""),
              h("td", { class: "nowrap" }, d.sentAt ? formatTime(d.sentAt) : ""),
              action,
            );
          }),
        ),
      ),
    );
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    patientId = patientInput.value.trim();
    ctx.remember("drafts", { patientId });
    load();
  });

  return {
    async open(params) {
      patientId = params?.patientId ?? patientId;
      patientInput.value = patientId ?? "";
      await load();
    },
  };
}

/** A run's deliveries (SPEC section 9): channel, outcome, attempts, the provider's id or error. */
export function renderDeliveries(deliveries) {
  if (!deliveries?.length) return null;
  return [
    h("h2", {}, "Deliveries"),
    h(
      "table",
      { class: "data", id: "run-deliveries" },
      h("caption", { class: "visually-hidden" }, "Messages this run handed to a sender"),
      h(
        "thead",
        {},
        h("tr", {}, ["#", "Channel", "Status", "Attempts", "Provider id", "Error", "Finished"].map((label) => h("th", { scope: "col" }, label))),
      ),
      h(
        "tbody",
        {},
        deliveries.map((d) =>
          h(
            "tr",
            { dataset: { status: d.status } },
            h("td", { class: "num" }, d.index + 1),
            h("td", {}, d.channel),
            h("td", {}, statusBadge(d.status)),
            h("td", { class: "num" }, d.attempts),
            h("td", {}, d.providerId ? h("code", {}, d.providerId) : ""),
            h("td", { class: "error-text" }, d.error ?? ""),
            h("td", { class: "nowrap" }, d.finishedAt ? formatTime(d.finishedAt) : "not yet"),
          ),
        ),
      ),
    ),
  ];
}
