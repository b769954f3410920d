// Orders (#/orders): the order list of seed 003 (受注一覧). Tabs by status with live counts
// (GET /orders/counts), the filters and presets of GET /orders (orders/list_params.py), page
// sizes 25/50/100/200 over the API's cursor (a stack of cursors for Previous), the filter state in
// the hash query (#/orders?status=new&mapping=fail) so a reload keeps it.
// Selection: on the page (header checkbox), or "every order this filter shows" — the API has no
// total for a filter, so that selection is the filter itself, and only the filter jobs take it
// (ALL_JOBS: confirm, send shipping info, retry reflects, refresh, item mapping; progress by
// GET /jobs/{id}). For orders
// selected on the page, an action is offered only when every selected order's `actions` has it.
// Also exports the bits the detail and mapping screens share (days remaining, tags, jobs, results).
import { api, ApiError } from "../api.js";
import { marketplaces } from "../marketplaces.js";
import { formatDate, formatNumber, register, t } from "../i18n.js";
import {
  actionLabel,
  busy,
  clear,
  confirmDialog,
  cursorPaging,
  errorBox,
  errorLines,
  field,
  fileStamp,
  focusAfterRender,
  followJob,
  h,
  saveBlob,
  stageLabel,
  statusLabel,
  tabBar,
  toast,
  uid,
  useStyles,
} from "../ui.js";

// The tabs of GET /orders/counts (`all` = no status filter) and the presets of GET /orders.
const TABS = ["all", "pending", "new", "processing", "shipped", "on_hold", "cancelled", "closed"];
const PRESETS = ["today", "last_7_days", "unmapped", "due_24h", "overdue"];
const FORM_KEYS = ["q", "marketplace", "country", "mapping", "date_basis", "from", "to", "tag"];
const FILTER_KEYS = ["status", "preset", ...FORM_KEYS];
const SIZES = [25, 50, 100, 200];
const DEFAULT_SIZE = 50; // seed 003: 基本値は50
// Tags orderhub sets itself (docs/registration.md): labelled and explained.
const KNOWN_TAGS = ["mall_reflect_error", "withdrawal_requested"];
// What a selection of orders on the page may be offered (each only when every selected order has it).
const BULK = ["confirm", "ship_request", "map_items", "refresh"];
// What every order a filter shows may be given: the route of each filter job.
const ALL_JOBS = {
  confirm: "/orders/confirm",
  ship_request: "/orders/ship-requests",
  retry_reflect: "/orders/reflect-retry",
  refresh: "/orders/refresh",
  map: "/item-mappings/apply",
};
const STATUS_PILL = { new: "warn", processing: "", shipped: "ok", closed: "ok", on_hold: "danger", cancelled: "danger" };
const DAY_MS = 24 * 60 * 60 * 1000;

