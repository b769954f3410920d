// Fulfillment (#/fulfillment), seed 004's 「未処理の注文」 page: the orders to ship with the days left
// (注文処理日数), fulfilling one or many with carrier and tracking number (注文処理), modifying the
// tracking of a shipped order (追跡番号の修正), and the CSV round trip (CSVで注文処理: download,
// fill in, upload, follow the job) with the upload history (一括注文処理履歴).
// Every rule is the API's: the actions offered are `order.actions`, the tracking number is
// checked as typed only with GET /carriers' own patterns and number_rule (advice; the button
// stays enabled and the API decides), and errors are shown next to the field the API names.
import { ApiError, api } from "../api.js";
import { formatDate, formatNumber, register, t } from "../i18n.js";
import { carrierName, carrierOf, carriers, checkNumber } from "../tracking.js";
import {
  busy,
  clear,
  cursorPaging,
  errorBox,
  errorLines,
  field,
  fileStamp,
  followJob,
  h,
  progress,
  saveBlob,
  showFieldError,
  stageLabel,
  statusLabel,
  tabBar,
  toast,
  uid,
  useStyles,
} from "../ui.js";

// GET /orders/unfulfilled.csv lists the orders of status `new` and `processing` without a
// tracking number, with GET /orders' filters (csvfile.export -> _unfulfilled, one status at a
// time). GET /orders takes one status per request, so the list is GET /orders?status=new plus
// GET /orders?status=processing with the same filters (marketplace, preset due_24h/overdue),
// keeping the orders without tracking: the rows the CSV of the same filters holds.
const FULFILLABLE = ["new", "processing"];
const VIEWS = ["unfulfilled", "shipped", "csv"];
const PRESETS = ["due_24h", "overdue"];
const ENCODINGS = ["utf-8", "cp932"]; // the encodings GET /orders/unfulfilled.csv writes
const DAY_MS = 24 * 60 * 60 * 1000;
const PAGE_SIZES = [25, 50, 100, 200];

