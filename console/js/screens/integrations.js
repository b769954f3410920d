// Integrations (#/integrations?marketplace=shopify): one marketplace's sync settings as a form
// (GET/PUT /integrations/{marketplace}). The fields are what GET answers: booleans as checkboxes,
// numbers and text as inputs, each write-only secret as "set"/"not set" (`<name>_set`) with an
// input to replace it (never the value). Only the changed fields are PUT; the API validates them
// and a 400 lands under the field it names. The seed's warnings about paid warehouse requests
// (seed 001: 別途費用がかかります) stand next to the settings that start them.
import { api } from "../api.js";
import { marketplaces } from "../marketplaces.js";
import { formatDate, formatNumber, register, t } from "../i18n.js";
import { busy, clear, errorBox, field, h, tabBar, toast, uid, useStyles } from "../ui.js";

// How the form groups the settings GET answers; a key not listed here goes to "Other settings".
const GROUPS = [
  ["sync", ["cancel_sync", "cancel_after_confirmed", "modify_sync", "modify_after_confirmed", "reflect_cancel_to_marketplace"]],
  ["orders", ["auto_confirm", "hold_minutes", "fulfillment_days", "auto_refund_overdue", "notify_customer"]],
  [
    "api",
    [
      "api_base_url",
      "api_token",
      "pull",
      "pull_backfill_days",
      "lwa_client_id",
      "lwa_client_secret",
      "lwa_refresh_token",
      "lwa_token_url",
      "amazon_marketplace_id",
      "seller_id",
      "service_secret",
      "license_key",
    ],
  ],
  ["warehouse", ["warehouse_timeout_seconds", "warehouse_heartbeat_seconds"]],
];
// Whole-number settings (typed as text so what the merchant typed reaches the API as is).
const INTS = ["hold_minutes", "fulfillment_days", "pull_backfill_days", "warehouse_timeout_seconds", "warehouse_heartbeat_seconds"];
const URLS = ["api_base_url", "lwa_token_url"];
// Settings that make orderhub send a paid request to the warehouse (seed 001).
const PAID = { cancel_after_confirmed: "integrations.paid.cancel", modify_after_confirmed: "integrations.paid.modify" };
const NOT_SHOWN = new Set(["marketplace", "pull_status", "starts_paid_requests"]);

