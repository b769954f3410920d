// The console's shell: config, sign-in, the navigation (with the deadline badge), the language
// switch and the router. Screens live in js/screens/<name>.js and export
// `render(root, params, ctx)`; they call the merchant API only (js/api.js).
import { api, configure as configureApi } from "./api.js";
import * as auth from "./auth.js";
import { language, onLanguage, setLanguage, t } from "./i18n.js";
import { clear, h } from "./ui.js";

const ROUTES = [
  { pattern: /^\/orders\/([^/]+)$/, screen: "order-detail", nav: "orders", params: ["order_id"] },
  { pattern: /^\/orders$/, screen: "orders", nav: "orders" },
  { pattern: /^\/fulfillment$/, screen: "fulfillment", nav: "fulfillment" },
  { pattern: /^\/shipments$/, screen: "shipments", nav: "shipments" },
  { pattern: /^\/cancelled$/, screen: "cancelled", nav: "cancelled" },
  { pattern: /^\/mappings$/, screen: "mappings", nav: "mappings" },
  { pattern: /^\/integrations$/, screen: "integrations", nav: "integrations" },
  { pattern: /^\/sync-history$/, screen: "sync-history", nav: "sync_history" },
  { pattern: /^\/violations$/, screen: "violations", nav: "violations" },
  { pattern: /^\/notifications$/, screen: "notifications", nav: "notifications" },
];
const NAV = [
  ["orders", "#/orders"],
  ["fulfillment", "#/fulfillment"],
  ["shipments", "#/shipments"],
  ["cancelled", "#/cancelled"],
  ["mappings", "#/mappings"],
  ["integrations", "#/integrations"],
  ["sync_history", "#/sync-history"],
  ["violations", "#/violations"],
  ["notifications", "#/notifications"],
];

const app = document.getElementById("app");
let main = null;
let navEl = null;
let badge = null;
let rendering = 0;

/** The current route: path and the hash's query (#/orders?status=new). */
export function current() {
  const hash = location.hash.replace(/^#/, "") || "/orders";
  const [path, query = ""] = hash.split("?");
  return { path, query: Object.fromEntries(new URLSearchParams(query)) };
}

/** Go to a route; `query` replaces the hash's query. */
export function navigate(path, query = {}) {
  const q = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== ""));
  const next = `#${path}${q.toString() ? `?${q}` : ""}`;
  if (location.hash === next) route();
  else location.hash = next;
}

/** The red badge on Fulfillment: orders due within 24 hours plus overdue ones (GET /orders/counts, GET /orders). */
export async function refreshBadge() {
  if (!badge) return;
  try {
    // unfulfilled orders past their deadline or due within 24 h (the digest's rule, counted by the API)
    const counts = await api.get("/orders/counts");
    const n = (counts.past_deadline || 0) + (counts.due_within_24h || 0);
    badge.textContent = n > 0 ? String(n) : "";
    badge.hidden = n === 0;
    badge.setAttribute("aria-label", t("badge.due", { n }));
    badge.title = t("badge.due", { n });
  } catch {
    badge.hidden = true;
  }
}

function shell() {
  const who = auth.who() || {};
  badge = h("span", { class: "badge", hidden: true, "data-testid": "due-badge" });
  navEl = h(
    "nav",
    { class: "nav", "aria-label": t("nav.label") },
    h(
      "ul",
      {},
      NAV.map(([key, href]) =>
        h("li", {}, h("a", { href, dataset: { nav: key } }, t(`nav.${key}`), key === "fulfillment" ? badge : null)),
      ),
    ),
  );
  const langSelect = h(
    "select",
    { id: "lang", "aria-label": t("lang.label"), onchange: (e) => setLanguage(e.target.value) },
    h("option", { value: "ja", selected: language() === "ja" }, "日本語"),
    h("option", { value: "en", selected: language() === "en" }, "English"),
  );
  const signOut = h("button", { type: "button", class: "secondary", onclick: () => auth.signOut() }, t("signout"));
  main = h("main", { id: "main", tabindex: "-1" });
  clear(
    app,
    h(
      "header",
      { class: "topbar" },
      h("a", { class: "brand", href: "#/orders" }, t("app.title")),
      h("span", { class: "who", "data-testid": "merchant" }, t("signed_in_as", { who: who.merchant_id || "?" })),
      h("span", { class: "topbar-tools" }, langSelect, signOut),
    ),
    navEl,
    main,
  );
}

async function route() {
  if (!main) return;
  const { path, query } = current();
  const match = ROUTES.map((r) => [r, path.match(r.pattern)]).find(([, m]) => m);
  for (const a of navEl.querySelectorAll("a")) {
    const on = match && a.dataset.nav === match[0].nav;
    a.classList.toggle("active", !!on);
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const token = ++rendering;
  if (!match) {
    clear(main, h("p", {}, t("not_found")));
    return;
  }
  const [r, m] = match;
  const params = { ...query };
  (r.params || []).forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1])));
  clear(main, h("p", { class: "loading" }, t("loading")));
  try {
    const mod = await import(`./screens/${r.screen}.js`);
    if (token !== rendering) return;
    const root = h("div", { class: `screen screen-${r.screen}` });
    clear(main, root);
    await mod.render(root, params, { navigate, refreshBadge, current });
  } catch (err) {
    if (token !== rendering) return;
    console.error(err);
    clear(
      main,
      h("div", { class: "error-box", role: "alert" }, h("p", {}, t("error.title")), h("p", {}, String(err.message || err))),
      h("button", { type: "button", onclick: route }, t("retry")),
    );
  }
  refreshBadge();
}

async function start() {
  const cfg = await fetch("config.json", { cache: "no-store" }).then((r) => r.json());
  auth.configure(cfg);
  configureApi(cfg.api_url);
  try {
    await auth.completeSignIn();
  } catch (err) {
    clear(app, h("div", { class: "error-box", role: "alert" }, String(err.message || err)),
      h("button", { type: "button", onclick: () => auth.signIn("#/orders") }, t("signin")));
    return;
  }
  if (!auth.signedIn()) {
    clear(app, h("p", { class: "loading" }, t("signing_in")));
    await auth.signIn(location.hash || "#/orders");
    return;
  }
  shell();
  onLanguage(() => {
    shell();
    route();
  });
  window.addEventListener("hashchange", route);
  if (!location.hash) history.replaceState(null, "", "#/orders");
  await route();
}

start();
