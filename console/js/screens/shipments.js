// Shipments (#/shipments): the shipments the warehouse has or had (seed 002's 出荷一覧), one
// stage per tab with the count of each (requested, picking, picked, packed, shipped, withdrawn),
// the filters GET /shipments accepts (requested date from/to, marketplace, a packing number or
// order number), paging with the API's cursor, and each row linking to the order. What a row
// shows (stage time, tracking, withdrawal) is the API's answer; nothing is worked out here.
import { api } from "../api.js";
import { marketplaces } from "../marketplaces.js";
import { formatDate, formatNumber, register, t } from "../i18n.js";
import { clear, cursorPaging, errorBox, field, filterForm, focusAfterRender, h, stageLabel, statusLabel, tabBar } from "../ui.js";

// The stages of GET /shipments (layers/shared/orderhub/domain/status.py SHIPMENT_LIST_STAGES).
const STAGES = ["requested", "picking", "picked", "packed", "shipped", "withdrawn"];
const FILTERS = ["marketplace", "from", "to", "q"];
const SIZES = [25, 50, 100, 200];

register({
  en: {
    "shipments.title": "Shipments",
    "shipments.intro":
      "Shipments sent to the warehouse, by stage. A shipment the warehouse withdrew (the order was cancelled while it was being picked) stays listed under Withdrawn. Deleted orders are not listed.",
    "shipments.tabs": "Shipment stage",
    "shipments.filter.title": "Filters",
    "shipments.filter.marketplace": "Marketplace",
    "shipments.filter.from": "Requested from",
    "shipments.filter.to": "Requested to",
    "shipments.filter.q": "Packing no. or order number",
    "shipments.filter.q_hint": "The exact number; searches this stage.",
    "shipments.filter.dates_hint": "Whole days in your time zone.",
    "shipments.filter.any": "Any",
    "shipments.filter.apply": "Search",
    "shipments.filter.reset": "Clear filters",
    "shipments.col.order": "Order number",
    "shipments.col.marketplace": "Marketplace",
    "shipments.col.packing": "Packing no.",
    "shipments.col.recipient": "Recipient",
    "shipments.col.items": "Items",
    "shipments.col.requested_at": "Requested at",
    "shipments.col.stage_at": "Stage reached at",
    "shipments.col.details": "Details",
    "shipments.items": "{lines} lines, {quantity} pcs",
    "shipments.tracking": "{carrier} {number}",
    "shipments.withdrawal.requested": "Withdrawal requested {at}",
    "shipments.withdrawal.withdrawn": "Withdrawn {at}",
    "shipments.withdrawal.by.merchant": "by you",
    "shipments.withdrawal.by.marketplace": "by the marketplace",
    "shipments.empty": "No shipments in this stage match these filters.",
    "shipments.short_page": "Some shipments were filtered out of this page; more may be on the next page.",
  },
  ja: {
    "shipments.title": "出荷一覧",
    "shipments.intro":
      "倉庫へ出荷依頼した出荷を、出荷ステータス別に表示します。ピッキング中にキャンセルされ倉庫が取り下げた出荷は「出荷取消」に残ります。削除した受注は表示されません。",
    "shipments.tabs": "出荷ステータス",
    "shipments.filter.title": "絞り込み",
    "shipments.filter.marketplace": "販売サイト",
    "shipments.filter.from": "出荷依頼日(開始)",
    "shipments.filter.to": "出荷依頼日(終了)",
    "shipments.filter.q": "パッキング番号または注文番号",
    "shipments.filter.q_hint": "番号の完全一致で、このステータスの中を検索します。",
    "shipments.filter.dates_hint": "ショップのタイムゾーンの日単位です。",
    "shipments.filter.any": "すべて",
    "shipments.filter.apply": "検索",
    "shipments.filter.reset": "条件をクリア",
    "shipments.col.order": "注文番号",
    "shipments.col.marketplace": "販売サイト",
    "shipments.col.packing": "パッキング番号",
    "shipments.col.recipient": "お届け先",
    "shipments.col.items": "商品",
    "shipments.col.requested_at": "出荷依頼日時",
    "shipments.col.stage_at": "ステータス日時",
    "shipments.col.details": "詳細",
    "shipments.items": "{lines}行・{quantity}点",
    "shipments.tracking": "{carrier} {number}",
    "shipments.withdrawal.requested": "出荷取下げ依頼中 {at}",
    "shipments.withdrawal.withdrawn": "出荷取消 {at}",
    "shipments.withdrawal.by.merchant": "(販売者)",
    "shipments.withdrawal.by.marketplace": "(販売サイト)",
    "shipments.empty": "このステータスに条件に一致する出荷はありません。",
    "shipments.short_page": "このページでは一部の出荷が絞り込みで除かれました。次のページに続きがある場合があります。",
  },
});

// After a tab or filter change (a navigation), the focus goes back to the tab or the results.
const focusNext = focusAfterRender();

