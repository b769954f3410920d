// One order (#/orders/<order_id>): GET /orders/{id} — header (number, marketplace, status and
// shipment stage), items with their item codes (unmapped in red), recipient, tracking (and the
// numbers it replaced), the deadline with the days left, tags (explained), and the history
// (oldest first; older entries through GET /orders/{id}/history). The buttons are exactly
// `order.actions`; each calls its route and the page is drawn again from the fresh order.
// `version` is sent where the route takes it, so an order changed meanwhile (by the warehouse, the
// marketplace, another tab) is not acted on blind: the page reloads and says so. Cancel is the
// exception: its outcome depends on the shipment stage at the moment it arrives, and the API
// answers that in words (200 cancelled, 202 withdrawal requested, 409 with the rule), so a page
// opened before the warehouse moved on gets the rule, not a version number.
import { api, ApiError } from "../api.js";
import { formatDate, formatNumber, register, t } from "../i18n.js";
import { carrierName, carrierOf, carriers, checkNumber } from "../tracking.js";
import {
  actionLabel,
  busy,
  clear,
  confirmDialog,
  errorBox,
  field,
  formDialog,
  h,
  stageLabel,
  useStyles,
} from "../ui.js";
import { daysEl, isDue, mappingEl, orderNo, statusPill, tagEl, tagLabel } from "./orders.js";

const CLOSE_REASONS = ["returned", "refunded"];
const DANGER = ["cancel", "delete"];
const SECONDARY = ["refresh", "edit_recipient", "map_items", "hold", "release", "close", "change_tracking", "retry_reflect", "clear_reflect_error"];
const HISTORY_PAGE = 50;
const ACTORS = ["marketplace", "merchant", "system", "warehouse"];

