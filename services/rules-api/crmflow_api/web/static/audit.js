// The Audit log page: who changed which automation setting and when, newest first, paged, filtered
// by entity type and a start time. Entries never hold secrets or patient data (the API keeps them out).
import { $, fill, formatTime, h, json, shortId } from "./dom.js";
import { actorLabel } from "./versions.js";

const PAGE = 50;

/** The keys whose values differ between before and after (all keys of either when one is null). */
export function changedKeys(before, after) {
  const keys = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])];
  if (!before || !after) return keys;
  return keys.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
}

/** A datetime-local value (the browser's zone) as ISO-8601 with offset, or "" when empty/invalid. */
export function sinceParam(localValue) {
  if (!localValue) return "";
  const date = new Date(localValue);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}

function change(entry) {
  const keys = changedKeys(entry.before, entry.after);
  const summary = entry.before === null ? "created" : entry.after === null ? "removed" : keys.length ? keys.join(", ") : "no visible change";
  return h(
    "details",
    { class: "audit-change" },
    h("summary", {}, summary),
    h("div", { class: "audit-json" }, h("div", {}, h("h3", {}, "Before"), h("pre", {}, json(entry.before))), h("div", {}, h("h3", {}, "After"), h("pre", {}, json(entry.after)))),
  );
}

export function createAuditView(ctx) {
  const body = $("audit-table").querySelector("tbody");
  const typeFilter = $("audit-type");
  const sinceFilter = $("audit-since");
  let offset = 0;

  function entity(entry) {
    const label = `${entry.entityType} ${shortId(entry.entityId)}`;
    if (entry.entityType === "rule") {
      return h("button", { type: "button", class: "link", "aria-label": `History of rule ${shortId(entry.entityId)}`, onClick: () => ctx.navigate("versions", { ruleId: entry.entityId }) }, label);
    }
    return h("span", { title: entry.entityId }, label);
  }

  async function load() {
    const page = await ctx.api.get("/api/audit", {
      entityType: typeFilter.value,
      since: sinceParam(sinceFilter.value),
      limit: PAGE,
      offset,
    });
    fill(
      body,
      page.items.map((entry) =>
        h(
          "tr",
          { dataset: { action: entry.action } },
          h("td", { class: "nowrap" }, formatTime(entry.at)),
          h("td", {}, actorLabel(entry.actor)),
          h("td", {}, h("code", {}, entry.action)),
          h("td", {}, entity(entry)),
          h("td", {}, change(entry)),
        ),
      ),
    );
    $("audit-empty").hidden = page.total > 0;
    ctx.pager($("audit-pager"), page, (next) => {
      offset = next;
      load();
    });
  }

  for (const filter of [typeFilter, sinceFilter]) {
    filter.addEventListener("change", () => {
      offset = 0;
      load();
    });
  }
  $("audit-refresh").addEventListener("click", load);

  return {
    async open() {
      offset = 0;
      await load();
    },
  };
}
