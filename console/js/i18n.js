// Labels in Japanese and English. The language is the browser's (navigator.languages) until the
// merchant picks one with the switch; the choice is kept in localStorage. Each screen registers
// its own labels (register({en: {...}, ja: {...}})); a key missing in one language falls back to
// the other, then to the key itself.

const LANGS = ["ja", "en"];
const KEY = "orderhub.lang";
const messages = { en: {}, ja: {} };
const listeners = new Set();

function fromBrowser() {
  for (const l of navigator.languages || [navigator.language || "en"]) {
    const base = String(l).toLowerCase().split("-")[0];
    if (LANGS.includes(base)) return base;
  }
  return "en";
}

let lang = LANGS.includes(localStorage.getItem(KEY)) ? localStorage.getItem(KEY) : fromBrowser();
document.documentElement.lang = lang;

export function register(dict) {
  for (const l of LANGS) Object.assign(messages[l], dict[l] || {});
}

export function language() {
  return lang;
}

export function setLanguage(next) {
  if (!LANGS.includes(next) || next === lang) return;
  lang = next;
  localStorage.setItem(KEY, next);
  document.documentElement.lang = next;
  for (const fn of listeners) fn(next);
}

export function onLanguage(fn) {
  listeners.add(fn);
}

/** The label `key` with {name} placeholders filled from `vars`. */
/**
 * The message `key` in the current language with its {placeholders} filled from `vars`. A
 * message that counts something may have a variant per plural category of the language
 * (`<key>#one` in English: "1 day late", not "1 days late"), chosen by `vars.n`, or by
 * `vars.total` when there is no `n` (the count, formatted or not).
 */
export function t(key, vars = {}) {
  const other = lang === "ja" ? "en" : "ja";
  const count = vars.n ?? vars.total;
  let text;
  if (count !== undefined) {
    const value = Number(String(count).replace(/[^\d.-]/g, ""));
    if (Number.isFinite(value)) text = messages[lang][`${key}#${pluralRules().select(value)}`];
  }
  text = text ?? messages[lang][key] ?? messages[other][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? `{${k}}`));
}

const rules = {};
function pluralRules() {
  return (rules[lang] ??= new Intl.PluralRules(lang === "ja" ? "ja-JP" : "en-US"));
}

export function formatDate(iso, withTime = true) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const opts = withTime
    ? { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }
    : { year: "numeric", month: "2-digit", day: "2-digit" };
  return new Intl.DateTimeFormat(lang === "ja" ? "ja-JP" : "en-GB", opts).format(d);
}

export function formatNumber(n) {
  return new Intl.NumberFormat(lang === "ja" ? "ja-JP" : "en-US").format(n ?? 0);
}

register({
  en: {
    "app.title": "orderhub",
    "nav.orders": "Orders",
    "nav.fulfillment": "Fulfillment",
    "nav.shipments": "Shipments",
    "nav.cancelled": "Cancelled orders",
    "nav.mappings": "Item mapping",
    "nav.integrations": "Integrations",
    "nav.sync_history": "Sync history",
    "nav.violations": "Violations",
    "nav.notifications": "Notifications",
    "nav.label": "Main",
    "badge.due": "{n} orders due within 24 hours or overdue",
    "badge.due#one": "1 order due within 24 hours or overdue",
    "signout": "Sign out",
    "signin": "Sign in",
    "signing_in": "Signing in…",
    "signed_in_as": "Signed in as {who}",
    "lang.label": "Language",
    "loading": "Loading…",
    "retry": "Try again",
    "close": "Close",
    "cancel": "Cancel",
    "ok": "OK",
    "save": "Save",
    "working": "Working…",
    "error.title": "Something went wrong",
    "error.network": "The API could not be reached. Check your connection and try again.",
    "error.reference": "Reference (quote it when you ask about this):",
    "error.conflict": "Not allowed now: {message}",
    "error.rule": "Rule: {rule}",
    "error.allowed_now": "Allowed now: {actions}",
    "error.allowed_none": "No action is allowed in this state.",
    "error.field": "{field}: {message}",
    "empty": "Nothing to show.",
    "page.prev": "Previous page",
    "page.next": "Next page",
    "page.size": "Rows per page",
    "page.nav": "Pages",
    "not_found": "This page does not exist.",
  },
  ja: {
    "app.title": "orderhub",
    "nav.orders": "受注一覧",
    "nav.fulfillment": "発送管理",
    "nav.shipments": "出荷一覧",
    "nav.cancelled": "キャンセル・削除済み受注",
    "nav.mappings": "商品マッピング",
    "nav.integrations": "モール連携設定",
    "nav.sync_history": "連携履歴",
    "nav.violations": "出荷期限違反",
    "nav.notifications": "通知設定",
    "nav.label": "メイン",
    "badge.due": "24時間以内に期限を迎える、または期限切れの受注 {n} 件",
    "signout": "サインアウト",
    "signin": "サインイン",
    "signing_in": "サインインしています…",
    "signed_in_as": "{who} でサインイン中",
    "lang.label": "言語",
    "loading": "読み込み中…",
    "retry": "再試行",
    "close": "閉じる",
    "cancel": "キャンセル",
    "ok": "OK",
    "save": "保存",
    "working": "処理中…",
    "error.title": "エラーが発生しました",
    "error.network": "APIに接続できませんでした。接続を確認して再試行してください。",
    "error.reference": "問い合わせ番号（お問い合わせの際にお伝えください）:",
    "error.conflict": "現在この操作はできません: {message}",
    "error.rule": "ルール: {rule}",
    "error.allowed_now": "現在可能な操作: {actions}",
    "error.allowed_none": "この状態で可能な操作はありません。",
    "error.field": "{field}: {message}",
    "empty": "表示するデータがありません。",
    "page.prev": "前のページ",
    "page.next": "次のページ",
    "page.size": "表示件数",
    "page.nav": "ページ送り",
    "not_found": "このページは存在しません。",
  },
});