register({
  en: {
    "fulfillment.title": "Fulfillment",
    "fulfillment.tabs": "Fulfillment views",
    "fulfillment.tab.unfulfilled": "Unfulfilled orders",
    "fulfillment.tab.shipped": "Modify tracking",
    "fulfillment.tab.csv": "Fulfill by CSV",
    "fulfillment.intro":
      "Mark orders as shipped with a carrier and a valid tracking number before their deadline. Days are calendar days.",
    "fulfillment.filter.title": "Filter",
    "fulfillment.filter.status": "Status",
    "fulfillment.filter.status_all": "New and processing",
    "fulfillment.filter.marketplace": "Marketplace",
    "fulfillment.filter.marketplace_hint": "e.g. shopify (empty: all)",
    "fulfillment.filter.preset": "Deadline",
    "fulfillment.filter.preset_none": "Any deadline",
    "fulfillment.filter.preset.due_24h": "Due within 24 hours",
    "fulfillment.filter.preset.overdue": "Overdue",
    "fulfillment.filter.apply": "Apply filter",
    "fulfillment.filter.reset": "Clear filter",
    "fulfillment.list.count": "Orders on this page: {n}",
    "fulfillment.list.empty": "No unfulfilled orders match. Everything is shipped.",
    "fulfillment.list.caption": "Unfulfilled orders, most urgent first",
    "fulfillment.col.select": "Select",
    "fulfillment.col.order": "Order",
    "fulfillment.col.status": "Status",
    "fulfillment.col.released": "Released",
    "fulfillment.col.deadline": "Deadline",
    "fulfillment.col.days": "Days remaining",
    "fulfillment.col.recipient": "Recipient",
    "fulfillment.col.items": "Items",
    "fulfillment.col.actions": "Actions",
    "fulfillment.col.carrier": "Carrier",
    "fulfillment.col.tracking": "Tracking number",
    "fulfillment.col.shipped_at": "Shipped",
    "fulfillment.select_all": "Select all orders on this page that can be fulfilled",
    "fulfillment.select_order": "Select order {no}",
    "fulfillment.fulfill_order": "Fulfill order {no}",
    "fulfillment.modify_order": "Modify tracking of order {no}",
    "fulfillment.fulfill_selected": "Fulfill selected ({n})",
    "fulfillment.selected_none": "Select the orders to fulfill, or use Fulfill on a row.",
    "fulfillment.not_fulfillable": "Not fulfillable now",
    "fulfillment.in_warehouse": "At the warehouse: {stage}",
    "fulfillment.days.left": "{n} days left",
    "fulfillment.days.one": "1 day left",
    "fulfillment.days.today": "Due today",
    "fulfillment.days.late": "{n} days late",
    "fulfillment.days.late#one": "1 day late",
    "fulfillment.tag.overdue": "Overdue",
    "fulfillment.tag.due_24h": "Due within 24 h",
    "fulfillment.tag.due_tomorrow": "Due tomorrow",
    "fulfillment.more_items": "+{n} more",
    "fulfillment.panel.fulfill_one": "Fulfill order {no}",
    "fulfillment.panel.fulfill_many": "Fulfill {n} orders",
    "fulfillment.panel.fulfill_many#one": "Fulfill 1 order",
    "fulfillment.panel.modify": "Modify the tracking of order {no}",
    "fulfillment.panel.many_hint":
      "Enter the carrier and tracking number of each order. Orders may share one number only if recipient, address and release dates (within 5 days) allow it.",
    "fulfillment.panel.current": "Current tracking: {carrier} {number}",
    "fulfillment.order_legend": "Order {no} · {name} · {days}",
    "fulfillment.form.carrier": "Carrier",
    "fulfillment.form.choose_carrier": "Choose a carrier…",
    "fulfillment.form.tracking_number": "Tracking number",
    "fulfillment.form.format": "Format: {format}",
    "fulfillment.form.format_choose": "Choose a carrier to see its format.",
    "fulfillment.form.origin_country": "Origin country (2 letters)",
    "fulfillment.form.origin_hint": "ISO code, e.g. JP (optional)",
    "fulfillment.form.note": "Note (optional)",
    "fulfillment.form.submit": "Mark as shipped",
    "fulfillment.form.submit_many": "Mark {n} orders as shipped",
    "fulfillment.form.submit_many#one": "Mark 1 order as shipped",
    "fulfillment.form.submit_modify": "Save the new tracking",
    "fulfillment.form.close": "Close",
    "fulfillment.check.ok": "✓ format ok",
    "fulfillment.check.bad": "Does not match {format}",
    "fulfillment.check.too_long": "Longer than {n} characters",
    "fulfillment.check.no_carrier": "Choose the carrier to check the number.",
    "fulfillment.result.shipped": "✓ Shipped with tracking {number}",
    "fulfillment.result.summary": "{ok} shipped, {failed} failed.",
    "fulfillment.result.failed_below": "Fix the orders marked below and submit again.",
    "fulfillment.conflicts": "Conflicting orders:",
    "fulfillment.conflict.recipient_name_differs": "{order}: the recipient name differs",
    "fulfillment.conflict.address_differs": "{order}: the address differs",
    "fulfillment.conflict.released_too_far_apart": "{order}: released more than 5 days apart ({date})",
    "fulfillment.conflict.other": "{order}: {reason}",
    "fulfillment.toast.fulfilled": "Order {no} marked as shipped ({number}).",
    "fulfillment.toast.fulfilled_many": "{n} orders marked as shipped.",
    "fulfillment.toast.fulfilled_many#one": "1 order marked as shipped.",
    "fulfillment.toast.modified": "Tracking of order {no} changed to {number}.",
    "fulfillment.shipped.title": "Shipped orders",
    "fulfillment.shipped.search": "Order number",
    "fulfillment.shipped.search_hint": "The marketplace's order number",
    "fulfillment.shipped.find": "Search",
    "fulfillment.shipped.all": "Show all shipped",
    "fulfillment.shipped.empty": "No shipped order matches.",
    "fulfillment.shipped.caption": "Shipped orders, newest first",
    "fulfillment.shipped.no_change": "Tracking cannot be changed now",
    "fulfillment.csv.download.title": "1. Download the unfulfilled orders",
    "fulfillment.csv.download.text":
      "The file lists the orders that can be fulfilled (new or processing, no tracking number), with the filter of the Unfulfilled orders tab: {filter}.",
    "fulfillment.csv.filter_none": "all unfulfilled orders",
    "fulfillment.csv.encoding": "Encoding",
    "fulfillment.csv.encoding.utf-8": "UTF-8 (with BOM)",
    "fulfillment.csv.encoding.cp932": "Shift_JIS (CP932, Japanese Excel)",
    "fulfillment.csv.download": "Download CSV",
    "fulfillment.csv.downloaded": "The CSV file was downloaded.",
    "fulfillment.csv.upload.title": "2. Upload the filled-in file",
    "fulfillment.csv.upload.text":
      "Fill in carrier and tracking_number (and origin_country, note if you like), one order per row, and upload the file as it is. Rows without carrier and tracking number are skipped.",
    "fulfillment.csv.file": "CSV file",
    "fulfillment.csv.upload": "Upload and fulfill",
    "fulfillment.csv.choose_file": "Choose the CSV file first.",
    "fulfillment.job.title": "Upload of {date}",
    "fulfillment.job.file": "File: {name}",
    "fulfillment.job.progress": "Progress of the upload",
    "fulfillment.job.processed": "Processed {processed} of {total} rows",
    "fulfillment.job.counts": "{succeeded} shipped · {failed} failed · {skipped} skipped",
    "fulfillment.job.state.queued": "Queued",
    "fulfillment.job.state.running": "Running",
    "fulfillment.job.state.done": "Done",
    "fulfillment.job.state.failed": "Failed",
    "fulfillment.job.error": "The upload stopped: {message}",
    "fulfillment.job.failed_rows": "Failed rows",
    "fulfillment.job.no_failed": "No row failed.",
    "fulfillment.job.all_rows": "All rows ({n} shown)",
    "fulfillment.job.more_rows": "Load more rows",
    "fulfillment.job.col.row": "Row",
    "fulfillment.job.col.order": "Order",
    "fulfillment.job.col.column": "Column",
    "fulfillment.job.col.reason": "Reason",
    "fulfillment.job.col.result": "Result",
    "fulfillment.job.row.shipped": "Shipped {number}",
    "fulfillment.job.row.skipped": "Skipped (no carrier and tracking number)",
    "fulfillment.job.row.failed": "Failed",
    "fulfillment.job.reflect_error": "not reflected to the marketplace",
    "fulfillment.history.title": "Upload history",
    "fulfillment.history.caption": "CSV uploads, newest first",
    "fulfillment.history.empty": "No upload yet.",
    "fulfillment.history.uploaded": "Uploaded",
    "fulfillment.history.file": "File",
    "fulfillment.history.state": "State",
    "fulfillment.history.rows": "Rows",
    "fulfillment.history.shipped": "Shipped",
    "fulfillment.history.failed": "Failed",
    "fulfillment.history.skipped": "Skipped",
    "fulfillment.history.show": "Show rows",
    "fulfillment.history.show_label": "Show the rows of the upload of {date}",
    "fulfillment.history.refresh": "Refresh history",
    "fulfillment.history.no_name": "—",
  },
  ja: {
    "fulfillment.title": "発送管理",
    "fulfillment.tabs": "発送管理の表示",
    "fulfillment.tab.unfulfilled": "未処理の注文",
    "fulfillment.tab.shipped": "追跡番号の修正",
    "fulfillment.tab.csv": "CSVで注文処理",
    "fulfillment.intro":
      "期限までに配送業者と有効な追跡番号を入力して「出荷済み」にしてください。日数は暦日です。",
    "fulfillment.filter.title": "絞り込み",
    "fulfillment.filter.status": "ステータス",
    "fulfillment.filter.status_all": "新規受付と処理中",
    "fulfillment.filter.marketplace": "モール",
    "fulfillment.filter.marketplace_hint": "例: shopify(空欄ですべて)",
    "fulfillment.filter.preset": "期限",
    "fulfillment.filter.preset_none": "すべての期限",
    "fulfillment.filter.preset.due_24h": "24時間以内に期限",
    "fulfillment.filter.preset.overdue": "期限切れ",
    "fulfillment.filter.apply": "絞り込む",
    "fulfillment.filter.reset": "条件をクリア",
    "fulfillment.list.count": "このページに {n} 件",
    "fulfillment.list.empty": "該当する未処理の注文はありません。すべて出荷済みです。",
    "fulfillment.list.caption": "未処理の注文(期限の近い順)",
    "fulfillment.col.select": "選択",
    "fulfillment.col.order": "注文",
    "fulfillment.col.status": "ステータス",
    "fulfillment.col.released": "リリース日時",
    "fulfillment.col.deadline": "処理期限",
    "fulfillment.col.days": "注文処理日数",
    "fulfillment.col.recipient": "受取人",
    "fulfillment.col.items": "商品",
    "fulfillment.col.actions": "アクション",
    "fulfillment.col.carrier": "配送業者",
    "fulfillment.col.tracking": "追跡番号",
    "fulfillment.col.shipped_at": "出荷日時",
    "fulfillment.select_all": "このページの処理可能な注文をすべて選択",
    "fulfillment.select_order": "注文 {no} を選択",
    "fulfillment.fulfill_order": "注文 {no} を注文処理",
    "fulfillment.modify_order": "注文 {no} の追跡番号を修正",
    "fulfillment.fulfill_selected": "選択した注文を注文処理({n} 件)",
    "fulfillment.selected_none": "注文処理する注文を選択するか、行の「注文処理」を押してください。",
    "fulfillment.not_fulfillable": "現在は注文処理できません",
    "fulfillment.in_warehouse": "倉庫で処理中: {stage}",
    "fulfillment.days.left": "残り {n} 日",
    "fulfillment.days.one": "残り 1 日",
    "fulfillment.days.today": "本日期限",
    "fulfillment.days.late": "{n} 日超過",
    "fulfillment.tag.overdue": "期限切れ",
    "fulfillment.tag.due_24h": "24時間以内に期限",
    "fulfillment.tag.due_tomorrow": "明日期限",
    "fulfillment.more_items": "ほか {n} 点",
    "fulfillment.panel.fulfill_one": "注文 {no} を注文処理",
    "fulfillment.panel.fulfill_many": "{n} 件の注文を注文処理",
    "fulfillment.panel.modify": "注文 {no} の追跡番号を修正",
    "fulfillment.panel.many_hint":
      "各注文の配送業者と追跡番号を入力してください。同じ追跡番号を使えるのは、受取人名・配送先住所が同じで、リリース日の違いが5日以内の注文だけです。",
    "fulfillment.panel.current": "現在の追跡情報: {carrier} {number}",
    "fulfillment.order_legend": "注文 {no} ・ {name} ・ {days}",
    "fulfillment.form.carrier": "配送業者",
    "fulfillment.form.choose_carrier": "配送業者を選択…",
    "fulfillment.form.tracking_number": "追跡番号",
    "fulfillment.form.format": "形式: {format}",
    "fulfillment.form.format_choose": "配送業者を選ぶと追跡番号の形式が表示されます。",
    "fulfillment.form.origin_country": "配送元の国/地域(2文字)",
    "fulfillment.form.origin_hint": "ISOコード 例: JP(任意)",
    "fulfillment.form.note": "メモ(任意)",
    "fulfillment.form.submit": "注文処理(出荷済みにする)",
    "fulfillment.form.submit_many": "{n} 件を出荷済みにする",
    "fulfillment.form.submit_modify": "新しい追跡情報を保存",
    "fulfillment.form.close": "閉じる",
    "fulfillment.check.ok": "✓ 形式OK",
    "fulfillment.check.bad": "形式が一致しません({format})",
    "fulfillment.check.too_long": "{n} 文字を超えています",
    "fulfillment.check.no_carrier": "配送業者を選ぶと番号を確認できます。",
    "fulfillment.result.shipped": "✓ 出荷済み(追跡番号 {number})",
    "fulfillment.result.summary": "{ok} 件を出荷済みにしました。{failed} 件は失敗しました。",
    "fulfillment.result.failed_below": "下に示した注文を修正して、もう一度送信してください。",
    "fulfillment.conflicts": "同じ追跡番号を使えない注文:",
    "fulfillment.conflict.recipient_name_differs": "{order}: 受取人名が異なります",
    "fulfillment.conflict.address_differs": "{order}: 配送先住所が異なります",
    "fulfillment.conflict.released_too_far_apart": "{order}: リリース日の違いが5日を超えています({date})",
    "fulfillment.conflict.other": "{order}: {reason}",
    "fulfillment.toast.fulfilled": "注文 {no} を出荷済みにしました({number})。",
    "fulfillment.toast.fulfilled_many": "{n} 件の注文を出荷済みにしました。",
    "fulfillment.toast.modified": "注文 {no} の追跡番号を {number} に修正しました。",
    "fulfillment.shipped.title": "出荷済みの注文",
    "fulfillment.shipped.search": "注文番号",
    "fulfillment.shipped.search_hint": "モールの注文番号",
    "fulfillment.shipped.find": "検索",
    "fulfillment.shipped.all": "出荷済みをすべて表示",
    "fulfillment.shipped.empty": "該当する出荷済みの注文はありません。",
    "fulfillment.shipped.caption": "出荷済みの注文(新しい順)",
    "fulfillment.shipped.no_change": "現在は追跡番号を修正できません",
    "fulfillment.csv.download.title": "1. 未処理の注文をダウンロード",
    "fulfillment.csv.download.text":
      "注文処理できる注文(新規受付・処理中で追跡番号のないもの)を、「未処理の注文」タブの絞り込み条件で出力します: {filter}。",
    "fulfillment.csv.filter_none": "すべての未処理の注文",
    "fulfillment.csv.encoding": "文字コード",
    "fulfillment.csv.encoding.utf-8": "UTF-8(BOM付き)",
    "fulfillment.csv.encoding.cp932": "Shift_JIS(CP932、Excel向け)",
    "fulfillment.csv.download": "CSVをダウンロード",
    "fulfillment.csv.downloaded": "CSVファイルをダウンロードしました。",
    "fulfillment.csv.upload.title": "2. 入力したファイルをアップロード",
    "fulfillment.csv.upload.text":
      "carrier(配送業者)と tracking_number(追跡番号)、必要なら origin_country(配送元の国/地域)と note を1行につき1注文で入力し、そのままアップロードしてください。配送業者と追跡番号のない行はスキップされます。",
    "fulfillment.csv.file": "CSVファイル",
    "fulfillment.csv.upload": "アップロードして注文処理",
    "fulfillment.csv.choose_file": "先にCSVファイルを選択してください。",
    "fulfillment.job.title": "{date} のアップロード",
    "fulfillment.job.file": "ファイル: {name}",
    "fulfillment.job.progress": "アップロードの進捗",
    "fulfillment.job.processed": "{total} 行中 {processed} 行を処理",
    "fulfillment.job.counts": "出荷済み {succeeded} 件 ・ 失敗 {failed} 件 ・ スキップ {skipped} 件",
    "fulfillment.job.state.queued": "待機中",
    "fulfillment.job.state.running": "処理中",
    "fulfillment.job.state.done": "完了",
    "fulfillment.job.state.failed": "失敗",
    "fulfillment.job.error": "アップロードの処理が止まりました: {message}",
    "fulfillment.job.failed_rows": "失敗した行",
    "fulfillment.job.no_failed": "失敗した行はありません。",
    "fulfillment.job.all_rows": "すべての行(表示中 {n} 行)",
    "fulfillment.job.more_rows": "さらに行を読み込む",
    "fulfillment.job.col.row": "行",
    "fulfillment.job.col.order": "注文",
    "fulfillment.job.col.column": "列",
    "fulfillment.job.col.reason": "理由",
    "fulfillment.job.col.result": "結果",
    "fulfillment.job.row.shipped": "出荷済み {number}",
    "fulfillment.job.row.skipped": "スキップ(配送業者と追跡番号なし)",
    "fulfillment.job.row.failed": "失敗",
    "fulfillment.job.reflect_error": "モールへの反映に失敗",
    "fulfillment.history.title": "一括注文処理履歴",
    "fulfillment.history.caption": "CSVアップロード(新しい順)",
    "fulfillment.history.empty": "まだアップロードはありません。",
    "fulfillment.history.uploaded": "アップロード日時",
    "fulfillment.history.file": "ファイル",
    "fulfillment.history.state": "状況",
    "fulfillment.history.rows": "行数",
    "fulfillment.history.shipped": "出荷済み",
    "fulfillment.history.failed": "失敗",
    "fulfillment.history.skipped": "スキップ",
    "fulfillment.history.show": "行を表示",
    "fulfillment.history.show_label": "{date} のアップロードの行を表示",
    "fulfillment.history.refresh": "履歴を更新",
    "fulfillment.history.no_name": "—",
  },
});