register({
  en: {
    "orders.title": "Orders",
    "orders.tabs": "Order status",
    "orders.presets": "Search presets",
    "orders.preset.today": "Today",
    "orders.preset.last_7_days": "Last 7 days",
    "orders.preset.unmapped": "Mapping failed",
    "orders.preset.due_24h": "Due within 24 hours",
    "orders.preset.overdue": "Overdue",
    "orders.preset.clear": "Clear conditions",
    "orders.search": "Detailed search",
    "orders.search.submit": "Search",
    "orders.filter.q": "Order number",
    "orders.filter.marketplace": "Marketplace",
    "orders.filter.country": "Ship-to country",
    "orders.filter.mapping": "Item mapping result",
    "orders.filter.any": "Any",
    "orders.filter.date_basis": "Date basis",
    "orders.filter.date_basis.placed": "Order date",
    "orders.filter.date_basis.updated": "Last updated",
    "orders.filter.from": "From",
    "orders.filter.to": "To",
    "orders.filter.tag": "Tag",
    "orders.mapping.ok": "OK",
    "orders.mapping.fail": "FAIL",
    "orders.col.select": "Select",
    "orders.col.no": "Order number",
    "orders.col.marketplace": "Marketplace",
    "orders.col.status": "Status",
    "orders.col.stage": "Shipment",
    "orders.col.placed": "Ordered",
    "orders.col.recipient": "Recipient",
    "orders.col.items": "Items / mapping",
    "orders.col.days": "Days left",
    "orders.col.tags": "Tags",
    "orders.items_n": "{n} items",
    "orders.items_n#one": "1 item",
    "orders.unmapped": "Mapping FAIL",
    "orders.days.n": "{n} days",
    "orders.days.n#one": "1 day",
    "orders.days.one": "1 day",
    "orders.days.today": "Due today",
    "orders.days.past": "Deadline passed",
    "orders.days.overdue": "Overdue",
    "orders.days.none": "—",
    "orders.tag.mall_reflect_error": "Marketplace reflect error",
    "orders.tag.withdrawal_requested": "Withdrawal requested",
    "orders.select_page": "Select all orders on this page",
    "orders.select_order": "Select order {no}",
    "orders.selection.none": "No order selected.",
    "orders.selection.n": "{n} orders selected on this page.",
    "orders.selection.n#one": "1 order selected on this page.",
    "orders.selection.all": "Every order this filter shows is selected.",
    "orders.selection.all_known": "All {n} orders of this filter are selected.",
    "orders.selection.all_known#one": "The 1 order of this filter is selected.",
    "orders.selection.all_button": "Select every order this filter shows",
    "orders.selection.all_button_n": "Select all {n} results",
    "orders.selection.all_button_n#one": "Select the 1 result",
    "orders.selection.clear": "Clear selection",
    "orders.selection.none_common": "The selected orders have no action in common.",
    "orders.selection.label": "Actions on the selected orders",
    "orders.all.refresh": "Refresh all from the marketplace",
    "orders.all.map": "Apply item mapping to all",
    "orders.all.refresh.confirm": "Refresh every order this filter shows from its marketplace? This takes time; refresh single orders when you can.",
    "orders.all.map.confirm": "Apply the item mapping table to every order this filter shows (not only the selected ones)?",
    "orders.all.refresh.title": "Refreshing every order of the filter",
    "orders.all.map.title": "Applying item mapping to every order of the filter",
    "orders.all.confirm": "Confirm all",
    "orders.all.confirm.confirm": "Confirm every order this filter shows (not only the selected ones)? Each order moves to Processing; the results list any order that could not be confirmed.",
    "orders.all.confirm.title": "Confirming every order of the filter",
    "orders.all.ship_request": "Send shipping info for all",
    "orders.all.ship_request.confirm": "Send shipping info to the warehouse for every order this filter shows (not only the selected ones)? Orders with unmapped items are left out and listed in the results.",
    "orders.all.ship_request.title": "Sending shipping info for every order of the filter",
    "orders.all.retry_reflect": "Retry all marketplace updates",
    "orders.all.retry_reflect.confirm": "Send each marketplace again the change it was not told, for every order this filter shows? Orders whose update then succeeds lose the reflect-error tag.",
    "orders.all.retry_reflect.title": "Retrying the marketplace updates of the filter",
    "orders.results": "Results",
    "orders.results.summary": "{ok} succeeded, {failed} failed.",
    "orders.results.more": "…and {n} more.",
    "orders.result.ok": "Done",
    "orders.result.failed": "Failed",
    "orders.result.mapping": "Mapping {mapping}",
    "orders.result.outcome": "Outcome: {outcome}",
    "orders.job.queued": "Waiting to start…",
    "orders.job.progress": "{processed} of {total} processed: {succeeded} succeeded, {failed} failed.",
    "orders.job.progress_unknown": "{processed} processed: {succeeded} succeeded, {failed} failed.",
    "orders.job.done": "Finished: {total} orders, {succeeded} succeeded, {failed} failed.",
    "orders.job.done#one": "Finished: 1 order, {succeeded} succeeded, {failed} failed.",
    "orders.job.failed": "The job failed: {message}",
    "orders.working": "{done} of {total}…",
    "orders.empty": "No orders match these conditions.",
    "orders.table": "Orders",
    "orders.page_info": "Page {n}",
  },
  ja: {
    "orders.title": "受注一覧",
    "orders.tabs": "受注ステータス",
    "orders.presets": "検索プリセット",
    "orders.preset.today": "今日",
    "orders.preset.last_7_days": "過去7日間",
    "orders.preset.unmapped": "アイテム紐付FAIL",
    "orders.preset.due_24h": "24時間以内に出荷期限",
    "orders.preset.overdue": "出荷期限切れ",
    "orders.preset.clear": "検索条件をクリア",
    "orders.search": "詳細条件指定",
    "orders.search.submit": "検索",
    "orders.filter.q": "注文番号",
    "orders.filter.marketplace": "販売モール",
    "orders.filter.country": "配送先国",
    "orders.filter.mapping": "アイテム紐付結果",
    "orders.filter.any": "指定なし",
    "orders.filter.date_basis": "検索日付の基準",
    "orders.filter.date_basis.placed": "登録日(注文日)",
    "orders.filter.date_basis.updated": "更新日",
    "orders.filter.from": "開始日",
    "orders.filter.to": "終了日",
    "orders.filter.tag": "タグ",
    "orders.mapping.ok": "OK",
    "orders.mapping.fail": "FAIL",
    "orders.col.select": "選択",
    "orders.col.no": "注文番号",
    "orders.col.marketplace": "販売モール",
    "orders.col.status": "ステータス",
    "orders.col.stage": "出荷状況",
    "orders.col.placed": "注文日時",
    "orders.col.recipient": "お届け先",
    "orders.col.items": "商品数・紐付",
    "orders.col.days": "出荷期限まで",
    "orders.col.tags": "タグ",
    "orders.items_n": "{n}点",
    "orders.unmapped": "紐付FAIL",
    "orders.days.n": "残り{n}日",
    "orders.days.one": "残り1日",
    "orders.days.today": "本日期限",
    "orders.days.past": "期限超過",
    "orders.days.overdue": "出荷期限切れ",
    "orders.days.none": "—",
    "orders.tag.mall_reflect_error": "モール反映エラー",
    "orders.tag.withdrawal_requested": "出荷取消依頼中",
    "orders.select_page": "このページの受注をすべて選択",
    "orders.select_order": "受注 {no} を選択",
    "orders.selection.none": "受注が選択されていません。",
    "orders.selection.n": "このページで {n} 件選択中です。",
    "orders.selection.all": "この検索条件のすべての受注を選択中です。",
    "orders.selection.all_known": "この検索条件の {n} 件すべてを選択中です。",
    "orders.selection.all_button": "検索結果のすべての受注を選択",
    "orders.selection.all_button_n": "検索結果 {n} 件をすべて選択",
    "orders.selection.clear": "選択を解除",
    "orders.selection.none_common": "選択した受注に共通して実行できる操作はありません。",
    "orders.selection.label": "選択した受注の操作",
    "orders.all.refresh": "全注文更新",
    "orders.all.map": "アイテム紐づけ(すべて)",
    "orders.all.refresh.confirm": "この検索条件のすべての受注を各モールの最新情報に更新しますか? 時間がかかるため、できる限り個別の注文更新をご利用ください。",
    "orders.all.map.confirm": "選択中の受注だけでなく、この検索条件で表示されるすべての受注のアイテム紐づけを行いますか?",
    "orders.all.refresh.title": "検索条件のすべての受注を更新中",
    "orders.all.map.title": "検索条件のすべての受注をアイテム紐づけ中",
    "orders.all.confirm": "すべて受注確認",
    "orders.all.confirm.confirm": "選択中の受注だけでなく、この検索条件で表示されるすべての受注を受注確認しますか? 各受注は「処理中」になります。確認できなかった受注は処理結果に表示されます。",
    "orders.all.confirm.title": "検索条件のすべての受注を受注確認中",
    "orders.all.ship_request": "すべて出荷指示",
    "orders.all.ship_request.confirm": "この検索条件で表示されるすべての受注の出荷指示を倉庫に送信しますか? アイテム紐づけが済んでいない受注は送信されず、処理結果に表示されます。",
    "orders.all.ship_request.title": "検索条件のすべての受注の出荷指示を送信中",
    "orders.all.retry_reflect": "モール反映をすべて再試行",
    "orders.all.retry_reflect.confirm": "この検索条件のすべての受注について、モールに反映できなかった変更をもう一度送りますか? 反映できた受注はモール反映エラーが解除されます。",
    "orders.all.retry_reflect.title": "検索条件の受注のモール反映を再試行中",
    "orders.results": "処理結果",
    "orders.results.summary": "成功 {ok} 件、失敗 {failed} 件。",
    "orders.results.more": "…ほか {n} 件。",
    "orders.result.ok": "完了",
    "orders.result.failed": "失敗",
    "orders.result.mapping": "紐付結果 {mapping}",
    "orders.result.outcome": "結果: {outcome}",
    "orders.job.queued": "開始を待っています…",
    "orders.job.progress": "{total} 件中 {processed} 件処理済み(成功 {succeeded} 件、失敗 {failed} 件)。",
    "orders.job.progress_unknown": "{processed} 件処理済み(成功 {succeeded} 件、失敗 {failed} 件)。",
    "orders.job.done": "完了しました: {total} 件(成功 {succeeded} 件、失敗 {failed} 件)。",
    "orders.job.failed": "処理に失敗しました: {message}",
    "orders.working": "{total} 件中 {done} 件…",
    "orders.empty": "条件に一致する受注はありません。",
    "orders.table": "受注",
    "orders.page_info": "{n} ページ目",
  },
});

