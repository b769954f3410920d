"""Generic orderhub format: signature window, JSON schema, normalization, field errors."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from orderhub.kernel.errors import MalformedPayload, SignatureInvalid
from orderhub.marketplaces.generic.webhook import EVENT_TYPES, GenericAdapter

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events" / "generic"
SCHEMA = json.loads((ROOT / "docs" / "schemas" / "generic-webhook.schema.json").read_text(encoding="utf-8"))
SAMPLES = sorted(EVENTS.glob("*.json"))
SECRET = "whsec_generic_test"
TS = 1767834000  # 2026-01-08T01:00:00Z
NOW = datetime.fromtimestamp(TS, UTC)
adapter = GenericAdapter()
validator = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)


def sample(name: str = "order_created.json") -> dict:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def signed(body: bytes, ts: int = TS, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {"x-orderhub-timestamp": str(ts), "x-orderhub-signature": f"sha256={digest}"}


def encode(event: dict) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode()


def field_of(event: dict | bytes) -> str | None:
    body = event if isinstance(event, bytes) else encode(event)
    with pytest.raises(MalformedPayload) as exc:
        adapter.parse({}, body)
    return exc.value.field


# --- verify -------------------------------------------------------------------------------


def test_valid_signature_passes():
    body = (EVENTS / "order_created.json").read_bytes()
    adapter.verify(signed(body), body, SECRET, NOW)


def test_upper_case_header_names_and_hex_pass():
    body = b'{"a": 1}'
    h = signed(body)
    adapter.verify(
        {
            "X-Orderhub-Timestamp": h["x-orderhub-timestamp"],
            "X-Orderhub-Signature": h["x-orderhub-signature"].upper().replace("SHA256=", "sha256="),
        },
        body,
        SECRET,
        NOW,
    )


def test_one_byte_change_fails():
    body = (EVENTS / "order_created.json").read_bytes()
    h = signed(body)
    tampered = body.replace(b'"quantity": 4', b'"quantity": 5')
    assert tampered != body
    with pytest.raises(SignatureInvalid):
        adapter.verify(h, tampered, SECRET, NOW)


def test_wrong_secret_fails():
    body = b"{}"
    with pytest.raises(SignatureInvalid):
        adapter.verify(signed(body, secret="not-the-secret"), body, SECRET, NOW)


def test_signature_over_another_timestamp_fails():
    body = b"{}"
    h = signed(body)
    h["x-orderhub-timestamp"] = str(TS + 1)
    with pytest.raises(SignatureInvalid):
        adapter.verify(h, body, SECRET, NOW)


@pytest.mark.parametrize("missing", ["x-orderhub-timestamp", "x-orderhub-signature"])
def test_missing_header_fails(missing):
    body = b"{}"
    h = signed(body)
    del h[missing]
    with pytest.raises(SignatureInvalid) as exc:
        adapter.verify(h, body, SECRET, NOW)
    assert exc.value.status == 401


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [
        ("1767834000.5", None),
        ("-1767834000", None),
        ("2026-01-08T01:00:00Z", None),
        (None, "deadbeef"),
        (None, "sha1=" + "0" * 40),
        (None, "sha256=" + "g" * 64),
        (None, "sha256=" + "0" * 63),
    ],
)
def test_malformed_headers_fail(timestamp, signature):
    body = b"{}"
    h = signed(body)
    if timestamp is not None:
        h["x-orderhub-timestamp"] = timestamp
    if signature is not None:
        h["x-orderhub-signature"] = signature
    with pytest.raises(SignatureInvalid):
        adapter.verify(h, body, SECRET, NOW)


@pytest.mark.parametrize("offset", [-300, -299, 0, 299, 300])
def test_timestamp_inside_the_window_passes(offset):
    body = b"{}"
    adapter.verify(signed(body, ts=TS + offset), body, SECRET, NOW)


@pytest.mark.parametrize("offset", [-301, 301, -86400])
def test_timestamp_outside_the_window_fails(offset):
    # -301: sent 301 s ago (replay); +301: 301 s in the future.
    body = b"{}"
    with pytest.raises(SignatureInvalid) as exc:
        adapter.verify(signed(body, ts=TS + offset), body, SECRET, NOW)
    assert exc.value.field == "X-Orderhub-Timestamp"


def test_window_uses_the_given_now_not_the_wall_clock():
    body = b"{}"
    later = NOW + timedelta(seconds=299)
    adapter.verify(signed(body), body, SECRET, later)
    with pytest.raises(SignatureInvalid):
        adapter.verify(signed(body), body, SECRET, later + timedelta(seconds=2))


def test_empty_secret_never_verifies():
    body = b"{}"
    with pytest.raises(SignatureInvalid):
        adapter.verify(signed(body, secret=""), body, "", NOW)


# --- schema and samples -------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(SCHEMA["properties"]["type"]["enum"]) == set(EVENT_TYPES)


def test_the_samples_cover_the_topics_orderhub_acts_on():
    assert [p.name for p in SAMPLES] == [
        "order_cancelled.json",
        "order_claim_closed.json",
        "order_claim_opened.json",
        "order_created.json",
        "order_paid.json",
        "order_tracking_cancelled.json",
        "order_updated.json",
    ]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_validates_against_the_schema_and_the_adapter_accepts_it(path):
    event = json.loads(path.read_text(encoding="utf-8"))
    validator.validate(event)
    delivery_id, change = adapter.parse({}, path.read_bytes())
    assert delivery_id == event["event_id"]
    assert change.marketplace == "rakuten"
    assert change.marketplace_order_no == "381234-20260108-0012345678"
    assert change.topic == event["type"].removeprefix("order.")
    assert change.recipient.country == "JP"
    assert change.payment.method == "konbini"


def test_samples_tell_one_story_with_increasing_updated_at():
    order = [
        "order_created.json",
        "order_paid.json",
        "order_updated.json",
        "order_claim_opened.json",
        "order_claim_closed.json",
        "order_cancelled.json",
    ]
    changes = [adapter.parse({}, (EVENTS / n).read_bytes())[1] for n in order]
    assert [c.topic for c in changes] == [
        "created",
        "paid",
        "updated",
        "claim_opened",
        "claim_closed",
        "cancelled",
    ]
    times = [c.marketplace_updated_at for c in changes]
    assert times == sorted(times) and len(set(times)) == 6


def test_claims_normalize_and_the_type_implies_or_must_agree_with_the_state():
    _, opened = adapter.parse({}, (EVENTS / "order_claim_opened.json").read_bytes())
    assert (opened.claim.state, opened.claim.kind) == ("open", "cancel") and opened.claim.reason
    _, closed = adapter.parse({}, (EVENTS / "order_claim_closed.json").read_bytes())
    assert closed.claim.state == "closed"
    bare = sample("order_claim_opened.json")
    del bare["order"]["claim"]
    assert adapter.parse({}, encode(bare))[1].claim.model_dump() == {
        "state": "open",
        "kind": "other",
        "reason": "",
    }
    assert adapter.parse({}, encode(sample()))[1].claim is None  # no claim field: the body shows none
    disagreeing = sample("order_claim_closed.json")
    disagreeing["order"]["claim"]["state"] = "open"
    assert field_of(disagreeing) == "order.claim.state"


def test_created_sample_normalizes():
    _, change = adapter.parse({}, (EVENTS / "order_created.json").read_bytes())
    assert change.placed_at == datetime(2026, 1, 8, 0, 0, tzinfo=UTC)
    assert change.payment.paid_at is None
    assert change.payment.gateway == "seven_eleven"
    assert change.currency == "JPY"
    assert change.total == Decimal("7680")
    assert [(i.sku, i.quantity, i.price) for i in change.items] == [
        ("TEA-GREEN-100", 4, Decimal("1200")),
        ("CUP-ARITA-01", 1, Decimal("2080")),
    ]
    assert change.recipient.name == "高橋 美咲"
    assert change.recipient.postal_code == "460-0008"
    assert change.cancelled_at is None


def test_paid_and_cancelled_samples():
    _, paid = adapter.parse({}, (EVENTS / "order_paid.json").read_bytes())
    assert paid.payment.paid_at == datetime(2026, 1, 8, 10, 44, 12, tzinfo=UTC)
    _, cancelled = adapter.parse({}, (EVENTS / "order_cancelled.json").read_bytes())
    assert cancelled.cancelled_at == datetime(2026, 1, 9, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(("event_type", "topic"), sorted(EVENT_TYPES.items()))
def test_every_event_type_maps_to_its_topic(event_type, topic):
    event = sample()
    event["type"] = event_type
    assert adapter.parse({}, encode(event))[1].topic == topic


def test_paid_event_without_paid_at_defaults_to_occurred_at():
    event = sample()
    event["type"] = "order.paid"
    assert adapter.parse({}, encode(event))[1].payment.paid_at == datetime(2026, 1, 8, 0, 0, 5, tzinfo=UTC)


def test_cancelled_event_without_cancelled_at_defaults_to_occurred_at():
    event = sample()
    event["type"] = "order.cancelled"
    assert adapter.parse({}, encode(event))[1].cancelled_at == datetime(2026, 1, 8, 0, 0, 5, tzinfo=UTC)


def test_money_as_json_numbers_is_read_exactly():
    event = sample()
    event["order"]["total"] = 19.8
    event["order"]["items"][0]["price"] = 0.1
    change = adapter.parse({}, encode(event))[1]
    assert change.total == Decimal("19.8")
    assert change.items[0].price == Decimal("0.1")
    validator.validate(event)


def test_optional_fields_may_be_omitted_or_null():
    event = sample()
    order = event["order"]
    order["payment"] = {"method": "card", "paid_at": None}
    order["cancelled_at"] = None
    for k in ("address2", "region", "phone", "email"):
        del order["recipient"][k]
    del order["items"][0]["title"]
    validator.validate(event)
    change = adapter.parse({}, encode(event))[1]
    assert change.payment.method == "card"
    assert change.recipient.address2 == ""
    assert change.items[0].title == ""


# --- malformed ----------------------------------------------------------------------------


def _drop(event: dict, dotted: str) -> dict:
    parts = dotted.split(".")
    target = event
    for p in parts[:-1]:
        target = target[int(p)] if isinstance(target, list) else target[p]
    del target[parts[-1]]
    return event


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: _drop(e, "order.updated_at"), "order.updated_at"),
        (lambda e: _drop(e, "order.placed_at"), "order.placed_at"),
        (lambda e: _drop(e, "event_id"), "event_id"),
        (lambda e: _drop(e, "occurred_at"), "occurred_at"),
        (lambda e: _drop(e, "order.items"), "order.items"),
        (lambda e: _drop(e, "order.recipient.country"), "order.recipient.country"),
        (lambda e: _drop(e, "order.payment.method"), "order.payment.method"),
        (lambda e: e.update(type="order.deleted"), "type"),
        (lambda e: e.update(type="created"), "type"),
        (lambda e: e.update(marketplace="Rakuten"), "marketplace"),
        (lambda e: e.update(marketplace=""), "marketplace"),
        (lambda e: e.update(event_id=""), "event_id"),
        (lambda e: e.update(event_id=123), "event_id"),
        (lambda e: e.update(extra="x"), "extra"),
        (lambda e: e["order"].update(updated_at="2026-01-08T09:00:00"), "order.updated_at"),
        (lambda e: e["order"].update(updated_at="2026-01-08"), "order.updated_at"),
        (lambda e: e["order"].update(updated_at="2026-02-30T09:00:00+09:00"), "order.updated_at"),
        (lambda e: e["order"].update(updated_at=1767830400), "order.updated_at"),
        (lambda e: e["order"].update(items=[]), "order.items"),
        (lambda e: e["order"].update(currency="jpy"), "order.currency"),
        (lambda e: e["order"].update(total="-1"), "order.total"),
        (lambda e: e["order"].update(total="1,980"), "order.total"),
        (lambda e: e["order"].update(order_no=""), "order.order_no"),
        (lambda e: e["order"].update(shipping="800"), "order.shipping"),
        (lambda e: e["order"]["items"][0].update(quantity=0), "order.items[0].quantity"),
        (lambda e: e["order"]["items"][1].update(quantity="1"), "order.items[1].quantity"),
        (lambda e: e["order"]["items"][0].update(quantity=1.5), "order.items[0].quantity"),
        (lambda e: e["order"]["items"][0].update(price="-5"), "order.items[0].price"),
        (lambda e: e["order"]["items"][0].update(sku=""), "order.items[0].sku"),
        (lambda e: e["order"]["recipient"].update(country="jp"), "order.recipient.country"),
        (lambda e: e["order"]["recipient"].update(country="JPN"), "order.recipient.country"),
        (lambda e: e["order"]["recipient"].update(postcode="460-0008"), "order.recipient.postcode"),
        (lambda e: e["order"]["payment"].update(method="paypal"), "order.payment.method"),
        (lambda e: e["order"]["payment"].update(paid_at="today"), "order.payment.paid_at"),
        (lambda e: e["order"].update(claim={"state": "pending"}), "order.claim.state"),
        (lambda e: e["order"].update(claim={"kind": "return"}), "order.claim.state"),
        (lambda e: e["order"].update(claim={"state": "open", "kind": "refund"}), "order.claim.kind"),
    ],
)
def test_malformed_event_names_the_field_and_the_schema_agrees(mutate, field):
    event = copy.deepcopy(sample())
    mutate(event)
    assert field_of(event) == field
    assert not validator.is_valid(json.loads(encode(event)))


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'"order"', b"\xff"])
def test_bad_json_names_body(body):
    assert field_of(body) == "body"


def test_malformed_payload_is_a_400():
    event = sample()
    event["order"]["items"][0]["quantity"] = 0
    with pytest.raises(MalformedPayload) as exc:
        adapter.parse({}, encode(event))
    assert exc.value.status == 400
    assert exc.value.to_body()["error"]["field"] == "order.items[0].quantity"
