"""Fulfillment on moto (docs/fulfillment.md): fulfill one / many, change tracking, the shared
tracking rule against the tracking index (and its race), warehouse shipping, re-release by
webhook, reflect to the fake marketplace, SKU flags of refunded orders, the CSV download and the
CSV fulfillment job."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from localcloud.fake_marketplace import FakeMarketplace
from orderhub.domain.actions import RuleRefused
from orderhub.domain.models import Envelope
from orderhub.domain.tracking import SharedTrackingRefused
from orderhub.fulfillment import csvfile, shipping
from orderhub.fulfillment.warehouse import report_stage
from orderhub.jobs import runner
from orderhub.kernel import clock
from orderhub.kernel.errors import Unprocessable, ValidationFailed
from orderhub.marketplaces import client as mc
from orderhub.merchants import profiles
from orderhub.orders import queries
from orderhub.schedules import sweeps
from orderhub.store import db
from orderhub.webhooks import ingest
from tests.support.factories import change
from tests.support.moto_env import SECRETS
from tests.support.outbound import allowing

pytestmark = pytest.mark.slowest(21)

N = "444455556666"  # a Yamato number


def day(d: int, hour_jst: int = 12) -> datetime:
    """A time on day `d` of November 2026 in Tokyo."""
    return datetime(2026, 11, d, hour_jst, tzinfo=UTC) - timedelta(hours=9)


@pytest.fixture(autouse=True)
def unfreeze():
    yield
    clock.freeze(None)


def released(order_no: str, on: datetime, name: str = "山田 太郎", sku: str = "SKU-1", **kw) -> dict:
    """An order released (status new) at `on` through the webhook and the hold sweep."""
    clock.freeze(on - timedelta(hours=2))
    ch = change(order_no, placed_at=on - timedelta(hours=2), name=name, sku=sku, **kw)
    env = Envelope(
        merchant_id="demo", adapter="shopify", delivery_id=f"d-{order_no}", received_at=on, change=ch
    )
    assert ingest.process(env.model_dump_json()) == "applied"
    clock.freeze(on)
    sweeps.hold_sweep(on)
    [o] = queries.list_orders("demo", {"q": order_no})["orders"]
    assert o["status"] == "new"
    return o


def current(o: dict) -> dict:
    return db.get_order("demo", o["order_id"])


def history_actions(o: dict) -> list[str]:
    return [h["action"] for h in queries.get_order_with_history("demo", o["order_id"])["history"]]


def test_fulfill_ships_the_order_and_records_the_tracking_use(app_env):
    a = released("F1", day(1))
    clock.freeze(day(2))
    new = shipping.fulfill("demo", a["order_id"], {"carrier": "yamato", "tracking_number": "4444-5555-6666"})
    assert new["status"] == "shipped" and new["tracking"]["tracking_number"] == N
    assert "fulfilled" in history_actions(a)
    assert queries.counts("demo")["shipped"] == 1 and queries.counts("demo")["new"] == 0
    assert shipping.tracking_users("demo", "4444 5555 6666")["orders"] == [
        {
            "order_id": a["order_id"],
            "name": "山田 太郎",
            "address": list(shipping.tracking.Use.of(new, "Asia/Tokyo").address),
            "released_on": "2026-11-01",
        }
    ]
    # Shipped: no longer in the deadline check's queue.
    assert [i["order_id"] for i in sweeps.due_items("DEADLINE", day(30))] == []


def test_seed_example_3_on_the_tracking_index(app_env):
    a, b, c = released("S1", day(1)), released("S4", day(4)), released("S7", day(7))
    clock.freeze(day(8))
    body = {"carrier": "yamato", "tracking_number": N}
    shipping.fulfill("demo", a["order_id"], body)
    shipping.fulfill("demo", b["order_id"], body)  # {A, B}: 3 days apart
    before = current(c)
    with pytest.raises(SharedTrackingRefused) as exc:
        shipping.fulfill("demo", c["order_id"], body)  # C cannot join {A, B}: 6 days from A
    assert exc.value.details["conflicts"] == [
        {"order_id": a["order_id"], "reason": "released_too_far_apart", "released_on": "2026-11-01"}
    ]
    assert current(c) == before  # refused: nothing changed
    users = [u["order_id"] for u in shipping.tracking_users("demo", N)["orders"]]
    assert users == [a["order_id"], b["order_id"]]


def test_a_different_recipient_cannot_share_and_a_fresh_number_works(app_env):
    a, b = released("R1", day(1)), released("R2", day(2), name="Yamada Taro")
    clock.freeze(day(3))
    shipping.fulfill("demo", a["order_id"], {"carrier": "yamato", "tracking_number": N})
    with pytest.raises(SharedTrackingRefused) as exc:
        shipping.fulfill("demo", b["order_id"], {"carrier": "yamato", "tracking_number": N})
    assert exc.value.details["conflicts"][0]["reason"] == "recipient_name_differs"
    new = shipping.fulfill("demo", b["order_id"], {"carrier": "yamato", "tracking_number": "444455556667"})
    assert new["status"] == "shipped"


def test_two_orders_claiming_one_number_at_once_cannot_both_pass(app_env, monkeypatch):
    """C reads the index (empty for it), then A commits the number, then C writes: C's write fails
    its condition on the index head, C re-reads, sees A and is refused."""
    a, c = released("X1", day(1)), released("X7", day(7))
    clock.freeze(day(8))
    real_users = shipping.users
    calls = []

    def users_then_a_commits(merchant_id, number):
        result = real_users(merchant_id, number)
        calls.append(result)
        if len(calls) == 1:  # C has read; A slips in before C writes
            shipping.fulfill("demo", a["order_id"], {"carrier": "yamato", "tracking_number": N})
        return result

    monkeypatch.setattr(shipping, "users", users_then_a_commits)
    with pytest.raises(SharedTrackingRefused):
        shipping.fulfill("demo", c["order_id"], {"carrier": "yamato", "tracking_number": N})
    assert current(a)["status"] == "shipped" and current(c)["status"] == "new"
    monkeypatch.setattr(shipping, "users", real_users)
    assert [u["order_id"] for u in shipping.tracking_users("demo", N)["orders"]] == [a["order_id"]]


def test_concurrent_fulfills_of_incompatible_orders_one_wins(app_env):
    orders_ = [released(f"T{d}", day(d)) for d in (1, 7)]
    clock.freeze(day(8))
    results: list[str] = []
    barrier = threading.Barrier(2)

    def go(o):
        barrier.wait()
        try:
            shipping.fulfill("demo", o["order_id"], {"carrier": "yamato", "tracking_number": N})
            results.append("ok")
        except SharedTrackingRefused:
            results.append("refused")

    threads = [threading.Thread(target=go, args=(o,)) for o in orders_]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok", "refused"]
    assert sorted(current(o)["status"] for o in orders_) == ["new", "shipped"]


def test_change_tracking_moves_the_index_and_keeps_the_old_tracking(app_env):
    a = released("C1", day(1))
    clock.freeze(day(2))
    shipping.fulfill("demo", a["order_id"], {"carrier": "yamato", "tracking_number": N})
    new = shipping.change_tracking(
        "demo", a["order_id"], {"carrier": "sagawa", "tracking_number": "1234567890"}
    )
    assert new["tracking"]["carrier"] == "sagawa"
    assert new["previous_tracking"][0]["tracking_number"] == N
    assert shipping.tracking_users("demo", N)["orders"] == []
    assert [u["order_id"] for u in shipping.tracking_users("demo", "1234567890")["orders"]] == [a["order_id"]]
    assert history_actions(a)[-1] == "tracking_changed"
    with pytest.raises(RuleRefused):
        shipping.change_tracking(
            "demo", released("C2", day(2))["order_id"], {"carrier": "yamato", "tracking_number": N}
        )


def test_fulfill_many_gives_a_result_per_order(app_env):
    a, b = released("M1", day(1)), released("M2", day(1))
    clock.freeze(day(2))
    results = shipping.fulfill_many(
        "demo",
        [
            {"order_id": a["order_id"], "carrier": "yamato", "tracking_number": N},
            {"order_id": b["order_id"], "carrier": "yamato", "tracking_number": "12"},
            {"order_id": "o_missing", "carrier": "yamato", "tracking_number": N},
        ],
    )
    assert [r["ok"] for r in results] == [True, False, False]
    assert results[1]["error"]["field"] == "tracking_number" and results[2]["status"] == 404
    with pytest.raises(ValidationFailed) as exc:
        shipping.fulfill_many("demo", [{"order_id": a["order_id"]}, {"order_id": a["order_id"]}])
    assert exc.value.field == "fulfillments[1].order_id"


def test_warehouse_shipped_uses_the_same_rules(app_env):
    a, c = released("W1", day(1)), released("W7", day(7))
    clock.freeze(day(8))
    shipping.fulfill("demo", a["order_id"], {"carrier": "yamato", "tracking_number": N})
    from orderhub.domain import actions
    from orderhub.orders import lifecycle

    lifecycle.apply("demo", c["order_id"], lambda o, now: actions.confirm(o, now), actor="merchant")
    store_order = current(c)
    store_order["items"][0]["item_code"] = "ITEM-1"
    lifecycle.apply(
        "demo",
        c["order_id"],
        lambda o, now: actions.Outcome({**o, "items": store_order["items"], "mapping": "ok"}, "test"),
        actor="test",
    )
    lifecycle.apply("demo", c["order_id"], lambda o, now: actions.ship_request(o, now), actor="merchant")
    packing = current(c)["packing_no"]
    with pytest.raises(ValidationFailed):
        report_stage(packing, {"stage": "shipped", "carrier": "yamato", "tracking_number": "12"})
    with pytest.raises(SharedTrackingRefused):
        report_stage(packing, {"stage": "shipped", "carrier": "yamato", "tracking_number": N})
    shipped = report_stage(
        packing, {"stage": "shipped", "carrier": "yamato", "tracking_number": "444455556667"}
    )
    assert shipped["order_status"] == "shipped"


def rerelease_delivery(o: dict, topic: str, at: datetime, delivery_id: str) -> str:
    ch = change(o["marketplace_order_no"], topic, placed_at=day(1) - timedelta(hours=2), updated_at=at)
    env = Envelope(merchant_id="demo", adapter="generic", delivery_id=delivery_id, received_at=at, change=ch)
    return ingest.process(env.model_dump_json())


def test_tracking_cancelled_webhook_rereleases_the_order(app_env):
    a = released("RR1", day(1))
    clock.freeze(day(2))
    shipping.fulfill("demo", a["order_id"], {"carrier": "yamato", "tracking_number": N})
    clock.freeze(day(4, 23))  # 23:00 on 4 Nov in Tokyo
    assert rerelease_delivery(a, "tracking_cancelled", day(4, 23), "rr-1") == "applied"
    new = current(a)
    assert new["status"] == "processing" and new["tracking"] is None
    assert new["released_at"] == clock.iso(day(4, 23))
    assert new["deadline_at"] == "2026-11-09T14:00:00.000Z"  # 5 × 24 h after the re-release
    assert new["previous_tracking"][0]["tracking_number"] == N
    assert shipping.tracking_users("demo", N)["orders"] == []  # the number is free again
    assert queries.counts("demo")["processing"] == 1 and queries.counts("demo")["shipped"] == 0
    assert [i["order_id"] for i in sweeps.due_items("DEADLINE", day(30))] == [a["order_id"]]
    # A second cancel of tracking for an order that has none is recorded as ignored.
    assert rerelease_delivery(a, "rereleased", day(5), "rr-2") == "ignored:not_shipped"


# ---------------------------------------------------------------- reflect to the marketplace
@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(mc, "sleep", lambda s: None)
    with FakeMarketplace() as f, allowing(f.url):
        integrations = {"shopify": {"api_base_url": f.base_url("shopify"), "api_token": "tok"}}
        profiles.put_profile("demo", SECRETS["demo"], integrations=integrations)
        yield f


def test_fulfillment_and_tracking_changes_are_reflected(app_env, fake):
    a = released("1001", day(1))
    import copy

    from tests.support.http import load_event

    obj = copy.deepcopy(load_event("shopify/orders_create.json"))
    obj.update({"order_number": 1001, "name": "#1001"})
    fake.put_order("shopify", obj)
    clock.freeze(day(2))
    body = {"carrier": "yamato", "tracking_number": N, "origin_country": "jp", "note": "box 1"}
    new = shipping.fulfill("demo", a["order_id"], body)
    assert [(f["order_no"], f["tracking_number"]) for f in fake.fulfillments("shopify")] == [("1001", N)]
    # the shipment's origin and note reach Shopify as origin_address.country_code and message
    assert [(f["origin_country"], f["note"]) for f in fake.fulfillments("shopify")] == [("JP", "box 1")]
    assert "mall_reflect_error" not in new.get("tags", [])
    assert "fulfillment_reflected" in history_actions(a)
    shipping.change_tracking("demo", a["order_id"], {"carrier": "yamato", "tracking_number": "444455556667"})
    assert [u["tracking_number"] for u in fake.tracking_updates("shopify")] == ["444455556667"]


def test_the_buyer_is_notified_of_the_fulfillment_unless_the_integration_says_not(app_env, fake):
    import copy

    from tests.support.http import load_event

    for no, notify in ((1004, None), (1005, False)):
        a = released(str(no), day(1))
        if notify is not None:
            integrations = {
                "shopify": {
                    "api_base_url": fake.base_url("shopify"),
                    "api_token": "tok",
                    "notify_customer": notify,
                }
            }
            profiles.put_profile("demo", SECRETS["demo"], integrations=integrations)
        obj = copy.deepcopy(load_event("shopify/orders_create.json"))
        obj.update({"id": 5712345670000 + no, "order_number": no, "name": f"#{no}"})
        fake.put_order("shopify", obj)
        clock.freeze(day(2))
        shipping.fulfill("demo", a["order_id"], {"carrier": "yamato", "tracking_number": f"44445555{no}"})
    posts = [c["body"]["fulfillment"] for c in fake.calls("shopify") if c["method"] == "POST"]
    assert [p["notify_customer"] for p in posts] == [True, False]


def test_a_failed_reflect_tags_the_order_and_the_fulfillment_stands(app_env, fake):
    a = released("1002", day(1))
    clock.freeze(day(2))
    new = shipping.fulfill(
        "demo", a["order_id"], {"carrier": "yamato", "tracking_number": N}
    )  # unknown there
    assert new["status"] == "shipped" and "mall_reflect_error" in new["tags"]
    assert history_actions(a)[-1] == "fulfillment_reflect_failed"


def test_a_csv_row_whose_reflect_fails_is_shipped_and_its_result_says_so(app_env, fake):
    a = released("1003", day(1))  # the fake marketplace does not know it: the reflect fails
    clock.freeze(day(2))
    lines = ["order_id,carrier,tracking_number", f"{a['order_id']},yamato,{N}"]
    done = run_job(csvfile.start("demo", "\r\n".join(lines).encode(), "text/csv"))
    [row] = done["results"]
    assert (row["ok"], row["status"], row["tags"]) == (True, "shipped", ["mall_reflect_error"])
    assert "mall_reflect_error" in current(a)["tags"]


# ---------------------------------------------------------------- deadline refunds flag SKUs
@pytest.fixture
def shopify_refunds(app_env):
    """The merchant turns auto_refund_overdue on for Shopify (off by default: docs/fulfillment.md)."""
    from orderhub.sync import integrations

    integrations.put("demo", "shopify", {"auto_refund_overdue": True})


def test_deadline_refund_flags_the_orders_skus(app_env, shopify_refunds):
    a = released("D1", day(1), sku="SKU-LATE")
    released("D2", day(20), sku="SKU-OK")
    result = sweeps.deadline_check(day(7, 1))  # 01:00 on 7 Nov in Tokyo: D1 due at 12:00 on 6 Nov
    assert result["refunded"] == 1
    flagged = queries.list_flagged_skus("demo", {})["flagged_skus"]
    assert [(f["marketplace"], f["sku"], f["refunds"], f["last_order_id"]) for f in flagged] == [
        ("shopify", "SKU-LATE", 1, a["order_id"])
    ]
    assert queries.list_flagged_skus("demo", {"marketplace": "wish"})["flagged_skus"] == []


# ---------------------------------------------------------------- CSV download and upload
def download(query: dict | None = None) -> list[dict]:
    out = csvfile.export("demo", query or {})
    text = out.data.decode("utf-8-sig" if out.encoding == "utf-8" else "cp932")
    return list(csv.DictReader(io.StringIO(text)))


def test_download_lists_only_orders_that_can_be_fulfilled(app_env):
    a, b = released("E1", day(1)), released("E2", day(1), name='=HYPERLINK("http://evil")')
    c = released("E3", day(1))
    d = released("E4", day(1))  # its shipment is with the warehouse: the warehouse reports its tracking
    from orderhub.domain import actions
    from orderhub.orders import lifecycle

    lifecycle.apply("demo", d["order_id"], lambda o, now: actions.confirm(o, now), actor="merchant")
    mapped = [{**i, "item_code": "ITEM-1"} for i in current(d)["items"]]
    lifecycle.apply(
        "demo",
        d["order_id"],
        lambda o, now: actions.Outcome({**o, "items": mapped, "mapping": "ok"}, "test"),
        actor="test",
    )
    lifecycle.apply("demo", d["order_id"], lambda o, now: actions.ship_request(o, now), actor="merchant")
    assert current(d)["shipment_stage"] == "requested"
    clock.freeze(day(2))
    shipping.fulfill("demo", c["order_id"], {"carrier": "yamato", "tracking_number": N})
    rows = download()
    assert {r["order_id"] for r in rows} == {a["order_id"], b["order_id"]}
    evil = next(r for r in rows if r["order_id"] == b["order_id"])
    assert evil["recipient_name"] == '\'=HYPERLINK("http://evil")'
    assert {r["days_remaining"] for r in rows} == {"4"}  # released 1 Nov, due end of 6 Nov, today 2 Nov
    out = csvfile.export("demo", {"encoding": "cp932"})
    assert out.encoding == "cp932" and "山田 太郎".encode("cp932") in out.data
    for bad, field in (
        ({"status": "shipped"}, "status"),
        ({"encoding": "latin1"}, "encoding"),
        ({"page_size": "25"}, "page_size"),
        ({"from": "yesterday"}, "from"),
    ):
        with pytest.raises(ValidationFailed) as exc:
            csvfile.export("demo", bad)
        assert exc.value.field == field


def test_cp932_download_writes_no_question_mark_for_a_character_it_cannot_hold(app_env):
    """𠮷 (U+20BB7) and emoji are not in CP932: written as the geta mark 〓 and the row reported
    (X-Orderhub-Replaced-*), never a silent '?'; unencodable=refuse answers 422 listing them."""
    a = released("J1", day(1), name="𠮷田 花子😀")
    b = released("J2", day(1), name="山田 太郎")
    out = csvfile.export("demo", {"encoding": "cp932"})
    rows = {r["order_id"]: r for r in csv.DictReader(io.StringIO(out.data.decode("cp932")))}
    assert rows[a["order_id"]]["recipient_name"] == "〓田 花子〓"
    assert rows[b["order_id"]]["recipient_name"] == "山田 太郎"
    assert b"?" not in out.data
    assert out.headers() == {"X-Orderhub-Replaced-Rows": "1", "X-Orderhub-Replaced-Orders": a["order_id"]}
    with pytest.raises(Unprocessable) as exc:
        csvfile.export("demo", {"encoding": "cp932", "unencodable": "refuse"})
    body = exc.value.to_body()["error"]
    assert body["rule"] == "cp932_unencodable" and body["rows"] == 1
    assert body["replaced"][0]["order_id"] == a["order_id"]
    assert body["replaced"][0]["characters"] == ["U+20BB7", "U+1F600"]


def run_job(job: dict) -> dict:
    runner.run(json.dumps({"merchant_id": job["merchant_id"], "job_id": job["job_id"]}))
    return runner.get_of_kind(job["merchant_id"], job["job_id"], "fulfill_csv")


def test_upload_of_the_filled_in_download_fulfills_row_by_row(app_env):
    orders_ = [released(f"U{i}", day(1)) for i in range(4)]
    clock.freeze(day(2))
    rows = download()
    by_id = {r["order_id"]: r for r in rows}
    by_id[orders_[0]["order_id"]].update(carrier="yamato", tracking_number="4444-5555-6666")
    by_id[orders_[1]["order_id"]].update(carrier="yamato", tracking_number="12")  # bad format
    by_id[orders_[2]["order_id"]].update(
        carrier="japan_post", tracking_number="EJ123456789JP", origin_country="JP"
    )
    # orders_[3] left blank: skipped
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    job = csvfile.start("demo", out.getvalue().encode("cp932"), "text/csv")
    assert job["state"] == "queued" and job["params"]["encoding"] == "cp932"
    done = run_job(job)
    assert (done["state"], done["processed"], done["succeeded"], done["failed"], done["skipped"]) == (
        "done",
        4,
        2,
        1,
        1,
    )
    results = {r["order_id"]: r for r in done["results"]}
    assert results[orders_[1]["order_id"]]["error"]["column"] == "tracking_number"
    assert results[orders_[3]["order_id"]]["skipped"] is True
    assert current(orders_[2])["tracking"]["origin_country"] == "JP"
    # Running the job again (a redelivered message) changes nothing.
    again = run_job(job)
    assert again["succeeded"] == 2 and again["failed"] == 1
    history = runner.list_page("demo", "fulfill_csv", {})["jobs"]
    assert [j["job_id"] for j in history] == [job["job_id"]] and history[0]["state"] == "done"


def test_upload_is_checked_before_the_job(app_env):
    for data, field in (
        (b"", "file"),
        (b"order_id,carrier\r\no1,yamato\r\n", "columns"),
        (b"order_id\x81\x39,carrier,tracking_number\r\n", "file"),  # neither UTF-8 nor CP932
        (b"order_id,carrier,tracking_number\r\n", "file"),
    ):
        with pytest.raises(ValidationFailed) as exc:
            csvfile.start("demo", data, "text/csv")
        assert exc.value.field == field
    assert runner.list_page("demo", "fulfill_csv", {})["jobs"] == []


def test_the_sample_upload_in_events_csv(app_env):
    """events/csv/fulfillment_cp932.csv with its placeholders replaced by real order ids."""
    from tests.support.http import ROOT

    names = ["山田 太郎", "山田 太郎", "佐藤 花子", "鈴木 一郎", "高橋 次郎"]
    ids = [released(f"R-100{i + 1}", day(1), name=n)["order_id"] for i, n in enumerate(names)]
    clock.freeze(day(2))
    text = (ROOT / "events" / "csv" / "fulfillment_cp932.csv").read_bytes().decode("cp932")
    for i, oid in enumerate(ids, start=1):
        text = text.replace(f"ord_REPLACE_ME_{i}", oid)
    done = run_job(csvfile.start("demo", text.encode("cp932"), "text/csv"))
    outcome = [
        (r["ok"], r.get("skipped", False), (r.get("error") or {}).get("field")) for r in done["results"]
    ]
    assert outcome == [
        (True, False, None),
        (True, False, None),  # one parcel for the two orders of the same recipient
        (True, False, None),
        (False, False, "tracking_number"),
        (True, True, None),
    ]
    users = shipping.tracking_users("demo", N)["orders"]
    assert sorted(u["order_id"] for u in users) == sorted(ids[:2])


def test_a_long_job_pauses_before_the_timeout_and_continues_from_its_own_message(app_env):
    import boto3

    orders_ = [released(f"P{i}", day(1)) for i in range(7)]
    clock.freeze(day(2))
    lines = ["order_id,carrier,tracking_number"] + [
        f"{o['order_id']},yamato,{300000000100 + i}" for i, o in enumerate(orders_)
    ]
    job = csvfile.start("demo", "\r\n".join(lines).encode(), "text/csv")
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = app_env["JOBS_QUEUE_URL"]
    [first] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=first["ReceiptHandle"])

    budget = iter([500, 400, 60])  # seconds left after rows 1, 2 and 3: the third row is the last

    out = runner.run(first["Body"], time_left=lambda: next(budget))
    assert out["paused"] is True and out["processed"] == 3
    middle = runner.get_of_kind("demo", job["job_id"], "fulfill_csv")
    assert (middle["state"], middle["processed"], middle["succeeded"]) == ("running", 3, 3)
    [continuation] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(continuation["Body"]) == json.loads(first["Body"])

    done = runner.run(continuation["Body"], time_left=lambda: 800)
    assert "paused" not in done
    final = runner.get_of_kind("demo", job["job_id"], "fulfill_csv")
    assert (final["state"], final["processed"], final["succeeded"], final["failed"]) == ("done", 7, 7, 0)
    assert [r["row"] for r in final["results"]] == list(range(2, 9))
    assert all(current(o)["status"] == "shipped" for o in orders_)


def yamato_upload(prefix: str, count: int, first_number: int) -> tuple[dict, list[dict]]:
    """`count` orders released on day 1, and on day 2 an upload shipping each with its own
    Yamato number from `first_number`: the job and the orders."""
    orders_ = [released(f"{prefix}{i}", day(1)) for i in range(count)]
    clock.freeze(day(2))
    lines = ["order_id,carrier,tracking_number"] + [
        f"{o['order_id']},yamato,{first_number + i}" for i, o in enumerate(orders_)
    ]
    return csvfile.start("demo", "\r\n".join(lines).encode(), "text/csv"), orders_


def test_a_resumed_job_counts_the_rows_its_first_attempt_did_not_report(app_env, monkeypatch):
    job, _ = yamato_upload("K", 4, 300000000200)
    real_fulfill = shipping.fulfill
    calls = []

    def crash_on_the_third_row(*args, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the worker died")
        return real_fulfill(*args, **kw)

    monkeypatch.setattr(shipping, "fulfill", crash_on_the_third_row)
    with pytest.raises(RuntimeError):
        run_job(job)
    monkeypatch.setattr(shipping, "fulfill", real_fulfill)
    done = run_job(job)  # the message comes back: rows 1-2 are not done twice, counts are exact
    assert (done["state"], done["processed"], done["succeeded"]) == ("done", 4, 4)


def test_a_worker_dying_after_a_row_s_transaction_leaves_the_row_shipped_not_failed(app_env, monkeypatch):
    """The row's result is written in the transaction that ships its order: the message that comes
    back finds the row done, instead of fulfilling the shipped order again and failing the row."""
    job, orders_ = yamato_upload("W", 3, 300000000300)
    real_reflect = shipping.reflect
    calls = []

    def die_after_the_second_transaction(order, change=False):
        calls.append(order["order_id"])
        if len(calls) == 2:
            raise RuntimeError("the worker died")
        return real_reflect(order, change)

    monkeypatch.setattr(shipping, "reflect", die_after_the_second_transaction)
    with pytest.raises(RuntimeError):
        run_job(job)
    assert current(orders_[1])["status"] == "shipped"  # its transaction was written
    monkeypatch.setattr(shipping, "reflect", real_reflect)
    done = run_job(job)
    assert (done["state"], done["processed"], done["succeeded"], done["failed"]) == ("done", 3, 3, 0)
    row = {r["order_id"]: r for r in done["results"]}[orders_[1]["order_id"]]
    assert (row["ok"], row["tracking_number"]) == (True, "300000000301")


def test_a_refund_flags_every_sku_even_beyond_one_transaction(app_env, shopify_refunds):
    # A marketplace order (orderhub never refunds a manual or CSV one: docs/fulfillment.md).
    from decimal import Decimal

    from orderhub.domain.models import Item

    skus = [f"SKU-{n:03d}" for n in range(db.SKU_FLAGS_IN_TRANSACTION + 5)]
    placed = day(1) - timedelta(hours=2)
    clock.freeze(placed)
    items = [Item(sku=s, title="x", quantity=1, price=Decimal("100")) for s in skus]
    ch = change("MANY-SKUS", placed_at=placed).model_copy(update={"items": items})
    env = Envelope(merchant_id="demo", adapter="shopify", delivery_id="d-many", received_at=placed, change=ch)
    assert ingest.process(env.model_dump_json()) == "applied"
    clock.freeze(day(1))
    sweeps.hold_sweep(day(1))
    assert sweeps.deadline_check(day(7, 1))["refunded"] == 1
    flagged = []
    cursor = None
    while True:
        page = queries.list_flagged_skus(
            "demo", {"page_size": "200", **({"cursor": cursor} if cursor else {})}
        )
        flagged += [f["sku"] for f in page["flagged_skus"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(flagged) == skus


def test_an_overlong_cell_fails_its_row_naming_the_column(app_env):
    a = released("L1", day(1))
    clock.freeze(day(2))
    note = "x" * 1001
    data = f"order_id,carrier,tracking_number,note\r\n{a['order_id']},yamato,{N},{note}\r\n".encode()
    [row] = run_job(csvfile.start("demo", data, "text/csv"))["results"]
    assert row["ok"] is False and row["error"]["column"] == "note" and "1001" in row["error"]["message"]
    assert current(a)["status"] == "new"
