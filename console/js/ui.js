// Small DOM helpers every screen shares. No HTML strings with data in them: text goes in as text
// (h() sets textContent), so nothing an order carries can become markup. The page's CSP allows
// no inline style or script: style with classes from app.css.
import { ApiError } from "./api.js";
import { register, t } from "./i18n.js";

/** h("button", {class: "primary", onclick: fn, disabled: true}, "text", child...) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value" && "value" in el) el.value = v;
    else if (k === "checked" || k === "selected" || k === "indeterminate") el[k] = !!v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let ids = 0;
export function uid(prefix = "f") {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled control: h-built input/select inside, with a slot for its error. */
export function field(label, control, hint) {
  if (!control.id) control.id = uid();
  const error = h("p", { class: "field-error", id: `${control.id}-error`, role: "alert", hidden: true });
  const hintEl = hint ? h("p", { class: "hint", id: `${control.id}-hint` }, hint) : null;
  control.setAttribute("aria-describedby", [hintEl?.id, error.id].filter(Boolean).join(" "));
  return h("div", { class: "field", dataset: { field: control.name || "" } }, h("label", { for: control.id }, label), control, hintEl, error);
}

/** Show `message` under the control named `name` inside `form` (false when there is none). */
export function showFieldError(form, name, message) {
  const base = String(name || "").replace(/\[\d+\]/g, "").split(".").pop();
  const control = form.querySelector(`[name="${CSS.escape(name)}"]`) || form.querySelector(`[name="${CSS.escape(base)}"]`);
  if (!control) return false;
  const error = form.querySelector(`#${CSS.escape(control.id)}-error`);
  control.setAttribute("aria-invalid", "true");
  if (error) {
    error.textContent = message;
    error.hidden = false;
  }
  return true;
}

export function clearFieldErrors(form) {
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const el of form.querySelectorAll(".field-error")) {
    el.textContent = "";
    el.hidden = true;
  }
}

/** The words for an API error: the message, and for a 409 the rule and what is allowed now. */
export function errorLines(err) {
  if (!(err instanceof ApiError)) return [t("error.network")];
  const d = err.details || {};
  if (err.status === 409) {
    const lines = [t("error.conflict", { message: err.message })];
    if (d.rule) lines.push(t("error.rule", { rule: d.rule }));
    if (Array.isArray(d.allowed_actions)) {
      lines.push(
        d.allowed_actions.length
          ? t("error.allowed_now", { actions: d.allowed_actions.map(actionLabel).join(", ") })
          : t("error.allowed_none"),
      );
    }
    return lines;
  }
  return [err.field ? t("error.field", { field: err.field, message: err.message }) : err.message];
}

/** An error box (role=alert) for an API error; inside `form`, the field's own error slot too. */
export function errorBox(err, form) {
  if (form && err instanceof ApiError && err.field && err.status < 500 && err.status !== 409) {
    if (showFieldError(form, err.field, err.message)) return h("div", { class: "error-box", role: "alert" }, errorLines(err)[0]);
  }
  const reference =
    err instanceof ApiError && err.correlationId
      ? h("p", { class: "hint correlation" }, t("error.reference"), " ", h("code", {}, err.correlationId))
      : null;
  return h("div", { class: "error-box", role: "alert" }, errorLines(err).map((l) => h("p", {}, l)), reference);
}

/**
 * Run `fn` for a button or form: the control is disabled while it runs (no double submit), the
 * errors land in `out` (and next to the fields of `form`). Returns fn's result, or undefined.
 */
export async function busy(control, fn, { out, form } = {}) {
  if (control.dataset.busy) return undefined;
  const buttons = form ? [...form.querySelectorAll("button, input[type=submit]")] : [control];
  control.dataset.busy = "1";
  for (const b of buttons) b.disabled = true;
  control.setAttribute("aria-busy", "true");
  if (form) clearFieldErrors(form);
  if (out) clear(out);
  try {
    return await fn();
  } catch (err) {
    if (out) clear(out, errorBox(err, form));
    else throw err;
    return undefined;
  } finally {
    delete control.dataset.busy;
    control.removeAttribute("aria-busy");
    for (const b of buttons) b.disabled = false;
  }
}

