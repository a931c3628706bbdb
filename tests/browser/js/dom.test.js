import { formatDelta, h, options, shortId } from "/static/dom.js";
import { equal } from "/js/assert.js";

export const tests = {
  "text from the API is never markup"() {
    const el = h("p", { class: "x" }, "<img src=x onerror=alert(1)>", ["a", null, false], 3);
    equal(el.querySelector("img"), null);
    equal(el.textContent, "<img src=x onerror=alert(1)>a3");
    equal(el.className, "x");
  },
  "properties, attributes and listeners"() {
    let clicks = 0;
    const button = h("button", { type: "button", disabled: false, "aria-label": "Go", onClick: () => clicks++ }, "go");
    button.click();
    equal(clicks, 1);
    equal(button.getAttribute("aria-label"), "Go");
    equal(button.hasAttribute("disabled"), false);
    const box = h("input", { type: "checkbox", checked: true });
    equal(box.checked, true);
  },
  "options mark the selected value"() {
    const select = h("select", {}, options([["a", "A"], "b"], "b"));
    equal(select.value, "b");
    equal(select.options[0].textContent, "A");
  },
  "deltas in ms and s"() {
    const t0 = "2025-03-01T09:15:00.000Z";
    equal(formatDelta(t0, "2025-03-01T09:15:00.120Z"), "+120 ms");
    equal(formatDelta(t0, "2025-03-01T09:15:02.5Z"), "+2.500 s");
    equal(formatDelta(t0, null), "");
    equal(shortId("0b8e6a52-7c1d-4f3a-9e2b-5d4c3b2a1f00"), "0b8e6a52");
  },
};