register({
  en: {
    "order_detail.back": "Back to orders",
    "order_detail.title": "Order {no}",
    "order_detail.not_found": "This order was not found.",
    "order_detail.actions": "Actions",
    "order_detail.no_actions": "No action is possible for this order now.",
    "order_detail.stage": "Shipment: {stage}",
    "order_detail.summary": "Order",
    "order_detail.order_id": "Order ID",
    "order_detail.marketplace": "Marketplace",
    "order_detail.order_no": "Order number",
    "order_detail.origin": "Registered by",
    "order_detail.origin.api": "Marketplace",
    "order_detail.origin.csv": "CSV upload",
    "order_detail.origin.manual": "Manual entry",
    "order_detail.packing_no": "Packing number",
    "order_detail.placed_at": "Ordered",
    "order_detail.released_at": "Released",
    "order_detail.deadline_at": "Shipping deadline",
    "order_detail.no_deadline": "No deadline running",
    "order_detail.updated_at": "Last updated",
    "order_detail.payment": "Payment",
    "order_detail.paid_at": "paid {at}",
    "order_detail.unpaid": "not paid yet",
    "order_detail.total": "Total",
    "order_detail.hold_reason": "Hold reason",
    "order_detail.cancel_reason": "Cancel reason",
    "order_detail.close_reason": "Close reason",
    "order_detail.hold_release_at": "Payment hold ends",
    "order_detail.recipient": "Recipient",
    "order_detail.name": "Name",
    "order_detail.address": "Address",
    "order_detail.country": "Country",
    "order_detail.phone": "Phone",
    "order_detail.email": "Email",
    "order_detail.items": "Items",
    "order_detail.sku": "SKU",
    "order_detail.item_name": "Name",
    "order_detail.quantity": "Quantity",
    "order_detail.item_code": "Item code",
    "order_detail.price": "Price",
    "order_detail.unmapped": "Not mapped",
    "order_detail.mapping_fail": "{n} items have no item code: add them to the item mapping, then Map items.",
    "order_detail.mapping_fail#one": "1 item has no item code: add it to the item mapping, then Map items.",
    "order_detail.tracking": "Tracking",
    "order_detail.no_tracking": "No tracking number yet.",
    "order_detail.carrier": "Carrier",
    "order_detail.tracking_number": "Tracking number",
    "order_detail.origin_country": "Origin country",
    "order_detail.note": "Note",
    "order_detail.shipped_at": "Shipped",
    "order_detail.by": "Registered by",
    "order_detail.changed_at": "Changed",
    "order_detail.previous_tracking": "Previous tracking numbers",
    "order_detail.replaced_at": "Replaced",
    "order_detail.why": "Why",
    "order_detail.tags": "Tags",
    "order_detail.tag_help.mall_reflect_error": "A change (a cancel or a shipment) could not be reflected to the marketplace after several attempts. The change stands in orderhub; check this order on the marketplace's own admin page. The history shows the error.",
    "order_detail.tag_help.withdrawal_requested": "The warehouse was asked to withdraw the parcel. The order is cancelled when the warehouse confirms the withdrawal.",
    "order_detail.history": "History",
    "order_detail.history.at": "When",
    "order_detail.history.actor": "By",
    "order_detail.history.action": "What",
    "order_detail.history.status": "Status",
    "order_detail.history.details": "Details",
    "order_detail.history.older": "Show older entries",
    "order_detail.history.correlation": "Correlation id:",
    "order_detail.actor.marketplace": "Marketplace",
    "order_detail.actor.merchant": "You",
    "order_detail.actor.system": "orderhub",
    "order_detail.actor.warehouse": "Warehouse",
    "order_detail.changed_meanwhile": "This order was changed meanwhile (by the warehouse, the marketplace or another session). The page now shows its current state: check it and try again.",
    "order_detail.refused_reloaded": "The page now shows the order's current state.",
    "order_detail.done.confirm": "Confirmed: the order is now {status}.",
    "order_detail.done.ship_request": "Shipping info sent: the shipment is requested from the warehouse (packing number {packing_no}).",
    "order_detail.done.map_items_ok": "Item mapping applied: every item has an item code.",
    "order_detail.done.map_items_fail": "Item mapping applied, but these SKUs still have no item code: {skus}.",
    "order_detail.done.fulfill": "Marked shipped with {carrier} tracking number {number}.",
    "order_detail.done.change_tracking": "Tracking changed to {carrier} {number}.",
    "order_detail.done.hold": "The order is on hold.",
    "order_detail.done.release": "Released from hold: the order is {status} again.",
    "order_detail.done.cancelled": "The order is cancelled.",
    "order_detail.done.withdrawal": "Withdrawal requested from the warehouse: picking has started, so the order is cancelled only when the warehouse confirms it has withdrawn the parcel.",
    "order_detail.done.close": "The order is closed ({reason}).",
    "order_detail.done.delete": "The order is deleted: it no longer appears in the order list or the counts.",
    "order_detail.done.refresh": "Refreshed from the marketplace.",
    "order_detail.dialog.hold": "Put the order on hold",
    "order_detail.dialog.cancel": "Cancel the order",
    "order_detail.dialog.close": "Close the order",
    "order_detail.dialog.fulfill": "Ship the order with tracking",
    "order_detail.dialog.change_tracking": "Modify the tracking",
    "order_detail.dialog.delete": "Delete the order?",
    "order_detail.dialog.delete_body": "The order leaves the list and the counts; its number may be registered again. A deleted marketplace order can be relinked from Cancelled orders.",
    "order_detail.reason": "Reason",
    "order_detail.reason_optional": "Reason (optional)",
    "order_detail.cancel_help": "Before picking, the order is cancelled at once. While the warehouse is picking, a withdrawal is requested and the order is cancelled when the warehouse confirms. A packed or shipped parcel cannot be cancelled.",
    "order_detail.close_reason.returned": "Returned",
    "order_detail.close_reason.refunded": "Refunded",
    "order_detail.choose_carrier": "Choose a carrier",
    "order_detail.choose_carrier_first": "Choose a carrier to see its number format.",
    "order_detail.format": "Format: {format}",
    "order_detail.number_ok": "Valid {carrier} number: {number}",
    "order_detail.number_bad": "Not a valid {carrier} number ({format}).",
    "order_detail.number_long": "At most {n} characters.",
    "order_detail.origin_country_hint": "Two-letter country code the parcel ships from, e.g. JP (optional)",
    "order_detail.yes_delete": "Delete",
    "order_detail.yes_cancel": "Cancel the order",
    "order_detail.done.retry_reflect": "The marketplace took the update: the reflect error is cleared.",
    "order_detail.dialog.clear_reflect_error": "Clear the reflect error",
    "order_detail.clear_reflect_help": "Clear the tag once you have made the same change on the marketplace's own admin page. Say what you did: it is kept in the history.",
    "order_detail.done.clear_reflect_error": "The reflect error is cleared.",
    "order_detail.fee.title": "A paid cancellation request",
    "order_detail.fee.body": "The warehouse has started picking this order. Cancelling now sends the warehouse a cancellation request, which costs an extra fee. The order is cancelled once the warehouse confirms it has withdrawn the parcel.",
    "order_detail.fee.accept": "Send the paid request",
    "order_detail.dialog.edit_recipient": "Change the recipient",
    "order_detail.edit_recipient_help": "Before picking the new recipient is used at once, also by the warehouse's shipment request. Once picking has started the warehouse is asked to change it (a paid request). Packed parcels cannot be changed. Items are never changed here.",
    "order_detail.postal_code": "Postal code",
    "order_detail.region": "Prefecture / region",
    "order_detail.city": "City",
    "order_detail.address1": "Address line 1",
    "order_detail.address2": "Address line 2",
    "order_detail.country_hint": "Two-letter country code (e.g. JP)",
    "order_detail.nothing_changed": "Nothing was changed.",
    "order_detail.done.recipient_edited": "The recipient is changed.",
    "order_detail.done.modify_requested": "The warehouse was asked to change the recipient: picking has started, so the change takes effect when the warehouse confirms it.",
    "order_detail.modification": "Recipient change waiting on the warehouse",
    "order_detail.fee_modify.title": "A paid modification request",
    "order_detail.fee_modify.body": "The warehouse has started picking this order. Changing the recipient now sends the warehouse a modification request, which costs an extra fee. The new recipient is used once the warehouse confirms it.",
  },
  ja: {
    "order_detail.back": "受注一覧に戻る",
    "order_detail.title": "受注 {no}",
    "order_detail.not_found": "この受注は見つかりませんでした。",
    "order_detail.actions": "操作",
    "order_detail.no_actions": "現在この受注に実行できる操作はありません。",
    "order_detail.stage": "出荷状況: {stage}",
    "order_detail.summary": "受注情報",
    "order_detail.order_id": "受注ID",
    "order_detail.marketplace": "販売モール",
    "order_detail.order_no": "注文番号",
    "order_detail.origin": "登録元",
    "order_detail.origin.api": "モール連携",
    "order_detail.origin.csv": "CSVアップロード",
    "order_detail.origin.manual": "手動登録",
    "order_detail.packing_no": "梱包番号",
    "order_detail.placed_at": "注文日時",
    "order_detail.released_at": "受付日時",
    "order_detail.deadline_at": "出荷期限",
    "order_detail.no_deadline": "出荷期限はありません",
    "order_detail.updated_at": "最終更新",
    "order_detail.payment": "支払い",
    "order_detail.paid_at": "入金 {at}",
    "order_detail.unpaid": "未入金",
    "order_detail.total": "合計",
    "order_detail.hold_reason": "保留理由",
    "order_detail.cancel_reason": "キャンセル理由",
    "order_detail.close_reason": "完了理由",
    "order_detail.hold_release_at": "入金待ちの解除予定",
    "order_detail.recipient": "お届け先",
    "order_detail.name": "氏名",
    "order_detail.address": "住所",
    "order_detail.country": "国",
    "order_detail.phone": "電話番号",
    "order_detail.email": "メールアドレス",
    "order_detail.items": "商品",
    "order_detail.sku": "SKU",
    "order_detail.item_name": "商品名",
    "order_detail.quantity": "数量",
    "order_detail.item_code": "アイテムコード",
    "order_detail.price": "価格",
    "order_detail.unmapped": "未紐付",
    "order_detail.mapping_fail": "{n} 件の商品にアイテムコードがありません。商品マッピングに登録してから「商品マッピング適用」を押してください。",
    "order_detail.tracking": "配送情報",
    "order_detail.no_tracking": "追跡番号はまだありません。",
    "order_detail.carrier": "配送業者",
    "order_detail.tracking_number": "追跡番号",
    "order_detail.origin_country": "発送元の国",
    "order_detail.note": "メモ",
    "order_detail.shipped_at": "発送日時",
    "order_detail.by": "登録者",
    "order_detail.changed_at": "修正日時",
    "order_detail.previous_tracking": "以前の追跡番号",
    "order_detail.replaced_at": "置き換え日時",
    "order_detail.why": "理由",
    "order_detail.tags": "タグ",
    "order_detail.tag_help.mall_reflect_error": "キャンセルや発送などの変更を、再試行してもモールに反映できませんでした。orderhub上の変更は有効です。モールの管理ページでこの受注を確認してください。エラー内容は履歴に記録されています。",
    "order_detail.tag_help.withdrawal_requested": "倉庫に出荷の取り消しを依頼しています。倉庫が取り消しを確認するとキャンセルになります。",
    "order_detail.history": "履歴",
    "order_detail.history.at": "日時",
    "order_detail.history.actor": "実行者",
    "order_detail.history.action": "内容",
    "order_detail.history.status": "ステータス",
    "order_detail.history.details": "詳細",
    "order_detail.history.older": "以前の履歴を表示",
    "order_detail.history.correlation": "相関ID:",
    "order_detail.actor.marketplace": "モール",
    "order_detail.actor.merchant": "ショップ",
    "order_detail.actor.system": "orderhub",
    "order_detail.actor.warehouse": "倉庫",
    "order_detail.changed_meanwhile": "この受注は別の処理(倉庫、モール、別の画面)で変更されていました。現在の状態を表示しています。確認してからもう一度操作してください。",
    "order_detail.refused_reloaded": "受注の現在の状態を表示しています。",
    "order_detail.done.confirm": "受注確認しました。ステータスは「{status}」です。",
    "order_detail.done.ship_request": "出荷指示を送信しました。倉庫に出荷を依頼しています(梱包番号 {packing_no})。",
    "order_detail.done.map_items_ok": "商品マッピングを適用しました。すべての商品にアイテムコードがあります。",
    "order_detail.done.map_items_fail": "商品マッピングを適用しましたが、次のSKUにアイテムコードがありません: {skus}",
    "order_detail.done.fulfill": "{carrier} の追跡番号 {number} で発送済みにしました。",
    "order_detail.done.change_tracking": "追跡番号を {carrier} {number} に修正しました。",
    "order_detail.done.hold": "受注を保留にしました。",
    "order_detail.done.release": "保留を解除しました。ステータスは「{status}」に戻りました。",
    "order_detail.done.cancelled": "受注をキャンセルしました。",
    "order_detail.done.withdrawal": "倉庫に出荷取消を依頼しました。ピッキングが始まっているため、倉庫が取り消しを確認した時点でキャンセルになります。",
    "order_detail.done.close": "受注を完了にしました({reason})。",
    "order_detail.done.delete": "受注を削除しました。受注一覧と件数には表示されません。",
    "order_detail.done.refresh": "モールから最新の情報を取得しました。",
    "order_detail.dialog.hold": "受注を保留にする",
    "order_detail.dialog.cancel": "受注をキャンセル",
    "order_detail.dialog.close": "受注を完了にする",
    "order_detail.dialog.fulfill": "追跡番号を登録して発送済みにする",
    "order_detail.dialog.change_tracking": "追跡番号を修正",
    "order_detail.dialog.delete": "受注を削除しますか?",
    "order_detail.dialog.delete_body": "受注一覧と件数から外れ、同じ注文番号を再登録できるようになります。削除したモールの受注は「キャンセル・削除済み受注」から再連携できます。",
    "order_detail.reason": "理由",
    "order_detail.reason_optional": "理由(任意)",
    "order_detail.cancel_help": "ピッキング前はすぐにキャンセルされます。ピッキング中は倉庫に出荷取消を依頼し、倉庫の確認後にキャンセルされます。梱包済み・出荷済みの受注はキャンセルできません。",
    "order_detail.close_reason.returned": "返品",
    "order_detail.close_reason.refunded": "返金",
    "order_detail.choose_carrier": "配送業者を選択",
    "order_detail.choose_carrier_first": "配送業者を選ぶと追跡番号の形式が表示されます。",
    "order_detail.format": "形式: {format}",
    "order_detail.number_ok": "{carrier} の追跡番号として有効です: {number}",
    "order_detail.number_bad": "{carrier} の追跡番号の形式ではありません({format})。",
    "order_detail.number_long": "{n} 文字以内で入力してください。",
    "order_detail.origin_country_hint": "発送元の国の2文字コード(例: JP、任意)",
    "order_detail.yes_delete": "削除する",
    "order_detail.yes_cancel": "キャンセルする",
    "order_detail.done.retry_reflect": "モールに反映されました。モール反映エラーを解除しました。",
    "order_detail.dialog.clear_reflect_error": "モール反映エラーを解除",
    "order_detail.clear_reflect_help": "モールの管理画面で同じ変更を行ったあとに解除してください。行った内容を入力してください（履歴に残ります）。",
    "order_detail.done.clear_reflect_error": "モール反映エラーを解除しました。",
    "order_detail.fee.title": "有料のキャンセル依頼",
    "order_detail.fee.body": "倉庫はこの受注のピッキングを開始しています。今キャンセルすると倉庫へキャンセル依頼を送ります。キャンセル依頼については別途費用がかかります。倉庫が出荷取消を確認した時点で受注はキャンセルされます。",
    "order_detail.fee.accept": "有料の依頼を送る",
    "order_detail.dialog.edit_recipient": "お届け先を変更",
    "order_detail.edit_recipient_help": "ピッキング前は変更がすぐに反映され、倉庫への出荷依頼にも使われます。ピッキング開始後は倉庫へ変更依頼を送ります（有料）。梱包済みの荷物は変更できません。商品はここでは変更できません。",
    "order_detail.postal_code": "郵便番号",
    "order_detail.region": "都道府県",
    "order_detail.city": "市区町村",
    "order_detail.address1": "住所1",
    "order_detail.address2": "住所2",
    "order_detail.country_hint": "国の2文字コード（例: JP）",
    "order_detail.nothing_changed": "変更はありません。",
    "order_detail.done.recipient_edited": "お届け先を変更しました。",
    "order_detail.done.modify_requested": "倉庫にお届け先の変更を依頼しました。ピッキングが始まっているため、倉庫が確認した時点で変更されます。",
    "order_detail.modification": "倉庫に依頼中のお届け先変更",
    "order_detail.fee_modify.title": "有料の変更依頼",
    "order_detail.fee_modify.body": "倉庫はこの受注のピッキングを開始しています。今お届け先を変更すると倉庫へ変更依頼を送ります。変更依頼については別途費用がかかります。倉庫が確認した時点で新しいお届け先になります。",
  },
});

