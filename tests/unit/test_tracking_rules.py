"""Tracking numbers (docs/fulfillment.md): carrier formats and the shared tracking rule, pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orderhub.domain import tracking
from orderhub.domain.tracking import SharedTrackingRefused, Use, check_share, validate, why_not_shared
from orderhub.kernel.errors import ValidationFailed

TOKYO = "Asia/Tokyo"


@pytest.mark.parametrize(
    ("carrier", "number", "expected"),
    [
        ("japan_post", "1234-5678-9012", "123456789012"),
        ("japan_post", "12345678901", "12345678901"),
        ("japan_post", "ej123456789jp", "EJ123456789JP"),
        ("yamato", "4444 5555 6666", "444455556666"),
        ("sagawa", "1234567890", "1234567890"),
        ("ups", "1Z 999 AA1 01 2345 6784", "1Z999AA10123456784"),
        ("fedex", "123456789012", "123456789012"),
        ("fedex", "123456789012345", "123456789012345"),
        ("dhl", "1234567890", "1234567890"),
        ("usps", "9400 1000 0000 0000 0000 00", "9400100000000000000000"),
        ("usps", "EA123456789US", "EA123456789US"),
        ("other", "ab-12345", "AB12345"),
        ("Yamato", "444455556666", "444455556666"),  # codes are case-insensitive
    ],
)
def test_valid_numbers_are_normalized(carrier, number, expected):
    assert validate(carrier, number) == (carrier.lower(), expected)


@pytest.mark.parametrize(
    ("carrier", "number"),
    [
        ("yamato", "12345"),  # too short
        ("yamato", "1234567890123"),  # 13 digits
        ("yamato", "ABCDEFGHIJKL"),
        ("japan_post", "EJ123456789US"),  # an international number of another post
        ("sagawa", "123456789"),
        ("ups", "2Z999AA10123456784"),
        ("fedex", "12345678901"),
        ("dhl", "123456789"),
        ("usps", "8400100000000000000000"),
        ("other", "ab1"),  # too short
        ("other", "ABC!1234"),  # a character no carrier uses
    ],
)
def test_numbers_outside_the_carrier_format_are_refused_naming_the_field(carrier, number):
    with pytest.raises(ValidationFailed) as exc:
        validate(carrier, number)
    body = exc.value.to_body()["error"]
    assert body["field"] == "tracking_number" and body["rule"] == "tracking_format"
    assert tracking.CARRIERS[carrier][0] in body["message"]


@pytest.mark.parametrize("carrier", [None, "", "  ", "pigeon", 7])
def test_carrier_must_be_one_of_the_table(carrier):
    with pytest.raises(ValidationFailed) as exc:
        validate(carrier, "444455556666")
    assert exc.value.field == "carrier"


@pytest.mark.parametrize("number", [None, "", "   ", 123456789012, "9" * 61])
def test_tracking_number_is_required_text(number):
    with pytest.raises(ValidationFailed) as exc:
        validate("yamato", number)
    assert exc.value.field == "tracking_number"


def test_the_carrier_table_lists_the_required_carriers():
    codes = {c["code"] for c in tracking.carriers()}
    assert {"japan_post", "yamato", "sagawa", "ups", "fedex", "dhl", "usps", "other"} <= codes


# ---------------------------------------------------------------- shared tracking rule
ADDRESS = {"address1": "1-2-3 Shibuya", "city": "Shibuya-ku", "region": "Tokyo", "postal_code": "150-0002"}


def order(oid: str, released_at: str, name: str = "Yamada Taro", **address) -> dict:
    return {
        "order_id": oid,
        "released_at": released_at,
        "recipient": {"name": name, **ADDRESS, "country": "JP", **address},
    }


def use(oid: str, day: int, **kw) -> Use:
    # Noon in Tokyo on the given day of November 2026.
    return Use.of(order(oid, f"2026-11-{day:02d}T03:00:00.000Z", **kw), TOKYO)


def test_seed_example_1_released_day_1_and_3_may_share():
    a, b = use("A", 1), use("B", 3)
    check_share(b, [a], "444455556666")  # no refusal


def test_seed_example_2_released_day_1_and_7_may_not_share():
    a, b = use("A", 1), use("B", 7)
    with pytest.raises(SharedTrackingRefused) as exc:
        check_share(b, [a], "444455556666")
    body = exc.value.to_body()["error"]
    assert (
        exc.value.status == 409 and body["field"] == "tracking_number" and body["rule"] == "tracking_shared"
    )
    assert body["conflicts"] == [
        {"order_id": "A", "reason": "released_too_far_apart", "released_on": "2026-11-01"}
    ]


def test_seed_example_3_day_1_4_7_pairs_share_but_not_all_three():
    a, b, c = use("A", 1), use("B", 4), use("C", 7)
    check_share(b, [a], "N")  # {A, B}
    with pytest.raises(SharedTrackingRefused) as exc:
        check_share(c, [a, b], "N")  # C cannot join {A, B}
    assert [x["order_id"] for x in exc.value.details["conflicts"]] == ["A"]
    check_share(c, [b], "N")  # {B, C}
    with pytest.raises(SharedTrackingRefused):
        check_share(a, [b, c], "N")  # A cannot join {B, C}


def test_a_number_used_before_may_be_reused_later_for_an_order_that_qualifies():
    # Seed: A and B qualify, A was marked shipped alone; B may use A's number later.
    check_share(use("B", 5), [use("A", 1)], "N")


def test_five_days_apart_is_the_limit():
    assert why_not_shared(use("A", 1), use("B", 6)) is None
    assert why_not_shared(use("A", 1), use("B", 7)) == "released_too_far_apart"


def test_release_days_are_tokyo_calendar_days_not_hours():
    # 23:59 on 1 Nov in Tokyo and 00:00 on 7 Nov in Tokyo: 5 days and 1 minute apart in hours, but
    # released on calendar days 6 apart.
    late_day_1 = Use.of(order("A", "2026-11-01T14:59:00.000Z"), TOKYO)
    early_day_7 = Use.of(order("B", "2026-11-06T15:00:00.000Z"), TOKYO)
    assert (late_day_1.released_on.day, early_day_7.released_on.day) == (1, 7)
    assert why_not_shared(late_day_1, early_day_7) == "released_too_far_apart"
    # 00:00 on 1 Nov and 23:59 on 6 Nov in Tokyo: almost 6 days in hours, 5 calendar days.
    early_day_1 = Use.of(order("A", "2026-10-31T15:00:00.000Z"), TOKYO)
    late_day_6 = Use.of(order("B", "2026-11-06T14:59:00.000Z"), TOKYO)
    assert why_not_shared(early_day_1, late_day_6) is None


def test_name_and_address_are_compared_case_sensitively():
    assert why_not_shared(use("A", 1), use("B", 2, name="yamada taro")) == "recipient_name_differs"
    assert why_not_shared(use("A", 1), use("B", 2, address1="1-2-3 shibuya")) == "address_differs"
    assert why_not_shared(use("A", 1), use("B", 2, address2="Room 5")) == "address_differs"
    assert why_not_shared(use("A", 1), use("B", 2, phone="000")) is None  # not part of the address


def test_an_order_is_never_in_conflict_with_itself():
    check_share(use("A", 1), [use("A", 1)], "N")


def test_use_round_trips_through_the_index_item():
    u = use("A", 1)
    assert Use.from_item(u.to_item()) == u


def test_released_on_uses_the_merchant_time_zone():
    at = datetime(2026, 11, 1, 15, 30, tzinfo=UTC)  # 00:30 on 2 Nov in Tokyo, 1 Nov in New York
    assert tracking.released_on(at, TOKYO).day == 2
    assert tracking.released_on(at, "America/New_York").day == 1