register({
  en: {
    "integrations.title": "Integrations",
    "integrations.intro": "Sync settings per marketplace: how cancellations and changes made on the marketplace reach the warehouse's shipment request, and how orders are taken in.",
    "integrations.tabs": "Marketplaces",
    "integrations.mp.shopify": "Shopify",
    "integrations.mp.ecforce": "ecforce",
    "integrations.mp.base": "BASE",
    "integrations.mp.nextengine": "NextEngine",
    "integrations.mp.wish": "Wish",
    "integrations.mp.generic": "Generic connector",
    "integrations.mp.amazon": "Amazon",
    "integrations.mp.qoo10": "Qoo10",
    "integrations.mp.rakuten": "Rakuten",
    "integrations.settings_of": "{marketplace} settings",
    "integrations.group.sync": "Cancel and modify sync",
    "integrations.group.orders": "Orders and deadlines",
    "integrations.group.api": "Marketplace API and pull",
    "integrations.group.warehouse": "Warehouse requests",
    "integrations.group.other": "Other settings",
    "integrations.no_sync":
      "Cancelling or changing an order on {marketplace} after it was taken in is not carried to the shipment request. To cancel or change the shipment too, do it by hand in orderhub.",
    "integrations.paid.cancel":
      "After the shipment is confirmed (picking to picked), the cancel is sent to the warehouse as a cancellation request, not as a deletion. Cancellation requests cost an extra fee.",
    "integrations.paid.modify":
      "After the shipment is confirmed (picking to picked), the change is sent to the warehouse as a shipment modification request. Modification requests cost an extra fee.",
    "integrations.paid.notice":
      "Requests to the warehouse after the shipment is confirmed cost an extra fee: the settings marked \"Paid request\" start them.",
    "integrations.paid.tag": "Paid request",
    "integrations.k.cancel_sync": "Carry marketplace cancels to the shipment request",
    "integrations.h.cancel_sync":
      "Before the shipment is confirmed the shipment request is deleted automatically. From packed on a cancel can no longer be carried: the parcel may be delivered; ask the recipient to refuse it.",
    "integrations.k.cancel_after_confirmed": "Carry cancels even after the shipment is confirmed",
    "integrations.h.cancel_after_confirmed": "While the warehouse is picking (picking to picked), a cancellation request is sent automatically.",
    "integrations.k.modify_sync": "Carry order changes to the shipment request",
    "integrations.h.modify_sync": "Name, shipping address, phone number and email only; item changes are never carried.",
    "integrations.k.modify_after_confirmed": "Carry changes even after the shipment is confirmed",
    "integrations.h.modify_after_confirmed": "While the warehouse is picking (picking to picked), a shipment modification request is sent automatically. From packed on, changes are not carried.",
    "integrations.k.reflect_cancel_to_marketplace": "Reflect your cancels to the marketplace",
    "integrations.h.reflect_cancel_to_marketplace":
      "There is a time lag between switching this and the sync taking effect: wait a while before cancelling so nothing is reflected unintentionally (switching it often is not recommended). If a cancel cannot be reflected, the order gets the tag \"mall reflect error\": check it on the marketplace.",
    "integrations.k.auto_confirm": "Confirm released orders automatically",
    "integrations.h.auto_confirm": "Released orders go straight to Processing.",
    "integrations.k.hold_minutes": "Payment hold (minutes)",
    "integrations.h.hold_minutes": "Card and cash-on-delivery orders stay in Payment pending this long before release.",
    "integrations.k.fulfillment_days": "Days to ship",
    "integrations.h.fulfillment_days": "Calendar days from the release to register the tracking number.",
    "integrations.k.auto_refund_overdue": "Refund overdue orders (marketplace policy)",
    "integrations.h.auto_refund_overdue": "The hourly deadline check refunds orders from this marketplace not shipped in time; off: they are shown as overdue.",
    "integrations.k.notify_customer": "Email the buyer the tracking (Shopify)",
    "integrations.h.notify_customer": "When orderhub reflects a fulfillment or a tracking change.",
    "integrations.k.pull": "Pull orders on a schedule",
    "integrations.h.pull": "Reads changed orders from the marketplace API; needs the API base URL.",
    "integrations.k.pull_backfill_days": "First pull reads back (days)",
    "integrations.k.api_base_url": "API base URL",
    "integrations.h.api_base_url": "An https URL of the marketplace's public API.",
    "integrations.k.api_token": "API token",
    "integrations.k.lwa_client_id": "LWA client ID",
    "integrations.k.lwa_client_secret": "LWA client secret",
    "integrations.k.lwa_refresh_token": "LWA refresh token",
    "integrations.k.lwa_token_url": "LWA token URL",
    "integrations.k.amazon_marketplace_id": "Amazon marketplace ID",
    "integrations.k.seller_id": "Seller ID",
    "integrations.k.service_secret": "Service secret",
    "integrations.k.license_key": "License key",
    "integrations.k.warehouse_timeout_seconds": "Wait for the warehouse's answer (seconds)",
    "integrations.h.warehouse_timeout_seconds": "No answer within this time: the request is not reflected and the order goes on hold.",
    "integrations.k.warehouse_heartbeat_seconds": "Warehouse heartbeat (seconds, optional)",
    "integrations.h.warehouse_heartbeat_seconds": "Leave empty for none. When set, it must be below the wait time.",
    "integrations.secret.set": "Set",
    "integrations.secret.not_set": "Not set",
    "integrations.secret.replace": "Replace {name}",
    "integrations.secret.hint": "Write-only: the current value is never shown. Leave empty to keep it.",
    "integrations.pull_status": "Pull status",
    "integrations.paid.active": "On now, sending paid requests to the warehouse on your behalf: {settings}.",
    "integrations.pull.state": "State",
    "integrations.pull.off": "Off",
    "integrations.pull.ok": "OK",
    "integrations.pull.waiting": "Waiting for the first run",
    "integrations.pull.failing": "Failing",
    "integrations.pull.failures": "Failures in a row",
    "integrations.pull.last_error": "Last error",
    "integrations.pull.failing_since": "Failing since",
    "integrations.save": "Save settings",
    "integrations.saved": "{marketplace} settings saved.",
    "integrations.no_changes": "Nothing changed.",
  },
  ja: {
    "integrations.title": "モール連携設定",
    "integrations.intro": "販売サイトごとの連携設定です。販売サイトでの注文のキャンセル・変更を倉庫の出庫依頼に反映する方法と、注文の取込方法を設定します。",
    "integrations.tabs": "販売サイト",
    "integrations.mp.shopify": "Shopify",
    "integrations.mp.ecforce": "ecforce",
    "integrations.mp.base": "BASE",
    "integrations.mp.nextengine": "ネクストエンジン",
    "integrations.mp.wish": "Wish",
    "integrations.mp.generic": "汎用コネクタ",
    "integrations.mp.amazon": "Amazon",
    "integrations.mp.qoo10": "Qoo10",
    "integrations.mp.rakuten": "楽天市場",
    "integrations.settings_of": "{marketplace} の連携設定",
    "integrations.group.sync": "キャンセル連携・変更連携",
    "integrations.group.orders": "受注と出荷期限",
    "integrations.group.api": "販売サイトAPIと定期取込",
    "integrations.group.warehouse": "倉庫への依頼",
    "integrations.group.other": "その他の設定",
    "integrations.no_sync":
      "{marketplace} では注文取込後に注文を変更・キャンセルしても出庫依頼に反映されません。出庫依頼も同様に変更・キャンセルしたい場合は、orderhub 上で手動で行ってください。",
    "integrations.paid.cancel":
      "出庫確定後(ピッキング中~ピッキング済)は、出庫削除ではなくキャンセル依頼として倉庫に送信されます。キャンセル依頼については別途費用がかかります。",
    "integrations.paid.modify":
      "出庫確定後(ピッキング中~ピッキング済)は、出庫依頼修正リクエストとして倉庫に送信されます。出庫依頼修正リクエストについては別途費用がかかります。",
    "integrations.paid.notice": "出庫確定後の倉庫への依頼には別途費用がかかります。「有料」の設定がその依頼を送ります。",
    "integrations.paid.tag": "有料",
    "integrations.k.cancel_sync": "販売サイトのキャンセルを出庫依頼に反映",
    "integrations.h.cancel_sync":
      "出庫確定前は自動的に出庫依頼が削除されます。梱包済以降はキャンセルできません。配送される可能性がありますので、受取人さまに受け取り拒否をご依頼ください。",
    "integrations.k.cancel_after_confirmed": "注文確定後でもキャンセル連携を行う",
    "integrations.h.cancel_after_confirmed": "出庫ピッキング中~ピッキング済の出庫に対して自動でキャンセル依頼が送られます。",
    "integrations.k.modify_sync": "注文の変更を出庫依頼に反映",
    "integrations.h.modify_sync": "氏名・配送先住所・電話番号・メールアドレスのみ反映します。商品の変更などは反映されません。",
    "integrations.k.modify_after_confirmed": "確定後でも注文の変更を出庫依頼に反映",
    "integrations.h.modify_after_confirmed": "出庫ピッキング中~ピッキング済の出庫に対して自動で出庫依頼修正リクエストが送られます。梱包済以降は反映されません。",
    "integrations.k.reflect_cancel_to_marketplace": "注文キャンセルを販売サイトの注文情報へ反映",
    "integrations.h.reflect_cancel_to_marketplace":
      "チェックの付け外しをしてから連動が行われるまでタイムラグがあります。意図せぬ連動が起きないよう時間を空けてキャンセルを行ってください(頻繁な付け外しは推奨しません)。反映できなかった場合は「モール反映エラー」のタグが付きますので、販売サイト上でご確認ください。",
    "integrations.k.auto_confirm": "受注を自動で確認済みにする",
    "integrations.h.auto_confirm": "受付された受注はすぐに処理中になります。",
    "integrations.k.hold_minutes": "入金確認の保留時間(分)",
    "integrations.h.hold_minutes": "クレジットカード・代金引換の注文は、この時間だけ入金待ちに留まります。",
    "integrations.k.fulfillment_days": "出荷期限(日数)",
    "integrations.h.fulfillment_days": "受付から追跡番号を登録するまでの暦日数です。",
    "integrations.k.auto_refund_overdue": "期限切れの受注を返金する(販売サイトのポリシー)",
    "integrations.h.auto_refund_overdue": "毎時の期限チェックで、期限内に発送されなかったこの販売サイトの受注を返金します。オフの場合は期限切れとして表示されます。",
    "integrations.k.notify_customer": "購入者に追跡番号をメールで通知(Shopify)",
    "integrations.h.notify_customer": "orderhub が発送や追跡番号の変更を反映するときに通知します。",
    "integrations.k.pull": "定期的に注文を取り込む",
    "integrations.h.pull": "販売サイトAPIから変更された注文を読み込みます。APIのベースURLが必要です。",
    "integrations.k.pull_backfill_days": "初回取込の遡り日数",
    "integrations.k.api_base_url": "APIのベースURL",
    "integrations.h.api_base_url": "販売サイトの公開APIの https URL です。",
    "integrations.k.api_token": "APIトークン",
    "integrations.k.lwa_client_id": "LWA クライアントID",
    "integrations.k.lwa_client_secret": "LWA クライアントシークレット",
    "integrations.k.lwa_refresh_token": "LWA リフレッシュトークン",
    "integrations.k.lwa_token_url": "LWA トークンURL",
    "integrations.k.amazon_marketplace_id": "Amazon マーケットプレイスID",
    "integrations.k.seller_id": "セラーID",
    "integrations.k.service_secret": "サービスシークレット",
    "integrations.k.license_key": "ライセンスキー",
    "integrations.k.warehouse_timeout_seconds": "倉庫の回答を待つ時間(秒)",
    "integrations.h.warehouse_timeout_seconds": "この時間内に回答がない場合は反映されず、受注は保留中になります。",
    "integrations.k.warehouse_heartbeat_seconds": "倉庫のハートビート間隔(秒・任意)",
    "integrations.h.warehouse_heartbeat_seconds": "空欄の場合はなし。設定する場合は待つ時間より短くしてください。",
    "integrations.secret.set": "設定済み",
    "integrations.secret.not_set": "未設定",
    "integrations.secret.replace": "{name} を変更",
    "integrations.secret.hint": "書き込み専用です。現在の値は表示されません。空欄のままなら変更されません。",
    "integrations.pull_status": "定期取込の状態",
    "integrations.paid.active": "有効になっており、お客様に代わって倉庫へ有料の依頼を送る設定: {settings}",
    "integrations.pull.state": "状態",
    "integrations.pull.off": "オフ",
    "integrations.pull.ok": "正常",
    "integrations.pull.waiting": "初回実行待ち",
    "integrations.pull.failing": "失敗中",
    "integrations.pull.failures": "連続失敗回数",
    "integrations.pull.last_error": "最後のエラー",
    "integrations.pull.failing_since": "失敗開始",
    "integrations.save": "設定を保存",
    "integrations.saved": "{marketplace} の連携設定を保存しました。",
    "integrations.no_changes": "変更はありません。",
  },
});