// ---------------------------------------------------------------- tracking entry and its live check
// GET /carriers and the check itself are ../tracking.js (the console's one copy of the rule).
/**
 * The four controls of one tracking entry, named as the API names the fields (with `prefix`,
 * e.g. "fulfillments[2]." in a bulk form), the carrier's format as the hint and the live check.
 */
function trackingControls(carrierData, prefix, values = {}) {
  const carrier = h(
    "select",
    { name: `${prefix}carrier` },
    h("option", { value: "" }, t("fulfillment.form.choose_carrier")),
    (carrierData.carriers || []).map((c) => h("option", { value: c.code, selected: c.code === values.carrier }, c.name)),
  );
  const number = h("input", {
    type: "text",
    name: `${prefix}tracking_number`,
    autocomplete: "off",
    spellcheck: "false",
    autocapitalize: "characters",
    value: values.tracking_number || "",
  });
  const origin = h("input", {
    type: "text",
    name: `${prefix}origin_country`,
    autocomplete: "off",
    autocapitalize: "characters",
    class: "ff-country",
    value: values.origin_country || "",
  });
  const note = h("input", { type: "text", name: `${prefix}note`, autocomplete: "off", value: values.note || "" });

  const numberField = field(t("fulfillment.form.tracking_number"), number, t("fulfillment.form.format_choose"));
  const hint = numberField.querySelector(".hint");
  const live = h("p", { class: "live-check", id: uid("chk"), "aria-live": "polite", "data-testid": "tracking-check" });
  number.after(live);
  number.setAttribute("aria-describedby", `${number.getAttribute("aria-describedby")} ${live.id}`.trim());

  function update() {
    const c = carrierOf(carrierData, carrier.value);
    hint.textContent = c ? t("fulfillment.form.format", { format: c.format }) : t("fulfillment.form.format_choose");
    const r = checkNumber(carrierData, carrier.value, number.value);
    // Without a carrier this form asks for one first, whatever the number typed.
    const state = r.state !== "empty" && !c ? "no_carrier" : r.state;
    live.className = "live-check";
    if (state === "ok") {
      live.classList.add("ok-text");
      live.textContent = t("fulfillment.check.ok");
    } else if (state === "bad") {
      live.classList.add("check-bad");
      live.textContent = t("fulfillment.check.bad", { format: r.format });
    } else if (state === "too_long") {
      live.classList.add("check-bad");
      live.textContent = t("fulfillment.check.too_long", { n: r.max });
    } else if (state === "no_carrier") {
      live.classList.add("hint");
      live.textContent = t("fulfillment.check.no_carrier");
    } else {
      live.textContent = "";
    }
  }
  carrier.addEventListener("change", update);
  number.addEventListener("input", update);
  update();

  const el = h(
    "div",
    { class: "ff-fields" },
    field(t("fulfillment.form.carrier"), carrier),
    numberField,
    field(t("fulfillment.form.origin_country"), origin, t("fulfillment.form.origin_hint")),
    field(t("fulfillment.form.note"), note),
  );
  return {
    el,
    controls: [carrier, number, origin, note],
    focus: () => (carrier.value ? number : carrier).focus(),
    body() {
      const b = { carrier: carrier.value, tracking_number: number.value };
      if (origin.value.trim()) b.origin_country = origin.value.trim();
      if (note.value.trim()) b.note = note.value.trim();
      return b;
    },
  };
}