/**
 * The carrier select and the tracking number input with its live check (the carrier's format as
 * the hint, and ok / error as you type, checked by ../tracking.js), appended to `form`.
 */
export function trackingFields(form, data, current = {}) {
  const list = data.carriers || [];
  const carrier = h(
    "select",
    { name: "carrier", required: true },
    h("option", { value: "" }, t("order_detail.choose_carrier")),
    list.map((c) => h("option", { value: c.code, selected: c.code === current.carrier }, c.name)),
  );
  const number = h("input", { name: "tracking_number", required: true, autocomplete: "off", spellcheck: "false", value: current.tracking_number || "" });
  const check = h("p", { class: "hint live-check", role: "status", "aria-live": "polite" });
  const numberField = field(t("order_detail.tracking_number"), number, t("order_detail.choose_carrier_first"));
  numberField.append(check);
  const hint = numberField.querySelector(".hint");
  function update() {
    const c = carrierOf(data, carrier.value);
    hint.textContent = c ? t("order_detail.format", { format: c.format }) : t("order_detail.choose_carrier_first");
    const r = checkNumber(data, carrier.value, number.value);
    check.className = "hint live-check";
    check.textContent = "";
    check.hidden = false;
    number.removeAttribute("aria-invalid");
    if (r.state === "too_long") {
      check.className = "live-check bad";
      check.textContent = t("order_detail.number_long", { n: r.max });
      number.setAttribute("aria-invalid", "true");
      return;
    }
    if (r.state !== "ok" && r.state !== "bad") return; // empty, or no carrier chosen yet
    const ok = r.state === "ok";
    check.className = ok ? "ok-text live-check" : "live-check bad";
    check.textContent = ok ? t("order_detail.number_ok", { carrier: c.name, number: r.normalized }) : t("order_detail.number_bad", { carrier: c.name, format: r.format });
    if (!ok) number.setAttribute("aria-invalid", "true");
  }
  carrier.addEventListener("change", update);
  number.addEventListener("input", update);
  form.append(field(t("order_detail.carrier"), carrier), numberField);
  update();
  return { carrier, number };
}

