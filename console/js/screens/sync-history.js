// Sync history (#/sync-history): every attempt to carry a marketplace (or merchant) cancel or
// modification to the shipment request, newest first (GET /sync-history: filters kind, outcome, marketplace,
// from/to; page_size 25/50/100/200; opaque cursor). Seed 001: 連携履歴 (注文キャンセル連携履歴 /
// 注文修正連携履歴).
import { api } from "../api.js";
import { marketplaces } from "../marketplaces.js";
import { formatDate, register, t } from "../i18n.js";
import { clear, cursorPaging, errorBox, field, filterForm, focusAfterRender, h, useStyles } from "../ui.js";

const KINDS = ["cancel", "modify"];
const OUTCOMES = ["applied", "requested", "joined", "accepted", "rejected", "not_reflected"];
const FILTERS = ["kind", "outcome", "marketplace", "from", "to"];
const SIZES = [25, 50, 100, 200];
const OUTCOME_PILL = { applied: "ok", accepted: "ok", requested: "warn", joined: "warn", rejected: "danger", not_reflected: "danger" };

register({
  en: {
    "sync.title": "Sync history",
    "sync.intro": "Every attempt to carry a cancellation or a change of an order to the warehouse's shipment request, newest first.",
    "sync.filters": "Filters",
    "sync.filter.kind": "Kind",
    "sync.filter.outcome": "Result",
    "sync.filter.marketplace": "Marketplace",
    "sync.filter.from": "From",
    "sync.filter.to": "To",
    "sync.filter.dates_hint": "Dates in UTC; a To date includes the whole day.",
    "sync.filter.any": "Any",
    "sync.filter.apply": "Search",
    "sync.filter.reset": "Clear filters",
    "sync.kind.cancel": "Cancel sync",
    "sync.kind.modify": "Modify sync",
    "sync.outcome.applied": "Applied",
    "sync.outcome.requested": "Requested from the warehouse",
    "sync.outcome.joined": "Joined a waiting request",
    "sync.outcome.accepted": "Accepted by the warehouse",
    "sync.outcome.rejected": "Rejected by the warehouse",
    "sync.outcome.not_reflected": "Not reflected",
    "sync.col.at": "Date",
    "sync.col.order": "Order",
    "sync.col.marketplace": "Marketplace",
    "sync.col.kind": "Kind",
    "sync.col.outcome": "Result",
    "sync.col.reason": "Reason",
    "sync.col.paid": "Paid request",
    "sync.col.source": "Started by",
    "sync.paid.yes": "Paid",
    "sync.paid.no": "—",
    "sync.source.marketplace": "Marketplace",
    "sync.source.merchant": "You",
    "sync.via.webhook": "webhook",
    "sync.via.refresh": "refresh",
    "sync.results": "History",
    "sync.empty": "No sync history yet: nothing has been carried to a shipment request.",
    "sync.empty_filtered": "No sync history matches these filters.",
    "sync.short_page": "Some entries were filtered out of this page; more may be on the next page.",
  },
  ja: {
    "sync.title": "連携履歴",
    "sync.intro": "注文のキャンセル・変更を倉庫の出庫依頼に反映しようとしたすべての記録です(新しい順)。",
    "sync.filters": "絞り込み",
    "sync.filter.kind": "種類",
    "sync.filter.outcome": "結果",
    "sync.filter.marketplace": "販売モール",
    "sync.filter.from": "開始日",
    "sync.filter.to": "終了日",
    "sync.filter.dates_hint": "日付はUTCです。終了日はその日全体を含みます。",
    "sync.filter.any": "すべて",
    "sync.filter.apply": "検索",
    "sync.filter.reset": "条件をクリア",
    "sync.kind.cancel": "注文キャンセル連携",
    "sync.kind.modify": "注文修正連携",
    "sync.outcome.applied": "反映済み",
    "sync.outcome.requested": "倉庫に依頼中",
    "sync.outcome.joined": "依頼中の依頼に合流",
    "sync.outcome.accepted": "倉庫が承諾",
    "sync.outcome.rejected": "倉庫が拒否",
    "sync.outcome.not_reflected": "反映されず",
    "sync.col.at": "日時",
    "sync.col.order": "注文",
    "sync.col.marketplace": "販売サイト",
    "sync.col.kind": "種類",
    "sync.col.outcome": "結果",
    "sync.col.reason": "理由",
    "sync.col.paid": "有料依頼",
    "sync.col.source": "起点",
    "sync.paid.yes": "有料",
    "sync.paid.no": "—",
    "sync.source.marketplace": "販売サイト",
    "sync.source.merchant": "販売者",
    "sync.via.webhook": "Webhook",
    "sync.via.refresh": "再取得",
    "sync.results": "履歴",
    "sync.empty": "連携履歴はまだありません。",
    "sync.empty_filtered": "条件に一致する連携履歴はありません。",
    "sync.short_page": "このページでは一部の履歴が絞り込みで除かれました。次のページに続きがある場合があります。",
  },
});