// ---------------------------------------------------------------- small display helpers
function orderNo(o) {
  return o.marketplace_order_no || o.order_id;
}

function daysInfo(o) {
  const d = o.days_remaining;
  const dueMs = o.deadline_at ? Date.parse(o.deadline_at) - Date.now() : NaN;
  const within24 = Number.isFinite(dueMs) && dueMs <= DAY_MS; // display only: the API's deadline
  let text = "";
  if (typeof d === "number") {
    if (d > 1) text = t("fulfillment.days.left", { n: formatNumber(d) });
    else if (d === 1) text = t("fulfillment.days.one");
    else if (d === 0) text = t("fulfillment.days.today");
    else text = t("fulfillment.days.late", { n: formatNumber(-d) });
  }
  let tag = null;
  if (o.overdue) tag = t("fulfillment.tag.overdue");
  else if (within24) tag = t("fulfillment.tag.due_24h");
  else if (typeof d === "number" && d <= 1) tag = t("fulfillment.tag.due_tomorrow");
  const red = !!o.overdue || within24 || (typeof d === "number" && d <= 1);
  return { text, tag, red };
}

function daysCell(o) {
  const info = daysInfo(o);
  return h(
    "td",
    { class: info.red ? "ff-days red" : "ff-days" },
    h("span", {}, info.text),
    info.tag ? h("span", { class: "tag error" }, info.tag) : null,
  );
}

function itemsText(items) {
  const list = (items || []).map((i) => `${i.title || i.sku} ×${i.quantity}`);
  if (list.length <= 2) return list.join(", ");
  return `${list.slice(0, 2).join(", ")} ${t("fulfillment.more_items", { n: list.length - 2 })}`;
}

function orderLink(o) {
  return h("a", { href: `#/orders/${encodeURIComponent(o.order_id)}` }, orderNo(o));
}

function conflictLines(err) {
  const conflicts = err?.details?.conflicts;
  if (!Array.isArray(conflicts) || !conflicts.length) return [];
  const known = ["recipient_name_differs", "address_differs", "released_too_far_apart"];
  return [
    h("p", {}, t("fulfillment.conflicts")),
    h(
      "ul",
      {},
      conflicts.map((c) =>
        h(
          "li",
          {},
          known.includes(c.reason)
            ? t(`fulfillment.conflict.${c.reason}`, { order: c.order_id, date: c.released_on || "" })
            : t("fulfillment.conflict.other", { order: c.order_id, reason: c.reason }),
        ),
      ),
    ),
  ];
}

function tabsBar(view, go) {
  return tabBar({
    label: t("fulfillment.tabs"),
    idPrefix: "ff-tab",
    panelId: "ff-panel",
    items: VIEWS,
    current: view,
    labelOf: (v) => t(`fulfillment.tab.${v}`),
    onSelect: go,
  }).bar;
}

// ---------------------------------------------------------------- the screen
let focusTab = null; // the tab the merchant just chose (the route renders the screen again)

export async function render(root, params, ctx) {
  useStyles("fulfillment");
  const view = VIEWS.includes(params.view) ? params.view : "unfulfilled";
  const filters = {
    status: FULFILLABLE.includes(params.status) ? params.status : "",
    marketplace: params.marketplace || "",
    preset: PRESETS.includes(params.preset) ? params.preset : "",
  };
  const pageSize = PAGE_SIZES.includes(Number(params.page_size)) ? Number(params.page_size) : 50;
  const go = (v) => {
    focusTab = v;
    ctx.navigate("/fulfillment", { ...filters, page_size: params.page_size, view: v === "unfulfilled" ? undefined : v });
  };

  const panel = h("div", { id: "ff-panel", role: "tabpanel", "aria-labelledby": `ff-tab-${view}` });
  root.append(h("h1", {}, t("fulfillment.title")), h("p", { class: "hint ff-intro" }, t("fulfillment.intro")), tabsBar(view, go), panel);
  if (focusTab === view) root.querySelector(`#ff-tab-${view}`)?.focus(); // a tab was chosen: keep the focus on it
  focusTab = null;
  const env = { root, params, ctx, filters, pageSize };
  if (view === "unfulfilled") await unfulfilledView(panel, env);
  else if (view === "shipped") await shippedView(panel, env);
  else await csvView(panel, env);
}

// ---------------------------------------------------------------- the tracking form panel
/**
 * A card with one fieldset per order. mode "fulfill": one order -> POST /orders/{id}/fulfill, several
 * -> POST /fulfillments with a result per order; mode "modify": PUT /orders/{id}/tracking.
 * `after()` re-fetches the list (the panel stays for the orders that failed).
 */