function label(key) {
  const k = `integrations.k.${key}`;
  const text = t(k);
  return text === k ? key : text;
}

function hint(key) {
  const k = `integrations.h.${key}`;
  const text = t(k);
  return text === k ? null : text;
}

function mpName(m) {
  const k = `integrations.mp.${m}`;
  const text = t(k);
  return text === k ? m : text;
}

/** The controls of one settings view: [{name, kind, control, original}], grouped. */
function controlsFor(settings) {
  const secrets = Object.keys(settings)
    .filter((k) => k.endsWith("_set") && typeof settings[k] === "boolean")
    .map((k) => k.slice(0, -4));
  const names = [
    ...Object.keys(settings).filter((k) => !NOT_SHOWN.has(k) && !(k.endsWith("_set") && secrets.includes(k.slice(0, -4)))),
    ...secrets,
  ];
  return names.map((name) => {
    if (secrets.includes(name)) return { name, kind: "secret", original: settings[`${name}_set`] };
    const value = settings[name];
    if (typeof value === "boolean") return { name, kind: "bool", original: value };
    if (INTS.includes(name) || typeof value === "number") return { name, kind: "int", original: value, nullable: value === null };
    return { name, kind: "text", original: value ?? "", nullable: value === null };
  });
}

function checkboxField(c) {
  const input = h("input", { type: "checkbox", name: c.name, id: uid("set"), checked: c.original });
  const error = h("p", { class: "field-error", id: `${input.id}-error`, role: "alert", hidden: true });
  const hintText = hint(c.name);
  const hintEl = hintText ? h("p", { class: "hint", id: `${input.id}-hint` }, hintText) : null;
  const paid = PAID[c.name]
    ? h("p", { class: "warning integrations-paid", id: `${input.id}-paid`, dataset: { paid: c.name } }, h("strong", {}, t("integrations.paid.tag")), " ", t(PAID[c.name]))
    : null;
  input.setAttribute("aria-describedby", [hintEl?.id, paid?.id, error.id].filter(Boolean).join(" "));
  return h(
    "div",
    { class: "field integrations-check", dataset: { field: c.name } },
    h("div", { class: "integrations-check-row" }, input, h("label", { for: input.id }, label(c.name), PAID[c.name] ? h("span", { class: "pill warn" }, t("integrations.paid.tag")) : null)),
    hintEl,
    paid,
    error,
  );
}