// ---------------------------------------------------------------- shared with the other screens
/** The order's number as the merchant knows it (#1001), or its id. */
export function orderNo(o) {
  return o && o.marketplace_order_no ? `#${o.marketplace_order_no}` : (o && o.order_id) || "";
}

/** Red: flagged overdue by the API, a day or less left, or the deadline within 24 h (display only). */
export function isDue(o) {
  if (o.overdue) return true;
  if (o.days_remaining === null || o.days_remaining === undefined) return false;
  if (o.days_remaining <= 1) return true;
  const at = o.deadline_at ? new Date(o.deadline_at).getTime() : NaN;
  return !Number.isNaN(at) && at - Date.now() <= DAY_MS;
}

export function daysText(o) {
  if (o.overdue) return t("orders.days.overdue");
  const n = o.days_remaining;
  if (n === null || n === undefined) return t("orders.days.none");
  if (n < 0) return t("orders.days.past");
  if (n === 0) return t("orders.days.today");
  if (n === 1) return t("orders.days.one");
  return t("orders.days.n", { n: formatNumber(n) });
}

export function daysEl(o) {
  return h("span", { class: isDue(o) ? "red" : null, dataset: { due: isDue(o) ? "1" : "0" } }, daysText(o));
}

export function tagLabel(tag) {
  return KNOWN_TAGS.includes(tag) ? t(`orders.tag.${tag}`) : tag;
}

