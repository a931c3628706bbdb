// The create/edit form: name, trigger, enabled, conditions, actions, cancel-on events, flow control; Save, dry-run preview on
// (editable) sample data, and Test through the real pipeline.
import { createActionList } from "./actionlist.js";
import { createBacktestPanel } from "./backtest.js";
import { createConditionBuilder } from "./builder.js";
import { createCancelOnEditor } from "./cancelon.js";
import { $, fill, h, json } from "./dom.js";
import { createFlowControlEditor } from "./flowcontrol.js";
import { createFormErrors } from "./formerrors.js";
import { renderTrace, runTest } from "./runsui.js";
import { withPatient } from "./sample.js";

const CONTEXT_PLACEHOLDERS = ["patientId", "eventId", "eventName", "entityId"];

export function createEditor(ctx) {
  const form = $("rule-form");
  const nameInput = $("rule-name");
  const triggerSelect = $("rule-trigger");
  const enabledInput = $("rule-enabled");
  const sampleInput = $("sample-data");
  const testButton = $("test-rule");
  const deleteButton = $("delete-rule");
  const saveState = $("save-state");
  const errors = createFormErrors(form, $("form-errors"));
  const state = { ruleId: null, dirty: false };
  let builder = null;
  let actions = null;
  let cancelOn = null;
  let flow = null;

  const trigger = () => ctx.catalog.trigger(triggerSelect.value);

  function changed() {
    state.dirty = true;
    saveState.textContent = state.ruleId ? "Unsaved changes" : "";
  }

  /** Field suggestions, placeholders and (optionally) the sample data follow the trigger. */
  function applyTrigger({ resetSample }) {
    const spec = trigger();
    const paths = spec?.fieldPaths ?? [];
    fill($("field-paths"), paths.map((path) => h("option", { value: path })));
    $("rule-trigger-hint").textContent = spec?.description ?? "";
    fill(
      $("placeholder-list"),
      [...CONTEXT_PLACEHOLDERS, ...paths].map((path, i) => [i ? ", " : "", h("code", {}, `{${path}}`)]),
    );
    if (resetSample) sampleInput.value = json(spec?.sampleData ?? {});
  }

  /** The sample data as typed, or ``{error}``; ``edited``: it differs from the catalog's sample. */
  function readSample() {
    try {
      const data = JSON.parse(sampleInput.value);
      return { data, edited: JSON.stringify(data) !== JSON.stringify(trigger()?.sampleData ?? {}) };
    } catch (error) {
      return { error: `not valid JSON (${error.message})` };
    }
  }

  function collect() {
    const conditions = builder.read();
    const steps = actions.read();
    const stops = cancelOn.read();
    const body = {
      name: nameInput.value,
      enabled: enabledInput.checked,
      triggerEvent: triggerSelect.value,
      conditionsJson: conditions.json,
      actionsJson: steps.json,
      cancelOn: stops.json,
      ...flow.read(),
    };
    return { body, errors: [...conditions.errors, ...steps.errors, ...stops.errors] };
  }

  function showSaved(rule) {
    state.ruleId = rule.id;
    state.dirty = false;
    $("editor-title").textContent = `Edit rule: ${rule.name}`;
    deleteButton.hidden = false;
    $("editor-tabs").hidden = false; // the History tab (versions.js) needs a saved rule
    saveState.textContent = `Saved · version ${rule.version}`;
  }

  async function save() {
    errors.clear();
    const { body, errors: unreadable } = collect();
    if (unreadable.length) {
      errors.show(unreadable);
      return null;
    }
    try {
      const creating = !state.ruleId;
      const rule = creating
        ? (await ctx.api.post("/api/automations", body)).body
        : await ctx.api.patch(`/api/automations/${state.ruleId}`, body);
      showSaved(rule);
      ctx.rulesChanged();
      ctx.remember("editor", { ruleId: rule.id });
      const resumed = flow.saved(rule);
      ctx.notify(creating ? `Rule “${rule.name}” created.` : resumed ?? `Rule “${rule.name}” saved.`);
      return rule;
    } catch (error) {
      errors.showFailure(error);
      return null;
    }
  }

  async function dryRun() {
    errors.clear();
    const result = $("dry-run-result");
    result.replaceChildren();
    const { json: conditionsJson, errors: unreadable } = builder.read();
    const sample = readSample();
    if (sample.error) unreadable.push({ loc: ["body", "data"], msg: sample.error });
    if (unreadable.length) {
      errors.show(unreadable);
      return;
    }
    try {
      const { body } = await ctx.api.post("/api/automations/dry-run", { conditionsJson, data: sample.data });
      fill(
        result,
        h(
          "p",
          { class: body.matched ? "outcome pass" : "outcome fail" },
          body.matched ? "Matches: the actions would run." : "Does not match: the run would be skipped.",
        ),
        renderTrace(body.trace),
      );
    } catch (error) {
      errors.showFailure(error);
    }
  }

  /** Save if needed, then run the saved rule once through the pipeline on the sample data. */
  async function test() {
    const sample = readSample();
    if (sample.error) {
      errors.clear();
      errors.show([{ loc: ["body", "data"], msg: sample.error }]);
      return;
    }
    if ((!state.ruleId || state.dirty) && !(await save())) return;
    testButton.disabled = true;
    try {
      await runTest($("editor-test"), ctx, () =>
        ctx.api.post(`/api/automations/${state.ruleId}/test`, sample.edited ? { data: sample.data } : {}),
      );
    } finally {
      testButton.disabled = false;
    }
  }

  /** Put a real patient of the practice into the event data, so patient actions can run. */
  async function usePatient() {
    errors.clear();
    const id = $("sample-patient").value.trim();
    const sample = readSample();
    if (sample.error) {
      errors.show([{ loc: ["body", "data"], msg: sample.error }]);
      return;
    }
    try {
      const patient = await ctx.api.get(`/api/patients/${encodeURIComponent(id)}`);
      sampleInput.value = json(withPatient(sample.data, patient));
      ctx.notify("The event data now uses that patient.");
    } catch (error) {
      if (error.status === 404) errors.show([{ loc: ["body", "samplePatient"], msg: "no patient with this ID in this practice" }]);
      else errors.showFailure(error);
    }
  }

  async function remove() {
    if (!window.confirm(`Delete the rule “${nameInput.value}”? Its run history stays.`)) return;
    try {
      await ctx.api.del(`/api/automations/${state.ruleId}`);
      ctx.rulesChanged();
      ctx.notify("Rule deleted.");
      ctx.navigate("rules");
    } catch (error) {
      errors.showFailure(error);
    }
  }

  /** The builder and the action list need the catalog, known only after sign-in. */
  function parts() {
    builder ??= createConditionBuilder({
      container: $("condition-builder"),
      catalog: ctx.catalog,
      sampleData: () => trigger()?.sampleData,
      onChange: changed,
    });
    actions ??= createActionList({
      list: $("action-list"),
      addButton: $("add-action"),
      catalog: ctx.catalog,
      sampleData: () => trigger()?.sampleData,
      trigger,
      onChange: changed,
      testWebhook: (args) => {
        const sample = readSample();
        const data = sample.error ? undefined : sample.data;
        return ctx.api.post("/api/webhooks/test", { ...args, eventName: triggerSelect.value, data });
      },
    });
    cancelOn ??= createCancelOnEditor({
      list: $("cancel-list"),
      addButton: $("add-cancel"),
      presetButton: $("add-cancel-preset"),
      catalog: ctx.catalog,
      trigger,
      onChange: changed,
    });
    flow ??= createFlowControlEditor({ onChange: changed });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save();
  });
  nameInput.addEventListener("input", changed);
  enabledInput.addEventListener("change", changed);
  triggerSelect.addEventListener("change", () => {
    changed();
    applyTrigger({ resetSample: true });
    builder.refresh();
    actions.refresh();
    cancelOn.refresh();
    ctx.notify("Trigger changed: the sample data and field suggestions follow it.");
  });
  const backtest = createBacktestPanel(ctx, {
    read() {
      const { body, errors: unreadable } = collect();
      if (unreadable.length) return { errors: unreadable };
      if (state.ruleId && !state.dirty) return { ruleId: state.ruleId };
      const { triggerEvent, conditionsJson, actionsJson } = body;
      return { rule: { triggerEvent, conditionsJson, actionsJson } };
    },
    showErrors(list) {
      errors.clear();
      errors.show(list);
    },
  });
  $("dry-run-button").addEventListener("click", dryRun);
  $("reset-sample").addEventListener("click", () => applyTrigger({ resetSample: true }));
  $("use-patient").addEventListener("click", usePatient);
  testButton.addEventListener("click", test);
  deleteButton.addEventListener("click", remove);

  return {
    /** Open the form on the rule ``ruleId``, or empty for a new rule. */
    async open({ ruleId } = {}) {
      parts();
      errors.clear();
      $("editor-test").replaceChildren();
      $("dry-run-result").replaceChildren();
      backtest.reset();
      fill(
        triggerSelect,
        ctx.catalog.triggers.map((t) => h("option", { value: t.name }, t.name)),
      );
      state.ruleId = null;
      saveState.textContent = "";
      deleteButton.hidden = true;
      $("editor-tabs").hidden = true;
      $("editor-title").textContent = "Create rule";
      const rule = ruleId ? await ctx.api.get(`/api/automations/${ruleId}`) : null;
      nameInput.value = rule?.name ?? "";
      enabledInput.checked = rule?.enabled ?? true;
      triggerSelect.value = rule?.triggerEvent ?? ctx.catalog.triggers[0]?.name;
      applyTrigger({ resetSample: true });
      builder.set(rule?.conditionsJson ?? null);
      actions.set(rule?.actionsJson ?? null);
      cancelOn.set(rule?.cancelOn ?? null);
      flow.set(rule);
      if (rule) showSaved(rule);
      state.dirty = false;
    },
  };
}