function inputField(c) {
  if (c.kind === "secret") {
    const status = c.original ? t("integrations.secret.set") : t("integrations.secret.not_set");
    const input = h("input", {
      type: "password",
      name: c.name,
      autocomplete: "new-password",
      value: "",
    });
    const wrap = field(t("integrations.secret.replace", { name: label(c.name) }), input, t("integrations.secret.hint"));
    wrap.insertBefore(
      h("p", { class: "integrations-secret" }, `${label(c.name)}: `, h("span", { class: `pill ${c.original ? "ok" : ""}`.trim(), dataset: { secret: c.name } }, status)),
      wrap.firstChild,
    );
    return wrap;
  }
  const attrs = { type: URLS.includes(c.name) ? "url" : "text", name: c.name, value: c.original === null ? "" : String(c.original) };
  if (c.kind === "int") Object.assign(attrs, { inputmode: "numeric", class: "integrations-num" });
  return field(label(c.name), h("input", attrs), hint(c.name));
}

/** The value to send for control `c`, or undefined when it did not change. */
function changed(form, c) {
  const el = form.elements[c.name];
  if (c.kind === "bool") return el.checked !== c.original ? el.checked : undefined;
  if (c.kind === "secret") return el.value ? el.value : undefined;
  const raw = el.value.trim();
  let value = raw;
  if (c.kind === "int") {
    if (raw === "") value = c.nullable || c.name === "warehouse_heartbeat_seconds" ? null : "";
    else if (/^-?\d+$/.test(raw)) value = Number(raw);
    // anything else goes as typed: the API names the field and the rule
  } else if (raw === "" && c.nullable) value = null;
  return value === c.original ? undefined : value;
}

