"""The date rule (kernel/clock.py, docs/orders.md "Dates"): every date a client sends is from
2000-01-01 to before 2100-01-01 (UTC), and a change time no more than a day ahead of its receipt.
One owner, used by the webhook parsers, the merchant API's bodies and its query strings."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from orderhub.kernel import clock
from orderhub.kernel.errors import MalformedPayload, ValidationFailed
from orderhub.marketplaces.generic.webhook import GenericAdapter
from orderhub.marketplaces.shopify.webhook import ShopifyAdapter
from orderhub.orders.list_params import date_bound
from orderhub.orders.queries import parse_list_params, plan
from orderhub.orders.registration import FieldError, order_fields
from tests.support.http import load_event

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    clock.freeze(NOW)
    yield
    clock.freeze(None)


@pytest.mark.parametrize(
    "text",
    [
        "2000-01-01T00:00:00Z",
        "2099-12-31T23:59:59Z",
        "2000-01-01T08:59:59-09:00",
        "2026-11-25T12:00:00+09:00",
    ],
)
def test_dates_inside_the_range_are_taken_as_utc(text):
    assert clock.parse_date(text) == datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00+09:00",  # year 0 in UTC: an OverflowError before the rule
        "9999-12-31T23:30:00-01:00",  # year 10000 in UTC
        "9999-12-31T23:30:00Z",  # exists, but a hold window after it does not
        "1999-12-31T23:59:59Z",
        "2000-01-01T08:59:59+09:00",  # 1999 in UTC
        "2100-01-01T00:00:00Z",
    ],
)
def test_dates_outside_the_range_are_refused_never_overflowing(text):
    with pytest.raises(clock.DateOutOfRange, match="2000-01-01 to before 2100-01-01"):
        clock.parse_date(text)


def test_parse_iso_never_overflows():
    with pytest.raises(ValueError):
        clock.parse_iso("0001-01-01T00:00:00+09:00")


def test_a_change_time_may_be_a_day_ahead_of_its_receipt_and_no_more():
    assert clock.check_date(NOW + timedelta(days=1), received=NOW) == NOW + timedelta(days=1)
    with pytest.raises(clock.DateOutOfRange, match="ahead of its receipt"):
        clock.check_date(NOW + timedelta(days=1, seconds=1), received=NOW)


def test_days_of_a_query_have_the_same_range():
    assert clock.check_day(date(2099, 12, 31)) == date(2099, 12, 31)
    for day in (date(1, 1, 1), date(9999, 12, 31), date(1999, 12, 31), date(2100, 1, 1)):
        with pytest.raises(clock.DateOutOfRange):
            clock.check_day(day)


# ---------------------------------------------------------------- used by each channel
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"placed_at": "9999-12-31T23:30:00Z"}, "order.placed_at"),
        ({"placed_at": "0001-01-01T00:00:00+09:00"}, "order.placed_at"),
        ({"updated_at": "2026-11-26T03:00:01Z"}, "order.updated_at"),  # a day and a second ahead
        ({"cancelled_at": "2099-01-01T00:00:00Z"}, "order.cancelled_at"),
    ],
)
def test_generic_webhook_dates(frozen, overrides, field):
    body = load_event("generic/order_created.json")
    body["order"].update(overrides)
    with pytest.raises(MalformedPayload) as exc:
        GenericAdapter().parse({}, json.dumps(body).encode())
    assert exc.value.field == field, exc.value.message


def test_shopify_webhook_dates(frozen):
    body = load_event("shopify/orders_create.json")
    headers = {"x-shopify-topic": "orders/updated", "x-shopify-webhook-id": "w-1"}
    for name, value in (("updated_at", "0001-01-01T00:00:00+09:00"), ("created_at", "1999-01-01T00:00:00Z")):
        with pytest.raises(MalformedPayload) as exc:
            ShopifyAdapter().parse(headers, json.dumps({**body, name: value}).encode())
        assert exc.value.field == name and exc.value.details["rule"] == "date_range"
    with pytest.raises(MalformedPayload) as exc:
        ShopifyAdapter().parse(headers, json.dumps({**body, "updated_at": "2026-12-01T00:00:00Z"}).encode())
    assert exc.value.field == "updated_at" and "ahead" in exc.value.message


@pytest.mark.parametrize("name", ["placed_at", "payment.paid_at"])
@pytest.mark.parametrize("value", ["9999-12-31T23:30:00Z", "0001-01-01T00:00:00+09:00", "1999-06-01 10:00"])
def test_merchant_registration_dates(name, value):
    data = {
        "marketplace": "badmart",
        "marketplace_order_no": "N-1",
        "placed_at": "2026-11-01T10:00:00+09:00",
        "items": [{"sku": "S", "quantity": 1, "price": "1"}],
        "recipient": {"name": "A", "address1": "1", "city": "C", "postal_code": "1", "country": "JP"},
    }
    if name == "placed_at":
        data["placed_at"] = value
    else:
        data["payment"] = {"method": "bank_transfer", "paid_at": value}
    with pytest.raises(FieldError) as exc:
        order_fields(data, NOW, ZoneInfo("Asia/Tokyo"))
    assert exc.value.field == name


@pytest.mark.parametrize(
    ("qs", "field"),
    [
        ({"to": "9999-12-31"}, "to"),
        ({"from": "0001-01-01"}, "from"),
        ({"from": "0001-01-01T00:00:00+09:00"}, "from"),
        ({"to": "9999-12-31T23:59:59-05:00"}, "to"),
        ({"to": "2100-01-01"}, "to"),
    ],
)
def test_query_string_dates(qs, field):
    with pytest.raises(ValidationFailed) as exc:
        parse_list_params(qs)  # the check a job's filter gets before the job is created
    assert exc.value.field == field and exc.value.details["rule"] == "date_range"
    with pytest.raises(ValidationFailed):
        date_bound(qs[field], field)


def test_the_edges_of_the_range_plan_without_overflowing():
    tz = ZoneInfo("Pacific/Kiritimati")  # +14:00
    assert plan("demo", parse_list_params({"from": "2000-01-01", "to": "2099-12-31"}), tz, NOW)
    assert plan("demo", parse_list_params({"to": "2099-12-31"}), ZoneInfo("Pacific/Pago_Pago"), NOW)
