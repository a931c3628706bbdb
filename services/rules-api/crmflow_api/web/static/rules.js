// The rules list: name, trigger, enabled toggle, last run, runs in the last 24 h, and per rule
// Edit, Test, History.
import { describeError } from "./api.js";
import { $, fill, formatTime, h, options, statusBadge } from "./dom.js";
import { runTest } from "./runsui.js";

const PAGE = 50;

export function createRulesView(ctx) {
  const body = $("rules-table").querySelector("tbody");
  const triggerFilter = $("rules-trigger");
  const enabledFilter = $("rules-enabled");
  let offset = 0;
  let loads = 0; // only the latest load renders: an earlier one answering late shows stale rows

  async function toggle(rule, checkbox, state) {
    checkbox.disabled = true;
    try {
      const saved = await ctx.api.patch(`/api/automations/${rule.id}`, { enabled: checkbox.checked });
      ctx.notify(`“${saved.name}” is now ${saved.enabled ? "enabled" : "disabled"}.`);
      load(); // a list loading when the toggle was clicked (read before this change) is superseded
    } catch (error) {
      checkbox.checked = !checkbox.checked;
      ctx.notify(describeError(error), "error");
    } finally {
      checkbox.disabled = false;
      state.textContent = checkbox.checked ? "on" : "off";
    }
  }

  function row(rule) {
    const state = h("span", { "aria-hidden": "true" }, rule.enabled ? "on" : "off");
    const toggleBox = h("input", {
      type: "checkbox",
      checked: rule.enabled,
      "aria-label": `Enabled: ${rule.name}`,
      onChange: (event) => toggle(rule, event.target, state),
    });
    const stats = rule.stats ?? {};
    return h(
      "tr",
      { dataset: { ruleId: rule.id } },
      h(
        "th",
        { scope: "row" },
        h("button", { type: "button", class: "link", onClick: () => ctx.navigate("editor", { ruleId: rule.id }) }, rule.name),
      ),
      h("td", {}, h("code", {}, rule.triggerEvent)),
      h(
        "td",
        {},
        h("label", { class: "switch" }, toggleBox, state),
        rule.paused ? [" ", h("span", { class: "badge paused-badge" }, `paused: ${rule.paused}`)] : null,
      ),
      h(
        "td",
        {},
        statusBadge(stats.lastRunStatus),
        stats.lastRunAt ? h("span", { class: "muted small" }, " ", formatTime(stats.lastRunAt)) : null,
      ),
      h("td", { class: "num" }, stats.runsLast24h ?? 0),
      h(
        "td",
        { class: "row-actions" },
        h("button", { type: "button", onClick: () => ctx.navigate("editor", { ruleId: rule.id }), "aria-label": `Edit ${rule.name}` }, "Edit"),
        h(
          "button",
          {
            type: "button",
            "aria-label": `Test ${rule.name}`,
            onClick: () => runTest($("rules-test"), ctx, () => ctx.api.post(`/api/automations/${rule.id}/test`, {})).then(load),
          },
          "Test",
        ),
        h("button", { type: "button", "aria-label": `History of ${rule.name}`, onClick: () => ctx.navigate("runs", { ruleId: rule.id }) }, "History"),
      ),
    );
  }

  async function load() {
    const mine = ++loads;
    const page = await ctx.api.get("/api/automations", {
      triggerEvent: triggerFilter.value,
      enabled: enabledFilter.value,
      limit: PAGE,
      offset,
    });
    if (mine !== loads) return;
    fill(body, page.items.map(row));
    $("rules-empty").hidden = page.total > 0;
    ctx.pager($("rules-pager"), page, (next) => {
      offset = next;
      load();
    });
  }

  triggerFilter.addEventListener("change", () => {
    offset = 0;
    load();
  });
  enabledFilter.addEventListener("change", () => {
    offset = 0;
    load();
  });
  $("rules-refresh").addEventListener("click", load);
  $("create-rule").addEventListener("click", () => ctx.navigate("editor", {}));

  return {
    async open() {
      if (!triggerFilter.options.length) {
        fill(triggerFilter, options([["", "all"], ...ctx.catalog.triggers.map((t) => t.name)], ""));
      }
      $("rules-test").replaceChildren();
      await load();
    },
  };
}
