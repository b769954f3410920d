"""Bad input (docs/reliability.md): a catalog of malformed webhooks, API bodies, query strings and
CSV uploads. Each answers 4xx with a JSON error naming the field and changes nothing: every item
of the table is the same before and after (a Scan through moto), except what a refusal is
documented to keep: a signed but malformed webhook is quarantined (docs/webhooks.md), and that
one quarantine item is checked explicitly."""

from __future__ import annotations

import base64
import csv
import io
import json
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from scripts.send_webhook import build_request
from tests.support.http import ROOT, request
from tests.support.tables import describe, scan_table, snapshot_diff

pytestmark = [pytest.mark.e2e, pytest.mark.slowest(18)]

CSV_COLUMNS = (
    "marketplace,marketplace_order_no,placed_at,payment_method,paid_at,currency,sku,title,quantity,price,"
    "item_code,recipient_name,address1,address2,city,region,postal_code,country,phone,email"
)


def csv_row(no: str, **cells) -> str:
    values = {
        "marketplace": "badmart",
        "marketplace_order_no": no,
        "placed_at": "2026-01-10T09:30:00+09:00",
        "payment_method": "card",
        "currency": "JPY",
        "sku": "BAD-SKU",
        "title": "item",
        "quantity": "1",
        "price": "100",
        "recipient_name": "Bad Buyer",
        "address1": "1-1",
        "city": "Chiyoda-ku",
        "postal_code": "100-0001",
        "country": "JP",
    } | cells
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([values.get(c, "") for c in CSV_COLUMNS.split(",")])
    return out.getvalue()


def shopify_body(**overrides) -> dict:
    body = json.loads((ROOT / "events/shopify/orders_create.json").read_text())
    body.update(order_number=990001, name="#990001", id=990001)
    body.update(overrides)
    return body


def generic_body(**order_overrides) -> dict:
    body = json.loads((ROOT / "events/generic/order_created.json").read_text())
    body["event_id"] = f"bad-{uuid.uuid4()}"
    body["order"]["order_no"] = "BAD-GEN-1"
    body["order"].update(order_overrides)
    return body


def _item(body: dict, **item) -> dict:
    body["order"]["items"][0].update(item)
    return body


def manual_body(**overrides) -> dict:
    body = {
        "marketplace": "badmart",
        "marketplace_order_no": "BAD-MAN-1",
        "items": [{"sku": "BAD-SKU", "quantity": 1, "price": "100"}],
        "recipient": {
            "name": "Bad Buyer",
            "address1": "1-1",
            "city": "Chiyoda-ku",
            "postal_code": "100-0001",
            "country": "JP",
        },
    }
    body.update(overrides)
    return body


@dataclass
class Case:
    id: str
    status: int
    field: str | None  # the error's field; None: the answer is the authorizer's own (no field)
    send: callable  # (ctx) -> Response
    quarantined: bool = False
    fields: tuple = field(default_factory=tuple)  # other acceptable fields, when the docs allow two


class Ctx:
    def __init__(self, api, cloud, data):
        self.api, self.cloud, self.data = api, cloud, data
        self.secrets = api.merchant["webhook_secrets"]
        self.token = api.merchant["token"]

    def webhook(self, adapter, body, *, topic=None, drop=(), set_headers=None, secret=None, raw=None):
        data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
        headers = build_request(
            adapter,
            data,
            secret or self.secrets[adapter],
            topic or ("orders/create" if adapter == "shopify" else None),
            str(uuid.uuid4()),
            datetime.now(UTC),
        )
        for name in drop:
            headers.pop(name)
        headers.update(set_headers or {})
        return request("POST", f"{self.api.base}/webhooks/{adapter}/demo", data, headers)

    def merchant(self, method, path, body=None, raw=None, content_type="application/json"):
        headers = {"Authorization": f"Bearer {self.token}"}
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            headers["Content-Type"] = content_type
        return request(method, self.api.base + path, data, headers)

    def upload(self, data: bytes, content_type="text/csv"):
        return self.merchant("POST", "/orders/import", raw=data, content_type=content_type)

    def order(self, action, body=None, raw=None):
        return self.merchant("POST", f"/orders/{self.data['order_id']}/{action}", body, raw)


def _signed_generic_raw(ctx, raw: bytes):
    return ctx.webhook("generic", None, raw=raw)


