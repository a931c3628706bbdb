// Bulk cancel / retry from the run history's filtered view (SPEC section 13): the filter shown
// (rule, status) is sent as is; the page confirms first, then follows the operation's progress.
import { describeError } from "./api.js";
import { $ } from "./dom.js";

export const APPLIES = { cancel: ["waiting", "held"], retry: ["failed"] };
const POLL_MS = 500;

/** Whether ``action`` can apply under the status filter ("" = all statuses). */
export const available = (action, status) => !status || APPLIES[action].includes(status);

/** The body of ``POST /api/runs/bulk`` for the history's filter. */
export function bulkRequest(action, { ruleId, status }) {
  const filter = {};
  if (ruleId) filter.ruleId = ruleId;
  if (status) filter.status = status;
  return { action, filter };
}

/** The confirmation question: what will change, for which runs. */
export function confirmText(action, { ruleName, status }) {
  const which = status ? `${status} runs` : APPLIES[action].join(" and ") + " runs";
  const scope = ruleName ? `of the rule “${ruleName}”` : "of every rule";
  return action === "cancel"
    ? `Cancel all ${which} ${scope}? Their remaining actions will be skipped. This cannot be undone.`
    : `Retry all ${which} ${scope} from the action that failed? Actions that succeeded are not repeated.`;
}

/** The progress line of an operation. */
export function progressText(op) {
  const verb = op.action === "cancel" ? "cancelled" : "queued for retry";
  if (op.status !== "done") return `${op.action}: ${op.processed} of ${op.matched} runs processed…`;
  return `${op.action} done: ${op.changed} of ${op.matched} matching runs ${verb}.`;
}

/** Buttons #bulk-cancel and #bulk-retry, status line #bulk-state. ``filter()`` gives
 * {ruleId, ruleName, status}; ``done()`` reloads the history. */
export function createBulkActions(ctx, { filter, done, confirm = (text) => window.confirm(text) }) {
  const buttons = { cancel: $("bulk-cancel"), retry: $("bulk-retry") };
  const state = $("bulk-state");

  function refresh() {
    const { status } = filter();
    for (const [action, button] of Object.entries(buttons)) button.hidden = !available(action, status);
  }

  async function follow(op) {
    state.textContent = progressText(op);
    while (op.status !== "done") {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      op = await ctx.api.get(`/api/runs/bulk/${op.id}`);
      state.textContent = progressText(op);
    }
    return op;
  }

  async function run(action) {
    const current = filter();
    if (!confirm(confirmText(action, current))) return;
    for (const button of Object.values(buttons)) button.disabled = true;
    try {
      const { body } = await ctx.api.post("/api/runs/bulk", bulkRequest(action, current));
      const op = await follow(body);
      ctx.notify(progressText(op));
      await done();
    } catch (error) {
      state.textContent = `The ${action} failed: ${describeError(error)}`;
    } finally {
      for (const button of Object.values(buttons)) button.disabled = false;
    }
  }

  buttons.cancel.addEventListener("click", () => run("cancel"));
  buttons.retry.addEventListener("click", () => run("retry"));
  return { refresh };
}
