"""Identifiers: time-ordered order ids and packing numbers."""

from __future__ import annotations

import secrets

from orderhub.kernel import clock

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _b32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        out.append(_CROCKFORD[rem])
    return "".join(reversed(out))


def new_order_id() -> str:
    """`ord_` + 26 Crockford base32 characters (48-bit ms time + 80 random bits), sortable by time."""
    ms = int(clock.now().timestamp() * 1000)
    return "ord_" + _b32(ms, 10) + _b32(secrets.randbits(80), 16)


def new_packing_no() -> str:
    """Our shipment key: `PK` + 12 characters. Uniqueness is enforced by a conditional put."""
    return "PK" + _b32(secrets.randbits(60), 12)
