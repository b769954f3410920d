"""Counts what DynamoDB answers carry to this process: the entries an index Query returns and
the items read whole from the table (GetItem, BatchGetItem), for "reads only what is due" checks."""

from __future__ import annotations

import contextlib

from orderhub.kernel import aws
from orderhub.kernel.config import settings


@contextlib.contextmanager
def items_read():
    """{"listed": Query/Scan entries, "whole": items read by key, "order_items": orders among
    those read whole, or listed when the index projects `entity` (a whole-order index)}."""
    read = {"listed": 0, "whole": 0, "order_items": 0}

    def count(parsed, **_):
        listed = list(parsed.get("Items") or [])
        whole = [i for got in (parsed.get("Responses") or {}).values() for i in got]
        whole += [parsed["Item"]] if parsed.get("Item") else []
        read["listed"] += len(listed)
        read["whole"] += len(whole)
        read["order_items"] += sum(1 for i in listed + whole if i.get("entity", {}).get("S") == "order")

    clients = {aws.client("dynamodb"), aws.table(settings().table_name).meta.client}
    for c in clients:
        c.meta.events.register("after-call.dynamodb.*", count)
    try:
        yield read
    finally:
        for c in clients:
            c.meta.events.unregister("after-call.dynamodb.*", count)