function historyDetails(entry) {
  const skip = new Set(["at", "actor", "action", "status", "pk", "sk", "entity", "correlation_id"]);
  const parts = [];
  for (const [k, v] of Object.entries(entry)) {
    if (skip.has(k) || v === null || v === undefined || v === "") continue;
    if (k === "changes" && v && typeof v === "object") {
      for (const [name, change] of Object.entries(v)) {
        if (Array.isArray(change) && change.length === 2) parts.push(`${name}: ${show(change[0])} → ${show(change[1])}`);
        else parts.push(`${name}: ${show(change)}`);
      }
      continue;
    }
    parts.push(`${k}: ${show(v)}`);
  }
  return parts;
}

function show(v) {
  if (v === null || v === undefined || (Array.isArray(v) && !v.length)) return "—";
  if (Array.isArray(v)) return v.map(show).join(", ");
  if (typeof v === "object") {
    if (v.tracking_number) return [v.carrier, v.tracking_number, v.origin_country].filter(Boolean).join(" ");
    return Object.entries(v)
      .filter(([, x]) => x !== null && x !== undefined && x !== "")
      .map(([k, x]) => `${k}=${typeof x === "object" ? JSON.stringify(x) : x}`)
      .join(", ");
  }
  return String(v);
}

function actorLabel(a) {
  return ACTORS.includes(a) ? t(`order_detail.actor.${a}`) : a || "";
}

