// Cancelled orders (#/cancelled): deleted and cancelled orders, newest first, with counts by
// reason (seed 000: 削除理由別に集計してカウントを表示), the filters GET /cancelled-orders
// accepts (part of the order number or recipient name, reason, state, marketplace, from/to; the
// counts follow every filter but the reason), paging with the API's cursor, and per row exactly
// the row's `actions` (relink / restore). The warnings before acting are the seed's words; every
// rule (14-day window, service start, duplicate number, claim...) is the API's: a refusal comes
// back as a 409 naming the rule, shown with errorBox.
import { api } from "../api.js";
import { marketplaces } from "../marketplaces.js";
import { formatDate, formatNumber, register, t } from "../i18n.js";
import { actionLabel, busy, clear, confirmDialog, cursorPaging, errorBox, field, filterForm, focusAfterRender, h, statusLabel, toast, useStyles } from "../ui.js";

// Values of GET /cancelled-orders (layers/shared/orderhub/domain/closeout.py REASONS, STATES).
const REASONS = ["seller_deleted_api", "seller_deleted_manual", "marketplace_cancelled", "seller_cancelled", "deadline_refunded"];
const STATES = ["relinkable", "relinking", "relinked", "relink_failed", "not_relinkable", "restorable", "restore_failed", "not_restorable", "none"];
const FILTERS = ["q", "reason", "state", "marketplace", "from", "to"];
const SIZES = [25, 50, 100, 200];
const STATE_PILL = {
  relinkable: "ok",
  restorable: "ok",
  relinking: "warn",
  relinked: "ok",
  relink_failed: "danger",
  restore_failed: "danger",
  not_relinkable: "",
  not_restorable: "",
  none: "",
};

