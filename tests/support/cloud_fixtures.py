"""Module-scoped fixtures for tests that drive the whole app on the local cloud over HTTP: a
fresh LocalCloud on template.yaml per test module, and the demo merchants' API clients. A
conftest imports them (`from tests.support.cloud_fixtures import api, api2, cloud, fake`). Also
`post_shopify_order`, the webhook order those tests start from, and `reflecting_cancels`."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from localcloud import LocalCloud
from tests.support.http import ROOT, Api, load_event


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    lc = LocalCloud(
        template_path=ROOT / "template.yaml",
        port=0,
        root=ROOT,
        state_dir=tmp_path_factory.mktemp("orderhub-state"),
    )
    lc.start()
    yield lc
    lc.stop()


@pytest.fixture
def fake(cloud):
    """The local cloud's fake marketplace, empty before and after the test (a module that wants it
    for every test marks itself `pytest.mark.usefixtures("fake")`)."""
    cloud.fake_marketplace.reset()
    yield cloud.fake_marketplace
    cloud.fake_marketplace.reset()


@contextlib.contextmanager
def reflecting_cancels(api: Api, marketplace: str) -> Iterator[None]:
    """A merchant cancel is sent to the marketplace while inside (reflect_cancel_to_marketplace
    on), and no longer after, whatever happens inside."""
    on = api.call("PUT", f"/integrations/{marketplace}", {"reflect_cancel_to_marketplace": True})
    assert on.status == 200 and on.json["reflect_cancel_to_marketplace"] is True, on
    try:
        yield
    finally:
        api.call("PUT", f"/integrations/{marketplace}", {"reflect_cancel_to_marketplace": False})


@pytest.fixture(scope="module")
def api(cloud):
    return Api(cloud.config, "demo")


@pytest.fixture(scope="module")
def api2(cloud):
    return Api(cloud.config, "demo2")


def post_shopify_order(api: Api, cloud: LocalCloud, n: int, minutes_ago: int, **fields) -> tuple[dict, dict]:
    """Post a signed Shopify orders/create for order number `n` placed `minutes_ago` (the sample
    event with `fields` over it; SKUs of its own, so mappings made by other tests do not apply),
    drain the queues; the order as listed and the payload."""
    payload = copy.deepcopy(load_event("shopify/orders_create.json"))
    placed = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()
    payload.update(
        id=940000000000 + n,
        order_number=n,
        name=f"#{n}",
        created_at=placed,
        processed_at=placed,
        updated_at=placed,
        **fields,
    )
    for line in payload["line_items"]:
        line["sku"] = f"{line['sku']}-{n}"
    assert api.post_webhook("shopify", payload, topic="orders/create").status == 200
    cloud.drain(timeout=10)
    [order] = api.get(f"/orders?q={n}").json["orders"]
    return order, payload