export function tagEl(tag) {
  return h("span", { class: tag === "mall_reflect_error" ? "tag error" : "tag", title: tag, dataset: { tag } }, tagLabel(tag));
}

export function statusPill(status) {
  return h("span", { class: `pill ${STATUS_PILL[status] || ""}`.trim(), dataset: { status } }, statusLabel(status));
}

export function mappingEl(mapping) {
  if (mapping === "fail") return h("span", { class: "tag error" }, t("orders.unmapped"));
  if (mapping === "ok") return h("span", { class: "pill ok" }, t("orders.mapping.ok"));
  return null;
}

/** An ApiError from a per-order or per-row result's error body (bulk routes and jobs). */
export function resultError(r) {
  const err = r.error || {};
  const status = typeof r.status === "number" ? r.status : Array.isArray(err.allowed_actions) ? 409 : 400;
  return new ApiError(status, { error: err });
}

/** A list of per-order results ({order_id, ok, status?, mapping?, outcome?, error?}). */
export function resultsView(title, results, names = {}, { limit = 100 } = {}) {
  const ok = results.filter((r) => r.ok).length;
  const shown = [...results.filter((r) => !r.ok), ...results.filter((r) => r.ok)].slice(0, limit);
  return h(
    "section",
    { class: "card results", "aria-label": title, "data-testid": "results" },
    h("h2", {}, title),
    h("p", { class: results.length - ok ? "red" : "ok-text" }, t("orders.results.summary", { ok: formatNumber(ok), failed: formatNumber(results.length - ok) })),
    h(
      "ul",
      { class: "result-list" },
      shown.map((r) => {
        const no = names[r.order_id] || (r.order_no ? `#${r.order_no}` : r.order_id) || (r.row ? `#${r.row}` : "");
        const link = r.order_id ? h("a", { href: `#/orders/${encodeURIComponent(r.order_id)}` }, no) : no;
        if (!r.ok) {
          return h("li", { class: "result failed" }, link, " — ", h("strong", { class: "red" }, t("orders.result.failed")), h("div", { class: "error-lines" }, errorLines(resultError(r)).map((l) => h("p", {}, l))));
        }
        const what = [];
        if (typeof r.status === "string") what.push(statusLabel(r.status));
        if (r.shipment_stage && r.shipment_stage !== "none") what.push(stageLabel(r.shipment_stage));
        if (r.mapping) what.push(t("orders.result.mapping", { mapping: t(`orders.mapping.${r.mapping}`) }));
        if (r.outcome) what.push(t("orders.result.outcome", { outcome: r.outcome }));
        return h("li", { class: "result ok" }, link, " — ", h("span", { class: "ok-text" }, what.join(", ") || t("orders.result.ok")));
      }),
    ),
    results.length > shown.length ? h("p", { class: "hint" }, t("orders.results.more", { n: formatNumber(results.length - shown.length) })) : null,
  );
}

/**
 * Start a background job (`start()` → the 202's job), follow it with a progress bar in `out`
 * (GET /jobs/{id}) and show its result counts and rows. Returns the finished job.
 */
export async function runJob(out, title, start, names = {}) {
  const bar = h("progress", { class: "progress", "aria-label": title });
  const text = h("p", { role: "status", "aria-live": "polite" }, t("orders.job.queued"));
  const rows = h("div");
  clear(out, h("section", { class: "card job", "aria-label": title, "data-testid": "job" }, h("h2", {}, title), bar, text, rows));
  const job = await start();
  const final = await followJob(
    () => api.get(`/jobs/${encodeURIComponent(job.job_id)}`),
    (j) => {
      const counts = { processed: formatNumber(j.processed || 0), succeeded: formatNumber(j.succeeded || 0), failed: formatNumber(j.failed || 0) };
      if (j.total === null || j.total === undefined) {
        bar.removeAttribute("value");
        text.textContent = t("orders.job.progress_unknown", counts);
      } else {
        bar.max = Math.max(j.total, 1);
        bar.value = j.state === "done" && !j.total ? 1 : j.processed || 0;
        text.textContent = t("orders.job.progress", { ...counts, total: formatNumber(j.total) });
      }
    },
  );
  if (final.state === "failed") {
    text.textContent = t("orders.job.failed", { message: (final.error && final.error.message) || final.error || "" });
    text.className = "red";
  } else {
    bar.max = 1;
    bar.value = 1;
    text.textContent = t("orders.job.done", {
      total: formatNumber(final.total || 0),
      succeeded: formatNumber(final.succeeded || 0),
      failed: formatNumber(final.failed || 0),
    });
  }
  if ((final.results || []).length) clear(rows, resultsView(t("orders.results"), final.results, names));
  return final;
}

