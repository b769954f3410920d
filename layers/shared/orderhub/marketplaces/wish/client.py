"""Wish's order API: the orderhub marketplace protocol (orderhub.marketplaces.generic.client)
carrying Wish's v3 order object, normalized by the Wish webhook adapter's code."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orderhub.marketplaces.generic.client import GenericClient

if TYPE_CHECKING:
    from orderhub.domain.models import OrderChange


class WishClient(GenericClient):
    """The orderhub marketplace protocol carrying Wish's v3 order object."""

    kind = "wish"

    def to_change(self, order: dict) -> OrderChange:
        from orderhub.marketplaces.wish import webhook as wish

        return wish.normalize_order(order, "updated")