async function openTrackingPanel(slot, orders, mode, { ctx, after, returnFocus }) {
  clear(slot, h("p", { class: "loading" }, t("loading")));
  let carrierData;
  try {
    carrierData = await carriers();
  } catch (err) {
    clear(slot, errorBox(err));
    return;
  }
  const many = mode === "fulfill" && orders.length > 1;
  const titleId = uid("ffp");
  const title =
    mode === "modify"
      ? t("fulfillment.panel.modify", { no: orderNo(orders[0]) })
      : many
        ? t("fulfillment.panel.fulfill_many", { n: orders.length })
        : t("fulfillment.panel.fulfill_one", { no: orderNo(orders[0]) });
  const heading = h("h2", { id: titleId, tabindex: "-1" }, title);
  const out = h("div", { class: "ff-out" });
  const form = h("form", { novalidate: true, class: "ff-form" });
  const entries = orders.map((order, i) => {
    const prefix = many ? `fulfillments[${i}].` : "";
    const values = mode === "modify" ? { ...(order.tracking || {}) } : {};
    const controls = trackingControls(carrierData, prefix, values);
    const result = h("div", { class: "ff-result", role: "status" });
    const legend = t("fulfillment.order_legend", {
      no: orderNo(order),
      name: order.recipient?.name || "",
      days: mode === "modify" ? statusLabel(order.status) : daysInfo(order).text,
    });
    const current =
      mode === "modify" && order.tracking
        ? h("p", { class: "hint" }, t("fulfillment.panel.current", { carrier: carrierName(carrierData, order.tracking.carrier), number: order.tracking.tracking_number }))
        : null;
    const fieldset = h("fieldset", { class: "ff-entry" }, h("legend", {}, legend), current, controls.el, result);
    return { order, prefix, controls, result, fieldset, done: false };
  });
  const submit = h(
    "button",
    { type: "submit", class: "primary" },
    mode === "modify" ? t("fulfillment.form.submit_modify") : many ? t("fulfillment.form.submit_many", { n: orders.length }) : t("fulfillment.form.submit"),
  );
  const close = h("button", { type: "button", class: "secondary", onclick: () => closePanel() }, t("fulfillment.form.close"));
  clear(
    form,
    many ? h("p", { class: "hint" }, t("fulfillment.panel.many_hint")) : null,
    entries.map((e) => e.fieldset),
    out,
    h("div", { class: "actions" }, submit, close),
  );
  const card = h("section", { class: "card ff-panel", "aria-labelledby": titleId }, heading, form);
  clear(slot, card);
  heading.focus();
  card.scrollIntoView?.({ block: "nearest" });

  function closePanel() {
    clear(slot);
    returnFocus?.();
  }

  function showEntryError(entry, err) {
    // The API names the field (tracking_number, or fulfillments[0].tracking_number for a bulk body)
    const base = String(err.field || "").replace(/^fulfillments\[\d+\]\./, "");
    const placed = err.status === 400 && base && showFieldError(form, `${entry.prefix}${base}`, err.message);
    entry.fieldset.classList.add("ff-failed");
    // shown under its field already (role=alert there); anything else (409 rule, conflicts) here
    clear(entry.result, placed ? null : h("div", { class: "error-box", role: "alert" }, errorLines(err).map((l) => h("p", {}, l)), conflictLines(err)));
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    await busy(
      submit,
      async () => {
        const pending = entries.filter((x) => !x.done);
        for (const x of pending) {
          clear(x.result);
          x.fieldset.classList.remove("ff-failed");
        }
        if (!many) {
          const entry = pending[0];
          const o = entry.order;
          const body = { ...entry.controls.body(), version: o.version };
          let updated;
          try {
            updated =
              mode === "modify"
                ? await api.put(`/orders/${encodeURIComponent(o.order_id)}/tracking`, body)
                : await api.post(`/orders/${encodeURIComponent(o.order_id)}/fulfill`, body);
          } catch (err) {
            if (err instanceof ApiError && err.status < 500) {
              showEntryError(entry, err);
              return;
            }
            throw err;
          }
          const number = updated?.tracking?.tracking_number || "";
          toast(t(mode === "modify" ? "fulfillment.toast.modified" : "fulfillment.toast.fulfilled", { no: orderNo(o), number }));
          closePanel();
          await after();
          ctx.refreshBadge();
          return;
        }
        const body = { fulfillments: pending.map((x) => ({ order_id: x.order.order_id, ...x.controls.body(), version: x.order.version })) };
        let res;
        try {
          res = await api.post("/fulfillments", body);
        } catch (err) {
          const m = err instanceof ApiError && /^fulfillments\[(\d+)\]/.exec(err.field || "");
          if (m && pending[Number(m[1])]) {
            showEntryError(pending[Number(m[1])], err);
            return;
          }
          throw err;
        }
        const results = res.results || [];
        let ok = 0;
        pending.forEach((x, i) => {
          const r = results.find((y) => y.order_id === x.order.order_id) || results[i];
          if (!r) return;
          if (r.ok) {
            ok += 1;
            x.done = true;
            x.fieldset.disabled = true;
            x.fieldset.classList.add("ff-done");
            clear(x.result, h("p", { class: "ok-text" }, t("fulfillment.result.shipped", { number: r.tracking_number || "" })));
          } else {
            showEntryError(x, new ApiError(r.status || 400, { error: r.error || {} }));
          }
        });
        const failed = pending.length - ok;
        if (failed === 0) {
          toast(t("fulfillment.toast.fulfilled_many", { n: ok }));
          closePanel();
        } else {
          clear(
            out,
            h(
              "div",
              { class: ok ? "warning" : "error-box", role: "alert" },
              h("p", {}, t("fulfillment.result.summary", { ok, failed })),
              h("p", {}, t("fulfillment.result.failed_below")),
            ),
          );
          submit.textContent = failed > 1 ? t("fulfillment.form.submit_many", { n: failed }) : t("fulfillment.form.submit");
        }
        if (ok) {
          await after();
          ctx.refreshBadge();
        }
      },
      { out, form },
    );
  });
}

