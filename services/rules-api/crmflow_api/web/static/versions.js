// A rule's History tab: every version (newest first) with what made it, when and by whom; a
// readable diff between any two versions; Restore (with confirmation) makes an old definition the
// newest version, which the evaluator runs from then on.
import { describeError } from "./api.js";
import { $, fill, formatTime, h, json, options } from "./dom.js";
import { diffDefinitions, summarize } from "./ruledefdiff.js";

const CHANGE_LABELS = {
  create: "created",
  update: "edited",
  enable: "enabled",
  disable: "disabled",
  delete: "deleted",
  restore: "restored",
};

/** "API key 1a2b3c4d", "command line", or "unknown" (versions from before history was kept). */
export function actorLabel(actor) {
  if (!actor) return "unknown";
  if (actor === "cli") return "command line";
  return `API key ${actor}`;
}

function renderDiff(older, newer) {
  const diff = diffDefinitions(older.definition, newer.definition);
  return h(
    "div",
    { class: "version-diff", id: "version-diff" },
    h("p", { class: "diff-summary" }, `Version ${older.version} → version ${newer.version}: ${summarize(diff)}.`),
    diff
      .filter((d) => d.changed)
      .map((d) =>
        h(
          "section",
          { class: "diff-field", dataset: { field: d.field } },
          h("h3", {}, d.label),
          h(
            "pre",
            { class: "diff-lines" },
            d.lines.map((line) =>
              h(
                "span",
                { class: line.op === "+" ? "diff-add" : line.op === "-" ? "diff-del" : "diff-same" },
                `${line.op} ${line.text}\n`,
              ),
            ),
          ),
        ),
      ),
  );
}

export function createVersionsView(ctx) {
  const table = $("versions-table").querySelector("tbody");
  const olderSelect = $("diff-older");
  const newerSelect = $("diff-newer");
  let ruleId = null;
  let versions = [];

  function showDiff() {
    const older = versions.find((v) => String(v.version) === olderSelect.value);
    const newer = versions.find((v) => String(v.version) === newerSelect.value);
    fill($("versions-diff"), older && newer ? renderDiff(older, newer) : h("p", { class: "muted" }, "Only one version so far."));
  }

  function compare(older, newer) {
    olderSelect.value = String(older);
    newerSelect.value = String(newer);
    showDiff();
    $("versions-diff").scrollIntoView({ block: "nearest" });
  }

  async function restore(version) {
    const current = versions[0];
    const question =
      `Restore version ${version.version}? Its definition becomes version ${current.version + 1}` +
      `${current.change === "delete" ? " and the deleted rule comes back" : ""}; it applies to the next events.`;
    if (!window.confirm(question)) return;
    try {
      const { body: rule } = await ctx.api.post(`/api/automations/${ruleId}/restore`, { version: version.version });
      ctx.rulesChanged();
      ctx.notify(`Version ${version.version} restored as version ${rule.version}.`);
      await load();
    } catch (error) {
      ctx.notify(describeError(error), "error");
    }
  }

  function row(version, index) {
    const previous = versions[index + 1];
    return h(
      "tr",
      { dataset: { version: String(version.version), change: version.change } },
      h("th", { scope: "row", class: "num" }, String(version.version), index === 0 ? h("span", { class: "badge current" }, "current") : null),
      h(
        "td",
        {},
        CHANGE_LABELS[version.change] ?? version.change,
        version.restoredFrom ? h("span", { class: "muted" }, ` from version ${version.restoredFrom}`) : null,
      ),
      h("td", { class: "nowrap" }, formatTime(version.changedAt)),
      h("td", {}, actorLabel(version.changedBy)),
      h("td", {}, version.definition.name),
      h(
        "td",
        { class: "row-actions" },
        previous
          ? h(
              "button",
              { type: "button", "aria-label": `Compare version ${version.version} with version ${previous.version}`, onClick: () => compare(previous.version, version.version) },
              "Changes",
            )
          : null,
        index > 0
          ? h("button", { type: "button", "aria-label": `Restore version ${version.version}`, onClick: () => restore(version) }, "Restore")
          : null,
      ),
    );
  }

  async function load() {
    versions = await ctx.api.get(`/api/automations/${ruleId}/versions`);
    const current = versions[0];
    $("versions-title").textContent = `History of “${current.definition.name}”`;
    $("versions-deleted").hidden = current.change !== "delete";
    $("versions-rule-tab").disabled = current.change === "delete";
    fill(table, versions.map(row));
    const labels = versions.map((v) => [String(v.version), `version ${v.version}`]);
    fill(olderSelect, options(labels, String(versions[1]?.version ?? current.version)));
    fill(newerSelect, options(labels, String(current.version)));
    showDiff();
  }

  for (const select of [olderSelect, newerSelect]) select.addEventListener("change", showDiff);
  $("versions-rule-tab").addEventListener("click", () => ctx.navigate("editor", { ruleId }));
  // The editor's History tab (shown once a rule is saved) opens this view for the rule it shows.
  $("editor-history-tab").addEventListener("click", () => {
    const id = history.state?.params?.ruleId;
    if (id) ctx.navigate("versions", { ruleId: id });
  });

  return {
    async open({ ruleId: id }) {
      ruleId = id;
      fill(table);
      fill($("versions-diff"));
      await load();
    },
  };
}

/** The run page's "Rule as it ran" section: the definition of the version the run used. */
export function renderRunRule(run, ctx) {
  const heading = h("h2", {}, `Rule as it ran (version ${run.ruleVersion})`);
  const history = h("button", { type: "button", class: "link", onClick: () => ctx.navigate("versions", { ruleId: run.ruleId }) }, "All versions of this rule");
  if (!run.ruleDefinition) {
    return [heading, h("div", { class: "card", id: "run-rule" }, h("p", { class: "muted" }, "This version was saved before versions were kept. "), history)];
  }
  const d = run.ruleDefinition;
  return [
    heading,
    h(
      "div",
      { class: "card", id: "run-rule" },
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Name"),
        h("dd", {}, d.name),
        h("dt", {}, "Trigger"),
        h("dd", {}, h("code", {}, d.triggerEvent)),
        h("dt", {}, "Enabled"),
        h("dd", {}, d.enabled ? "yes" : "no"),
      ),
      h("h3", {}, "Conditions"),
      h("pre", { class: "rule-json" }, d.conditionsJson ? json(d.conditionsJson) : "none (every event of the trigger)"),
      h("h3", {}, "Actions"),
      h("pre", { class: "rule-json" }, json(d.actionsJson)),
      d.cancelOn?.length ? [h("h3", {}, "Stop waiting"), h("pre", { class: "rule-json" }, json(d.cancelOn))] : null,
      history,
    ),
  ];
}