// ---------------------------------------------------------------- export (seed 003 注文情報ダウンロード)
// Every tab offers the download of what it lists: GET /orders/export.csv with the tab and the
// filters, UTF-8 (BOM) or Shift_JIS (CP932). A CP932 download is asked with unencodable=refuse:
// when rows hold characters CP932 cannot hold (𠮷, emoji), the API's 422 lists them and the
// merchant chooses UTF-8, or CP932 with those characters written as 〓 (docs/orders.md "Export").
register({
  en: {
    "orders.export": "Download orders (CSV)",
    "orders.export.encoding": "Encoding",
    "orders.export.encoding.utf-8": "UTF-8 (with BOM)",
    "orders.export.encoding.cp932": "Shift_JIS (CP932, Japanese Excel)",
    "orders.export.done": "The CSV file was downloaded.",
    "orders.export.unencodable.one": "1 order has characters Shift_JIS (CP932) cannot hold. Download UTF-8 to keep them, or Shift_JIS with each such character written as 〓.",
    "orders.export.unencodable": "{n} orders have characters Shift_JIS (CP932) cannot hold. Download UTF-8 to keep them, or Shift_JIS with each such character written as 〓.",
    "orders.export.unencodable#one": "1 order has characters Shift_JIS (CP932) cannot hold. Download UTF-8 to keep them, or Shift_JIS with each such character written as 〓.",
    "orders.export.unencodable.more": "…and {n} more.",
    "orders.export.as_utf8": "Download UTF-8",
    "orders.export.with_geta": "Download Shift_JIS (〓 for those characters)",
  },
  ja: {
    "orders.export": "注文情報ダウンロード(CSV)",
    "orders.export.encoding": "文字コード",
    "orders.export.encoding.utf-8": "UTF-8(BOM付き)",
    "orders.export.encoding.cp932": "Shift_JIS(CP932・日本語版Excel)",
    "orders.export.done": "CSVファイルをダウンロードしました。",
    "orders.export.unencodable.one": "1 件の注文に Shift_JIS(CP932)で表せない文字があります。文字をそのまま残すには UTF-8 でダウンロードしてください。Shift_JIS では該当する文字が 〓 になります。",
    "orders.export.unencodable": "{n} 件の注文に Shift_JIS(CP932)で表せない文字があります。文字をそのまま残すには UTF-8 でダウンロードしてください。Shift_JIS では該当する文字が 〓 になります。",
    "orders.export.unencodable.more": "…ほか {n} 件。",
    "orders.export.as_utf8": "UTF-8 でダウンロード",
    "orders.export.with_geta": "Shift_JIS でダウンロード(該当文字は 〓)",
  },
});

function exportControl(query, tab) {
  const encoding = h("select", { name: "encoding" }, ["utf-8", "cp932"].map((e) => h("option", { value: e }, t(`orders.export.encoding.${e}`))));
  const out = h("div", { "aria-live": "polite" });
  const download = async (enc, unencodable) => {
    const blob = await api.get("/orders/export.csv", { ...query, encoding: enc, unencodable }, { accept: "blob" });
    saveBlob(blob, `orders-${tab}-${fileStamp()}${enc === "cp932" ? "-sjis" : ""}.csv`);
    clear(out);
    toast(t("orders.export.done"));
  };
  const button = h("button", { type: "button", class: "secondary", "data-testid": "orders-export" }, t("orders.export"));
  const again = (enc, unencodable) => (e) => busy(e.currentTarget, () => download(enc, unencodable), { out });
  button.addEventListener("click", () =>
    busy(button, async () => {
      try {
        await download(encoding.value, encoding.value === "cp932" ? "refuse" : undefined);
      } catch (err) {
        if (!(err instanceof ApiError) || err.details.rule !== "cp932_unencodable") throw err;
        const rows = err.details.replaced || [];
        clear(
          out,
          h("div", { class: "notice", role: "alert", "data-testid": "export-unencodable" },
            h("p", {}, err.details.rows === 1 ? t("orders.export.unencodable.one") : t("orders.export.unencodable", { n: formatNumber(err.details.rows) })),
            h("ul", {}, rows.slice(0, 20).map((r) =>
              h("li", { dataset: { orderId: r.order_id } }, h("a", { href: `#/orders/${encodeURIComponent(r.order_id)}` }, orderNo(r)), ` — ${r.columns.join(", ")} (${r.characters.join(" ")})`))),
            (err.details.rows || 0) > 20 ? h("p", { class: "hint" }, t("orders.export.unencodable.more", { n: formatNumber(err.details.rows - 20) })) : null,
            h("div", { class: "actions" },
              h("button", { type: "button", onclick: again("utf-8") }, t("orders.export.as_utf8")),
              h("button", { type: "button", class: "secondary", onclick: again("cp932", "replace") }, t("orders.export.with_geta"))),
          ),
        );
      }
    }, { out }),
  );
  return h("div", { class: "export" }, h("div", { class: "toolbar" }, field(t("orders.export.encoding"), encoding), button), out);
}

// ---------------------------------------------------------------- the screen
const focusNext = focusAfterRender(); // a tab, a preset, the table

function readFilters(params) {
  const f = {};
  for (const k of FILTER_KEYS) {
    const v = params[k];
    if (v !== undefined && v !== null && String(v) !== "") f[k] = String(v);
  }
  if (f.status === "all" || (f.status && !TABS.includes(f.status))) delete f.status;
  return f;
}

