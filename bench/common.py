"""Shared helpers: markdown tables, timing, results of one benchmark section."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tests.support.factories import T0
from tests.support.http import load_event


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)
    targets: list[tuple[str, str, str, bool | None]] = field(
        default_factory=list
    )  # name, target, figure, met

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)
        for line in lines:
            print(line, flush=True)

    def table(self, header: list[str], rows: list[list]) -> None:
        self.add(md_table(header, rows), "")


def md_table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def fmt(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}"


def shopify_body(order_number: int, template: dict | None = None, **over) -> bytes:
    """A Shopify orders/create body for `order_number` (`template`: the event already read)."""
    order = dict(template) if template is not None else load_event("shopify/orders_create.json")
    order.update(
        {"id": 820982911946150000 + order_number, "order_number": order_number, "name": f"#{order_number}"}
    )
    order.update(over)
    return json.dumps(order).encode()


def envelope(ch, delivery_id: str, merchant: str = "demo") -> str:
    from orderhub.domain.models import Envelope

    return Envelope(
        merchant_id=merchant, adapter="shopify", delivery_id=delivery_id, received_at=T0, change=ch
    ).model_dump_json()


def now() -> datetime:
    return datetime.now(UTC)