// ---------------------------------------------------------------- unfulfilled orders
async function unfulfilledView(panel, env) {
  const { ctx, filters, pageSize } = env;
  const panelSlot = h("div", { class: "ff-panel-slot" });
  const listSlot = h("div", { "aria-live": "polite", "aria-busy": "false" });
  const selected = new Map(); // order_id -> order
  // The list merges one GET /orders per status (new, processing), each with its own cursor, and
  // Next/Previous move them together: one paging whose cursor is this page's cursors per status
  // ({status: cursor}; null: the first page). Two pagings would need two pagers for one table.
  const paging = cursorPaging({
    pageSize,
    sizes: PAGE_SIZES,
    onSize: (n) => ctx.navigate("/fulfillment", { ...filters, page_size: n }),
    onChange: () => load(),
  });
  let orders = [];

  // filters (in the URL: Back works and the CSV download uses the same)
  const status = h(
    "select",
    { name: "status" },
    h("option", { value: "" }, t("fulfillment.filter.status_all")),
    FULFILLABLE.map((s) => h("option", { value: s, selected: filters.status === s }, statusLabel(s))),
  );
  const marketplace = h("input", { type: "text", name: "marketplace", value: filters.marketplace, autocomplete: "off" });
  const preset = h(
    "select",
    { name: "preset" },
    h("option", { value: "" }, t("fulfillment.filter.preset_none")),
    PRESETS.map((p) => h("option", { value: p, selected: filters.preset === p }, t(`fulfillment.filter.preset.${p}`))),
  );
  const filterOut = h("div");
  const filterForm = h(
    "form",
    { class: "card ff-filters", role: "search", "aria-label": t("fulfillment.filter.title") },
    h(
      "div",
      { class: "filters" },
      field(t("fulfillment.filter.status"), status),
      field(t("fulfillment.filter.marketplace"), marketplace, t("fulfillment.filter.marketplace_hint")),
      field(t("fulfillment.filter.preset"), preset),
      h(
        "div",
        { class: "actions ff-filter-actions" },
        h("button", { type: "submit" }, t("fulfillment.filter.apply")),
        h("button", { type: "button", class: "secondary", onclick: () => ctx.navigate("/fulfillment", { page_size: env.params.page_size }) }, t("fulfillment.filter.reset")),
      ),
    ),
    filterOut,
  );
  filterForm.addEventListener("submit", (e) => {
    e.preventDefault();
    ctx.navigate("/fulfillment", { status: status.value, marketplace: marketplace.value.trim(), preset: preset.value, page_size: env.params.page_size });
  });

  const bulkButton = h("button", { type: "button", disabled: true, onclick: () => openPanel([...selected.values()], bulkButton) }, t("fulfillment.fulfill_selected", { n: 0 }));
  const bulkHint = h("p", { class: "hint", id: uid("bulk") }, t("fulfillment.selected_none"));
  bulkButton.setAttribute("aria-describedby", bulkHint.id);
  const countEl = h("span", { class: "count", "data-testid": "unfulfilled-count" });
  const toolbar = h("div", { class: "toolbar ff-toolbar" }, bulkButton, bulkHint, countEl);

  panel.append(filterForm, panelSlot, toolbar, listSlot);

  function updateBulk() {
    const list = [...selected.values()];
    // offered only when the API offers fulfill for every selected order
    const offered = list.length > 0 && list.every((o) => (o.actions || []).includes("fulfill"));
    bulkButton.disabled = !offered;
    bulkButton.textContent = t("fulfillment.fulfill_selected", { n: list.length });
    bulkHint.hidden = list.length > 0;
  }

  function openPanel(list, from) {
    openTrackingPanel(panelSlot, list, "fulfill", {
      ctx,
      after: () => load(),
      returnFocus: () => (from?.isConnected ? from : bulkButton).focus(),
    });
  }

  async function fetchPage(cur) {
    const statuses = filters.status ? [filters.status] : FULFILLABLE;
    const wanted = cur ? statuses.filter((s) => cur[s]) : statuses;
    const pages = await Promise.all(
      wanted.map((s) =>
        api.get("/orders", {
          status: s,
          marketplace: filters.marketplace,
          preset: filters.preset,
          page_size: pageSize,
          cursor: cur ? cur[s] : undefined,
        }),
      ),
    );
    const list = pages.flatMap((p) => p.orders || []).filter((o) => FULFILLABLE.includes(o.status) && !o.tracking);
    list.sort((a, b) => (a.deadline_at || "9999").localeCompare(b.deadline_at || "9999") || String(orderNo(a)).localeCompare(String(orderNo(b))));
    const nxt = {};
    wanted.forEach((s, i) => {
      if (pages[i].next_cursor) nxt[s] = pages[i].next_cursor;
    });
    return { list, nxt };
  }

  async function load() {
    listSlot.setAttribute("aria-busy", "true");
    try {
      const { list, nxt } = await fetchPage(paging.cursor);
      paging.took(Object.keys(nxt).length ? nxt : null);
      orders = list;
    } catch (err) {
      // a filter the API refuses (400 naming marketplace, preset...) is shown under that filter
      const onFilter = err instanceof ApiError && err.field && filterForm.querySelector(`[name="${CSS.escape(err.field)}"]`);
      clear(filterOut, onFilter ? errorBox(err, filterForm) : null);
      clear(listSlot, onFilter ? null : errorBox(err));
      return;
    } finally {
      listSlot.setAttribute("aria-busy", "false");
    }
    for (const id of [...selected.keys()]) {
      const fresh = orders.find((o) => o.order_id === id);
      if (fresh && (fresh.actions || []).includes("fulfill")) selected.set(id, fresh);
      else selected.delete(id);
    }
    drawList();
    updateBulk();
  }

  function drawList() {
    countEl.textContent = t("fulfillment.list.count", { n: formatNumber(orders.length) });
    if (!orders.length) {
      clear(listSlot, h("p", { class: "notice" }, t("fulfillment.list.empty")), paging.controls());
      return;
    }
    const fulfillable = orders.filter((o) => (o.actions || []).includes("fulfill"));
    const all = h("input", {
      type: "checkbox",
      "aria-label": t("fulfillment.select_all"),
      checked: fulfillable.length > 0 && fulfillable.every((o) => selected.has(o.order_id)),
      disabled: fulfillable.length === 0,
      onchange: (e) => {
        for (const o of fulfillable) {
          if (e.target.checked) selected.set(o.order_id, o);
          else selected.delete(o.order_id);
        }
        drawList();
        updateBulk();
        listSlot.querySelector("thead input[type=checkbox]")?.focus();
      },
    });
    const rows = orders.map((o) => {
      const can = (o.actions || []).includes("fulfill");
      const info = daysInfo(o);
      const stage = o.shipment_stage && o.shipment_stage !== "none" ? o.shipment_stage : null;
      const fulfillButton = can
        ? h(
            "button",
            { type: "button", class: "secondary", "aria-label": t("fulfillment.fulfill_order", { no: orderNo(o) }), onclick: (e) => openPanel([o], e.currentTarget) },
            t("action.fulfill"),
          )
        : null;
      return h(
        "tr",
        { class: info.red ? "due" : null, dataset: { orderId: o.order_id } },
        h(
          "td",
          {},
          h("input", {
            type: "checkbox",
            "aria-label": t("fulfillment.select_order", { no: orderNo(o) }),
            checked: selected.has(o.order_id),
            disabled: !can,
            title: can ? null : t("fulfillment.not_fulfillable"),
            onchange: (e) => {
              if (e.target.checked) selected.set(o.order_id, o);
              else selected.delete(o.order_id);
              updateBulk();
              all.checked = fulfillable.every((x) => selected.has(x.order_id));
            },
          }),
        ),
        h("td", {}, orderLink(o), h("br"), h("span", { class: "hint" }, o.marketplace)),
        h("td", {}, statusLabel(o.status), stage ? [h("br"), h("span", { class: "hint" }, stageLabel(stage))] : null),
        h("td", { class: "ff-nowrap" }, formatDate(o.released_at)),
        h("td", { class: "ff-nowrap" }, formatDate(o.deadline_at)),
        daysCell(o),
        h("td", {}, o.recipient?.name || "", o.recipient?.country ? h("span", { class: "hint" }, ` (${o.recipient.country})`) : null),
        h("td", { class: "ff-items" }, itemsText(o.items)),
        h(
          "td",
          {},
          fulfillButton ||
            h("span", { class: "hint" }, stage ? t("fulfillment.in_warehouse", { stage: stageLabel(stage) }) : t("fulfillment.not_fulfillable")),
        ),
      );
    });
    const table = h(
      "table",
      { class: "ff-table" },
      h("caption", { class: "ff-caption" }, t("fulfillment.list.caption")),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, all),
          ["order", "status", "released", "deadline", "days", "recipient", "items", "actions"].map((c) => h("th", { scope: "col" }, t(`fulfillment.col.${c}`))),
        ),
      ),
      h("tbody", {}, rows),
    );
    clear(listSlot, h("div", { class: "table-wrap" }, table), paging.controls());
  }

  clear(listSlot, h("p", { class: "loading" }, t("loading")));
  await load();
}