export async function render(root, params, ctx) {
  const MARKETPLACES = await marketplaces();
  useStyles("orders");
  const filters = readFilters(params);
  const pageSize = SIZES.includes(Number(params.page_size)) ? Number(params.page_size) : DEFAULT_SIZE;
  const tab = filters.status || "all";
  const state = { rows: [], selected: new Set(), all: false, names: {} };
  const paging = cursorPaging({
    pageSize,
    sizes: SIZES,
    onSize: (n) => ctx.navigate("/orders", { ...filters, page_size: n === DEFAULT_SIZE ? undefined : n }),
    onChange: async () => {
      if (!state.all) state.selected.clear();
      await loadList();
      panel.focus();
    },
  });

  function go(next) {
    ctx.navigate("/orders", { ...next, page_size: pageSize === DEFAULT_SIZE ? undefined : pageSize });
  }

  // ---- tabs (ui.tabBar: arrow keys move between them; Enter/Space opens one), with the counts
  const { bar: tablist, counts } = tabBar({
    label: t("orders.tabs"),
    idPrefix: "orders-tab",
    panelId: "orders-panel",
    items: TABS,
    current: tab,
    labelOf: statusLabel,
    withCounts: true,
    dataKey: "tab",
    onSelect: (s) => {
      focusNext.want(`#orders-tab-${s}`);
      go({ ...filters, status: s === "all" ? undefined : s });
    },
  });

  // ---- presets (seed ⑪): set a frequent condition at once, or clear every condition
  const overdueCount = h("span", { class: "count", hidden: true });
  const presets = h(
    "div",
    { class: "presets", role: "group", "aria-label": t("orders.presets") },
    PRESETS.map((p) =>
      h(
        "button",
        {
          type: "button",
          class: filters.preset === p ? "" : "secondary",
          "aria-pressed": filters.preset === p ? "true" : "false",
          id: `orders-preset-${p}`,
          onclick: () => {
            focusNext.want(`#orders-preset-${p}`);
            go(filters.preset === p ? { ...filters, preset: undefined } : { status: filters.status, preset: p });
          },
        },
        t(`orders.preset.${p}`),
        p === "overdue" ? overdueCount : null,
      ),
    ),
    h(
      "button",
      {
        type: "button",
        class: "secondary",
        id: "orders-preset-clear",
        onclick: () => {
          focusNext.want("#orders-preset-clear");
          go({});
        },
      },
      t("orders.preset.clear"),
    ),
  );

  // ---- detailed search (seed ⑨⑩): every control named as GET /orders names it
  const form = h("form", { class: "filters", novalidate: true, role: "search", "aria-label": t("orders.search") });
  const datalistMp = h("datalist", { id: uid("mp") }, MARKETPLACES.map((m) => h("option", { value: m })));
  const datalistTag = h("datalist", { id: uid("tags") }, KNOWN_TAGS.map((tag) => h("option", { value: tag }, tagLabel(tag))));
  const controls = {
    q: h("input", { name: "q", type: "search", value: filters.q || "", maxlength: 100, autocomplete: "off" }),
    marketplace: h("input", { name: "marketplace", value: filters.marketplace || "", list: datalistMp.id, autocomplete: "off" }),
    country: h("input", { name: "country", value: filters.country || "", maxlength: 2, autocomplete: "off", placeholder: "JP" }),
    mapping: h(
      "select",
      { name: "mapping" },
      h("option", { value: "" }, t("orders.filter.any")),
      ["ok", "fail"].map((m) => h("option", { value: m, selected: filters.mapping === m }, t(`orders.mapping.${m}`))),
    ),
    date_basis: h(
      "select",
      { name: "date_basis" },
      ["placed", "updated"].map((b) => h("option", { value: b, selected: (filters.date_basis || "placed") === b }, t(`orders.filter.date_basis.${b}`))),
    ),
    from: h("input", { name: "from", type: "date", value: filters.from || "" }),
    to: h("input", { name: "to", type: "date", value: filters.to || "" }),
    tag: h("input", { name: "tag", value: filters.tag || "", list: datalistTag.id, maxlength: 100, autocomplete: "off" }),
  };
  form.append(
    field(t("orders.filter.q"), controls.q),
    field(t("orders.filter.marketplace"), controls.marketplace),
    field(t("orders.filter.country"), controls.country),
    field(t("orders.filter.mapping"), controls.mapping),
    field(t("orders.filter.date_basis"), controls.date_basis),
    field(t("orders.filter.from"), controls.from),
    field(t("orders.filter.to"), controls.to),
    field(t("orders.filter.tag"), controls.tag),
    datalistMp,
    datalistTag,
    h("div", { class: "field form-submit" }, h("button", { type: "submit" }, t("orders.search.submit"))),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const next = { status: filters.status, preset: filters.preset };
    for (const k of FORM_KEYS) {
      const v = controls[k].value.trim();
      if (v && !(k === "date_basis" && v === "placed")) next[k] = v;
    }
    focusNext.want("#orders-panel");
    go(next);
  });
  const anyFormFilter = FORM_KEYS.some((k) => filters[k]);
  const wide = window.matchMedia("(min-width: 641px)").matches;
  const search = h("details", { class: "card search", open: anyFormFilter || wide }, h("summary", {}, t("orders.search")), form);

  // ---- selection bar, results, table, pager
  const selection = h("div", { class: "toolbar selection", role: "region", "aria-label": t("orders.selection.label") });
  const results = h("div", { class: "results-box", "aria-live": "polite" });
  const tableBox = h("div", { class: "table-box" });
  const pagerBox = h("div");
  const panel = h("div", { id: "orders-panel", role: "tabpanel", "aria-labelledby": `orders-tab-${tab}`, tabindex: "-1" }, selection, results, tableBox, pagerBox);

  clear(root, h("h1", {}, t("orders.title")), tablist, presets, search, exportControl(apiFilter(), tab), panel);

  async function loadCounts() {
    try {
      const c = await api.get("/orders/counts");
      for (const s of TABS) counts[s].textContent = formatNumber(c[s] || 0);
      overdueCount.textContent = formatNumber(c.overdue || 0);
      overdueCount.hidden = !c.overdue;
    } catch {
      for (const s of TABS) counts[s].textContent = "?";
    }
  }

  function apiFilter() {
    const q = {};
    for (const k of FILTER_KEYS) if (filters[k]) q[k] = filters[k];
    return q;
  }

  async function loadList() {
    let data;
    try {
      data = await api.get("/orders", { ...apiFilter(), page_size: pageSize, cursor: paging.cursor || undefined });
    } catch (err) {
      state.rows = [];
      paging.took(null);
      clear(tableBox, errorBox(err, form));
      if (err instanceof ApiError && err.field && form.querySelector(`[name="${CSS.escape(err.field)}"]`)) search.open = true;
      drawSelection();
      clear(pagerBox);
      return;
    }
    state.rows = data.orders || [];
    paging.took(data.next_cursor);
    for (const o of state.rows) state.names[o.order_id] = orderNo(o);
    if (!state.all) state.selected = new Set([...state.selected].filter((id) => state.rows.some((o) => o.order_id === id)));
    drawTable();
    drawSelection();
    clear(
      pagerBox,
      paging.controls(),
      paging.hasPrev ? h("p", { class: "hint" }, t("orders.page_info", { n: paging.page })) : null,
    );
  }

  async function reload() {
    await Promise.all([loadList(), loadCounts()]);
    ctx.refreshBadge();
  }

  function toggle(id, on) {
    if (state.all && !on) state.all = false;
    if (on) state.selected.add(id);
    else state.selected.delete(id);
    drawTable();
    drawSelection();
  }

  function drawTable() {
    if (!state.rows.length) {
      clear(tableBox, h("p", { class: "notice" }, t("orders.empty")));
      return;
    }
    const selectedHere = state.rows.filter((o) => state.all || state.selected.has(o.order_id)).length;
    const head = h("input", {
      type: "checkbox",
      "aria-label": t("orders.select_page"),
      checked: selectedHere === state.rows.length,
      indeterminate: selectedHere > 0 && selectedHere < state.rows.length,
      onchange: (e) => {
        state.all = false;
        if (e.target.checked) for (const o of state.rows) state.selected.add(o.order_id);
        else state.selected.clear();
        drawTable();
        drawSelection();
        tableBox.querySelector("thead input")?.focus();
      },
    });
    const cols = ["no", "marketplace", "status", "stage", "placed", "recipient", "items", "days", "tags"];
    clear(
      tableBox,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "orders-table" },
          h("caption", { class: "visually-hidden" }, t("orders.table")),
          h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "check" }, head), cols.map((c) => h("th", { scope: "col" }, t(`orders.col.${c}`))))),
          h(
            "tbody",
            {},
            state.rows.map((o) => {
              const no = orderNo(o);
              const on = state.all || state.selected.has(o.order_id);
              return h(
                "tr",
                { class: isDue(o) ? "due" : null, dataset: { orderId: o.order_id } },
                h(
                  "td",
                  { class: "check" },
                  h("input", {
                    type: "checkbox",
                    "aria-label": t("orders.select_order", { no }),
                    checked: on,
                    onchange: (e) => {
                      toggle(o.order_id, e.target.checked);
                      tableBox.querySelector(`tr[data-order-id="${CSS.escape(o.order_id)}"] input`)?.focus();
                    },
                  }),
                ),
                h("td", { class: "no" }, h("a", { href: `#/orders/${encodeURIComponent(o.order_id)}` }, no)),
                h("td", {}, o.marketplace),
                h("td", {}, statusPill(o.status)),
                h("td", {}, stageLabel(o.shipment_stage)),
                h("td", { class: "nowrap" }, formatDate(o.placed_at)),
                h("td", {}, (o.recipient && o.recipient.name) || ""),
                h("td", { class: "nowrap" }, t("orders.items_n", { n: formatNumber((o.items || []).length) }), " ", mappingEl(o.mapping)),
                h("td", { class: "nowrap" }, daysEl(o)),
                h("td", {}, (o.tags || []).map(tagEl)),
              );
            }),
          ),
        ),
      ),
    );
  }

  function drawSelection() {
    const parts = [];
    const known = !paging.hasNext && !paging.hasPrev; // the whole filter fits on this page
    const picked = state.rows.filter((o) => state.selected.has(o.order_id));
    if (state.all) {
      parts.push(h("p", { class: "selection-text" }, known ? t("orders.selection.all_known", { n: formatNumber(state.rows.length) }) : t("orders.selection.all")));
      parts.push(h("button", { type: "button", class: "secondary", onclick: () => { state.all = false; state.selected.clear(); drawTable(); drawSelection(); } }, t("orders.selection.clear")));
      parts.push(
        h("div", { class: "actions" }, allJobs().map((kind) => h("button", { type: "button", dataset: { job: kind }, onclick: (e) => allJob(e.currentTarget, kind) }, t(`orders.all.${kind}`)))),
      );
    } else {
      parts.push(h("p", { class: "selection-text" }, picked.length ? t("orders.selection.n", { n: formatNumber(picked.length) }) : t("orders.selection.none")));
      if (state.rows.length) {
        parts.push(
          h("button", { type: "button", class: "secondary", onclick: () => { state.all = true; drawTable(); drawSelection(); } },
            known ? t("orders.selection.all_button_n", { n: formatNumber(state.rows.length) }) : t("orders.selection.all_button")),
        );
      }
      if (picked.length) {
        parts.push(h("button", { type: "button", class: "secondary", onclick: () => { state.selected.clear(); drawTable(); drawSelection(); } }, t("orders.selection.clear")));
        const common = BULK.filter((a) => picked.every((o) => (o.actions || []).includes(a)));
        parts.push(
          common.length
            ? h("div", { class: "actions" }, common.map((a) => h("button", { type: "button", dataset: { action: a }, onclick: (e) => bulk(e.currentTarget, a) }, actionLabel(a))))
            : h("p", { class: "hint" }, t("orders.selection.none_common")),
        );
      }
    }
    clear(selection, parts);
  }

  // Actions on the orders selected on the page: one call for confirm / ship_request (at most 100
  // ids a call), one call per order for map_items / refresh; a result per order, then the list
  // and the counts are read again.
  async function bulk(button, action) {
    const ids = state.rows.filter((o) => state.selected.has(o.order_id)).map((o) => o.order_id);
    const names = { ...state.names };
    await busy(
      button,
      async () => {
        const out = [];
        const note = h("p", { role: "status" });
        clear(results, note);
        if (action === "confirm" || action === "ship_request") {
          const path = action === "confirm" ? "/orders/confirm" : "/orders/ship-requests";
          for (let i = 0; i < ids.length; i += 100) {
            const r = await api.post(path, { order_ids: ids.slice(i, i + 100) });
            out.push(...(r.results || []));
          }
        } else {
          for (const [i, id] of ids.entries()) {
            note.textContent = t("orders.working", { done: formatNumber(i), total: formatNumber(ids.length) });
            const path = `/orders/${encodeURIComponent(id)}/${action === "refresh" ? "refresh" : "map-items"}`;
            try {
              const o = await api.post(path);
              out.push({ order_id: id, ok: true, status: o.status, mapping: action === "map_items" ? o.mapping : undefined });
            } catch (err) {
              if (!(err instanceof ApiError)) throw err;
              out.push({ order_id: id, ok: false, status: err.status, error: err.details });
            }
          }
        }
        state.selected.clear();
        clear(results, resultsView(`${actionLabel(action)}: ${t("orders.results")}`, out, names));
        await reload();
      },
      { out: results },
    );
  }

  // Every order the filter shows: the API's filter jobs. Confirm is offered on the New tab, sending
  // shipping info on the Processing tab, and the reflect retry when the filter is the reflect-error
  // tag; each order's own rule decides in the job, which reports the orders it refused.
  function allJobs() {
    return [
      ...(filters.status === "new" ? ["confirm"] : []),
      ...(filters.status === "processing" ? ["ship_request"] : []),
      ...(filters.tag === "mall_reflect_error" ? ["retry_reflect"] : []),
      "refresh",
      "map",
    ];
  }

  async function allJob(button, kind) {
    const ok = await confirmDialog(t(`orders.all.${kind}`), t(`orders.all.${kind}.confirm`), { confirm: t(`orders.all.${kind}`) });
    if (!ok) return;
    const flt = apiFilter();
    const names = { ...state.names };
    await busy(
      button,
      async () => {
        await runJob(results, t(`orders.all.${kind}.title`), () => api.post(ALL_JOBS[kind], { filter: flt }), names);
        state.all = false;
        state.selected.clear();
        await reload();
      },
      { out: results },
    );
  }

  drawSelection();
  await Promise.all([loadCounts(), loadList()]);
  focusNext.restore(root);
}
