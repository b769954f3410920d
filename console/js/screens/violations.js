// Violations (#/violations): missed fulfillment deadlines (GET /violations: the orders the
// deadline check refunded), the SKUs of those orders (GET /flagged-skus: refunds count and last
// order; seed 004: products of refunded orders may be disabled) and the quarantine (GET
// /quarantine: signed but malformed webhook payloads, kept with the reason). Each a table with its
// own paging (page_size 25/50/100/200, the API's cursor).
import { api } from "../api.js";
import { marketplaces } from "../marketplaces.js";
import { formatDate, formatNumber, register, t } from "../i18n.js";
import { clear, cursorPaging, errorBox, field, h, useStyles } from "../ui.js";

const SIZES = [25, 50, 100, 200];

register({
  en: {
    "violations.title": "Violations",
    "violations.intro":
      "Orders not shipped within their deadline and refunded by the deadline check (where the marketplace refunds overdue orders), the SKUs of those orders, and webhook payloads that were signed but could not be read.",
    "violations.missed.title": "Missed shipping deadlines",
    "violations.missed.empty": "No missed deadlines: no order has been refunded for shipping late.",
    "violations.col.at": "Refunded at",
    "violations.col.order": "Order",
    "violations.col.marketplace": "Marketplace",
    "violations.col.deadline": "Deadline",
    "violations.col.skus": "SKUs",
    "violations.col.kind": "Kind",
    "violations.kind.deadline_refunded": "Refunded after the deadline",
    "violations.flagged.title": "Flagged SKUs",
    "violations.flagged.intro": "SKUs of orders refunded for a missed deadline: check these products' stock and shipping times.",
    "violations.flagged.empty": "No flagged SKUs.",
    "violations.flagged.marketplace": "Marketplace",
    "violations.flagged.any": "All marketplaces",
    "violations.col.sku": "SKU",
    "violations.col.refunds": "Refunds",
    "violations.col.last_order": "Last order",
    "violations.col.last_at": "Last refunded at",
    "violations.quarantine.title": "Quarantine",
    "violations.quarantine.intro": "Webhook deliveries that were correctly signed but malformed: they were refused (400) and kept here, never dropped.",
    "violations.quarantine.empty": "The quarantine is empty.",
    "violations.col.received_at": "Received at",
    "violations.col.adapter": "Source",
    "violations.col.reason": "Reason",
    "violations.col.field": "Field",
    "violations.col.id": "Quarantine ID",
  },
  ja: {
    "violations.title": "出荷期限違反",
    "violations.intro":
      "出荷期限内に発送されず、期限チェックにより返金された受注(期限切れの受注を返金する販売サイトの場合)、その受注のSKU、署名は正しいが読み取れなかったWebhookの内容です。",
    "violations.missed.title": "出荷期限切れ",
    "violations.missed.empty": "出荷期限切れはありません。発送遅れで返金された受注はありません。",
    "violations.col.at": "返金日時",
    "violations.col.order": "注文",
    "violations.col.marketplace": "販売サイト",
    "violations.col.deadline": "出荷期限",
    "violations.col.skus": "SKU",
    "violations.col.kind": "種類",
    "violations.kind.deadline_refunded": "期限切れによる返金",
    "violations.flagged.title": "要注意SKU",
    "violations.flagged.intro": "出荷期限切れで返金された受注のSKUです。在庫と発送までの日数をご確認ください。",
    "violations.flagged.empty": "要注意SKUはありません。",
    "violations.flagged.marketplace": "販売サイト",
    "violations.flagged.any": "すべての販売サイト",
    "violations.col.sku": "SKU",
    "violations.col.refunds": "返金件数",
    "violations.col.last_order": "最新の注文",
    "violations.col.last_at": "最新の返金日時",
    "violations.quarantine.title": "隔離された受信データ",
    "violations.quarantine.intro": "署名は正しいものの形式が不正だったWebhookです。受信は拒否され(400)、破棄されずにここに保管されています。",
    "violations.quarantine.empty": "隔離されたデータはありません。",
    "violations.col.received_at": "受信日時",
    "violations.col.adapter": "受信元",
    "violations.col.reason": "理由",
    "violations.col.field": "項目",
    "violations.col.id": "隔離ID",
  },
});

function orderLink(orderId, number) {
  if (!orderId) return number || "—";
  return h("a", { href: `#/orders/${encodeURIComponent(orderId)}` }, number || orderId);
}

/**
 * One paged table: `fetch(query)` answers {rows, next_cursor}; the pager keeps the cursors of the
 * pages before (Previous) and re-reads in place, so the focus stays in this section.
 */