HEADER = CSV_COLUMNS + "\n"
CASES = [
    # ------------------------------------------------------------------ webhooks
    Case(
        "wh-shopify-wrong-signature",
        401,
        "X-Shopify-Hmac-Sha256",
        lambda c: c.webhook("shopify", shopify_body(), secret="not-the-secret"),
    ),
    Case(
        "wh-shopify-no-signature",
        401,
        "X-Shopify-Hmac-Sha256",
        lambda c: c.webhook("shopify", shopify_body(), drop=["X-Shopify-Hmac-Sha256"]),
    ),
    Case(
        "wh-shopify-no-topic",
        400,
        "X-Shopify-Topic",
        lambda c: c.webhook("shopify", shopify_body(), drop=["X-Shopify-Topic"]),
        quarantined=True,
    ),
    Case(
        "wh-shopify-unknown-topic",
        400,
        "X-Shopify-Topic",
        lambda c: c.webhook("shopify", shopify_body(), topic="orders/deleted"),
        quarantined=True,
    ),
    Case(
        "wh-shopify-no-webhook-id",
        400,
        "X-Shopify-Webhook-Id",
        lambda c: c.webhook("shopify", shopify_body(), drop=["X-Shopify-Webhook-Id"]),
        quarantined=True,
    ),
    Case(
        "wh-shopify-bad-json",
        400,
        "body",
        lambda c: c.webhook("shopify", None, raw=b'{"id": 1,'),
        quarantined=True,
    ),
    Case(
        "wh-shopify-quantity-text",
        400,
        "line_items[0].quantity",
        lambda c: c.webhook(
            "shopify", shopify_body(line_items=[dict(shopify_body()["line_items"][0], quantity="two")])
        ),
        quarantined=True,
    ),
    Case(
        "wh-shopify-no-line-items",
        400,
        "line_items",
        lambda c: c.webhook("shopify", shopify_body(line_items=[])),
        quarantined=True,
    ),
    Case(
        "wh-shopify-no-updated-at",
        400,
        "updated_at",
        lambda c: c.webhook("shopify", {k: v for k, v in shopify_body().items() if k != "updated_at"}),
        quarantined=True,
    ),
    Case(
        "wh-generic-no-timestamp",
        401,
        "X-Orderhub-Timestamp",
        lambda c: c.webhook("generic", generic_body(), drop=["X-Orderhub-Timestamp"]),
    ),
    Case(
        "wh-generic-signature-not-sha256",
        401,
        "X-Orderhub-Signature",
        lambda c: c.webhook("generic", generic_body(), set_headers={"X-Orderhub-Signature": "md5=abc"}),
    ),
    Case(
        "wh-generic-timestamp-301s-old",
        401,
        "X-Orderhub-Timestamp",
        lambda c: c.webhook(
            "generic", generic_body(), set_headers={"X-Orderhub-Timestamp": str(int(time.time()) - 301)}
        ),
    ),
    Case("wh-generic-array-body", 400, "body", lambda c: _signed_generic_raw(c, b"[1, 2]"), quarantined=True),
    Case(
        "wh-generic-not-utf8",
        400,
        "body",
        lambda c: _signed_generic_raw(c, b'{"event_id": "\xff\xfe"}'),
        quarantined=True,
    ),
    Case(
        "wh-generic-unknown-field",
        400,
        "order.gift_wrap",
        lambda c: c.webhook("generic", generic_body(gift_wrap=True)),
        quarantined=True,
    ),
    Case(
        "wh-generic-quantity-string",
        400,
        "order.items[0].quantity",
        lambda c: c.webhook("generic", _item(generic_body(), quantity="4")),
        quarantined=True,
    ),
    Case(
        "wh-generic-quantity-zero",
        400,
        "order.items[0].quantity",
        lambda c: c.webhook("generic", _item(generic_body(), quantity=0)),
        quarantined=True,
    ),
    Case(
        "wh-generic-quantity-over-100000",
        400,
        "order.items[0].quantity",
        lambda c: c.webhook("generic", _item(generic_body(), quantity=100001)),
        quarantined=True,
    ),
    Case(
        "wh-generic-price-negative",
        400,
        "order.items[0].price",
        lambda c: c.webhook("generic", _item(generic_body(), price="-1")),
        quarantined=True,
    ),
    Case(
        "wh-generic-unknown-type",
        400,
        "type",
        lambda c: c.webhook("generic", dict(generic_body(), type="order.deleted")),
        quarantined=True,
    ),
    Case(
        "wh-generic-bad-payment-method",
        400,
        "order.payment.method",
        lambda c: c.webhook("generic", generic_body(payment={"method": "bitcoin"})),
        quarantined=True,
    ),
    Case(
        "wh-generic-date-without-offset",
        400,
        "order.placed_at",
        lambda c: c.webhook("generic", generic_body(placed_at="2026-01-08T09:00:00")),
        quarantined=True,
    ),
    Case(
        "wh-generic-country-name",
        400,
        "order.recipient.country",
        lambda c: c.webhook(
            "generic", generic_body(recipient=dict(generic_body()["order"]["recipient"], country="Japan"))
        ),
        quarantined=True,
    ),
    Case(
        "wh-generic-event-id-201-chars",
        400,
        "event_id",
        lambda c: c.webhook("generic", dict(generic_body(), event_id="e" * 201)),
        quarantined=True,
    ),
    Case(
        "wh-generic-marketplace-upper-case",
        400,
        "marketplace",
        lambda c: c.webhook("generic", dict(generic_body(), marketplace="Rakuten")),
        quarantined=True,
    ),
    Case(
        "wh-generic-over-256kb", 413, "body", lambda c: c.webhook("generic", generic_body(note="x" * 262_144))
    ),
    Case(
        "wh-wish-no-event-id",
        400,
        "X-Wish-Event-Id",
        lambda c: c.webhook(
            "wish",
            json.loads((ROOT / "events/wish/order_created.json").read_text()),
            drop=["X-Wish-Event-Id"],
        ),
        quarantined=True,
    ),
    Case(
        "wh-unknown-merchant",  # answered as a wrong signature: merchant ids are not enumerable
        401,
        "X-Orderhub-Timestamp",
        lambda c: request(
            "POST", f"{c.api.base}/webhooks/generic/nobody", b"{}", {"Content-Type": "application/json"}
        ),
    ),
    Case(
        "wh-unknown-marketplace",
        404,
        "marketplace",
        lambda c: request(
            "POST", f"{c.api.base}/webhooks/ebay/demo", b"{}", {"Content-Type": "application/json"}
        ),
    ),
    # ------------------------------------------------------------------ merchant API bodies
    Case(
        "body-hold-unknown-field", 400, "colour", lambda c: c.order("hold", {"reason": "x", "colour": "red"})
    ),
    Case("body-hold-reason-number", 400, "reason", lambda c: c.order("hold", {"reason": 123})),
    Case("body-hold-no-body", 400, "body", lambda c: c.order("hold")),
    Case("body-hold-not-json", 400, "body", lambda c: c.order("hold", raw=b"reason=x")),
    Case("body-hold-json-array", 400, "body", lambda c: c.order("hold", raw=b'["reason"]')),
    Case(
        "body-hold-negative-version",
        400,
        "version",
        lambda c: c.order("hold", {"reason": "x", "version": -1}),
    ),
    Case(
        "body-hold-version-text", 400, "version", lambda c: c.order("hold", {"reason": "x", "version": "0"})
    ),
    Case("body-close-bad-reason", 400, "reason", lambda c: c.order("close", {"reason": "broken"})),
    Case(
        "body-confirm-101-ids",
        400,
        "order_ids",
        lambda c: c.merchant("POST", "/orders/confirm", {"order_ids": [f"ord_{i}" for i in range(101)]}),
    ),
    Case(
        "body-confirm-ids-not-list",
        400,
        "order_ids",
        lambda c: c.merchant("POST", "/orders/confirm", {"order_ids": "ord_1"}),
    ),
    Case(
        "body-confirm-empty-list",
        400,
        "order_ids",
        lambda c: c.merchant("POST", "/orders/confirm", {"order_ids": []}),
    ),
    Case(
        "body-register-quantity-zero",
        400,
        "items[0].quantity",
        lambda c: c.merchant(
            "POST", "/orders", manual_body(items=[{"sku": "S", "quantity": 0, "price": "1"}])
        ),
    ),
    Case(
        "body-register-country-name",
        400,
        "recipient.country",
        lambda c: c.merchant(
            "POST", "/orders", manual_body(recipient=dict(manual_body()["recipient"], country="Japan"))
        ),
    ),
    Case(
        "body-register-bad-payment-method",
        400,
        "payment.method",
        lambda c: c.merchant("POST", "/orders", manual_body(payment={"method": "bitcoin"})),
    ),
    Case(
        "body-register-unknown-nested-field",
        400,
        "recipient.fax",
        lambda c: c.merchant(
            "POST", "/orders", manual_body(recipient=dict(manual_body()["recipient"], fax="03-0000"))
        ),
    ),
    Case(
        "body-register-date-without-offset",
        400,
        "placed_at",
        lambda c: c.merchant("POST", "/orders", manual_body(placed_at="2026-01-08T09:00:00")),
    ),
    Case(
        "body-register-reserved-tag",
        400,
        "tags[0]",
        lambda c: c.merchant("POST", "/orders", manual_body(tags=["mall_reflect_error"])),
    ),
    Case(
        "body-register-order-no-101-chars",
        400,
        "marketplace_order_no",
        lambda c: c.merchant("POST", "/orders", manual_body(marketplace_order_no="N" * 101)),
    ),
    Case(
        "body-register-501-items",
        400,
        "items",
        lambda c: c.merchant(
            "POST",
            "/orders",
            manual_body(items=[{"sku": f"S{i}", "quantity": 1, "price": "1"} for i in range(501)]),
        ),
    ),
    Case(
        "body-mappings-not-a-list",
        400,
        "mappings",
        lambda c: c.merchant("PUT", "/item-mappings", {"mappings": {"sku": "x"}}),
    ),
    Case(
        "body-integration-negative-hold",
        400,
        "hold_minutes",
        lambda c: c.merchant("PUT", "/integrations/shopify", {"hold_minutes": -5}),
    ),
    Case(
        "body-integration-unknown-setting",
        400,
        "teleport",
        lambda c: c.merchant("PUT", "/integrations/shopify", {"teleport": True}),
    ),
    Case(
        "body-integration-ftp-url",
        400,
        "api_base_url",
        lambda c: c.merchant("PUT", "/integrations/shopify", {"api_base_url": "ftp://example.com"}),
    ),
    Case(
        "body-apply-bad-filter",
        400,
        "filter.mapping",
        lambda c: c.merchant("POST", "/item-mappings/apply", {"filter": {"mapping": "maybe"}}),
    ),
    Case(
        "body-refresh-bad-filter",
        400,
        "filter.page_size",
        lambda c: c.merchant("POST", "/orders/refresh", {"filter": {"page_size": "7"}}),
    ),
    # ------------------------------------------------------------------ query strings
    Case("qs-page-size-30", 400, "page_size", lambda c: c.merchant("GET", "/orders?page_size=30")),
    Case("qs-page-size-text", 400, "page_size", lambda c: c.merchant("GET", "/orders?page_size=abc")),
    Case("qs-from-not-a-date", 400, "from", lambda c: c.merchant("GET", "/orders?from=2026-13-45")),
    Case("qs-to-word", 400, "to", lambda c: c.merchant("GET", "/orders?to=yesterday")),
    Case("qs-cursor-garbage", 400, "cursor", lambda c: c.merchant("GET", "/orders?cursor=garbage")),
    Case(
        "qs-cursor-of-another-query",
        400,
        "cursor",
        lambda c: c.merchant("GET", f"/orders?status=new&page_size=25&cursor={c.data['cursor']}"),
    ),
    Case("qs-unknown-preset", 400, "preset", lambda c: c.merchant("GET", "/orders?preset=yesterday")),
    Case("qs-unknown-status", 400, "status", lambda c: c.merchant("GET", "/orders?status=shipping")),
    Case("qs-unknown-parameter", 400, "colour", lambda c: c.merchant("GET", "/orders?colour=red")),
    Case("qs-bad-date-basis", 400, "date_basis", lambda c: c.merchant("GET", "/orders?date_basis=created")),
    Case("qs-bad-mapping", 400, "mapping", lambda c: c.merchant("GET", "/orders?mapping=maybe")),
    Case(
        "qs-cancelled-unknown-reason",
        400,
        "reason",
        lambda c: c.merchant("GET", "/cancelled-orders?reason=lost"),
    ),
    Case(
        "qs-sync-history-unknown-kind",
        400,
        "kind",
        lambda c: c.merchant("GET", "/sync-history?kind=teleport"),
    ),
    Case(
        "qs-quarantine-page-size-3", 400, "page_size", lambda c: c.merchant("GET", "/quarantine?page_size=3")
    ),
    Case("qs-violations-bad-cursor", 400, "cursor", lambda c: c.merchant("GET", "/violations?cursor=x")),
    Case(
        "qs-warehouse-unknown-stage",
        400,
        "stage",
        lambda c: request(
            "GET",
            f"{c.api.base}/warehouse/shipments?stage=flying",
            None,
            {"Authorization": f"Bearer {c.api.config['warehouse_token']}"},
        ),
    ),
    # ------------------------------------------------------------------ CSV import
    Case(
        "csv-neither-utf8-nor-cp932",
        400,
        "file",
        lambda c: c.upload((HEADER + csv_row("BAD-CSV-1")).encode() + b"\x81\x20\n"),
    ),
    Case(
        "csv-utf16",
        400,
        "file",
        lambda c: c.upload((HEADER + csv_row("BAD-CSV-1")).encode("utf-16")),
        fields=("columns",),
    ),
    Case(
        "csv-missing-required-columns",
        400,
        "columns",
        lambda c: c.upload(b"marketplace,marketplace_order_no,sku\nbadmart,BAD-CSV-1,S\n"),
    ),
    Case(
        "csv-unknown-column",
        400,
        "columns",
        lambda c: c.upload((CSV_COLUMNS + ",colour\n" + csv_row("BAD-CSV-1").strip() + ",red\n").encode()),
    ),
    Case(
        "csv-repeated-column",
        400,
        "columns",
        lambda c: c.upload((CSV_COLUMNS + ",sku\n" + csv_row("BAD-CSV-1").strip() + ",S\n").encode()),
    ),
    Case("csv-empty-file", 400, "file", lambda c: c.upload(b"")),
    Case("csv-header-only", 400, "file", lambda c: c.upload(HEADER.encode())),
    Case(
        "csv-10001-rows",
        400,
        "file",
        lambda c: c.upload((HEADER + "".join(csv_row(f"BAD-R-{i}") for i in range(10_001))).encode()),
    ),
    Case(
        "csv-over-5mb",
        413,
        "file",
        lambda c: c.upload(
            (HEADER + "".join(csv_row(f"BAD-B-{i}", title="t" * 900) for i in range(6000))).encode()
        ),
    ),
    Case(
        "csv-unclosed-quote",
        400,
        "row",
        lambda c: c.upload(
            (HEADER + csv_row("BAD-CSV-1") + 'badmart,BAD-CSV-2,,,,,S,"never closed\n').encode()
        ),
        fields=("file", "row 3"),
    ),
    Case(
        "csv-multipart-without-file-part",
        400,
        "file",
        lambda c: c.upload(
            b'--XyZ\r\nContent-Disposition: form-data; name="other"\r\n\r\nhello\r\n--XyZ--\r\n',
            content_type="multipart/form-data; boundary=XyZ",
        ),
    ),
    # ---- outbound URLs (api_base_url)
    Case(
        "url-metadata-ip",
        400,
        "api_base_url",
        lambda c: _put_url(c, "https://169.254.169.254/latest/meta-data/"),
    ),
    Case(
        "url-loopback-port",
        400,
        "api_base_url",
        lambda c: _put_url(c, "https://127.0.0.1:9001/2018-06-01/runtime/invocation/next"),
    ),
    Case("url-private-10", 400, "api_base_url", lambda c: _put_url(c, "https://10.0.0.5/api")),
    Case("url-private-192-168", 400, "api_base_url", lambda c: _put_url(c, "https://192.168.1.10/api")),
    Case("url-ipv6-loopback", 400, "api_base_url", lambda c: _put_url(c, "https://[::1]/api")),
    Case("url-ipv6-link-local", 400, "api_base_url", lambda c: _put_url(c, "https://[fe80::1]/api")),
    Case(
        "url-ipv4-mapped-loopback",
        400,
        "api_base_url",
        lambda c: _put_url(c, "https://[::ffff:127.0.0.1]/api"),
    ),
    Case("url-decimal-ipv4", 400, "api_base_url", lambda c: _put_url(c, "http://2130706433/")),
    Case("url-hex-ipv4", 400, "api_base_url", lambda c: _put_url(c, "https://0x7f.1/")),
    Case("url-http-public-name", 400, "api_base_url", lambda c: _put_url(c, "http://shop.example.com/api")),
    Case("url-double-dot-host", 400, "api_base_url", lambda c: _put_url(c, "https://shop..example.com/")),
    Case("url-full-width-host", 400, "api_base_url", lambda c: _put_url(c, "https://ｓｈｏｐ.example.com/")),
    Case(
        "url-userinfo-to-loopback",
        400,
        "api_base_url",
        lambda c: _put_url(c, "https://example.com@127.0.0.1/"),
    ),
    Case("url-not-a-url", 400, "api_base_url", lambda c: _put_url(c, "not a url")),
    # ---- dates, nesting, cursors (issue 15)
    Case(
        "wh-generic-nested-100kb",
        400,
        "body",
        lambda c: _signed_generic_raw(c, b"[" * 50_000 + b"]" * 50_000),
        quarantined=True,
    ),
    Case(
        "wh-shopify-nested-object",
        400,
        "body",
        lambda c: c.webhook("shopify", None, raw=b'{"id": ' + b'{"a": ' * 40 + b"1" + b"}" * 41),
        quarantined=True,
    ),
    Case(
        "wh-generic-placed-at-year-1-offset",
        400,
        "order.placed_at",
        lambda c: c.webhook("generic", generic_body(placed_at="0001-01-01T00:00:00+09:00")),
        quarantined=True,
    ),
    Case(
        "wh-shopify-updated-at-year-1-offset",
        400,
        "updated_at",
        lambda c: c.webhook("shopify", shopify_body(updated_at="0001-01-01T00:00:00+09:00")),
        quarantined=True,
    ),
    Case(
        "wh-generic-placed-at-9999",
        400,
        "order.placed_at",
        lambda c: c.webhook("generic", generic_body(placed_at="9999-12-31T23:30:00Z")),
        quarantined=True,
    ),
    Case(
        "wh-generic-updated-at-2-days-ahead",
        400,
        "order.updated_at",
        lambda c: c.webhook("generic", generic_body(updated_at=_days_ahead(2))),
        quarantined=True,
    ),
    Case(
        "wh-wish-updated-at-1999",
        400,
        "updated_at",
        lambda c: c.webhook(
            "wish",
            dict(
                json.loads((ROOT / "events/wish/order_created.json").read_text()),
                updated_at="1999-12-31T00:00:00Z",
            ),
        ),
        quarantined=True,
    ),
    Case(
        "wh-generic-shift-jis-160kb",
        400,
        "body",
        lambda c: _signed_generic_raw(
            c, json.dumps(generic_body(note="注文メモ" * 20_000), ensure_ascii=False).encode("cp932")
        ),
        quarantined=True,
    ),
    Case(
        "body-register-placed-at-year-1-offset",
        400,
        "placed_at",
        lambda c: c.merchant("POST", "/orders", manual_body(placed_at="0001-01-01T00:00:00+09:00")),
    ),
    Case(
        "body-register-paid-at-year-1-offset",
        400,
        "payment.paid_at",
        lambda c: c.merchant(
            "POST",
            "/orders",
            manual_body(payment={"method": "bank_transfer", "paid_at": "0001-01-01T00:00:00+09:00"}),
        ),
    ),
    Case("body-hold-nested", 400, "body", lambda c: c.order("hold", raw=b"[" * 20_000 + b"]" * 20_000)),
    Case(
        "body-register-nested-33-levels",
        400,
        "body",
        lambda c: c.merchant("POST", "/orders", raw=b'{"tags": ' + b"[" * 33 + b"]" * 33 + b"}"),
    ),
    Case(
        "body-warehouse-nested",
        400,
        "body",
        lambda c: _warehouse(c, "POST", "/warehouse/shipments/PK-NONE/stage", b"[" * 20_000 + b"]" * 20_000),
    ),
    Case(
        "body-apply-filter-to-9999",
        400,
        "filter.to",
        lambda c: c.merchant("POST", "/item-mappings/apply", {"filter": {"to": "9999-12-31"}}),
    ),
    Case(
        "body-apply-filter-to-word",
        400,
        "filter.to",
        lambda c: c.merchant("POST", "/item-mappings/apply", {"filter": {"to": "yesterday"}}),
    ),
    Case(
        "body-refresh-filter-from-year-1",
        400,
        "filter.from",
        lambda c: c.merchant("POST", "/orders/refresh", {"filter": {"from": "0001-01-01"}}),
    ),
    Case("qs-orders-to-9999", 400, "to", lambda c: c.merchant("GET", "/orders?to=9999-12-31")),
    Case("qs-orders-from-year-1", 400, "from", lambda c: c.merchant("GET", "/orders?from=0001-01-01")),
    Case(
        "qs-orders-from-year-1-offset",
        400,
        "from",
        lambda c: c.merchant("GET", "/orders?from=0001-01-01T00:00:00%2B09:00"),
    ),
    Case("qs-cancelled-to-9999", 400, "to", lambda c: c.merchant("GET", "/cancelled-orders?to=9999-12-31")),
    Case(
        "qs-cancelled-from-year-1",
        400,
        "from",
        lambda c: c.merchant("GET", "/cancelled-orders?from=0001-01-01"),
    ),
    Case(
        "qs-unfulfilled-csv-to-9999",
        400,
        "to",
        lambda c: c.merchant("GET", "/orders/unfulfilled.csv?to=9999-12-31"),
    ),
    Case(
        "qs-unfulfilled-csv-from-year-1",
        400,
        "from",
        lambda c: c.merchant("GET", "/orders/unfulfilled.csv?from=0001-01-01"),
    ),
    Case(
        "qs-sync-history-from-year-1-offset",
        400,
        "from",
        lambda c: c.merchant("GET", "/sync-history?from=0001-01-01T00:00:00%2B09:00"),
    ),
    Case(
        "qs-sync-history-to-9999-offset",
        400,
        "to",
        lambda c: c.merchant("GET", "/sync-history?to=9999-12-31T23:59:59-05:00"),
    ),
    Case("qs-job-cursor-superscript", 400, "cursor", lambda c: _job_page(c, "²")),
    Case("qs-job-cursor-row-number", 400, "cursor", lambda c: _job_page(c, "2")),
    Case(
        "qs-cursor-incomplete-key",
        400,
        "cursor",
        lambda c: c.merchant("GET", f"/orders?cursor={_forged({'pk': 'demo'})}"),
    ),
    Case(
        "qs-cursor-tampered",
        400,
        "cursor",
        lambda c: c.merchant("GET", f"/orders?page_size=25&cursor={_tampered(c)}"),
    ),
]