/**
 * A tab bar (role=tablist) of `items`, `current` selected. Arrow keys, Home and End move the focus
 * between the tabs; Enter or Space (a click) opens one: `onSelect(item)`. `labelOf(item)` is a
 * tab's text; with `withCounts` each tab has a count badge, returned in `counts` to fill in later.
 * `dataKey` names a data attribute carrying the item (tests and styles find a tab by it).
 */
export function tabBar({ label, idPrefix, panelId, items, current, labelOf, onSelect, withCounts = false, dataKey }) {
  const counts = {};
  const buttons = items.map((item) => {
    if (withCounts) counts[item] = h("span", { class: "count" }, "…");
    return h(
      "button",
      {
        type: "button",
        role: "tab",
        id: `${idPrefix}-${item}`,
        "aria-selected": String(item === current),
        "aria-controls": panelId,
        tabindex: item === current ? "0" : "-1",
        dataset: dataKey ? { [dataKey]: item } : undefined,
        onclick: () => onSelect(item),
      },
      labelOf(item),
      withCounts ? counts[item] : null,
    );
  });
  const bar = h("div", { class: "tabs", role: "tablist", "aria-label": label }, buttons);
  bar.addEventListener("keydown", (e) => {
    const i = buttons.indexOf(document.activeElement);
    const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: buttons.length - 1 }[e.key];
    if (i < 0 || to === undefined) return;
    e.preventDefault();
    const next = buttons[(to + buttons.length) % buttons.length];
    for (const b of buttons) b.tabIndex = b === next ? 0 : -1;
    next.focus();
  });
  return { bar, counts };
}

/**
 * The focus a screen gives back after a navigation renders it again (the tab or preset just chosen,
 * the results after a filter): `want(selector)` before navigating, `restore(root)` when the render
 * is done. Only a render still on screen takes it: an earlier render that finishes late, its root
 * already replaced, leaves it to the render the merchant sees.
 */
export function focusAfterRender() {
  let wanted = null;
  return {
    want(selector) {
      wanted = selector;
    },
    restore(root) {
      if (!wanted || !root.isConnected) return;
      root.querySelector(wanted)?.focus();
      wanted = null;
    },
  };
}

/** Show `dlg` as a modal; the returned done(value) closes it and resolves with value (Escape: `cancelled`). */
function showModal(dlg, resolve, cancelled) {
  const done = (value) => {
    dlg.close();
    dlg.remove();
    resolve(value);
  };
  dlg.addEventListener("cancel", (e) => {
    e.preventDefault();
    done(cancelled);
  });
  document.body.append(dlg);
  dlg.showModal();
  return done;
}

/** A modal dialog: resolves true when the merchant confirms. `body` may be nodes or text. */
export function confirmDialog(title, body, { confirm = t("ok"), danger = false } = {}) {
  return new Promise((resolve) => {
    const titleId = uid("dlg");
    const dlg = h(
      "dialog",
      { class: "dialog", "aria-labelledby": titleId },
      h("h2", { id: titleId }, title),
      h("div", { class: "dialog-body" }, body),
      h(
        "div",
        { class: "dialog-actions" },
        h("button", { type: "button", class: "secondary", onclick: () => done(false) }, t("cancel")),
        h("button", { type: "button", class: danger ? "danger" : "primary", onclick: () => done(true) }, confirm),
      ),
    );
    const done = showModal(dlg, resolve, false);
  });
}

/** A modal with a form: `build(form)` fills it; `submit(form)` runs on submit (errors shown). */
export function formDialog(title, build, submit, { confirm = t("save") } = {}) {
  return new Promise((resolve) => {
    const titleId = uid("dlg");
    const out = h("div", { class: "dialog-error" });
    const form = h("form", { class: "dialog-form", novalidate: true });
    const dlg = h("dialog", { class: "dialog", "aria-labelledby": titleId }, h("h2", { id: titleId }, title), form);
    build(form);
    const ok = h("button", { type: "submit", class: "primary" }, confirm);
    form.append(
      out,
      h("div", { class: "dialog-actions" }, h("button", { type: "button", class: "secondary", onclick: () => done(undefined) }, t("cancel")), ok),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const result = await busy(ok, () => submit(form), { out, form });
      if (result !== undefined) done(result);
    });
    const done = showModal(dlg, resolve, undefined);
  });
}