export async function render(root, params, ctx) {
  useStyles("orders");
  const id = params.order_id;
  const path = `/orders/${encodeURIComponent(id)}`;
  const back = h("p", { class: "back" }, h("a", { href: "#/orders" }, `← ${t("order_detail.back")}`));
  let order;
  try {
    order = await api.get(path);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    clear(root, back, h("h1", {}, t("order_detail.not_found")), errorBox(err));
    return;
  }
  let carrierData = null;
  carriers()
    .then((c) => {
      carrierData = c;
      draw();
    })
    .catch(() => {});
  let history = order.history || [];
  let historyCursor = order.history_next_cursor || null;
  const notice = h("div", { class: "detail-notice", tabindex: "-1", "aria-live": "polite" });
  const out = h("div", { class: "detail-errors", "aria-live": "polite" });

  function say(text, kind = "notice") {
    clear(notice, h("p", { class: kind, role: kind === "warning" ? "alert" : "status" }, text));
  }

  async function reload() {
    order = await api.get(path);
    history = order.history || [];
    historyCursor = order.history_next_cursor || null;
    draw();
  }

  // An action's call and what it did, in words; a stale version reloads the page and says so.
  async function done(fresh, message) {
    await reload();
    say(message(fresh));
    notice.focus();
    ctx.refreshBadge();
  }

  async function direct(button, call, message) {
    clear(notice);
    await busy(
      button,
      async () => {
        let fresh;
        try {
          fresh = await call();
        } catch (err) {
          if (err instanceof ApiError && err.code === "version_conflict") {
            await reload();
            say(t("order_detail.changed_meanwhile"), "warning");
            return;
          }
          if (err instanceof ApiError && err.status === 409) await reload().catch(() => {});
          throw err;
        }
        await done(fresh, message);
      },
      { out },
    );
  }

  // A dialog's submit: the call's errors stay in the dialog (next to the field they name); a
  // stale version closes it and reloads; a refusal (409) also redraws the page behind it.
  async function dialog(title, build, call, message, opts) {
    clear(notice);
    clear(out);
    const result = await formDialog(
      title,
      (form) => {
        form.classList.add("orders-dialog");
        build(form);
      },
      async (form) => {
        try {
          return { order: await call(form) };
        } catch (err) {
          if (err instanceof ApiError && err.code === "version_conflict") return { conflict: true };
          if (err instanceof ApiError && err.status === 409) reload().catch(() => {});
          throw err;
        }
      },
      opts,
    );
    if (!result) return;
    if (result.conflict) {
      await reload();
      say(t("order_detail.changed_meanwhile"), "warning");
      notice.focus();
      return;
    }
    await done(result.order, message);
  }

  const value = (form, name) => {
    const el = form.querySelector(`[name="${name}"]`);
    return el ? el.value.trim() : "";
  };

  // In picking/picked a cancel or a recipient change is a paid request to the warehouse: the API
  // asks for the merchant's word first (409 paid_request_consent); the fee notice is shown here and
  // the call is sent again with accept_fee.
  async function withFeeConsent(call, notice) {
    try {
      return await call({});
    } catch (err) {
      if (!(err instanceof ApiError) || err.details.rule !== "paid_request_consent") throw err;
      const ok = await confirmDialog(t(`order_detail.${notice}.title`), t(`order_detail.${notice}.body`), {
        confirm: t("order_detail.fee.accept"),
        danger: true,
      });
      if (!ok) throw err;
      return call({ accept_fee: true });
    }
  }

  const handlers = {
    edit_recipient: () => {
      const r = order.recipient || {};
      const input = (name, attrs = {}) => h("input", { name: `recipient.${name}`, value: r[name] || "", ...attrs });
      return dialog(
        t("order_detail.dialog.edit_recipient"),
        (form) =>
          form.append(
            h("p", { class: "hint" }, t("order_detail.edit_recipient_help")),
            field(t("order_detail.name"), input("name", { required: true, maxlength: 300, autocomplete: "off" })),
            field(t("order_detail.postal_code"), input("postal_code", { maxlength: 40 })),
            field(t("order_detail.region"), input("region", { maxlength: 200 })),
            field(t("order_detail.city"), input("city", { maxlength: 200 })),
            field(t("order_detail.address1"), input("address1", { maxlength: 500 })),
            field(t("order_detail.address2"), input("address2", { maxlength: 500 })),
            field(t("order_detail.country"), input("country", { maxlength: 2, size: 3 }), { hint: t("order_detail.country_hint") }),
            field(t("order_detail.phone"), input("phone", { maxlength: 60, type: "tel" })),
            field(t("order_detail.email"), input("email", { maxlength: 320, type: "email" })),
          ),
        (form) => {
          // Only what the merchant changed is sent: a field left as it was stays as it is.
          const changes = {};
          for (const el of form.querySelectorAll('[name^="recipient."]')) {
            const name = el.name.slice("recipient.".length);
            if (el.value.trim() !== (r[name] || "")) changes[name] = el.value.trim();
          }
          if (!Object.keys(changes).length) throw new ApiError(400, { error: { field: "recipient", message: t("order_detail.nothing_changed") } });
          return withFeeConsent(
            (fee) => api.patch(`${path}/recipient`, { recipient: changes, version: order.version, ...fee }),
            "fee_modify",
          );
        },
        (o) => (o.modification ? t("order_detail.done.modify_requested") : t("order_detail.done.recipient_edited")),
        { confirm: actionLabel("edit_recipient") },
      );
    },
    confirm: (b) =>
      direct(
        b,
        async () => {
          const r = await api.post("/orders/confirm", { order_ids: [order.order_id] });
          const mine = (r.results || [])[0] || {};
          if (!mine.ok) throw new ApiError(mine.status || 409, { error: mine.error || {} });
          return mine;
        },
        (r) => t("order_detail.done.confirm", { status: t(`status.${r.status}`) }),
      ),
    ship_request: (b) =>
      direct(
        b,
        () => api.post(`${path}/ship-request`, { version: order.version }),
        (o) => t("order_detail.done.ship_request", { packing_no: o.packing_no || "" }),
      ),
    map_items: (b) =>
      direct(
        b,
        () => api.post(`${path}/map-items`),
        (o) =>
          o.mapping === "ok"
            ? t("order_detail.done.map_items_ok")
            : t("order_detail.done.map_items_fail", { skus: (o.items || []).filter((i) => !i.item_code).map((i) => i.sku).join(", ") }),
      ),
    release: (b) => direct(b, () => api.post(`${path}/release`, { version: order.version }), (o) => t("order_detail.done.release", { status: t(`status.${o.status}`) })),
    refresh: (b) => direct(b, () => api.post(`${path}/refresh`), () => t("order_detail.done.refresh")),
    retry_reflect: (b) => direct(b, () => api.post(`${path}/reflect-retry`), () => t("order_detail.done.retry_reflect")),
    clear_reflect_error: () =>
      dialog(
        t("order_detail.dialog.clear_reflect_error"),
        (form) =>
          form.append(
            h("p", { class: "hint" }, t("order_detail.clear_reflect_help")),
            field(t("order_detail.reason"), h("textarea", { name: "reason", required: true, maxlength: 500, rows: 3 })),
          ),
        (form) => api.post(`${path}/reflect-error/clear`, { reason: value(form, "reason") }),
        () => t("order_detail.done.clear_reflect_error"),
        { confirm: actionLabel("clear_reflect_error") },
      ),
    delete: async (b) => {
      const ok = await confirmDialog(t("order_detail.dialog.delete"), t("order_detail.dialog.delete_body"), { confirm: t("order_detail.yes_delete"), danger: true });
      if (ok) await direct(b, () => api.del(path, { body: { version: order.version } }), () => t("order_detail.done.delete"));
    },
    hold: () =>
      dialog(
        t("order_detail.dialog.hold"),
        (form) => form.append(field(t("order_detail.reason"), h("textarea", { name: "reason", required: true, maxlength: 500, rows: 3 }))),
        (form) => api.post(`${path}/hold`, { reason: value(form, "reason"), version: order.version }),
        () => t("order_detail.done.hold"),
        { confirm: actionLabel("hold") },
      ),
    cancel: () =>
      dialog(
        t("order_detail.dialog.cancel"),
        (form) =>
          form.append(
            h("p", { class: "hint" }, t("order_detail.cancel_help")),
            field(t("order_detail.reason_optional"), h("textarea", { name: "reason", maxlength: 500, rows: 3 })),
          ),
        async (form) => {
          const reason = value(form, "reason");
          const body = reason ? { reason } : {};
          return withFeeConsent((fee) => api.post(`${path}/cancel`, { ...body, ...fee }), "fee");
        },
        (o) => (o.status === "cancelled" ? t("order_detail.done.cancelled") : t("order_detail.done.withdrawal")),
        { confirm: t("order_detail.yes_cancel") },
      ),
    close: () =>
      dialog(
        t("order_detail.dialog.close"),
        (form) =>
          form.append(
            field(
              t("order_detail.reason"),
              h("select", { name: "reason", required: true }, CLOSE_REASONS.map((r) => h("option", { value: r }, t(`order_detail.close_reason.${r}`)))),
            ),
            field(t("order_detail.note"), h("textarea", { name: "note", maxlength: 500, rows: 3 })),
          ),
        (form) => {
          const note = value(form, "note");
          return api.post(`${path}/close`, { reason: value(form, "reason"), ...(note ? { note } : {}), version: order.version });
        },
        (o) => t("order_detail.done.close", { reason: t(`order_detail.close_reason.${o.close_reason}`) }),
        { confirm: actionLabel("close") },
      ),
    fulfill: (b) => trackingDialog(b, "fulfill"),
    change_tracking: (b) => trackingDialog(b, "change_tracking"),
  };

  async function trackingDialog(button, kind) {
    let data;
    try {
      data = await carriers();
    } catch (err) {
      clear(out, errorBox(err));
      return;
    }
    const current = kind === "change_tracking" ? order.tracking || {} : {};
    await dialog(
      t(`order_detail.dialog.${kind}`),
      (form) => {
        trackingFields(form, data, current);
        form.append(
          field(
            t("order_detail.origin_country"),
            h("input", { name: "origin_country", maxlength: 2, autocomplete: "off", value: current.origin_country || "", class: "short" }),
            t("order_detail.origin_country_hint"),
          ),
          field(t("order_detail.note"), h("textarea", { name: "note", maxlength: 500, rows: 2 }, current.note || "")),
        );
      },
      (form) => {
        const body = { carrier: value(form, "carrier"), tracking_number: form.querySelector('[name="tracking_number"]').value, version: order.version };
        const origin = value(form, "origin_country");
        const note = value(form, "note");
        if (kind === "change_tracking") {
          body.origin_country = origin;
          body.note = note;
          return api.put(`${path}/tracking`, body);
        }
        if (origin) body.origin_country = origin;
        if (note) body.note = note;
        return api.post(`${path}/fulfill`, body);
      },
      (o) =>
        t(`order_detail.done.${kind}`, {
          carrier: carrierName(carrierData, o.tracking && o.tracking.carrier),
          number: (o.tracking && o.tracking.tracking_number) || "",
        }),
      { confirm: actionLabel(kind) },
    );
    button.focus();
  }

  async function older(button) {
    await busy(
      button,
      async () => {
        const page = await api.get(`${path}/history`, { cursor: historyCursor, page_size: HISTORY_PAGE });
        history = [...(page.history || []).slice().reverse(), ...history];
        historyCursor = page.next_cursor || null;
        draw();
        root.querySelector(".history-table tbody tr")?.setAttribute("tabindex", "-1");
        root.querySelector(".history-table tbody tr")?.focus();
      },
      { out },
    );
  }

  function facts(pairs) {
    return h(
      "dl",
      { class: "facts" },
      pairs.filter(([, v]) => v !== null && v !== undefined && v !== "" && v !== false).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
    );
  }

  function draw() {
    const o = order;
    const actions = o.actions || [];
    const r = o.recipient || {};
    const address = [r.postal_code, r.region, r.city, r.address1, r.address2].filter(Boolean).join(" ");
    const pay = o.payment || {};
    const unmapped = (o.items || []).filter((i) => !i.item_code);
    const tr = o.tracking;
    const running = o.days_remaining !== null && o.days_remaining !== undefined;
    const deadline = !o.deadline_at
      ? t("order_detail.no_deadline")
      : running
        ? h("span", {}, h("span", { class: isDue(o) ? "red" : null }, formatDate(o.deadline_at)), " (", daysEl(o), ")")
        : formatDate(o.deadline_at);

    clear(
      root,
      back,
      h(
        "header",
        { class: "detail-head" },
        h("h1", { tabindex: "-1" }, t("order_detail.title", { no: orderNo(o) })),
        h(
          "p",
          { class: "detail-labels" },
          h("span", { class: "pill" }, o.marketplace),
          " ",
          statusPill(o.status),
          " ",
          h("span", { class: "pill", dataset: { stage: o.shipment_stage || "none" } }, t("order_detail.stage", { stage: stageLabel(o.shipment_stage) })),
          " ",
          (o.tags || []).map(tagEl),
        ),
      ),
      notice,
      out,
      h(
        "section",
        { class: "card", "aria-label": t("order_detail.actions") },
        h("h2", {}, t("order_detail.actions")),
        actions.length
          ? h(
              "div",
              { class: "actions" },
              actions.map((a) =>
                h(
                  "button",
                  {
                    type: "button",
                    class: DANGER.includes(a) ? "danger" : SECONDARY.includes(a) ? "secondary" : null,
                    dataset: { action: a },
                    onclick: (e) => handlers[a] && handlers[a](e.currentTarget),
                  },
                  actionLabel(a),
                ),
              ),
            )
          : h("p", { class: "hint" }, t("order_detail.no_actions")),
      ),
      (o.tags || []).length
        ? h(
            "section",
            { class: "card tags-card", "aria-label": t("order_detail.tags") },
            h("h2", {}, t("order_detail.tags")),
            h(
              "ul",
              { class: "tag-help" },
              o.tags.map((tag) =>
                h("li", {}, tagEl(tag), " ", ["mall_reflect_error", "withdrawal_requested"].includes(tag) ? h("span", { class: tag === "mall_reflect_error" ? "tag-explain error" : "tag-explain" }, t(`order_detail.tag_help.${tag}`)) : tagLabel(tag)),
              ),
            ),
          )
        : null,
      h(
        "div",
        { class: "grid2" },
        h(
          "section",
          { class: "card", "aria-label": t("order_detail.summary") },
          h("h2", {}, t("order_detail.summary")),
          facts([
            [t("order_detail.order_no"), o.marketplace_order_no],
            [t("order_detail.marketplace"), o.marketplace],
            [t("order_detail.order_id"), h("code", {}, o.order_id)],
            [t("order_detail.origin"), o.origin ? t(`order_detail.origin.${o.origin}`) : null],
            [t("order_detail.packing_no"), o.packing_no],
            [t("order_detail.placed_at"), formatDate(o.placed_at)],
            [t("order_detail.hold_release_at"), o.status === "pending" && o.hold_release_at ? formatDate(o.hold_release_at) : null],
            [t("order_detail.released_at"), formatDate(o.released_at)],
            [t("order_detail.deadline_at"), deadline],
            [t("order_detail.updated_at"), formatDate(o.updated_at)],
            [t("order_detail.payment"), pay.method ? `${pay.method}, ${pay.paid_at ? t("order_detail.paid_at", { at: formatDate(pay.paid_at) }) : t("order_detail.unpaid")}` : null],
            [t("order_detail.total"), o.total ? `${o.currency || ""} ${o.total}`.trim() : null],
            [t("order_detail.hold_reason"), o.status === "on_hold" ? o.hold_reason : null],
            [t("order_detail.cancel_reason"), o.cancel_reason ? [o.cancel_reason, o.cancel_note].filter(Boolean).join(": ") : null],
            [t("order_detail.close_reason"), o.close_reason ? t(`order_detail.close_reason.${o.close_reason}`) : null],
          ]),
        ),
        h(
          "section",
          { class: "card", "aria-label": t("order_detail.recipient") },
          h("h2", {}, t("order_detail.recipient")),
          facts([
            [t("order_detail.name"), r.name],
            [t("order_detail.address"), address],
            [t("order_detail.country"), r.country],
            [t("order_detail.phone"), r.phone],
            [t("order_detail.email"), r.email],
            [
              t("order_detail.modification"),
              o.modification && o.modification.recipient
                ? [o.modification.recipient.name, o.modification.recipient.postal_code, o.modification.recipient.region, o.modification.recipient.city, o.modification.recipient.address1, o.modification.recipient.address2].filter(Boolean).join(" ")
                : null,
            ],
          ]),
        ),
      ),
      h(
        "section",
        { class: "card", "aria-label": t("order_detail.items") },
        h("h2", {}, t("order_detail.items"), " ", mappingEl(o.mapping)),
        unmapped.length && actions.includes("map_items")
          ? h("p", { class: "red" }, t("order_detail.mapping_fail", { n: formatNumber(unmapped.length) }))
          : null,
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "items-table" },
            h(
              "thead",
              {},
              h("tr", {}, ["sku", "item_name", "quantity", "item_code", "price"].map((c) => h("th", { scope: "col" }, t(`order_detail.${c}`)))),
            ),
            h(
              "tbody",
              {},
              (o.items || []).map((i) =>
                h(
                  "tr",
                  { class: i.item_code ? null : "unmapped" },
                  h("td", {}, h("code", {}, i.sku)),
                  h("td", {}, i.title || i.name || ""),
                  h("td", { class: "num" }, formatNumber(i.quantity)),
                  h("td", {}, i.item_code ? h("code", {}, i.item_code) : h("span", { class: "red" }, t("order_detail.unmapped"))),
                  h("td", { class: "num" }, i.price ?? ""),
                ),
              ),
            ),
          ),
        ),
      ),
      h(
        "section",
        { class: "card", "aria-label": t("order_detail.tracking") },
        h("h2", {}, t("order_detail.tracking")),
        tr
          ? facts([
              [t("order_detail.carrier"), carrierName(carrierData, tr.carrier)],
              [t("order_detail.tracking_number"), h("code", { "data-testid": "tracking-number" }, tr.tracking_number)],
              [t("order_detail.origin_country"), tr.origin_country],
              [t("order_detail.note"), tr.note],
              [t("order_detail.shipped_at"), formatDate(tr.shipped_at)],
              [t("order_detail.by"), tr.by ? actorLabel(tr.by) : null],
              [t("order_detail.changed_at"), formatDate(tr.changed_at)],
            ])
          : h("p", { class: "hint" }, t("order_detail.no_tracking")),
        (o.previous_tracking || []).length
          ? [
              h("h3", {}, t("order_detail.previous_tracking")),
              h(
                "div",
                { class: "table-wrap" },
                h(
                  "table",
                  {},
                  h("thead", {}, h("tr", {}, ["carrier", "tracking_number", "shipped_at", "replaced_at", "why"].map((c) => h("th", { scope: "col" }, t(`order_detail.${c}`))))),
                  h(
                    "tbody",
                    {},
                    o.previous_tracking.map((p) =>
                      h(
                        "tr",
                        {},
                        h("td", {}, carrierName(carrierData, p.carrier)),
                        h("td", {}, h("code", {}, p.tracking_number)),
                        h("td", {}, formatDate(p.shipped_at)),
                        h("td", {}, formatDate(p.replaced_at)),
                        h("td", {}, p.why || ""),
                      ),
                    ),
                  ),
                ),
              ),
            ]
          : null,
      ),
      h(
        "section",
        { class: "card", "aria-label": t("order_detail.history") },
        h("h2", {}, t("order_detail.history")),
        historyCursor
          ? h("button", { type: "button", class: "secondary", onclick: (e) => older(e.currentTarget) }, t("order_detail.history.older"))
          : null,
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "history-table" },
            h("thead", {}, h("tr", {}, ["at", "actor", "action", "status", "details"].map((c) => h("th", { scope: "col" }, t(`order_detail.history.${c}`))))),
            h(
              "tbody",
              {},
              history.map((e) =>
                h(
                  "tr",
                  {},
                  h("td", { class: "nowrap" }, formatDate(e.at)),
                  h("td", {}, actorLabel(e.actor)),
                  h("td", {}, h("code", {}, e.action)),
                  h("td", {}, e.status ? t(`status.${e.status}`) : ""),
                  h(
                    "td",
                    { class: "details" },
                    historyDetails(e).map((line) => h("div", {}, line)),
                    // the delivery or request that made the change: what an operator's logs are searched by
                    e.correlation_id
                      ? h("div", { class: "hint correlation" }, `${t("order_detail.history.correlation")} `, h("code", {}, e.correlation_id))
                      : null,
                  ),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  draw();
}