function pagedTable({ id, title, intro, columns, row, empty, fetch, extra }) {
  const heading = h("h2", { id: `${id}-h`, tabindex: "-1" }, t(title));
  const body = h("div", { class: "violations-body" });
  const section = h("section", { class: "violations-section", "aria-labelledby": `${id}-h`, dataset: { section: id } }, heading, intro ? h("p", { class: "hint" }, t(intro)) : null, extra || null, body);
  // the page size is this table's own (not in the URL): a change re-reads from the first page in place
  const paging = cursorPaging({
    pageSize: 50,
    sizes: SIZES,
    onChange: (move) => (move === "size" ? load() : load().then(() => heading.focus())),
  });
  async function load() {
    clear(body, h("p", { class: "loading" }, t("loading")));
    let page;
    try {
      page = await fetch({ page_size: paging.pageSize, cursor: paging.cursor || undefined });
    } catch (err) {
      clear(body, errorBox(err));
      return;
    }
    paging.took(page.next_cursor);
    clear(
      body,
      page.rows.length
        ? h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { "aria-labelledby": `${id}-h` },
              h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, t(`violations.col.${c}`))))),
              h("tbody", {}, page.rows.map(row)),
            ),
          )
        : h("p", { class: "notice", "data-testid": `${id}-empty` }, t(empty)),
      page.rows.length || paging.hasPrev || paging.hasNext ? paging.controls() : null,
    );
  }
  return { section, load, restart: () => (paging.reset(), load()) };
}

export async function render(root) {
  const MARKETPLACES = await marketplaces();
  useStyles("violations");

  const missed = pagedTable({
    id: "violations-missed",
    title: "violations.missed.title",
    columns: ["at", "order", "marketplace", "deadline", "skus", "kind"],
    empty: "violations.missed.empty",
    fetch: async (q) => {
      const page = await api.get("/violations", q);
      return { rows: page.violations || [], next_cursor: page.next_cursor };
    },
    row: (v) =>
      h(
        "tr",
        {},
        h("td", {}, formatDate(v.at)),
        h("td", {}, orderLink(v.order_id, v.marketplace_order_no)),
        h("td", {}, v.marketplace || ""),
        h("td", { class: "red" }, formatDate(v.deadline_at)),
        h("td", {}, (v.skus || []).map((s) => h("span", { class: "tag" }, s))),
        h("td", {}, v.kind ? t(`violations.kind.${v.kind}`) : ""),
      ),
  });

  const mpSelect = h(
    "select",
    { name: "marketplace" },
    h("option", { value: "" }, t("violations.flagged.any")),
    MARKETPLACES.map((m) => h("option", { value: m }, m)),
  );
  const flagged = pagedTable({
    id: "violations-flagged",
    title: "violations.flagged.title",
    intro: "violations.flagged.intro",
    extra: h("div", { class: "toolbar" }, field(t("violations.flagged.marketplace"), mpSelect)),
    columns: ["sku", "marketplace", "refunds", "last_order", "last_at"],
    empty: "violations.flagged.empty",
    fetch: async (q) => {
      const page = await api.get("/flagged-skus", { ...q, marketplace: mpSelect.value || undefined });
      return { rows: page.flagged_skus || [], next_cursor: page.next_cursor };
    },
    row: (s) =>
      h(
        "tr",
        {},
        h("td", {}, h("code", {}, s.sku || "")),
        h("td", {}, s.marketplace || ""),
        h("td", { class: "num" }, formatNumber(s.refunds)),
        h("td", {}, orderLink(s.last_order_id, s.last_marketplace_order_no)),
        h("td", {}, formatDate(s.last_at)),
      ),
  });
  mpSelect.addEventListener("change", () => flagged.restart());

  const quarantine = pagedTable({
    id: "violations-quarantine",
    title: "violations.quarantine.title",
    intro: "violations.quarantine.intro",
    columns: ["received_at", "adapter", "reason", "field", "id"],
    empty: "violations.quarantine.empty",
    fetch: async (q) => {
      const page = await api.get("/quarantine", q);
      return { rows: page.quarantine || [], next_cursor: page.next_cursor };
    },
    row: (q) => {
      const reason = q.reason && typeof q.reason === "object" ? q.reason : { message: q.reason };
      return h(
        "tr",
        {},
        h("td", {}, formatDate(q.received_at)),
        h("td", {}, q.adapter || "", q.headers && q.headers.marketplace ? h("div", { class: "hint" }, q.headers.marketplace) : null),
        h("td", {}, reason.message || "", reason.code ? h("div", { class: "hint" }, h("code", {}, reason.code)) : null),
        h("td", {}, reason.field ? h("code", {}, reason.field) : "—"),
        h("td", {}, h("code", {}, q.quarantine_id || "")),
      );
    },
  });

  clear(root, h("h1", {}, t("violations.title")), h("p", { class: "hint" }, t("violations.intro")), missed.section, flagged.section, quarantine.section);
  await Promise.all([missed.load(), flagged.load(), quarantine.load()]);
}