function pullStatus(status) {
  if (!status) return null;
  const stateKey = `integrations.pull.${status.state}`;
  const stateText = t(stateKey) === stateKey ? status.state : t(stateKey);
  const pill = { ok: "ok", waiting: "warn", failing: "danger" }[status.state] || "";
  return h(
    "div",
    { class: "integrations-pull" },
    h("h3", {}, t("integrations.pull_status")),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, t("integrations.pull.state")),
      h("dd", {}, h("span", { class: `pill ${pill}`.trim() }, stateText)),
      status.failures ? [h("dt", {}, t("integrations.pull.failures")), h("dd", {}, formatNumber(status.failures))] : null,
      status.failing_since ? [h("dt", {}, t("integrations.pull.failing_since")), h("dd", {}, formatDate(status.failing_since))] : null,
      status.last_error
        ? [h("dt", {}, t("integrations.pull.last_error")), h("dd", {}, typeof status.last_error === "string" ? status.last_error : JSON.stringify(status.last_error))]
        : null,
    ),
  );
}

export async function render(root, params, ctx) {
  useStyles("integrations");
  const MARKETPLACES = await marketplaces();
  const marketplace = MARKETPLACES.includes(params.marketplace) ? params.marketplace : "shopify";
  const tabs = tabBar({
    label: t("integrations.tabs"),
    idPrefix: "integrations-tab",
    panelId: "integrations-panel",
    items: MARKETPLACES,
    current: marketplace,
    labelOf: mpName,
    onSelect: (m) => {
      focusTab = m;
      ctx.navigate("/integrations", { marketplace: m });
    },
  }).bar;
  const panel = h("section", { id: "integrations-panel", role: "tabpanel", "aria-labelledby": `integrations-tab-${marketplace}` });
  clear(
    root,
    h("h1", {}, t("integrations.title")),
    h("p", { class: "hint" }, t("integrations.intro")),
    h("p", { class: "warning", "data-testid": "paid-notice" }, t("integrations.paid.notice")),
    tabs,
    panel,
  );
  if (focusTab) {
    document.getElementById(`integrations-tab-${focusTab}`)?.focus();
    focusTab = null;
  }

  let settings;
  try {
    settings = await api.get(`/integrations/${marketplace}`);
  } catch (err) {
    clear(panel, errorBox(err));
    return;
  }
  showForm(settings);

  function showForm(current) {
    const controls = controlsFor(current);
    const form = h("form", { class: "card integrations-form", novalidate: true, "aria-label": t("integrations.settings_of", { marketplace: mpName(marketplace) }) });
    const out = h("div", { class: "integrations-out" });
    const save = h("button", { type: "submit" }, t("integrations.save"));
    const grouped = new Set(GROUPS.flatMap(([, keys]) => keys));
    const groups = [...GROUPS, ["other", controls.map((c) => c.name).filter((n) => !grouped.has(n))]];
    for (const [group, keys] of groups) {
      const members = keys.map((k) => controls.find((c) => c.name === k)).filter(Boolean);
      if (!members.length) continue;
      form.append(
        h(
          "fieldset",
          { class: "integrations-group", dataset: { group } },
          h("legend", {}, t(`integrations.group.${group}`)),
          group === "sync" && (current.starts_paid_requests || []).length
            ? h(
                "p",
                { class: "warning", "data-testid": "paid-active" },
                t("integrations.paid.active", { settings: current.starts_paid_requests.map((k) => t(`integrations.k.${k}`)).join(", ") }),
              )
            : null,
          group === "sync" && current.cancel_sync === false && current.modify_sync === false && ["base", "nextengine"].includes(marketplace)
            ? h("p", { class: "notice" }, t("integrations.no_sync", { marketplace: mpName(marketplace) }))
            : null,
          members.map((c) => (c.kind === "bool" ? checkboxField(c) : inputField(c))),
          group === "api" ? pullStatus(current.pull_status) : null,
        ),
      );
    }
    form.append(out, h("div", { class: "actions" }, save));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = {};
      for (const c of controls) {
        const v = changed(form, c);
        if (v !== undefined) body[c.name] = v;
      }
      if (!Object.keys(body).length) {
        toast(t("integrations.no_changes"));
        return;
      }
      const saved = await busy(save, () => api.put(`/integrations/${marketplace}`, body), { out, form });
      if (saved) {
        toast(t("integrations.saved", { marketplace: mpName(marketplace) }));
        showForm(saved);
        panel.querySelector("button[type=submit]")?.focus();
      } else {
        form.querySelector("[aria-invalid=true]")?.focus();
      }
    });
    clear(panel, h("h2", {}, t("integrations.settings_of", { marketplace: mpName(marketplace) })), form);
  }
}

// The tab to focus after moving between tabs with the arrow keys (the screen is rendered again).
let focusTab = null;