export async function render(root, params, ctx) {
  const MARKETPLACES = await marketplaces();
  const stage = STAGES.includes(params.stage) ? params.stage : "requested";
  const filters = Object.fromEntries(FILTERS.filter((k) => params[k]).map((k) => [k, params[k]]));
  const pageSize = SIZES.includes(Number(params.page_size)) ? Number(params.page_size) : 50;
  const paging = cursorPaging({
    pageSize,
    sizes: SIZES,
    onSize: (s) => go(stage, filters, s),
    onChange: () => load().then(() => resultsHeading.focus()),
  });

  function go(nextStage, next, size = pageSize) {
    ctx.navigate("/shipments", {
      stage: nextStage === "requested" ? undefined : nextStage,
      ...next,
      page_size: size === 50 ? undefined : size,
    });
  }

  // ---- tabs (ui.tabBar: arrow keys move between them; Enter/Space opens one), with the counts
  const { bar: tablist, counts } = tabBar({
    label: t("shipments.tabs"),
    idPrefix: "shipments-tab",
    panelId: "shipments-panel",
    items: STAGES,
    current: stage,
    labelOf: stageLabel,
    withCounts: true,
    dataKey: "stage",
    onSelect: (s) => {
      focusNext.want(`#shipments-tab-${s}`);
      go(s, filters);
    },
  });

  const form = filterForm({
    label: t("shipments.filter.title"),
    names: FILTERS,
    applyLabel: t("shipments.filter.apply"),
    resetLabel: t("shipments.filter.reset"),
    onApply: (next) => {
      focusNext.want("#shipments-results-h");
      go(stage, next);
    },
    controls: [
      field(
        t("shipments.filter.q"),
        h("input", { type: "search", name: "q", value: filters.q || "", maxlength: 100, autocomplete: "off" }),
        t("shipments.filter.q_hint"),
      ),
      field(
        t("shipments.filter.marketplace"),
        h(
          "select",
          { name: "marketplace" },
          h("option", { value: "" }, t("shipments.filter.any")),
          MARKETPLACES.map((m) => h("option", { value: m, selected: m === filters.marketplace }, m)),
        ),
      ),
      field(t("shipments.filter.from"), h("input", { type: "date", name: "from", value: filters.from || "" }), t("shipments.filter.dates_hint")),
      field(t("shipments.filter.to"), h("input", { type: "date", name: "to", value: filters.to || "" })),
    ],
  });

  const results = h("div", { class: "shipments-results" });
  const resultsHeading = h("h2", { id: "shipments-results-h", tabindex: "-1" }, stageLabel(stage));
  const panel = h(
    "section",
    { id: "shipments-panel", role: "tabpanel", "aria-labelledby": `shipments-tab-${stage}`, tabindex: "-1" },
    resultsHeading,
    results,
  );

  clear(
    root,
    h("h1", {}, t("shipments.title")),
    h("p", { class: "hint" }, t("shipments.intro")),
    tablist,
    h("section", { class: "card" }, h("h2", {}, t("shipments.filter.title")), form),
    panel,
  );

  function details(r) {
    const out = [];
    if (r.tracking) {
      out.push(h("div", { "data-testid": "tracking" }, t("shipments.tracking", { carrier: r.tracking.carrier, number: r.tracking.tracking_number })));
    }
    if (r.withdrawal) {
      const w = r.withdrawal;
      const at = formatDate(w.state === "withdrawn" ? w.withdrawn_at : w.requested_at);
      const by = w.by ? t(`shipments.withdrawal.by.${w.by}`) : "";
      out.push(
        h(
          "div",
          { "data-testid": "withdrawal" },
          h("span", { class: `pill ${w.state === "withdrawn" ? "" : "warn"}`.trim() }, t(`shipments.withdrawal.${w.state}`, { at })),
          by ? " " + by : null,
          w.reason ? h("div", { class: "hint" }, w.reason) : null,
        ),
      );
    }
    if (r.status && r.status !== "processing") out.push(h("div", { class: "hint" }, statusLabel(r.status)));
    return out;
  }

  function row(r) {
    return h(
      "tr",
      { dataset: { orderId: r.order_id, stage: r.stage } },
      h("td", {}, h("a", { href: `#/orders/${encodeURIComponent(r.order_id)}` }, r.marketplace_order_no || r.order_id)),
      h("td", {}, r.marketplace || ""),
      h("td", { "data-testid": "packing" }, r.packing_no || ""),
      h("td", {}, r.recipient_name || ""),
      h("td", {}, t("shipments.items", { lines: formatNumber(r.item_lines), quantity: formatNumber(r.item_quantity) })),
      h("td", {}, formatDate(r.requested_at)),
      h("td", {}, r.stage_at ? formatDate(r.stage_at) : "—"),
      h("td", {}, details(r)),
    );
  }

  async function load() {
    clear(results, h("p", { class: "loading" }, t("loading")));
    let page;
    try {
      page = await api.get("/shipments", { stage, ...filters, page_size: pageSize, cursor: paging.cursor || undefined });
    } catch (err) {
      clear(results, errorBox(err, form));
      return;
    }
    paging.took(page.next_cursor);
    for (const s of STAGES) counts[s].textContent = formatNumber(page.counts?.[s] ?? 0);
    const rows = page.shipments || [];
    const table = rows.length
      ? h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { "aria-labelledby": "shipments-results-h" },
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["order", "marketplace", "packing", "recipient", "items", "requested_at", "stage_at", "details"].map((c) =>
                  h("th", { scope: "col" }, t(`shipments.col.${c}`)),
                ),
              ),
            ),
            h("tbody", {}, rows.map(row)),
          ),
        )
      : h("p", { class: "notice", "data-testid": "empty" }, t("shipments.empty"));
    clear(
      results,
      table,
      rows.length < pageSize && page.next_cursor ? h("p", { class: "hint" }, t("shipments.short_page")) : null,
      paging.controls(),
    );
  }

  await load();
  focusNext.restore(root);
}