// After a filter change (a navigation), the focus goes to the results.
const focusResults = focusAfterRender();

function label(prefix, value) {
  if (value === undefined || value === null || value === "") return "";
  const key = `${prefix}.${value}`;
  const text = t(key);
  return text === key ? String(value) : text;
}

function select(name, values, current, prefix) {
  return h(
    "select",
    { name },
    h("option", { value: "" }, t("sync.filter.any")),
    values.map((v) => h("option", { value: v, selected: v === current }, label(prefix, v))),
  );
}

export async function render(root, params, ctx) {
  useStyles("sync-history");
  const MARKETPLACES = await marketplaces();
  const filters = Object.fromEntries(FILTERS.filter((k) => params[k]).map((k) => [k, params[k]]));
  const pageSize = SIZES.includes(Number(params.page_size)) ? Number(params.page_size) : 50;
  const paging = cursorPaging({
    pageSize,
    sizes: SIZES,
    onSize: (s) => go(filters, s),
    onChange: () => load().then(() => heading.focus()),
  });

  const form = filterForm({
    label: t("sync.filters"),
    names: FILTERS,
    applyLabel: t("sync.filter.apply"),
    resetLabel: t("sync.filter.reset"),
    onApply: (next) => go(next),
    controls: [
      field(t("sync.filter.kind"), select("kind", KINDS, filters.kind, "sync.kind")),
      field(t("sync.filter.outcome"), select("outcome", OUTCOMES, filters.outcome, "sync.outcome")),
      field(t("sync.filter.marketplace"), select("marketplace", MARKETPLACES, filters.marketplace, "sync.marketplace")),
      field(t("sync.filter.from"), h("input", { type: "date", name: "from", value: filters.from || "" }), t("sync.filter.dates_hint")),
      field(t("sync.filter.to"), h("input", { type: "date", name: "to", value: filters.to || "" })),
    ],
  });
  function go(next, size = pageSize) {
    focusResults.want("#sync-results-h");
    ctx.navigate("/sync-history", { ...next, page_size: size === 50 ? undefined : size });
  }

  const heading = h("h2", { id: "sync-results-h", tabindex: "-1" }, t("sync.results"));
  const results = h("div", { class: "sync-results" });
  clear(
    root,
    h("h1", {}, t("sync.title")),
    h("p", { class: "hint" }, t("sync.intro")),
    h("section", { class: "card" }, h("h2", {}, t("sync.filters")), form),
    heading,
    results,
  );

  function row(e) {
    const source = [label("sync.source", e.source), e.via ? `(${label("sync.via", e.via)})` : ""].filter(Boolean).join(" ");
    return h(
      "tr",
      { dataset: { syncId: e.sync_id || "" } },
      h("td", { class: "sync-date" }, formatDate(e.at)),
      h(
        "td",
        {},
        e.order_id ? h("a", { href: `#/orders/${encodeURIComponent(e.order_id)}` }, e.marketplace_order_no || e.order_id) : e.marketplace_order_no || "—",
      ),
      h("td", {}, e.marketplace || ""),
      h("td", {}, label("sync.kind", e.kind)),
      h("td", {}, h("span", { class: `pill ${OUTCOME_PILL[e.outcome] || ""}`.trim() }, label("sync.outcome", e.outcome))),
      h("td", {}, e.reason ? h("code", {}, e.reason) : "—"),
      h("td", {}, e.paid ? h("span", { class: "pill warn" }, t("sync.paid.yes")) : t("sync.paid.no")),
      h("td", {}, source || "—"),
    );
  }

  async function load() {
    clear(results, h("p", { class: "loading" }, t("loading")));
    let page;
    try {
      page = await api.get("/sync-history", { ...filters, page_size: pageSize, cursor: paging.cursor || undefined });
    } catch (err) {
      clear(results, errorBox(err, form));
      return;
    }
    paging.took(page.next_cursor);
    const entries = page.entries || [];
    const filtered = Object.keys(filters).length > 0;
    clear(
      results,
      entries.length
        ? h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { "aria-labelledby": "sync-results-h" },
              h(
                "thead",
                {},
                h("tr", {}, ["at", "order", "marketplace", "kind", "outcome", "reason", "paid", "source"].map((c) => h("th", { scope: "col" }, t(`sync.col.${c}`)))),
              ),
              h("tbody", {}, entries.map(row)),
            ),
          )
        : h("p", { class: "notice", "data-testid": "empty" }, t(filtered || paging.hasPrev ? "sync.empty_filtered" : "sync.empty")),
      entries.length < pageSize && page.next_cursor ? h("p", { class: "hint" }, t("sync.short_page")) : null,
      paging.controls(),
    );
  }

  await load();
  focusResults.restore(root);
}
