"""store/db.py whole_items: the orders behind a slim index's entries, read from the table in the
entries' order, a BatchGetItem per 100 as the reader goes on; keys DynamoDB leaves unprocessed are
asked again; an order gone since the index was read is left out."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from orderhub.kernel import aws
from orderhub.kernel.config import settings
from orderhub.store import db, keys


def _orders(n: int) -> list[dict]:
    table = aws.table(settings().table_name)
    out = []
    with table.batch_writer() as batch:
        for i in range(n):
            item = {
                "pk": keys.order_pk("demo", f"o{i:04d}"),
                "sk": keys.ORDER_SK,
                "order_id": f"o{i:04d}",
                "n": i,
            }
            batch.put_item(Item=item)
            out.append(item)
    return out


def _entries(items: list[dict]) -> list[dict]:
    """What a slim index answers: the keys (and a projected attribute), not the whole item."""
    return [{"pk": i["pk"], "sk": i["sk"], "status": "new"} for i in items]


class _Counting:
    """The table's client, counting BatchGetItem calls and the keys each asked for; `unprocessed`
    keys of the first call are answered as DynamoDB does under throttling."""

    def __init__(self, client, unprocessed: int = 0):
        self.client, self.unprocessed, self.asked = client, unprocessed, []

    def batch_get_item(self, RequestItems):  # noqa: N803 (boto3's parameter name)
        ((name, request),) = RequestItems.items()
        self.asked.append(len(request["Keys"]))
        if self.unprocessed and len(self.asked) == 1:
            held, sent = request["Keys"][: self.unprocessed], request["Keys"][self.unprocessed :]
            resp = self.client.batch_get_item(RequestItems={name: {**request, "Keys": sent}})
            return {**resp, "UnprocessedKeys": {name: {**request, "Keys": held}}}
        return self.client.batch_get_item(RequestItems=RequestItems)


@pytest.fixture
def counting(app_env, monkeypatch):
    def install(unprocessed: int = 0) -> _Counting:
        real = aws.table(settings().table_name)
        spy = _Counting(real.meta.client, unprocessed)
        monkeypatch.setattr(db, "_table", lambda: SimpleNamespace(meta=SimpleNamespace(client=spy)))
        monkeypatch.setattr(db.time, "sleep", lambda s: None)
        return spy

    return install


def test_the_orders_come_whole_in_the_entries_order_and_a_gone_one_is_left_out(app_env, counting):
    stored = _orders(5)
    spy = counting()
    wanted = [stored[3], stored[0], {"pk": keys.order_pk("demo", "gone"), "sk": keys.ORDER_SK}, stored[4]]
    got = list(db.whole_items(_entries(wanted)))
    assert got == [stored[3], stored[0], stored[4]]
    assert spy.asked == [4]


def test_they_are_read_100_at_a_time_as_the_reader_goes_on(app_env, counting):
    stored = _orders(250)
    spy = counting()
    reading = db.whole_items(iter(_entries(stored)))
    assert next(reading) == stored[0]
    assert spy.asked == [100]  # a sweep that stops here read no more
    assert [i["n"] for i in reading] == list(range(1, 250))
    assert spy.asked == [100, 100, 50]


def test_keys_left_unprocessed_are_asked_again(app_env, counting):
    stored = _orders(10)
    spy = counting(unprocessed=4)
    assert list(db.whole_items(_entries(stored))) == stored
    assert spy.asked == [10, 4]


def test_an_older_stack_s_whole_order_entries_are_not_read_again(app_env, counting, monkeypatch):
    monkeypatch.setenv("ORDER_INDEXES", "whole")
    stored = _orders(3)
    spy = counting()
    assert list(db.whole_items(stored)) == stored
    assert spy.asked == []
