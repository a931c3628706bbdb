// Errors next to the fields they concern: each element with data-loc can receive the API's 422
// messages (see errors.js for the matching), and a summary at the top lists them all with a
// button to reach each field. Fields get aria-invalid and aria-describedby for screen readers.
import { describeError } from "./api.js";
import { fill, h, uid } from "./dom.js";
import { placeErrors } from "./errors.js";

const CONTROLS = "input, select, textarea";

export function createFormErrors(form, summary) {
  function target(key) {
    return form.querySelector(`[data-loc="${CSS.escape(key)}"]`);
  }

  function clearErrors() {
    form.querySelectorAll(".field-error.placed").forEach((el) => el.remove());
    form.querySelectorAll("[aria-invalid]").forEach((el) => {
      el.removeAttribute("aria-invalid");
      const ids = (el.getAttribute("aria-describedby") ?? "").split(" ").filter((i) => !i.startsWith("err-"));
      if (ids.length) el.setAttribute("aria-describedby", ids.join(" "));
      else el.removeAttribute("aria-describedby");
    });
    form.querySelectorAll(".invalid").forEach((el) => el.classList.remove("invalid"));
    summary.hidden = true;
    summary.replaceChildren();
  }

  function labelOf(el) {
    return el.labels?.[0]?.textContent.trim() || el.dataset.label || el.getAttribute("aria-label") || "form";
  }

  function attachError(el, msg) {
    const error = h("p", { class: "field-error placed", id: uid("err") }, msg);
    if (el.matches(CONTROLS)) {
      el.setAttribute("aria-invalid", "true");
      el.setAttribute("aria-describedby", `${el.getAttribute("aria-describedby") ?? ""} ${error.id}`.trim());
      el.after(error);
    } else {
      el.classList.add("invalid");
      const head = el.querySelector(":scope > legend, :scope > .row");
      if (head) head.after(error);
      else el.prepend(error);
    }
  }

  function focusable(el) {
    return el.matches(CONTROLS) ? el : (el.querySelector(CONTROLS) ?? el);
  }

  /** Show 422 items (or the form's own parse errors) next to their fields and in a summary. */
  function showErrors(detail) {
    const placed = placeErrors(detail, (key) => target(key) !== null);
    const items = placed.map(({ key, msg, where }) => {
      const el = key ? target(key) : null;
      if (el) attachError(el, msg);
      const what = el
        ? h("button", { type: "button", class: "link", onClick: () => focusable(el).focus() }, labelOf(el))
        : h("code", {}, where || "request");
      return h("li", {}, what, `: ${msg}`);
    });
    const count = items.length === 1 ? "1 problem" : `${items.length} problems`;
    fill(summary, h("p", {}, h("strong", {}, count), " to fix:"), h("ul", {}, items));
    summary.hidden = false;
    summary.focus();
  }

  function showFailure(error) {
    if (error.fieldErrors?.length) showErrors(error.fieldErrors);
    else showErrors([{ loc: [], msg: describeError(error) }]);
  }

  return { clear: clearErrors, show: showErrors, showFailure };
}