/** A progress bar for a background job (value of max). */
export function progress(value, max, label) {
  return h("progress", { class: "progress", value: value || 0, max: Math.max(max || 0, 1), "aria-label": label });
}

/** Poll GET /jobs/{id} (or `read()`) until the job ends, calling `onUpdate(job)` each time. */
export async function followJob(read, onUpdate, { interval = 500 } = {}) {
  for (;;) {
    const job = await read();
    onUpdate(job);
    if (["done", "failed"].includes(job.state)) return job;
    await new Promise((r) => setTimeout(r, interval));
  }
}

let toastBox = null;
export function toast(message) {
  if (!toastBox) {
    toastBox = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(toastBox);
  }
  const el = h("p", { class: "toast" }, message);
  toastBox.append(el);
  setTimeout(() => el.remove(), 4000);
}

/** A file name's time stamp, local time: 20261125-103000. */
export function fileStamp(d = new Date()) {
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** Save a Blob (a download read by api.get(..., { accept: "blob" })) as `name`. */
export function saveBlob(blob, name) {
  const href = URL.createObjectURL(blob);
  const a = h("a", { href, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}

/** Paging controls: page size 25/50/100/200 and previous/next over cursors. */
export function pager({ pageSize, sizes = [25, 50, 100, 200], hasPrev, hasNext, onSize, onPrev, onNext }) {
  const select = h("select", { name: "page_size", onchange: (e) => onSize(Number(e.target.value)) },
    sizes.map((s) => h("option", { value: s, selected: s === pageSize }, String(s))));
  return h(
    "nav",
    { class: "pager", "aria-label": t("page.nav") },
    field(t("page.size"), select),
    h("button", { type: "button", class: "secondary", disabled: !hasPrev, onclick: onPrev }, t("page.prev")),
    h("button", { type: "button", class: "secondary", disabled: !hasNext, onclick: onNext }, t("page.next")),
  );
}

export function statusLabel(s) {
  return t(`status.${s}`);
}
export function stageLabel(s) {
  return t(`stage.${s || "none"}`);
}
export function actionLabel(a) {
  return t(`action.${a}`);
}

register({
  en: {
    "status.pending": "Payment pending",
    "status.new": "New",
    "status.processing": "Processing",
    "status.shipped": "Shipped",
    "status.on_hold": "On hold",
    "status.cancelled": "Cancelled",
    "status.closed": "Closed",
    "status.deleted": "Deleted",
    "status.all": "All",
    "stage.none": "Not requested",
    "stage.requested": "Requested",
    "stage.picking": "Picking",
    "stage.picked": "Picked",
    "stage.packed": "Packed",
    "stage.shipped": "Shipped",
    "stage.withdrawn": "Withdrawn",
    "stage.deleted": "Request deleted",
    "action.confirm": "Confirm",
    "action.ship_request": "Send shipping info",
    "action.map_items": "Map items",
    "action.fulfill": "Fulfill",
    "action.change_tracking": "Modify tracking",
    "action.hold": "Put on hold",
    "action.release": "Release hold",
    "action.cancel": "Cancel order",
    "action.close": "Close",
    "action.delete": "Delete",
    "action.refresh": "Refresh from marketplace",
    "action.relink": "Relink",
    "action.restore": "Restore",
    "action.retry_reflect": "Retry the marketplace update",
    "action.edit_recipient": "Change recipient",
    "action.clear_reflect_error": "Clear the reflect error",
  },
  ja: {
    "status.pending": "入金待ち",
    "status.new": "新規受付",
    "status.processing": "処理中",
    "status.shipped": "発送済み",
    "status.on_hold": "保留中",
    "status.cancelled": "キャンセル",
    "status.closed": "完了",
    "status.deleted": "削除済み",
    "status.all": "すべて",
    "stage.none": "未依頼",
    "stage.requested": "出荷依頼済み",
    "stage.picking": "ピッキング中",
    "stage.picked": "ピッキング済み",
    "stage.packed": "梱包済み",
    "stage.shipped": "出荷済み",
    "stage.withdrawn": "出荷取消",
    "stage.deleted": "依頼削除",
    "action.confirm": "受注確認",
    "action.ship_request": "出荷指示",
    "action.map_items": "商品マッピング適用",
    "action.fulfill": "発送済みにする",
    "action.change_tracking": "追跡番号を修正",
    "action.hold": "保留にする",
    "action.release": "保留を解除",
    "action.cancel": "キャンセル",
    "action.close": "完了にする",
    "action.delete": "削除",
    "action.refresh": "モールから再取得",
    "action.relink": "再連携",
    "action.restore": "復元",
    "action.retry_reflect": "モールへの反映を再試行",
    "action.edit_recipient": "お届け先を変更",
    "action.clear_reflect_error": "モール反映エラーを解除",
  },
});

/** A screen's own stylesheet, css/<name>.css, loaded once (the CSP allows only files of this origin). */
export function useStyles(name) {
  const href = `css/${name}.css`;
  if (document.querySelector(`link[href="${href}"]`)) return;
  document.head.append(h("link", { rel: "stylesheet", href }));
}

/**
 * The paging state of one list the API pages with cursors, and its controls: the cursor to ask for
 * now, the answer's next_cursor (`took`), the cursors of the pages before (for Previous), the page
 * size. A cursor is whatever the screen sends back; it is not read here (fulfillment's is one
 * cursor per status). Only one move runs at a time: a second click while onChange's load runs does
 * nothing.
 *
 * - `onChange(move)` ("next", "prev" or "size") runs after each move; the screen fetches
 *   `paging.cursor` there and calls `took(answer.next_cursor)`.
 * - `onSize(n)`, when given, takes a page size change instead (a screen that keeps the size in the
 *   URL hash navigates, which draws it again on the first page); without it `setSize` changes the
 *   size here, goes back to the first page and calls onChange("size").
 */
export function cursorPaging({ pageSize, sizes = [25, 50, 100, 200], onChange, onSize } = {}) {
  const stack = []; // the cursors of the pages before this one
  let cursor = null;
  let next = null;
  let size = pageSize;
  let moving = null;
  function move(change, why) {
    if (moving) return moving;
    change();
    moving = Promise.resolve(onChange ? onChange(why) : undefined).finally(() => {
      moving = null;
    });
    return moving;
  }
  const paging = {
    get cursor() {
      return cursor;
    },
    get pageSize() {
      return size;
    },
    get hasPrev() {
      return stack.length > 0;
    },
    get hasNext() {
      return !!next;
    },
    /** 1 on the first page. */
    get page() {
      return stack.length + 1;
    },
    /** Record the answer's next_cursor (a falsy one: this is the last page). */
    took(nextCursor) {
      next = nextCursor || null;
      return paging;
    },
    next() {
      if (moving || !next) return moving || undefined;
      return move(() => {
        stack.push(cursor);
        cursor = next;
        next = null;
      }, "next");
    },
    prev() {
      if (moving || !stack.length) return moving || undefined;
      return move(() => {
        cursor = stack.pop();
      }, "prev");
    },
    /** Back to the first page (filters changed); fetching is the caller's. */
    reset() {
      stack.length = 0;
      cursor = null;
      next = null;
      return paging;
    },
    setSize(n) {
      if (onSize) return onSize(n);
      return move(() => {
        size = n;
        paging.reset();
      }, "size");
    },
    /** The pager (page size, Previous, Next) as it stands now. */
    controls() {
      return pager({
        pageSize: size,
        sizes,
        hasPrev: paging.hasPrev,
        hasNext: paging.hasNext,
        onSize: (n) => paging.setSize(n),
        onPrev: () => paging.prev(),
        onNext: () => paging.next(),
      });
    },
  };
  return paging;
}

/**
 * A search form of filters kept in the URL: `controls` (field() blocks whose controls are named as
 * the list's query names them), an apply and a reset button. Submitting calls `onApply` with the
 * non-empty values of `names`; reset calls it with {}.
 */
export function filterForm({ label, controls, names, applyLabel, resetLabel, onApply }) {
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": label, novalidate: true },
    controls,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit" }, applyLabel),
      h("button", { type: "button", class: "secondary", onclick: () => onApply({}) }, resetLabel),
    ),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const next = {};
    for (const k of names) {
      const v = form.elements[k].value;
      if (v) next[k] = v;
    }
    onApply(next);
  });
  return form;
}
