// Notifications (#/notifications): where the daily digest goes (seed 004's daily reminder):
// GET/PUT /notifications — the merchant's own e-mail address and the digest's language. A new
// address gets a confirmation mail from AWS first; the screen says whether it is confirmed.
import { api, ApiError } from "../api.js";
import { register, t } from "../i18n.js";
import { busy, clear, errorBox, field, h } from "../ui.js";

const LANGUAGES = ["ja", "en"];

register({
  en: {
    "notifications.title": "Notifications",
    "notifications.intro":
      "Once a day orderhub mails a digest of your unfulfilled orders: how many, how many are due within 24 hours or past their deadline, and which. Choose the address and the language.",
    "notifications.email": "E-mail address",
    "notifications.email_hint": "Leave empty to stop the e-mails.",
    "notifications.language": "Language of the digest",
    "notifications.language.ja": "Japanese",
    "notifications.language.en": "English",
    "notifications.save": "Save",
    "notifications.saved": "Saved.",
    "notifications.state.none": "No e-mail is sent.",
    "notifications.state.pending_confirmation":
      "Waiting for confirmation: open the mail from AWS Notifications at {email} and confirm the subscription. Nothing is sent until then.",
    "notifications.state.confirmed": "Digests go to {email}.",
  },
  ja: {
    "notifications.title": "通知設定",
    "notifications.intro":
      "1日1回、未出荷の受注のお知らせをメールでお送りします（未出荷の件数、24時間以内に出荷期限を迎える件数、期限切れの件数と受注）。送信先と言語を設定してください。",
    "notifications.email": "メールアドレス",
    "notifications.email_hint": "空欄にするとメールを停止します。",
    "notifications.language": "お知らせの言語",
    "notifications.language.ja": "日本語",
    "notifications.language.en": "英語",
    "notifications.save": "保存",
    "notifications.saved": "保存しました。",
    "notifications.state.none": "メールは送信されません。",
    "notifications.state.pending_confirmation":
      "確認待ちです。{email} に届く AWS Notifications からのメールを開き、購読を確認してください。確認されるまでお知らせは送信されません。",
    "notifications.state.confirmed": "お知らせは {email} に送信されます。",
  },
});

export async function render(root) {
  let current;
  try {
    current = await api.get("/notifications");
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    clear(root, h("h1", {}, t("notifications.title")), errorBox(err));
    return;
  }
  const state = h("p", { class: "notice", role: "status", "data-testid": "digest-state" });
  const out = h("div", { "aria-live": "polite" });
  const email = h("input", { type: "email", name: "email", value: current.email || "", maxlength: 254, autocomplete: "email" });
  const language = h(
    "select",
    { name: "language" },
    LANGUAGES.map((l) => h("option", { value: l, selected: l === current.language }, t(`notifications.language.${l}`))),
  );
  const showState = (v) => {
    state.textContent = t(`notifications.state.${v.subscription}`, { email: v.email || "" });
  };
  const form = h(
    "form",
    { class: "card", novalidate: true },
    field(t("notifications.email"), email, t("notifications.email_hint")),
    field(t("notifications.language"), language),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("notifications.save"))),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    clear(out);
    busy(
      button,
      async () => {
        const saved = await api.put("/notifications", { email: email.value.trim() || null, language: language.value });
        current = saved;
        showState(saved);
        clear(out, h("p", { class: "ok-text", role: "status" }, t("notifications.saved")));
      },
      { out, form },
    );
  });
  showState(current);
  clear(root, h("h1", {}, t("notifications.title")), h("p", { class: "hint" }, t("notifications.intro")), state, form, out);
}