// ---------------------------------------------------------------- shipped orders: modify tracking
async function shippedView(panel, env) {
  const { ctx, params, pageSize } = env;
  const q = (params.q || "").trim();
  const panelSlot = h("div", { class: "ff-panel-slot" });
  const listSlot = h("div", { "aria-live": "polite" });
  const paging = cursorPaging({
    pageSize,
    sizes: PAGE_SIZES,
    onSize: (n) => ctx.navigate("/fulfillment", { view: "shipped", q, page_size: n }),
    onChange: () => load(),
  });
  let carrierData = null;

  const search = h("input", { type: "search", name: "q", value: q, autocomplete: "off" });
  const out = h("div");
  const form = h(
    "form",
    { class: "card", role: "search", "aria-label": t("fulfillment.shipped.title") },
    h(
      "div",
      { class: "toolbar" },
      field(t("fulfillment.shipped.search"), search, t("fulfillment.shipped.search_hint")),
      h("button", { type: "submit" }, t("fulfillment.shipped.find")),
      q ? h("button", { type: "button", class: "secondary", onclick: () => ctx.navigate("/fulfillment", { view: "shipped", page_size: params.page_size }) }, t("fulfillment.shipped.all")) : null,
    ),
    out,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    ctx.navigate("/fulfillment", { view: "shipped", q: search.value.trim(), page_size: params.page_size });
  });
  panel.append(form, panelSlot, h("h2", {}, t("fulfillment.shipped.title")), listSlot);

  async function load() {
    let data;
    try {
      [data, carrierData] = await Promise.all([
        api.get("/orders", { status: "shipped", q: q || undefined, page_size: pageSize, cursor: paging.cursor || undefined }),
        carriers().catch(() => null),
      ]);
    } catch (err) {
      clear(out, errorBox(err, form));
      clear(listSlot);
      return;
    }
    paging.took(data.next_cursor);
    draw(data.orders || []);
  }

  function draw(list) {
    const pagerEl = paging.controls();
    if (!list.length) {
      clear(listSlot, h("p", { class: "notice" }, t("fulfillment.shipped.empty")), pagerEl);
      return;
    }
    const rows = list.map((o) => {
      const tr = o.tracking || {};
      const can = (o.actions || []).includes("change_tracking");
      return h(
        "tr",
        { dataset: { orderId: o.order_id } },
        h("td", {}, orderLink(o), h("br"), h("span", { class: "hint" }, o.marketplace)),
        h("td", {}, o.recipient?.name || ""),
        h("td", {}, carrierName(carrierData, tr.carrier)),
        h("td", { class: "ff-mono" }, tr.tracking_number || ""),
        h("td", { class: "ff-nowrap" }, formatDate(tr.changed_at || tr.shipped_at)),
        h(
          "td",
          {},
          can
            ? h(
                "button",
                {
                  type: "button",
                  class: "secondary",
                  "aria-label": t("fulfillment.modify_order", { no: orderNo(o) }),
                  onclick: (e) => {
                    const from = e.currentTarget;
                    openTrackingPanel(panelSlot, [o], "modify", {
                      ctx,
                      after: () => load(),
                      returnFocus: () => (from.isConnected ? from : search).focus(),
                    });
                  },
                },
                t("action.change_tracking"),
              )
            : h("span", { class: "hint" }, t("fulfillment.shipped.no_change")),
        ),
      );
    });
    clear(
      listSlot,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          {},
          h("caption", { class: "ff-caption" }, t("fulfillment.shipped.caption")),
          h(
            "thead",
            {},
            h("tr", {}, ["order", "recipient", "carrier", "tracking", "shipped_at", "actions"].map((c) => h("th", { scope: "col" }, t(`fulfillment.col.${c}`)))),
          ),
          h("tbody", {}, rows),
        ),
      ),
      pagerEl,
    );
  }

  clear(listSlot, h("p", { class: "loading" }, t("loading")));
  await load();
}

// ---------------------------------------------------------------- CSV: download, upload, history
function filterText(filters) {
  const parts = [];
  if (filters.status) parts.push(`${t("fulfillment.filter.status")}: ${statusLabel(filters.status)}`);
  if (filters.marketplace) parts.push(`${t("fulfillment.filter.marketplace")}: ${filters.marketplace}`);
  if (filters.preset) parts.push(`${t("fulfillment.filter.preset")}: ${t(`fulfillment.filter.preset.${filters.preset}`)}`);
  return parts.length ? parts.join(", ") : t("fulfillment.csv.filter_none");
}

function jobStatePill(state) {
  const cls = state === "done" ? "pill ok" : state === "failed" ? "pill danger" : "pill warn";
  return h("span", { class: cls }, t(`fulfillment.job.state.${state}`));
}

function resultOrder(r) {
  return r.order_id ? h("a", { href: `#/orders/${encodeURIComponent(r.order_id)}` }, r.order_id) : "";
}

function reasonOf(r) {
  const e = r.error || {};
  return [e.message || e.code || "", e.rule ? ` (${e.rule})` : ""].join("");
}

/** One upload: its state, progress bar and counts; when it ended, the failed rows and every row. */
function drawJob(slot, job, extraResults, onMore) {
  const results = [...(job.results || []), ...extraResults];
  const failedRows = results.filter((r) => !r.ok);
  const ended = ["done", "failed"].includes(job.state);
  const total = job.total ?? 0;
  const titleId = uid("job");
  const parts = [
    h("h3", { id: titleId }, t("fulfillment.job.title", { date: formatDate(job.created_at) }), " ", jobStatePill(job.state)),
    job.params?.file_name ? h("p", { class: "hint" }, t("fulfillment.job.file", { name: job.params.file_name })) : null,
    progress(job.processed || 0, total, t("fulfillment.job.progress")),
    h(
      "p",
      { class: "ff-job-status", role: "status", "data-testid": "job-status" },
      `${t(`fulfillment.job.state.${job.state}`)} — ${t("fulfillment.job.processed", { processed: formatNumber(job.processed || 0), total: formatNumber(total) })}. `,
      t("fulfillment.job.counts", { succeeded: formatNumber(job.succeeded || 0), failed: formatNumber(job.failed || 0), skipped: formatNumber(job.skipped || 0) }),
    ),
    job.state === "failed" && job.error ? h("div", { class: "error-box", role: "alert" }, t("fulfillment.job.error", { message: job.error.message || job.error.code || String(job.error) })) : null,
  ];
  if (ended) {
    parts.push(h("h4", {}, t("fulfillment.job.failed_rows")));
    if (failedRows.length) {
      parts.push(
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "ff-failed", "data-testid": "failed-rows" },
            h("thead", {}, h("tr", {}, ["row", "order", "column", "reason"].map((c) => h("th", { scope: "col" }, t(`fulfillment.job.col.${c}`))))),
            h(
              "tbody",
              {},
              failedRows.map((r) =>
                h("tr", { class: "due" }, h("td", {}, String(r.row)), h("td", {}, resultOrder(r)), h("td", { class: "ff-mono" }, r.error?.column || r.error?.field || ""), h("td", {}, reasonOf(r))),
              ),
            ),
          ),
        ),
      );
    } else {
      parts.push(h("p", { class: "ok-text" }, t("fulfillment.job.no_failed")));
    }
    if (results.length) {
      parts.push(
        h(
          "details",
          { class: "ff-all-rows" },
          h("summary", {}, t("fulfillment.job.all_rows", { n: formatNumber(results.length) })),
          h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              {},
              h("thead", {}, h("tr", {}, ["row", "order", "result"].map((c) => h("th", { scope: "col" }, t(`fulfillment.job.col.${c}`))))),
              h(
                "tbody",
                {},
                results.map((r) =>
                  h(
                    "tr",
                    { class: r.ok ? null : "due" },
                    h("td", {}, String(r.row)),
                    h("td", {}, resultOrder(r)),
                    h(
                      "td",
                      {},
                      r.ok
                        ? r.skipped
                          ? t("fulfillment.job.row.skipped")
                          : t("fulfillment.job.row.shipped", { number: r.tracking_number || "" })
                        : `${t("fulfillment.job.row.failed")}: ${reasonOf(r)}`,
                      (r.tags || []).includes("mall_reflect_error") ? h("span", { class: "tag error" }, t("fulfillment.job.reflect_error")) : null,
                    ),
                  ),
                ),
              ),
            ),
          ),
          onMore ? h("button", { type: "button", class: "secondary", onclick: onMore }, t("fulfillment.job.more_rows")) : null,
        ),
      );
    }
  }
  clear(slot, h("section", { class: "card ff-job", "aria-labelledby": titleId, dataset: { jobId: job.job_id } }, parts));
}