def _put_url(ctx, url: str):
    """PUT one api_base_url (the outbound URL cases of CASES; docs/sync-flows.md "Outbound URLs")."""
    return ctx.merchant("PUT", "/integrations/shopify", {"api_base_url": url})


# ---- helpers of the dates, nesting and cursors cases (issue 15)
def _days_ahead(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _warehouse(ctx, method: str, path: str, raw: bytes):
    headers = {
        "Authorization": f"Bearer {ctx.api.config['warehouse_token']}",
        "Content-Type": "application/json",
    }
    return request(method, ctx.api.base + path, raw, headers)


def _job_page(ctx, cursor: str):
    return ctx.merchant("GET", f"/jobs/{ctx.data['job_id']}?cursor={urllib.parse.quote(cursor, safe='%')}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _forged(key: dict) -> str:
    """A well-formed cursor of GET /orders (no filters) as anyone can compute it: its fingerprint
    is an unkeyed hash of the merchant and the filters."""
    from orderhub.orders.list_params import parse
    from orderhub.store.paging import fingerprint

    raw = json.dumps({"k": key, "f": fingerprint("demo", parse({}).basis())}, separators=(",", ":"))
    return _b64(raw.encode())


def _tampered(ctx) -> str:
    """The real next-page cursor with its order ids changed (the rest kept as it was): GET /orders'
    cursor holds a position per shard of the list (docs/orders.md "Paging")."""
    body, dot, tag = ctx.data["cursor"].partition(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))

    def changed(position):
        return (
            {k: v.replace("ord_", "ord_0") for k, v in position.items()}
            if isinstance(position, dict)
            else position
        )

    shards = data["k"]["shards"]
    assert any(isinstance(p, dict) for p in shards), shards
    data["k"] = {"shards": [changed(p) for p in shards]}
    return _b64(json.dumps(data, separators=(",", ":")).encode()) + dot + tag


@pytest.fixture(scope="module")
def ctx(api, cloud):
    """demo with one order to address and more than one page of orders (for a real cursor)."""
    orders = []
    for i in range(26):
        resp = api.call("POST", "/orders", manual_body(marketplace_order_no=f"BAD-PAGE-{i}"))
        assert resp.status == 201, resp
        orders.append(resp.json)
    first = api.get("/orders?page_size=25")
    assert first.json["next_cursor"]
    job = api.call("POST", "/item-mappings/apply", {"filter": {"q": "BAD-NO-SUCH-ORDER"}})  # a job to page
    assert job.status == 202, job
    cloud.drain(timeout=10)
    data = {
        "order_id": orders[0]["order_id"],
        "cursor": first.json["next_cursor"],
        "job_id": job.json["job_id"],
    }
    return Ctx(api, cloud, data)


def test_the_catalog_is_big_enough():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_naming_the_field_and_changes_nothing(ctx, cloud, case):
    before = scan_table(cloud)
    resp = case.send(ctx)
    assert resp.status == case.status, resp
    assert resp.json is not None and "error" in resp.json, resp
    error = resp.json["error"]
    assert error.get("field") in (case.field, *case.fields), error
    assert error.get("message"), error
    if case.id.startswith("wh-"):  # only a webhook could have queued something
        cloud.drain(timeout=10)
    after = scan_table(cloud)
    diff = snapshot_diff(before, after)
    if case.quarantined:
        qid = error.get("quarantine_id")
        assert qid, error
        assert diff["removed"] == diff["changed"] == [], describe(diff, after, before)
        [(pk, sk)] = diff["added"]
        assert pk == "M#demo#QUARANTINE" and sk.endswith(qid), (pk, sk)
        assert after[(pk, sk)]["reason"]["M"]["field"]["S"] == error["field"]
    else:
        assert diff == {"added": [], "removed": [], "changed": []}, describe(diff, after, before)


# ---------------------------------------------------------------------- CSV cells (row results)
def _job(ctx, data: bytes) -> dict:
    resp = ctx.upload(data)
    assert resp.status == 202, resp
    ctx.cloud.drain(timeout=30)
    job = ctx.api.get(f"/jobs/{resp.json['job_id']}").json
    assert job["state"] == "done", job
    return job


def test_a_huge_cell_fails_its_row_naming_the_column_and_registers_nothing(ctx, cloud):
    """docs/registration.md: a cell over 1,000 characters fails its row (naming the column); the
    upload itself is accepted (202), so the only new items are the job's own."""
    before = scan_table(cloud)
    job = _job(ctx, (HEADER + csv_row("BAD-HUGE-1", title="x" * 100_000)).encode())
    [row] = job["results"]
    assert (row["row"], row["ok"], row["error"]["field"]) == (2, False, "title"), row
    assert ctx.api.get("/orders?q=BAD-HUGE-1&include_deleted=true").json["orders"] == []
    diff = snapshot_diff(before, scan_table(cloud))
    assert diff["removed"] == diff["changed"] == []
    assert {pk for pk, _ in diff["added"]} == {f"M#demo#JOB#{job['job_id']}", "M#demo#JOBS#import_csv"}, diff[
        "added"
    ]


def test_formula_cells_are_text_and_the_export_neutralizes_them(ctx, cloud):
    """Formula injection. docs/registration.md reads every cell as text and says nothing about
    formulas, so an "=cmd" cell is registered as the text it is (never evaluated, never refused);
    a formula where a number is due fails the row naming the column; and the CSV download
    (GET /orders/unfulfilled.csv) writes such a cell with a leading apostrophe, so a spreadsheet
    shows it instead of running it (layers/shared/orderhub/fulfillment_csv.py)."""
    formula = "=cmd|' /C calc'!A0"
    job = _job(
        ctx,
        (
            HEADER
            + csv_row("BAD-FORMULA-1", title=formula, recipient_name="@SUM(1+1)")
            + csv_row("BAD-FORMULA-2", quantity="=1+1")
            + csv_row("BAD-FORMULA-3", price="=100")
        ).encode(),
    )
    by_no = {r["marketplace_order_no"]: r for r in job["results"]}
    assert by_no["BAD-FORMULA-1"]["ok"] is True, by_no
    assert by_no["BAD-FORMULA-2"]["error"]["field"] == "quantity"
    assert by_no["BAD-FORMULA-3"]["error"]["field"] == "price"
    order = ctx.api.get(f"/orders/{by_no['BAD-FORMULA-1']['order_id']}").json
    assert order["items"][0]["title"] == formula and order["recipient"]["name"] == "@SUM(1+1)"
    export = ctx.api.get("/orders/unfulfilled.csv?q=BAD-FORMULA-1")
    assert export.status == 200, export
    rows = list(csv.DictReader(io.StringIO(export.raw.decode("utf-8-sig"))))
    [row] = [r for r in rows if r["marketplace_order_no"] == "BAD-FORMULA-1"]
    assert row["recipient_name"] == "'@SUM(1+1)"
    assert not any(v.startswith(("=", "+", "@")) for r in rows for v in r.values() if v), rows


def test_a_signed_csv_price_fails_its_row(ctx):
    # docs/registration.md: digits with an optional decimal point; "+100" is also a formula start.
    job = _job(ctx, (HEADER + csv_row("BAD-SIGNED-PRICE-1", price="+100")).encode())
    [row] = job["results"]
    assert row["ok"] is False and row["error"]["field"] == "price", row
