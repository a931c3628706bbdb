// Practice settings: the time zone (delays' times of day, quiet hours and the due times runs show)
// and quiet hours. The API judges the zone; its 422 shows next to the field.
import { $, fill, h } from "./dom.js";
import { createFormErrors } from "./formerrors.js";

/** Every IANA zone the browser knows, as suggestions (the API's tzdata is what counts). */
function zoneNames() {
  const names = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return names.includes("UTC") ? names : ["UTC", ...names];
}

export function createPracticeView(ctx) {
  const form = $("practice-form");
  const zone = $("practice-zone");
  const quietOn = $("quiet-on");
  const start = $("quiet-start");
  const end = $("quiet-end");
  const state = $("practice-state");
  const errors = createFormErrors(form, $("practice-errors"));

  function syncQuiet() {
    start.disabled = !quietOn.checked;
    end.disabled = !quietOn.checked;
  }

  function show(practice) {
    zone.value = practice.timeZone;
    quietOn.checked = practice.quietHours !== null;
    start.value = practice.quietHours?.start ?? "21:00";
    end.value = practice.quietHours?.end ?? "08:00";
    syncQuiet();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.clear();
    state.textContent = "";
    const body = {
      timeZone: zone.value.trim(),
      quietHours: quietOn.checked ? { start: start.value, end: end.value } : null,
    };
    try {
      ctx.practice = await ctx.api.patch("/api/practice", body);
      show(ctx.practice);
      state.textContent = "Saved.";
      ctx.notify("Practice settings saved.");
    } catch (error) {
      errors.showFailure(error);
    }
  });
  quietOn.addEventListener("change", syncQuiet);

  return {
    async open() {
      errors.clear();
      state.textContent = "";
      if (!$("time-zones").children.length) fill($("time-zones"), zoneNames().map((name) => h("option", { value: name })));
      ctx.practice = await ctx.api.get("/api/practice");
      show(ctx.practice);
    },
  };
}