/** Follow a job until it ends (while its slot is on the page), then show its rows; more pages on demand. */
async function showJob(slot, jobId, onEnd) {
  const token = uid("follow");
  slot.dataset.following = token; // a job chosen later takes the slot over
  const mine = () => slot.isConnected && slot.dataset.following === token;
  const read = async () => {
    if (!mine()) throw new Error("stopped");
    return api.get(`/fulfillment-jobs/${encodeURIComponent(jobId)}`);
  };
  let job;
  try {
    job = await followJob(read, (j) => {
      if (mine()) drawJob(slot, j, [], null);
    });
  } catch (err) {
    if (mine()) clear(slot, errorBox(err));
    return;
  }
  const extra = [];
  let cursor = job.next_cursor;
  const more = async (e) => {
    const button = e.currentTarget;
    button.disabled = true;
    try {
      const page = await api.get(`/fulfillment-jobs/${encodeURIComponent(jobId)}`, { cursor });
      extra.push(...(page.results || []));
      cursor = page.next_cursor;
      if (!mine()) return;
      draw();
      slot.querySelector("details")?.setAttribute("open", "");
    } catch (err) {
      button.disabled = false;
      button.after(errorBox(err));
    }
  };
  const draw = () => drawJob(slot, job, extra, cursor ? more : null);
  if (mine()) draw();
  onEnd?.(job);
}

async function csvView(panel, env) {
  const { ctx, filters } = env;

  // 1. download
  const encoding = h(
    "select",
    { name: "encoding" },
    ENCODINGS.map((enc) => h("option", { value: enc }, t(`fulfillment.csv.encoding.${enc}`))),
  );
  const dlOut = h("div");
  const dlButton = h("button", { type: "submit" }, t("fulfillment.csv.download"));
  const dlForm = h(
    "form",
    { novalidate: true },
    h("p", {}, t("fulfillment.csv.download.text", { filter: filterText(filters) })),
    h("div", { class: "toolbar" }, field(t("fulfillment.csv.encoding"), encoding), dlButton),
    dlOut,
  );
  dlForm.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(
      dlButton,
      async () => {
        const blob = await api.get(
          "/orders/unfulfilled.csv",
          { status: filters.status, marketplace: filters.marketplace, preset: filters.preset, encoding: encoding.value },
          { accept: "blob" },
        );
        saveBlob(blob, `unfulfilled-${fileStamp()}${encoding.value === "cp932" ? "-sjis" : ""}.csv`);
        toast(t("fulfillment.csv.downloaded"));
      },
      { out: dlOut, form: dlForm },
    );
  });

  // 2. upload
  const file = h("input", { type: "file", name: "file", accept: ".csv,text/csv" });
  const upOut = h("div");
  const upButton = h("button", { type: "submit" }, t("fulfillment.csv.upload"));
  const jobSlot = h("div", { class: "ff-job-slot" });
  const upForm = h(
    "form",
    { novalidate: true },
    h("p", {}, t("fulfillment.csv.upload.text")),
    h("div", { class: "toolbar" }, field(t("fulfillment.csv.file"), file), upButton),
    upOut,
  );
  upForm.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(
      upButton,
      async () => {
        const chosen = file.files && file.files[0];
        if (!chosen) {
          showFieldError(upForm, "file", t("fulfillment.csv.choose_file"));
          file.focus();
          return;
        }
        // The route takes the raw file (text/csv; UTF-8 or CP932, detected) and answers 202 with the job.
        const job = await api.post("/fulfillment-jobs", undefined, { raw: chosen, contentType: "text/csv" });
        file.value = "";
        firstHistoryPage();
        await showJob(jobSlot, job.job_id, () => {
          firstHistoryPage();
          ctx.refreshBadge();
        });
      },
      { out: upOut, form: upForm },
    );
  });

  // 3. history
  const historySlot = h("div", { "aria-live": "polite" });
  const detailSlot = h("div", { class: "ff-job-slot" });
  const paging = cursorPaging({ pageSize: 25, sizes: [25], onChange: () => loadHistory() });
  const firstHistoryPage = () => (paging.reset(), loadHistory()); // a new upload is on the first page
  const refresh = h("button", { type: "button", class: "secondary", onclick: () => loadHistory() }, t("fulfillment.history.refresh"));

  panel.append(
    h("section", { class: "card", "aria-labelledby": "ff-dl-title" }, h("h2", { id: "ff-dl-title" }, t("fulfillment.csv.download.title")), dlForm),
    h("section", { class: "card", "aria-labelledby": "ff-up-title" }, h("h2", { id: "ff-up-title" }, t("fulfillment.csv.upload.title")), upForm, jobSlot),
    h(
      "section",
      { class: "card", "aria-labelledby": "ff-hist-title" },
      h("div", { class: "ff-section-head" }, h("h2", { id: "ff-hist-title" }, t("fulfillment.history.title")), refresh),
      historySlot,
      detailSlot,
    ),
  );

  async function loadHistory() {
    let data;
    try {
      data = await api.get("/fulfillment-jobs", { page_size: 25, cursor: paging.cursor || undefined });
    } catch (err) {
      clear(historySlot, errorBox(err));
      return;
    }
    paging.took(data.next_cursor);
    const jobs = data.jobs || [];
    const pagerEl = paging.controls();
    pagerEl.querySelector(".field")?.remove(); // the history has one page size
    if (!jobs.length) {
      clear(historySlot, h("p", { class: "notice" }, t("fulfillment.history.empty")));
      return;
    }
    const rows = jobs.map((j) =>
      h(
        "tr",
        { dataset: { jobId: j.job_id } },
        h("td", { class: "ff-nowrap" }, formatDate(j.created_at)),
        h("td", {}, j.params?.file_name || h("span", { class: "hint" }, t("fulfillment.history.no_name"))),
        h("td", {}, jobStatePill(j.state)),
        h("td", {}, formatNumber(j.total ?? 0)),
        h("td", {}, formatNumber(j.succeeded || 0)),
        h("td", { class: j.failed ? "red" : null }, formatNumber(j.failed || 0)),
        h("td", {}, formatNumber(j.skipped || 0)),
        h(
          "td",
          {},
          h(
            "button",
            {
              type: "button",
              class: "secondary",
              "aria-label": t("fulfillment.history.show_label", { date: formatDate(j.created_at) }),
              onclick: () => {
                showJob(detailSlot, j.job_id, () => loadHistory()).then(() => detailSlot.querySelector("h3")?.scrollIntoView?.({ block: "nearest" }));
              },
            },
            t("fulfillment.history.show"),
          ),
        ),
      ),
    );
    clear(
      historySlot,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { "data-testid": "upload-history" },
          h("caption", { class: "ff-caption" }, t("fulfillment.history.caption")),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["uploaded", "file", "state", "rows", "shipped", "failed", "skipped"].map((c) => h("th", { scope: "col" }, t(`fulfillment.history.${c}`))),
              h("th", { scope: "col" }, t("fulfillment.col.actions")),
            ),
          ),
          h("tbody", {}, rows),
        ),
      ),
      paging.hasPrev || paging.hasNext ? pagerEl : null,
    );
  }

  clear(historySlot, h("p", { class: "loading" }, t("loading")));
  await loadHistory();
}