register({
  en: {
    "cancelled.title": "Cancelled and deleted orders",
    "cancelled.intro":
      "Orders you deleted, and orders cancelled by you, by the marketplace or by a missed deadline. They no longer appear in the order list. A deleted marketplace order can be relinked; a deleted CSV or manual order can be restored.",
    "cancelled.counts": "Counts by reason",
    "cancelled.counts.all": "All reasons",
    "cancelled.reason.seller_deleted_api": "Deleted by you (marketplace API order)",
    "cancelled.reason.seller_deleted_manual": "Deleted by you (CSV / manual order)",
    "cancelled.reason.marketplace_cancelled": "Cancelled on the marketplace",
    "cancelled.reason.seller_cancelled": "Cancelled by you",
    "cancelled.reason.deadline_refunded": "Refunded after a missed deadline",
    "cancelled.reason.help.seller_deleted_api": "Can be relinked while the marketplace order is still valid; a new packing number is issued.",
    "cancelled.reason.help.seller_deleted_manual": "Can be restored when no active order has the same order number.",
    "cancelled.reason.help.marketplace_cancelled": "The marketplace order is no longer valid: it can be neither relinked nor restored.",
    "cancelled.reason.help.seller_cancelled": "A cancel cannot be undone.",
    "cancelled.reason.help.deadline_refunded": "A refund cannot be undone.",
    "cancelled.state.relinkable": "Relinkable",
    "cancelled.state.relinking": "Relinking",
    "cancelled.state.relinked": "Relinked",
    "cancelled.state.relink_failed": "Relink failed",
    "cancelled.state.not_relinkable": "Not relinkable",
    "cancelled.state.restorable": "Restorable",
    "cancelled.state.restore_failed": "Restore failed",
    "cancelled.state.not_restorable": "Not restorable",
    "cancelled.state.none": "No action possible",
    "cancelled.failure.duplicate": "An active order has the same order number",
    "cancelled.failure.claim": "The marketplace order is cancelled, refunded or has an open cancel/return request",
    "cancelled.failure.shipping_started": "Shipping has started on the marketplace",
    "cancelled.failure.payment_date_differs": "The marketplace's payment date differs from the recorded one",
    "cancelled.failure.marketplace_error": "The marketplace API answered with an error",
    "cancelled.failure.no_marketplace_api": "No marketplace API is set for this integration",
    "cancelled.failure.deleted_over_14_days_ago": "Deleted more than 14 days ago",
    "cancelled.failure.deleted_before_service_start": "Deleted before your service start",
    "cancelled.failure.internal_error": "A server error; try again",
    "cancelled.filter.title": "Filters",
    "cancelled.filter.q": "Order number or recipient",
    "cancelled.filter.q_hint": "Any part of the order number or of the recipient's name.",
    "cancelled.counts_partial": "Counted from the newest 10,000 orders of these filters.",
    "cancelled.col.recipient": "Recipient",
    "cancelled.filter.reason": "Reason",
    "cancelled.filter.state": "Relink / restore state",
    "cancelled.filter.marketplace": "Marketplace",
    "cancelled.filter.from": "Deleted/cancelled from",
    "cancelled.filter.to": "Deleted/cancelled to",
    "cancelled.filter.any": "Any",
    "cancelled.filter.apply": "Search",
    "cancelled.filter.reset": "Clear filters",
    "cancelled.filter.dates_hint": "Whole days in your time zone.",
    "cancelled.col.order": "Order number",
    "cancelled.col.marketplace": "Marketplace",
    "cancelled.col.packing": "Packing no.",
    "cancelled.col.reason": "Reason",
    "cancelled.col.closed_at": "Deleted/cancelled at",
    "cancelled.col.placed_at": "Ordered at",
    "cancelled.col.state": "State",
    "cancelled.col.actions": "Actions",
    "cancelled.origin.api": "Marketplace API",
    "cancelled.origin.csv": "CSV",
    "cancelled.origin.manual": "Manual",
    "cancelled.results": "Orders",
    "cancelled.empty": "No cancelled or deleted orders match these filters.",
    "cancelled.short_page": "Some orders were filtered out of this page; more may be on the next page.",
    "cancelled.window":
      "Relink and restore are possible only within 14 days of the deletion, and never for an order deleted before your service start date. After that the order shows as not relinkable / not restorable. Cancelled orders can be neither relinked nor restored.",
    "cancelled.relink.title": "Relink order {no}?",
    "cancelled.relink.confirm": "Relink",
    "cancelled.relink.w.packing": "A new packing number (packing no.) is issued. The original packing number {packing} can no longer be used.",
    "cancelled.relink.w.start_over": "Processing starts over: send the shipping instructions and print the labels again from the beginning.",
    "cancelled.relink.w.schedule": "The relink does not happen at once: it runs at regular intervals (every 10 minutes), so it can take a while.",
    "cancelled.relink.w.latest": "If the order changed on the marketplace since the deletion, the updated information is taken at relink time.",
    "cancelled.relink.w.claim":
      "It fails if, at that time, the marketplace order is in a claim (cancel or return requested, refunded), shipping has started, or its payment date differs from the recorded one.",
    "cancelled.relink.w.kept": "The deleted record stays in this list, marked relinked.",
    "cancelled.restore.title": "Restore order {no}?",
    "cancelled.restore.confirm": "Restore",
    "cancelled.restore.w.packing": "The original packing number {packing} is kept.",
    "cancelled.restore.w.duplicate": "It cannot be restored while an active order has the same marketplace order number.",
    "cancelled.restore.w.start_over":
      "The order goes back to New: send the shipping instructions and print the labels again from the beginning. Its shipping deadline counts from the restore.",
    "cancelled.restore.w.leaves": "A restored order leaves this list and is back in the order list.",
    "cancelled.restore.w.details": "The details of a cancelled order are hard to correct afterwards; check it before restoring.",
    "cancelled.done.relink": "Relink requested for {no}: it will run with the next relink sweep.",
    "cancelled.done.restore": "Order {no} restored: it is back in the order list as New.",
    "cancelled.show_new": "Show the new order",
    "cancelled.new_order": "New order: {packing}",
    "cancelled.new_order_missing": "The new order is not known yet.",
    "cancelled.act_label": "{action} order {no}",
  },
  ja: {
    "cancelled.title": "キャンセル・削除済み受注",
    "cancelled.intro":
      "削除した受注と、販売者・販売サイト・出荷期限切れによりキャンセルされた受注です。受注一覧には表示されません。API連携で取り込んだ受注は再連携、CSV/個別登録の受注は復元できます。",
    "cancelled.counts": "削除理由別の件数",
    "cancelled.counts.all": "すべての理由",
    "cancelled.reason.seller_deleted_api": "販売者の削除(ショッピングモールAPI連携注文)",
    "cancelled.reason.seller_deleted_manual": "販売者の削除(CSV/個別登録)",
    "cancelled.reason.marketplace_cancelled": "販売サイトでの注文キャンセル",
    "cancelled.reason.seller_cancelled": "販売者によるキャンセル",
    "cancelled.reason.deadline_refunded": "出荷期限切れによる返金",
    "cancelled.reason.help.seller_deleted_api": "販売サイトの注文状態が有効であれば再連携できます。新しいパッキング番号が発番されます。",
    "cancelled.reason.help.seller_deleted_manual": "重複した注文がない場合は復元できます。",
    "cancelled.reason.help.marketplace_cancelled": "販売サイトの注文状態が無効なため、再連携・復元はできません。",
    "cancelled.reason.help.seller_cancelled": "キャンセルは取り消せません。",
    "cancelled.reason.help.deadline_refunded": "返金は取り消せません。",
    "cancelled.state.relinkable": "再連携可能",
    "cancelled.state.relinking": "再連携中",
    "cancelled.state.relinked": "再連携完了",
    "cancelled.state.relink_failed": "再連携失敗",
    "cancelled.state.not_relinkable": "再連携不可",
    "cancelled.state.restorable": "復元可能",
    "cancelled.state.restore_failed": "復元失敗",
    "cancelled.state.not_restorable": "復元不可",
    "cancelled.state.none": "操作不可",
    "cancelled.failure.duplicate": "同じ注文番号の有効な受注があります",
    "cancelled.failure.claim": "販売サイトの注文がキャンセル・返金済み、またはキャンセル/返品申請中です",
    "cancelled.failure.shipping_started": "販売サイトで配送が始まっています",
    "cancelled.failure.payment_date_differs": "販売サイトの決済日が記録と異なります",
    "cancelled.failure.marketplace_error": "販売サイトAPIがエラーを返しました",
    "cancelled.failure.no_marketplace_api": "この連携には販売サイトAPIが設定されていません",
    "cancelled.failure.deleted_over_14_days_ago": "削除から14日を過ぎています",
    "cancelled.failure.deleted_before_service_start": "サービス開始日前に削除されています",
    "cancelled.failure.internal_error": "サーバーエラーです。再度お試しください",
    "cancelled.filter.title": "絞り込み",
    "cancelled.filter.reason": "削除理由",
    "cancelled.filter.state": "再連携/復元の状態",
    "cancelled.filter.marketplace": "販売サイト",
    "cancelled.filter.from": "削除・キャンセル日(開始)",
    "cancelled.filter.to": "削除・キャンセル日(終了)",
    "cancelled.filter.any": "すべて",
    "cancelled.filter.apply": "検索",
    "cancelled.filter.reset": "条件をクリア",
    "cancelled.filter.dates_hint": "ショップのタイムゾーンの日単位です。",
    "cancelled.filter.q": "注文番号・お届け先名",
    "cancelled.filter.q_hint": "注文番号またはお届け先名の一部で検索できます。",
    "cancelled.counts_partial": "この条件の新しい順 10,000 件から集計しています。",
    "cancelled.col.recipient": "お届け先",
    "cancelled.col.order": "注文番号",
    "cancelled.col.marketplace": "販売サイト",
    "cancelled.col.packing": "パッキング番号",
    "cancelled.col.reason": "削除理由",
    "cancelled.col.closed_at": "削除・キャンセル日時",
    "cancelled.col.placed_at": "注文日時",
    "cancelled.col.state": "状態",
    "cancelled.col.actions": "操作",
    "cancelled.origin.api": "モールAPI",
    "cancelled.origin.csv": "CSV",
    "cancelled.origin.manual": "個別登録",
    "cancelled.results": "受注",
    "cancelled.empty": "条件に一致するキャンセル・削除済み受注はありません。",
    "cancelled.short_page": "このページでは一部の受注が絞り込みで除かれました。次のページに続きがある場合があります。",
    "cancelled.window":
      "再連携・復元ができるのは削除から14日以内の受注だけです。サービス開始日前に削除された受注はできません。それを過ぎた受注は「再連携不可」「復元不可」と表示されます。キャンセルされた受注は再連携も復元もできません。",
    "cancelled.relink.title": "注文 {no} を再連携しますか?",
    "cancelled.relink.confirm": "再連携する",
    "cancelled.relink.w.packing": "新しいパッキング番号が発番されます。元のパッキング番号 {packing} は使用できなくなります。",
    "cancelled.relink.w.start_over": "出荷指示や送り状出力などの注文処理は最初からやり直してください。",
    "cancelled.relink.w.schedule": "再連携はすぐには行われず、一定時間ごと(10分ごと)に動作するため、時間がかかることがあります。",
    "cancelled.relink.w.latest": "削除後に販売サイトで注文が変更された場合は、再連携時に更新された情報を取得します。",
    "cancelled.relink.w.claim":
      "その時点で販売サイトの注文がクレーム状態(キャンセル・返品申請中、返金済み)の場合、配送が始まっている場合、決済日が記録と異なる場合は失敗します。",
    "cancelled.relink.w.kept": "削除された内訳はこの一覧に「再連携完了」として残ります。",
    "cancelled.restore.title": "注文 {no} を復元しますか?",
    "cancelled.restore.confirm": "復元する",
    "cancelled.restore.w.packing": "元のパッキング番号 {packing} をそのまま利用します。",
    "cancelled.restore.w.duplicate": "同じ注文番号の有効な受注がある場合は復元できません。",
    "cancelled.restore.w.start_over":
      "受注は「新規受付」に戻ります。出荷指示や送り状出力などの注文処理は最初からやり直してください。出荷期限は復元した時点から数えます。",
    "cancelled.restore.w.leaves": "復元した受注はこの一覧には表示されなくなり、受注一覧に戻ります。",
    "cancelled.restore.w.details": "キャンセルされた注文は詳細内訳の修正が難しいため、復元前に内容をご確認ください。",
    "cancelled.done.relink": "{no} の再連携を申請しました。次回の再連携処理で実行されます。",
    "cancelled.done.restore": "注文 {no} を復元しました。新規受付として受注一覧に戻りました。",
    "cancelled.show_new": "新しい受注を表示",
    "cancelled.new_order": "新しい受注: {packing}",
    "cancelled.new_order_missing": "新しい受注はまだわかりません。",
    "cancelled.act_label": "注文 {no} を{action}",
  },
});

