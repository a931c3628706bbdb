// send_webhook's "Send test request": the dry run (POST /api/webhooks/test) renders and signs the
// request for the sample data and returns it WITHOUT sending it; the panel shows it as HTTP text.
import { describeError } from "./api.js";
import { fill, h } from "./dom.js";

export const SEND_WEBHOOK = "send_webhook";

/** The request as it would go on the wire: request line, headers, a blank line, the body. Pure. */
export function requestText(request) {
  let body = request.body ?? "";
  try {
    body = JSON.stringify(JSON.parse(body), null, 2); // shown pretty; the signature covers the compact bytes
  } catch {
    // not JSON: shown as is
  }
  const headers = Object.entries(request.headers ?? {}).map(([name, value]) => `${name}: ${value}`);
  return [`${request.method ?? "POST"} ${request.url}`, ...headers, "", body].join("\n");
}

/**
 * The panel under a send_webhook step: ``readArgs()`` gives ``{args, errors}`` of the step;
 * ``testWebhook(args)`` calls the dry run and resolves to ``{body}`` (the signed request).
 */
export function webhookTestPanel({ readArgs, testWebhook }) {
  const output = h("div", { class: "webhook-test-result", role: "status", "aria-live": "polite" });
  const button = h(
    "button",
    {
      type: "button",
      onClick: async () => {
        const { args, errors } = readArgs();
        if (errors.length) {
          fill(output, h("p", { class: "error-text" }, errors.map((e) => e.msg).join("; ")));
          return;
        }
        button.disabled = true;
        fill(output, h("p", { class: "muted" }, "Signing…"));
        try {
          const { body } = await testWebhook(args);
          fill(
            output,
            h("p", { class: "outcome pass" }, "Not sent — the signed request it would make for the sample data:"),
            h("pre", { class: "json webhook-request" }, requestText(body)),
          );
        } catch (error) {
          fill(output, h("p", { class: "error-text" }, describeError(error)));
        } finally {
          button.disabled = false;
        }
      },
    },
    "Send test request",
  );
  return h(
    "div",
    { class: "webhook-test" },
    h("div", { class: "row" }, button, h("span", { class: "hint" }, "Dry run: shows the signed request, sends nothing.")),
    output,
  );
}
