"""Identifiers: time-ordered order ids, packing numbers, and the rule of a merchant id."""

from __future__ import annotations

import re
import secrets

from orderhub.kernel import clock

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# A merchant id: 2 to 40 lowercase letters, digits and hyphens, starting with a letter or digit.
# The one rule: operators create merchants by it (merchants/onboarding.py check_id) and the APIs
# refuse a token whose merchant claim breaks it (api/request.py), so no merchant id holds a key
# separator (docs/onboarding.md).
MERCHANT_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,39}")
MERCHANT_ID_RULE = "2 to 40 lowercase letters, digits and hyphens, starting with a letter or digit"


def is_merchant_id(value: object) -> bool:
    """Whether `value` is a merchant id by the rule above (the whole text: no trailing newline)."""
    return isinstance(value, str) and MERCHANT_ID.fullmatch(value) is not None


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
