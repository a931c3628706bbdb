// The automations page: sign-in, navigation between views, and the context the views share.
// Navigation keeps ids in history.state only, never in the URL (the URL stays /settings/automations).
import { createApi, describeError, session } from "./api.js";
import { createAuditView } from "./audit.js";
import { makeCatalog } from "./catalog.js";
import { $, fill, h } from "./dom.js";
import { createDraftsView } from "./drafts.js";
import { createEditor } from "./editor.js";
import { createRunView, createRunsView } from "./history.js";
import { createPracticeView } from "./practice.js";
import { createRulesView } from "./rules.js";
import { createTraceView } from "./trace.js";
import { createVersionsView } from "./versions.js";

const VIEWS = ["signin", "rules", "editor", "versions", "runs", "run", "trace", "drafts", "settings", "audit"];
const NAV_OF = { rules: "rules", editor: "rules", versions: "rules", runs: "runs", run: "runs", trace: "trace", drafts: "drafts", settings: "settings", audit: "audit" };

let ruleNamesCache = null;
let noticeTimer = null;

const ctx = {
  api: createApi(() => signOut("Your API key was not accepted (revoked or wrong). Please sign in again.")),
  catalog: null,
  /** GET /api/practice, read once after sign-in (its time zone shows due times). */
  practice: null,
  navigate: (view, params = {}) => show(view, params, { push: true }),
  /** Record the current view's parameters (back/forward return to them). */
  remember: (view, params) => history.replaceState({ view, params }, "", location.pathname),
  notify(message, kind = "info") {
    const notice = $("notice");
    notice.className = `notice ${kind}`;
    notice.textContent = message;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => (notice.textContent = ""), 6000);
  },
  /** id -> name of every rule (for run lists), fetched once until rules change. */
  ruleNames() {
    ruleNamesCache ??= loadRuleNames().catch((error) => {
      ruleNamesCache = null;
      throw error;
    });
    return ruleNamesCache;
  },
  rulesChanged: () => (ruleNamesCache = null),
  /** Previous/next buttons for a {total, limit, offset} page. */
  pager(container, page, go) {
    const last = page.offset + page.items.length;
    fill(
      container,
      page.total > page.limit
        ? [
            h("button", { type: "button", disabled: page.offset === 0, onClick: () => go(Math.max(0, page.offset - page.limit)) }, "Previous"),
            h("span", {}, ` ${page.offset + 1}–${last} of ${page.total} `),
            h("button", { type: "button", disabled: last >= page.total, onClick: () => go(page.offset + page.limit) }, "Next"),
          ]
        : null,
    );
  },
};

async function loadRuleNames() {
  const names = new Map();
  for (let offset = 0; ; offset += 200) {
    const page = await ctx.api.get("/api/automations", { limit: 200, offset });
    for (const rule of page.items) names.set(rule.id, rule.name);
    if (offset + page.items.length >= page.total || !page.items.length) return names;
  }
}

const views = {
  signin: { open: async () => $("api-key").focus() },
  rules: createRulesView(ctx),
  editor: createEditor(ctx),
  runs: createRunsView(ctx),
  run: createRunView(ctx),
  trace: createTraceView(ctx),
  drafts: createDraftsView(ctx),
  settings: createPracticeView(ctx),
  versions: createVersionsView(ctx),
  audit: createAuditView(ctx),
};

async function show(view, params = {}, { push }) {
  if (view !== "signin" && !ctx.catalog) view = "signin";
  for (const name of VIEWS) $(`view-${name}`).hidden = name !== view;
  for (const button of document.querySelectorAll("#nav [data-nav]")) {
    button.setAttribute("aria-current", button.dataset.nav === NAV_OF[view] ? "page" : "false");
  }
  if (push) history.pushState({ view, params }, "", location.pathname);
  else history.replaceState({ view, params }, "", location.pathname);
  const heading = $(`view-${view}`).querySelector("h1");
  try {
    await views[view].open(params);
  } catch (error) {
    ctx.notify(describeError(error), "error");
  }
  if (view !== "signin") {
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
}

async function signIn(apiKey) {
  session.signIn(apiKey);
  // One after the other: a wrong key's second 401 must not sign out a key typed meanwhile.
  const catalog = makeCatalog(await ctx.api.get("/api/catalog"));
  ctx.practice = await ctx.api.get("/api/practice");
  ctx.catalog = catalog;
  $("nav").hidden = false;
  $("sign-out").hidden = false;
}

function signOut(message) {
  session.signOut();
  ctx.catalog = null;
  ctx.practice = null;
  ruleNamesCache = null;
  $("nav").hidden = true;
  $("sign-out").hidden = true;
  $("signin-error").textContent = message ?? "";
  show("signin", {}, { push: false });
}

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = $("api-key").value.trim();
  $("signin-error").textContent = "";
  if (!key) {
    $("signin-error").textContent = "Enter the practice's API key.";
    return;
  }
  try {
    await signIn(key);
    $("api-key").value = "";
    show("rules", {}, { push: true });
  } catch (error) {
    session.signOut();
    $("signin-error").textContent = error.status === 401 ? "That API key was not accepted." : describeError(error);
  }
});
$("sign-out").addEventListener("click", () => signOut("Signed out."));
for (const button of document.querySelectorAll("[data-nav]")) {
  button.addEventListener("click", () => ctx.navigate(button.dataset.nav));
}
window.addEventListener("popstate", (event) => {
  const { view, params } = event.state ?? {};
  show(view ?? "rules", params ?? {}, { push: false });
});

async function start() {
  const key = session.key();
  if (key) {
    try {
      await signIn(key);
      const { view, params } = history.state ?? {};
      return show(view ?? "rules", params ?? {}, { push: false });
    } catch (error) {
      if (error.status !== 401) $("signin-error").textContent = describeError(error);
    }
  }
  return show("signin", {}, { push: false });
}

start();
