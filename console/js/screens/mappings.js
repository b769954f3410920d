// Item mapping (#/mappings): the table that turns a marketplace SKU into the merchant's item code
// (GET /item-mappings, paged; `*` = every marketplace, a marketplace's own mapping wins), added,
// changed and removed through PUT /item-mappings {mappings: [{marketplace, sku, item_code|null}]},
// and applied to orders: to one order (POST /orders/{id}/map-items; found by id or by order
// number) or to every order a filter shows (POST /item-mappings/apply {filter} → a job with a
// progress bar and a result per order). Seed 003 ⑫⑯: the filter-wide apply is the usual one,
// the single order for an order whose mapping failed.
import { api } from "../api.js";
import { formatDate, register, t } from "../i18n.js";
import { busy, clear, confirmDialog, cursorPaging, errorBox, field, formDialog, h, showFieldError, statusLabel, uid, useStyles } from "../ui.js";
import { marketplaces } from "../marketplaces.js";
import { mappingEl, orderNo, runJob, statusPill } from "./orders.js";

const SIZES = [25, 50, 100, 200];
const DEFAULT_SIZE = 50;
const STATUSES = ["pending", "new", "processing", "on_hold"];

register({
  en: {
    "mappings.title": "Item mapping",
    "mappings.intro": "Orders name the marketplace's SKU; the warehouse needs your item code. A mapping for a marketplace wins over one for every marketplace (*).",
    "mappings.add": "Add or change a mapping",
    "mappings.marketplace": "Marketplace",
    "mappings.marketplace.any_or_one": "Marketplace (* = every marketplace)",
    "mappings.any": "Every marketplace (*)",
    "mappings.sku": "Marketplace SKU",
    "mappings.item_code": "Item code",
    "mappings.updated_at": "Updated",
    "mappings.save": "Save mapping",
    "mappings.saved": "Saved: {sku} → {code}.",
    "mappings.removed": "Removed the mapping of {sku}.",
    "mappings.filter": "Show the marketplace",
    "mappings.filter.all": "All",
    "mappings.list": "Mappings",
    "mappings.empty": "No mapping yet.",
    "mappings.actions": "Actions",
    "mappings.edit": "Edit",
    "mappings.edit_of": "Edit the mapping of {sku}",
    "mappings.remove": "Remove",
    "mappings.remove_of": "Remove the mapping of {sku}",
    "mappings.remove.confirm": "Remove the mapping {marketplace} / {sku} → {code}? Orders already mapped keep their item codes.",
    "mappings.apply": "Apply the mapping to orders",
    "mappings.apply.one": "One order",
    "mappings.apply.one.help": "For an order whose mapping failed: apply the table to its items now.",
    "mappings.apply.order": "Order number or order ID",
    "mappings.apply.order_button": "Map items of this order",
    "mappings.apply.not_found": "No order has this number or ID.",
    "mappings.apply.choose": "Several orders have this number: choose one.",
    "mappings.apply.result_ok": "{no}: every item has an item code.",
    "mappings.apply.result_fail": "{no}: still without an item code: {skus}.",
    "mappings.apply.filter": "Every order of a filter",
    "mappings.apply.filter.help": "Applies the table to every order the filter shows (not only one page).",
    "mappings.apply.status": "Status",
    "mappings.apply.any": "Any",
    "mappings.apply.mapping": "Item mapping result",
    "mappings.apply.mapping.fail": "FAIL only",
    "mappings.apply.mapping.ok": "OK only",
    "mappings.apply.filter_button": "Apply to every order of the filter",
    "mappings.apply.job": "Applying the item mapping",
  },
  ja: {
    "mappings.title": "商品マッピング",
    "mappings.intro": "受注にはモールのSKUが記録されています。倉庫への出荷指示にはショップのアイテムコードが必要です。モール別の紐付けは全モール共通(*)の紐付けより優先されます。",
    "mappings.add": "紐付けの追加・変更",
    "mappings.marketplace": "販売モール",
    "mappings.marketplace.any_or_one": "販売モール(* は全モール共通)",
    "mappings.any": "全モール共通(*)",
    "mappings.sku": "モールのSKU",
    "mappings.item_code": "アイテムコード",
    "mappings.updated_at": "更新日時",
    "mappings.save": "紐付けを保存",
    "mappings.saved": "保存しました: {sku} → {code}",
    "mappings.removed": "{sku} の紐付けを削除しました。",
    "mappings.filter": "表示する販売モール",
    "mappings.filter.all": "すべて",
    "mappings.list": "紐付け一覧",
    "mappings.empty": "紐付けはまだありません。",
    "mappings.actions": "操作",
    "mappings.edit": "編集",
    "mappings.edit_of": "{sku} の紐付けを編集",
    "mappings.remove": "削除",
    "mappings.remove_of": "{sku} の紐付けを削除",
    "mappings.remove.confirm": "紐付け {marketplace} / {sku} → {code} を削除しますか? 紐付け済みの受注のアイテムコードはそのまま残ります。",
    "mappings.apply": "受注へのアイテム紐づけ",
    "mappings.apply.one": "受注1件",
    "mappings.apply.one.help": "アイテム紐づけに失敗した受注などに、紐付け表を今すぐ適用します。",
    "mappings.apply.order": "注文番号または受注ID",
    "mappings.apply.order_button": "この受注のアイテム紐づけ",
    "mappings.apply.not_found": "この番号・IDの受注はありません。",
    "mappings.apply.choose": "この番号の受注が複数あります。1件選んでください。",
    "mappings.apply.result_ok": "{no}: すべての商品にアイテムコードがあります。",
    "mappings.apply.result_fail": "{no}: アイテムコードがない商品: {skus}",
    "mappings.apply.filter": "検索条件のすべての受注",
    "mappings.apply.filter.help": "表示中のページだけでなく、検索条件に一致するすべての受注に紐付け表を適用します。",
    "mappings.apply.status": "ステータス",
    "mappings.apply.any": "指定なし",
    "mappings.apply.mapping": "アイテム紐付結果",
    "mappings.apply.mapping.fail": "FAILのみ",
    "mappings.apply.mapping.ok": "OKのみ",
    "mappings.apply.filter_button": "検索条件のすべての受注に適用",
    "mappings.apply.job": "アイテム紐づけを実行中",
  },
});

