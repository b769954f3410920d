"""Pull ingestion on moto with each real connector against its own fake (docs/pull.md,
docs/connectors.md): the faults tests/integration/test_pull.py proves with the orderhub protocol,
for Amazon, Rakuten, Qoo10 and Wish. Pages are made small (rules.PAGE_LIMIT 2): Amazon and Wish
page by their own tokens; Rakuten's page is a getOrder batch of its search page; Qoo10's is a
run of positions over its claim and status searches.

- a run that stops half-way (the queue fails after a page and a half) is resumed by the next
  run from the item's `resume`, and every order is queued (duplicates allowed, no gap);
- a page that times out after the first page counts a failure, leaves `resume` at the unread
  page, and the next run reads the rest;
- of two runs at once from the same item version only one writes, and nothing is lost.

Amazon's fake answers each NextToken once (Amazon does not document whether a token may be used
again, so the fake assumes the stricter): a run stopped after its token was used makes the next
run fail and drop `resume`, and the run after lists again: a failed run, no order skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from localcloud.fake_marketplace import FakeMarketplace
from orderhub.domain import pull as rules
from orderhub.kernel import aws, clock
from orderhub.marketplaces import client as mc
from orderhub.marketplaces import registry
from orderhub.marketplaces.qoo10 import orders as qoo10_orders
from orderhub.marketplaces.rakuten.orders import jst_text
from orderhub.merchants import profiles
from orderhub.pull import service
from orderhub.store import db
from orderhub.sync import integrations
from tests.integration.test_pull import queued_numbers
from tests.support.moto_env import SECRETS
from tests.support.outbound import allowing
from tests.unit.test_amazon_connector import CLIENT_ID as LWA_CLIENT_ID
from tests.unit.test_amazon_connector import REFRESH as LWA_REFRESH
from tests.unit.test_amazon_connector import SECRET as LWA_SECRET
from tests.unit.test_amazon_connector import T0 as AMAZON_T0
from tests.unit.test_amazon_connector import stored as amazon_order
from tests.unit.test_qoo10_connector import KEY as QOO10_KEY
from tests.unit.test_qoo10_connector import NOW as QOO10_NOW
from tests.unit.test_qoo10_connector import row as qoo10_row
from tests.unit.test_rakuten_connector import ESA as RAKUTEN_ESA
from tests.unit.test_rakuten_connector import LICENSE as RAKUTEN_LICENSE
from tests.unit.test_rakuten_connector import SECRET as RAKUTEN_SECRET
from tests.unit.test_rakuten_connector import rakuten_order
from tests.unit.test_wish_connector import T0 as WISH_T0
from tests.unit.test_wish_connector import TOKEN as WISH_TOKEN
from tests.unit.test_wish_connector import order as wish_order

pytestmark = pytest.mark.slowest(10)

ORDERS = 5  # changed 50, 40, 30, 20 and 10 minutes before the run: three pages of two
# The Amazon fake forgets a NextToken once it has answered it (amazon/fake.py _list pops it), so a
# run that stopped after reading a page cannot be resumed from that page's token: the next run
# fails on it (400 InvalidInput), drops it and the one after lists again (no gap: the last test).
SINGLE_USE_TOKEN = (
    "the Amazon fake answers each NextToken once: the stopped run used up the token `resume` holds"
)


@dataclass(frozen=True)
class Connector:
    """One marketplace: where its builders put "now", the integration it needs, its orders."""

    name: str
    now: datetime
    settings: Callable[[FakeMarketplace], dict[str, Any]]  # the integration (api_base_url, credentials)
    credential: str  # what the fake is told to require (fake.require_token)
    number: Callable[[int], str]
    build: Callable[[int, datetime], dict]  # (n, changed at) -> the order as the fake stores it
    # The fake's operation of the first request of a page after the first: Rakuten keeps its
    # search page and goes on with getOrder ("fetch"); the others search or list again ("list").
    next_page_call: str = "list"
    backfill_days: int = 1

    def changed_at(self, n: int) -> datetime:
        return self.now - timedelta(minutes=10 * (ORDERS - n))


def _amazon_number(n: int) -> str:
    return f"503-0000000-00000{n:02d}"


def _rakuten_number(n: int) -> str:
    return f"123456-20260302-00000001{n:02d}"


def _wish_number(n: int) -> str:
    return f"6f00000000000000000a{n:04d}"


CONNECTORS = [
    Connector(
        "amazon",
        AMAZON_T0 + timedelta(hours=1),
        lambda fake: {
            "api_base_url": fake.base_url("amazon"),
            "lwa_client_id": LWA_CLIENT_ID,
            "lwa_client_secret": LWA_SECRET,
            "lwa_refresh_token": LWA_REFRESH,
            "lwa_token_url": f"{fake.url}/amazon/auth/o2/token",
        },
        LWA_REFRESH,
        _amazon_number,
        lambda n, at: amazon_order(_amazon_number(n), LastUpdateDate=at.strftime("%Y-%m-%dT%H:%M:%SZ")),
    ),
    Connector(
        "rakuten",
        datetime(2026, 3, 2, 3, 0, tzinfo=UTC),
        lambda fake: {
            "api_base_url": fake.base_url("rakuten"),
            "service_secret": RAKUTEN_SECRET,
            "license_key": RAKUTEN_LICENSE,
        },
        RAKUTEN_ESA,
        _rakuten_number,
        # placed at `at`: the newest time the order shows (its other dates are older)
        lambda n, at: rakuten_order(_rakuten_number(n), orderDatetime=jst_text(at)),
        next_page_call="fetch",
    ),
    Connector(
        "qoo10",
        QOO10_NOW,
        lambda fake: {"api_base_url": fake.base_url("qoo10"), "api_token": QOO10_KEY},
        QOO10_KEY,
        lambda n: str(9001 + n),
        lambda n, at: qoo10_row(
            9001 + n, ordered=qoo10_orders.jst_text(at), PaymentDate=qoo10_orders.jst_text(at)
        ),
        backfill_days=7,
    ),
    Connector(
        "wish",
        WISH_T0 + timedelta(hours=1),
        lambda fake: {"api_base_url": fake.base_url("wish"), "api_token": WISH_TOKEN},
        WISH_TOKEN,
        _wish_number,
        lambda n, at: wish_order(_wish_number(n), updated=(at - WISH_T0) / timedelta(minutes=1)),
    ),
]


@pytest.fixture(scope="module")
def fake():
    with FakeMarketplace() as f, allowing(f.url):
        yield f


@pytest.fixture(params=CONNECTORS, ids=[c.name for c in CONNECTORS])
def mp(request, app_env, fake, monkeypatch) -> Connector:
    """The demo merchant pulls this marketplace from its fake (clock frozen at its `now`)."""
    spec: Connector = request.param
    fake.reset()
    fake.require_token(spec.name, spec.credential)  # the integration's credentials reach the fake
    monkeypatch.setattr(mc, "sleep", lambda s: None)
    monkeypatch.setattr(rules, "PAGE_LIMIT", 2)
    clock.freeze(spec.now)
    profiles.put_profile("demo", SECRETS["demo"], integrations={spec.name: spec.settings(fake)})
    integrations.put("demo", spec.name, {"pull": True, "pull_backfill_days": spec.backfill_days})
    yield spec
    clock.freeze(None)


def put_orders(fake, spec: Connector, count: int = ORDERS) -> list[str]:
    for n in range(count):
        fake.put_order(spec.name, spec.build(n, spec.changed_at(n)))
    return [spec.number(n) for n in range(count)]


def the_item(spec: Connector) -> dict:
    return db.get_pull_item("demo", spec.name)


def run_stopped_after_sending(messages: int, now: datetime) -> None:
    """A run whose invocation is stopped as it queues message `messages` + 1."""
    real_send = aws.client("sqs").send_message
    sent: list[int] = []

    def stopped(**kw):
        if len(sent) == messages:
            raise RuntimeError("the function was stopped")
        sent.append(1)
        return real_send(**kw)

    with pytest.MonkeyPatch.context() as crash, pytest.raises(RuntimeError):
        crash.setattr(aws.client("sqs"), "send_message", stopped)
        service.run(now)


# Amazon's stopped run: the last test (its fake answers a page token once: SINGLE_USE_TOKEN).
@pytest.mark.parametrize(
    "mp", [c for c in CONNECTORS if c.name != "amazon"], ids=lambda c: c.name, indirect=True
)
def test_a_run_that_stops_half_way_is_resumed_from_its_last_queued_page_and_skips_nothing(mp, fake, app_env):
    numbers = put_orders(fake, mp)
    run_stopped_after_sending(3, mp.now)
    # page 1 was queued and written; the third order (page 2) was queued, the fourth was not
    first = queued_numbers(app_env)
    assert first == numbers[:3]
    item = the_item(mp)
    assert item["resume"]["token"] and item.get("cursor") is None  # the cursor waits for the end

    second_run = service.run(mp.now)
    assert second_run["failed"] == 0, the_item(mp).get("last_error")
    second = queued_numbers(app_env)
    assert set(first + second) == set(numbers)  # nothing skipped
    assert not set(numbers[:2]) & set(second)  # it went on from page 2: page 1 was not read again
    item = the_item(mp)
    assert "resume" not in item and item["cursor"] == clock.iso(mp.changed_at(ORDERS - 1))


def test_a_page_that_times_out_after_the_first_is_read_by_the_next_run_and_nothing_is_skipped(
    mp, fake, app_env, monkeypatch
):
    numbers = put_orders(fake, mp)
    monkeypatch.setattr(mc, "TIMEOUT_SECONDS", 0.2)
    cls = registry.client_class(mp.name)
    real, tokens = cls.list_changed, []

    def second_page_times_out(self, since, token, limit):
        tokens.append(token)
        if len(tokens) == 2:  # every attempt at page 2's first call outlasts the client's timeout
            fake.fail(mp.name, "timeout", count=self.attempts, operation=mp.next_page_call, delay=0.6)
        return real(self, since, token, limit)

    monkeypatch.setattr(cls, "list_changed", second_page_times_out)
    first = service.run(mp.now)
    assert (first["queued"], first["failed"]) == (2, 1)
    item = the_item(mp)
    assert item["failures"] == 1 and item["last_error"]["kind"] == "timeout"
    assert item["resume"]["token"] == tokens[1]  # the unread page is where the next run goes on
    assert queued_numbers(app_env) == numbers[:2]

    second = service.run(mp.now)
    assert (second["queued"], second["failed"]) == (3, 0), the_item(mp).get("last_error")
    assert queued_numbers(app_env) == numbers[2:]
    item = the_item(mp)
    assert item["failures"] == 0 and "resume" not in item and "last_error" not in item
    assert item["cursor"] == clock.iso(mp.changed_at(ORDERS - 1))


def test_of_two_runs_at_once_from_the_same_version_only_one_writes_and_nothing_is_lost(
    mp, fake, app_env, monkeypatch
):
    monkeypatch.setattr(rules, "PAGE_LIMIT", 10)  # one page: one write for the run that wins
    numbers = put_orders(fake, mp, count=2)
    item = the_item(mp)
    a = service.pull_one(dict(item), mp.now)
    b = service.pull_one(dict(item), mp.now)  # read the same version before a wrote
    assert a["queued"] == b["queued"] == 2  # both queued them: the processor dedupes
    assert a.get("cursor") == clock.iso(mp.changed_at(1)) and "cursor" not in b  # b stopped
    assert int(the_item(mp)["version"]) == int(item["version"]) + 1
    assert sorted(queued_numbers(app_env)) == sorted(numbers * 2)
    # a's write stands: the next run finds nothing new to queue
    later = service.run(mp.now)
    assert (later["queued"], later["failed"]) == (0, 0)
    assert queued_numbers(app_env) == []


@pytest.mark.parametrize("mp", [c for c in CONNECTORS if c.name == "amazon"], ids=["amazon"], indirect=True)
def test_an_amazon_run_stopped_after_its_token_was_used_costs_a_failed_run_and_skips_nothing(
    mp, fake, app_env
):
    """What a stopped Amazon run does today against the fake (SINGLE_USE_TOKEN): the next run
    fails on the used token and drops it; the one after lists from the back-fill again."""
    numbers = put_orders(fake, mp)
    run_stopped_after_sending(3, mp.now)
    first = queued_numbers(app_env)
    assert first == numbers[:3]

    refused = service.run(mp.now)
    assert (refused["queued"], refused["failed"]) == (0, 1)
    item = the_item(mp)
    assert item["last_error"]["status"] == 400 and "InvalidInput" in item["last_error"]["message"]
    assert "resume" not in item and item["failures"] == 1

    again = service.run(mp.now)
    assert again["failed"] == 0
    third = queued_numbers(app_env)
    assert set(first + third) == set(numbers)  # nothing skipped; the overlap's repeats are duplicates
    item = the_item(mp)
    assert item["failures"] == 0 and item["cursor"] == clock.iso(mp.changed_at(ORDERS - 1))