// After a filter change (a navigation), the focus goes to the results, not back to the page top.
const focusResults = focusAfterRender();

function select(name, values, current, labelOf) {
  return h(
    "select",
    { name },
    h("option", { value: "" }, t("cancelled.filter.any")),
    values.map((v) => h("option", { value: v, selected: v === current }, labelOf(v))),
  );
}

function stateLabel(s) {
  return t(`cancelled.state.${s}`);
}

function failureText(failure) {
  if (!failure || !failure.reason) return null;
  const key = `cancelled.failure.${failure.reason}`;
  const text = t(key);
  return text === key ? failure.reason : text;
}

export async function render(root, params, ctx) {
  const MARKETPLACES = await marketplaces();
  useStyles("cancelled");
  const filters = Object.fromEntries(FILTERS.filter((k) => params[k]).map((k) => [k, params[k]]));
  const pageSize = SIZES.includes(Number(params.page_size)) ? Number(params.page_size) : 50;
  const paging = cursorPaging({
    pageSize,
    sizes: SIZES,
    onSize: (s) => go(filters, s),
    onChange: () => load().then(() => resultsHeading.focus()),
  });

  const out = h("div", { class: "cancelled-out" }); // action errors
  const countsEl = h("div", { class: "presets cancelled-counts", role: "group", "aria-label": t("cancelled.counts") });
  const results = h("section", { "aria-labelledby": "cancelled-results-h" });
  const resultsHeading = h("h2", { id: "cancelled-results-h", tabindex: "-1" }, t("cancelled.results"));

  const form = filterForm({
    label: t("cancelled.filter.title"),
    names: FILTERS,
    applyLabel: t("cancelled.filter.apply"),
    resetLabel: t("cancelled.filter.reset"),
    onApply: (next) => go(next),
    controls: [
      field(t("cancelled.filter.q"), h("input", { type: "search", name: "q", value: filters.q || "", maxlength: 100, autocomplete: "off" }), t("cancelled.filter.q_hint")),
      field(t("cancelled.filter.reason"), select("reason", REASONS, filters.reason, (r) => t(`cancelled.reason.${r}`))),
      field(t("cancelled.filter.state"), select("state", STATES, filters.state, stateLabel)),
      field(t("cancelled.filter.marketplace"), select("marketplace", MARKETPLACES, filters.marketplace, (m) => m)),
      field(t("cancelled.filter.from"), h("input", { type: "date", name: "from", value: filters.from || "" }), t("cancelled.filter.dates_hint")),
      field(t("cancelled.filter.to"), h("input", { type: "date", name: "to", value: filters.to || "" })),
    ],
  });

  function go(next, size = pageSize) {
    focusResults.want("#cancelled-results-h");
    ctx.navigate("/cancelled", { ...next, page_size: size === 50 ? undefined : size });
  }

  clear(
    root,
    h("h1", {}, t("cancelled.title")),
    h("p", { class: "hint" }, t("cancelled.intro")),
    h("section", { class: "card", "aria-labelledby": "cancelled-counts-h" }, h("h2", { id: "cancelled-counts-h" }, t("cancelled.counts")), countsEl),
    h("p", { class: "notice", "data-testid": "cancelled-window" }, t("cancelled.window")),
    h("section", { class: "card" }, h("h2", {}, t("cancelled.filter.title")), form),
    out,
    resultsHeading,
    results,
  );

  function renderCounts(counts, complete = true) {
    const total = REASONS.reduce((n, r) => n + (counts[r] || 0), 0);
    const button = (reason, label, n, help) =>
      h(
        "button",
        {
          type: "button",
          class: "secondary cancelled-count",
          "aria-pressed": String((filters.reason || "") === reason),
          title: help || null,
          dataset: { reason: reason || "all" },
          onclick: () => go({ ...filters, reason: reason || undefined }),
        },
        h("span", { class: "cancelled-count-label" }, label),
        h("span", { class: "count" }, formatNumber(n)),
      );
    clear(
      countsEl,
      button("", t("cancelled.counts.all"), total),
      REASONS.map((r) => button(r, t(`cancelled.reason.${r}`), counts[r] || 0, t(`cancelled.reason.help.${r}`))),
      complete ? null : h("p", { class: "hint" }, t("cancelled.counts_partial")),
    );
  }

  function orderCell(row) {
    return h(
      "td",
      {},
      h("a", { href: `#/orders/${encodeURIComponent(row.order_id)}` }, row.marketplace_order_no || row.order_id),
      h("div", { class: "hint" }, t(`cancelled.origin.${row.origin}`)),
    );
  }

  function newOrderCell(row) {
    const slot = h("div", { class: "cancelled-new" });
    const btn = h(
      "button",
      {
        type: "button",
        class: "link",
        onclick: () =>
          busy(
            btn,
            async () => {
              const order = await api.get(`/orders/${encodeURIComponent(row.order_id)}`);
              clear(
                slot,
                order.relinked_to
                  ? h(
                      "a",
                      { href: `#/orders/${encodeURIComponent(order.relinked_to)}` },
                      t("cancelled.new_order", { packing: order.relinked_to_packing_no || order.relinked_to }),
                    )
                  : h("span", { class: "hint" }, t("cancelled.new_order_missing")),
              );
            },
            { out: slot },
          ),
      },
      t("cancelled.show_new"),
    );
    slot.append(btn);
    return slot;
  }

  function row(r) {
    const failure = failureText(r.failure);
    const pill = STATE_PILL[r.state] ?? "";
    return h(
      "tr",
      { dataset: { orderId: r.order_id, state: r.state } },
      orderCell(r),
      h("td", {}, r.recipient_name || ""),
      h("td", {}, r.marketplace || ""),
      h("td", {}, r.packing_no || ""),
      h("td", { class: "cancelled-reason" }, t(`cancelled.reason.${r.reason}`), r.status ? h("div", { class: "hint" }, statusLabel(r.status)) : null),
      h("td", {}, formatDate(r.closed_at)),
      h("td", {}, formatDate(r.placed_at)),
      h(
        "td",
        {},
        h("span", { class: `pill ${pill}`.trim(), "data-testid": "closeout-state" }, stateLabel(r.state)),
        failure ? h("div", { class: "field-error" }, failure) : null,
        r.state === "relinked" ? newOrderCell(r) : null,
      ),
      h(
        "td",
        {},
        h(
          "div",
          { class: "actions" },
          (r.actions || []).map((a) => {
            const b = h(
              "button",
              {
                type: "button",
                class: "secondary",
                "aria-label": t("cancelled.act_label", { action: actionLabel(a), no: r.marketplace_order_no || r.order_id }),
                onclick: () => act(b, a, r),
              },
              actionLabel(a),
            );
            return b;
          }),
        ),
      ),
    );
  }

  function warnings(action, r) {
    const list = (keys) => h("ul", { class: "cancelled-warnings" }, keys.map((k) => h("li", {}, t(k, { packing: r.packing_no || "—" }))));
    if (action === "relink") {
      return [
        h(
          "div",
          { class: "warning", role: "note" },
          list([
            "cancelled.relink.w.packing",
            "cancelled.relink.w.start_over",
            "cancelled.relink.w.schedule",
            "cancelled.relink.w.latest",
            "cancelled.relink.w.claim",
            "cancelled.relink.w.kept",
          ]),
        ),
        h("p", { class: "hint" }, t("cancelled.window")),
      ];
    }
    return [
      h(
        "div",
        { class: "warning", role: "note" },
        list([
          "cancelled.restore.w.packing",
          "cancelled.restore.w.start_over",
          "cancelled.restore.w.duplicate",
          "cancelled.restore.w.details",
          "cancelled.restore.w.leaves",
        ]),
      ),
      h("p", { class: "hint" }, t("cancelled.window")),
    ];
  }

  async function act(button, action, r) {
    const no = r.marketplace_order_no || r.order_id;
    const ok = await confirmDialog(t(`cancelled.${action}.title`, { no }), warnings(action, r), {
      confirm: t(`cancelled.${action}.confirm`),
      danger: false,
    });
    if (!ok) {
      button.focus();
      return;
    }
    clear(out);
    let failed = null;
    await busy(button, async () => {
      try {
        await api.post(`/cancelled-orders/${encodeURIComponent(r.order_id)}/${action}`, { version: r.version ?? undefined });
        toast(t(`cancelled.done.${action}`, { no }));
      } catch (err) {
        failed = err;
      }
    });
    await load();
    if (failed) {
      clear(out, errorBox(failed));
      out.focus?.();
    }
    ctx.refreshBadge();
  }

  async function load() {
    clear(results, h("p", { class: "loading" }, t("loading")));
    let page;
    try {
      page = await api.get("/cancelled-orders", { ...filters, page_size: pageSize, cursor: paging.cursor || undefined });
    } catch (err) {
      clear(results, errorBox(err, form));
      return;
    }
    paging.took(page.next_cursor);
    renderCounts(page.counts || {}, page.counts_complete !== false);
    const rows = page.orders || [];
    const table = rows.length
      ? h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { "aria-labelledby": "cancelled-results-h" },
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["order", "recipient", "marketplace", "packing", "reason", "closed_at", "placed_at", "state", "actions"].map((c) =>
                  h("th", { scope: "col" }, t(`cancelled.col.${c}`)),
                ),
              ),
            ),
            h("tbody", {}, rows.map(row)),
          ),
        )
      : h("p", { class: "notice", "data-testid": "empty" }, t("cancelled.empty"));
    clear(
      results,
      table,
      rows.length < pageSize && page.next_cursor ? h("p", { class: "hint" }, t("cancelled.short_page")) : null,
      paging.controls(),
    );
  }

  out.setAttribute("tabindex", "-1");
  await load();
  focusResults.restore(root);
}