export async function render(root, params, ctx) {
  const MARKETPLACES = await marketplaces();
  useStyles("orders");
  const marketplace = params.marketplace || "";
  const pageSize = SIZES.includes(Number(params.page_size)) ? Number(params.page_size) : DEFAULT_SIZE;
  const state = { rows: [] };
  const paging = cursorPaging({
    pageSize,
    sizes: SIZES,
    onSize: (n) => ctx.navigate("/mappings", { marketplace: marketplace || undefined, page_size: n === DEFAULT_SIZE ? undefined : n }),
    onChange: () => loadList(),
  });
  const mpList = h("datalist", { id: uid("mp") }, h("option", { value: "*" }), MARKETPLACES.map((m) => h("option", { value: m })));

  // ---- add / change
  const addOut = h("div", { "aria-live": "polite" });
  const addForm = h("form", { class: "filters", novalidate: true, "aria-label": t("mappings.add") });
  const add = {
    marketplace: h("input", { name: "marketplace", value: marketplace && marketplace !== "*" ? marketplace : "*", list: mpList.id, autocomplete: "off", required: true }),
    sku: h("input", { name: "sku", maxlength: 200, autocomplete: "off", required: true }),
    item_code: h("input", { name: "item_code", maxlength: 200, autocomplete: "off", required: true }),
  };
  const saveButton = h("button", { type: "submit" }, t("mappings.save"));
  addForm.append(
    field(t("mappings.marketplace.any_or_one"), add.marketplace),
    field(t("mappings.sku"), add.sku),
    field(t("mappings.item_code"), add.item_code),
    mpList,
    h("div", { class: "field form-submit" }, saveButton),
  );
  addForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const entry = { marketplace: add.marketplace.value.trim() || "*", sku: add.sku.value.trim(), item_code: add.item_code.value.trim() };
    await busy(
      saveButton,
      async () => {
        await api.put("/item-mappings", { mappings: [entry] });
        clear(addOut, h("p", { class: "notice", role: "status" }, t("mappings.saved", { sku: entry.sku, code: entry.item_code })));
        add.sku.value = "";
        add.item_code.value = "";
        add.sku.focus();
        await loadList();
      },
      { out: addOut, form: addForm },
    );
  });

  // ---- the table
  const filterSelect = h(
    "select",
    { name: "marketplace", onchange: (e) => ctx.navigate("/mappings", { marketplace: e.target.value, page_size: pageSize === DEFAULT_SIZE ? undefined : pageSize }) },
    h("option", { value: "" }, t("mappings.filter.all")),
    h("option", { value: "*", selected: marketplace === "*" }, t("mappings.any")),
    MARKETPLACES.map((m) => h("option", { value: m, selected: marketplace === m }, m)),
  );
  const listOut = h("div", { "aria-live": "polite" });
  const tableBox = h("div");
  const pagerBox = h("div");

  async function loadList() {
    let data;
    try {
      data = await api.get("/item-mappings", { marketplace: marketplace || undefined, page_size: pageSize, cursor: paging.cursor || undefined });
    } catch (err) {
      clear(tableBox, errorBox(err));
      clear(pagerBox);
      return;
    }
    state.rows = data.mappings || [];
    paging.took(data.next_cursor);
    drawTable();
    clear(pagerBox, paging.controls());
  }

  async function save(entry, message) {
    await api.put("/item-mappings", { mappings: [entry] });
    clear(listOut, h("p", { class: "notice", role: "status" }, message));
    await loadList();
  }

  function drawTable() {
    if (!state.rows.length) {
      clear(tableBox, h("p", { class: "notice" }, t("mappings.empty")));
      return;
    }
    clear(
      tableBox,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "mappings-table" },
          h(
            "thead",
            {},
            h("tr", {}, ["marketplace", "sku", "item_code", "updated_at", "actions"].map((c) => h("th", { scope: "col" }, t(`mappings.${c}`)))),
          ),
          h(
            "tbody",
            {},
            state.rows.map((m) =>
              h(
                "tr",
                { dataset: { sku: m.sku, marketplace: m.marketplace } },
                h("td", {}, m.marketplace === "*" ? t("mappings.any") : m.marketplace),
                h("td", {}, h("code", {}, m.sku)),
                h("td", {}, "→ ", h("code", {}, m.item_code)),
                h("td", { class: "nowrap" }, formatDate(m.updated_at)),
                h(
                  "td",
                  { class: "nowrap" },
                  h(
                    "button",
                    {
                      type: "button",
                      class: "secondary",
                      "aria-label": t("mappings.edit_of", { sku: m.sku }),
                      onclick: async (e) => {
                        const button = e.currentTarget;
                        await formDialog(
                          t("mappings.edit_of", { sku: m.sku }),
                          (form) =>
                            form.classList.add("orders-dialog") ||
                            form.append(
                              h("p", {}, `${m.marketplace === "*" ? t("mappings.any") : m.marketplace} / ${m.sku}`),
                              field(t("mappings.item_code"), h("input", { name: "item_code", value: m.item_code, maxlength: 200, required: true })),
                            ),
                          async (form) => {
                            const code = form.querySelector('[name="item_code"]').value.trim();
                            await api.put("/item-mappings", { mappings: [{ marketplace: m.marketplace, sku: m.sku, item_code: code }] });
                            return code;
                          },
                        ).then(async (code) => {
                          if (code === undefined) return button.focus();
                          clear(listOut, h("p", { class: "notice", role: "status" }, t("mappings.saved", { sku: m.sku, code })));
                          await loadList();
                        });
                      },
                    },
                    t("mappings.edit"),
                  ),
                  " ",
                  h(
                    "button",
                    {
                      type: "button",
                      class: "danger",
                      "aria-label": t("mappings.remove_of", { sku: m.sku }),
                      onclick: async (e) => {
                        const button = e.currentTarget;
                        const ok = await confirmDialog(
                          t("mappings.remove_of", { sku: m.sku }),
                          t("mappings.remove.confirm", { marketplace: m.marketplace, sku: m.sku, code: m.item_code }),
                          { confirm: t("mappings.remove"), danger: true },
                        );
                        if (!ok) return button.focus();
                        await busy(button, () => save({ marketplace: m.marketplace, sku: m.sku, item_code: null }, t("mappings.removed", { sku: m.sku })), { out: listOut });
                      },
                    },
                    t("mappings.remove"),
                  ),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  // ---- apply to one order
  const oneOut = h("div", { "aria-live": "polite" });
  const oneForm = h("form", { class: "toolbar", novalidate: true, "aria-label": t("mappings.apply.one") });
  const orderInput = h("input", { name: "order_id", autocomplete: "off", required: true });
  const oneButton = h("button", { type: "submit" }, t("mappings.apply.order_button"));
  oneForm.append(field(t("mappings.apply.order"), orderInput), h("div", { class: "field form-submit" }, oneButton));

  async function mapOne(orderId) {
    const o = await api.post(`/orders/${encodeURIComponent(orderId)}/map-items`);
    const skus = (o.items || []).filter((i) => !i.item_code).map((i) => i.sku);
    const no = orderNo(o);
    clear(
      oneOut,
      h(
        "p",
        { class: o.mapping === "ok" ? "notice" : "warning", role: "status" },
        h("a", { href: `#/orders/${encodeURIComponent(o.order_id)}` }, no),
        " ",
        mappingEl(o.mapping),
        " ",
        o.mapping === "ok" ? t("mappings.apply.result_ok", { no }) : t("mappings.apply.result_fail", { no, skus: skus.join(", ") }),
      ),
    );
  }

  oneForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = orderInput.value.trim().replace(/^#/, "");
    await busy(
      oneButton,
      async () => {
        if (/^ord_/.test(text)) return mapOne(text);
        const found = text ? (await api.get("/orders", { q: text, page_size: 25 })).orders || [] : [];
        if (!found.length) {
          showFieldError(oneForm, "order_id", t("mappings.apply.not_found"));
          orderInput.focus();
          return undefined;
        }
        if (found.length === 1) return mapOne(found[0].order_id);
        clear(
          oneOut,
          h("p", { role: "status" }, t("mappings.apply.choose")),
          h(
            "ul",
            { class: "result-list" },
            found.map((o) =>
              h(
                "li",
                {},
                h("button", { type: "button", class: "secondary", onclick: (ev) => busy(ev.currentTarget, () => mapOne(o.order_id), { out: oneOut }) }, `${orderNo(o)} (${o.marketplace})`),
                " ",
                statusPill(o.status),
                " ",
                mappingEl(o.mapping),
              ),
            ),
          ),
        );
        return undefined;
      },
      { out: oneOut, form: oneForm },
    );
  });

  // ---- apply to every order of a filter (a job)
  const jobOut = h("div", { "aria-live": "polite" });
  const jobForm = h("form", { class: "filters", novalidate: true, "aria-label": t("mappings.apply.filter") });
  const jobControls = {
    status: h("select", { name: "status" }, h("option", { value: "" }, t("mappings.apply.any")), STATUSES.map((s) => h("option", { value: s }, statusLabel(s)))),
    marketplace: h("input", { name: "marketplace", list: mpList.id, autocomplete: "off" }),
    mapping: h(
      "select",
      { name: "mapping" },
      h("option", { value: "fail", selected: true }, t("mappings.apply.mapping.fail")),
      h("option", { value: "ok" }, t("mappings.apply.mapping.ok")),
      h("option", { value: "" }, t("mappings.apply.any")),
    ),
  };
  const jobButton = h("button", { type: "submit" }, t("mappings.apply.filter_button"));
  jobForm.append(
    field(t("mappings.apply.status"), jobControls.status),
    field(t("mappings.marketplace"), jobControls.marketplace),
    field(t("mappings.apply.mapping"), jobControls.mapping),
    h("div", { class: "field form-submit" }, jobButton),
  );
  jobForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const filter = {};
    for (const [k, el] of Object.entries(jobControls)) if (el.value.trim()) filter[k] = el.value.trim();
    await busy(jobButton, () => runJob(jobOut, t("mappings.apply.job"), () => api.post("/item-mappings/apply", { filter })).then(() => ctx.refreshBadge()), {
      out: jobOut,
      form: jobForm,
    });
  });

  clear(
    root,
    h("h1", {}, t("mappings.title")),
    h("p", { class: "hint intro" }, t("mappings.intro")),
    h("section", { class: "card", "aria-label": t("mappings.add") }, h("h2", {}, t("mappings.add")), addForm, addOut),
    h(
      "section",
      { class: "card", "aria-label": t("mappings.list") },
      h("h2", {}, t("mappings.list")),
      h("div", { class: "toolbar" }, field(t("mappings.filter"), filterSelect)),
      listOut,
      tableBox,
      pagerBox,
    ),
    h(
      "section",
      { class: "card", "aria-label": t("mappings.apply") },
      h("h2", {}, t("mappings.apply")),
      h("div", { class: "grid2" },
        h("div", {}, h("h3", {}, t("mappings.apply.one")), h("p", { class: "hint" }, t("mappings.apply.one.help")), oneForm, oneOut),
        h("div", {}, h("h3", {}, t("mappings.apply.filter")), h("p", { class: "hint" }, t("mappings.apply.filter.help")), jobForm),
      ),
      jobOut,
    ),
  );
  await loadList();
}
