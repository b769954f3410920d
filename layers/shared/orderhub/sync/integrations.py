"""Integration settings per merchant and marketplace: the reads and writes (docs/sync-flows.md).

The rules (defaults, what is in effect, validation, the Integration ingestion needs) are
orderhub.domain.settings. Stored in the merchant profile's `integrations[<marketplace>]` map
(orderhub.merchants.profiles).

for_merchant is the one read of a merchant's settings in effect for everything that acts on
them (ingestion, the sync flows, refresh, relink, restore, the hold sweep, the marketplace API
client): the profile read through its short cache. get/put serve the merchant API and read the
profile afresh.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from orderhub.domain.settings import (
    MARKETPLACES,
    SECRET_KEYS,
    URL_KEYS,
    Integration,
    check_marketplace,
    effective,
    for_profile,
    validate,
    view,
)
from orderhub.kernel import aws
from orderhub.kernel.config import settings
from orderhub.kernel.errors import Conflict, NotFound, ValidationFailed
from orderhub.merchants import profiles
from orderhub.store import db, keys


def marketplaces() -> list[str]:
    """Every marketplace that has integration settings (GET /integrations)."""
    return list(MARKETPLACES)


def for_merchant(merchant_id: str, marketplace: str) -> dict[str, Any]:
    """The settings in effect of one merchant's marketplace, with the merchant's `timezone`
    (orderhub.domain.settings.for_profile; profile read through its cache)."""
    return for_profile(profiles.get_profile(merchant_id), marketplace)


def for_ingestion(merchant_id: str, marketplace: str) -> Integration:
    """for_merchant's settings as ingestion needs them."""
    return Integration.from_settings(for_merchant(merchant_id, marketplace))


def get(merchant_id: str, marketplace: str) -> dict[str, Any]:
    check_marketplace(marketplace)
    profiles.clear_cache()
    profile = profiles.get_profile(merchant_id) or {}
    return _with_pull(merchant_id, view((profile.get("integrations") or {}).get(marketplace), marketplace))


def _with_pull(merchant_id: str, shown: dict[str, Any]) -> dict[str, Any]:
    """The view with the pull's state (docs/pull.md): its cursor, failures and last error."""
    from orderhub.domain.pull import status_view

    item = db.get_pull_item(merchant_id, shown["marketplace"])
    return {**shown, "pull_status": status_view(item, bool(shown.get("pull")))}


def put(merchant_id: str, marketplace: str, body: Any) -> dict[str, Any]:
    """Merge the given keys into the stored settings (others kept) and return the new view.
    An api_base_url must pass orderhub.domain.outbound's rule and its host must resolve to
    public addresses only (docs/sync-flows.md, "Outbound URLs")."""
    check_marketplace(marketplace)
    url_given = isinstance(body, dict) and any(body.get(key) for key in URL_KEYS)
    if url_given:
        # The marketplace client module only when a URL is set (docs/architecture.md: lazy imports).
        from orderhub.marketplaces import client as marketplace_api

        changes = validate(body, marketplace, allowed_origins=marketplace_api.allowed_origins())
        for key in URL_KEYS:
            if changes.get(key):
                marketplace_api.check_resolves(changes[key], field=key)
    else:
        changes = validate(body, marketplace)
    profiles.clear_cache()
    profile = profiles.get_profile(merchant_id)
    if profile is None:
        raise NotFound(f"unknown merchant {merchant_id!r}", field="merchant_id")
    stored = dict((profile.get("integrations") or {}).get(marketplace) or {})
    stored_before = dict(stored)
    secrets = [key for key in SECRET_KEYS if changes.get(key)]
    if secrets:
        from orderhub.merchants import sealed

        for key in secrets:
            changes[key] = sealed.seal(changes[key], merchant_id, sealed.secret_purpose(key, marketplace))
    stored.update(changes)
    merged = effective(stored, marketplace)
    if merged.get("pull"):
        _check_pull(merged, marketplace)
    if (merged.get("warehouse_heartbeat_seconds") or 0) >= merged["warehouse_timeout_seconds"]:
        raise ValidationFailed(
            "warehouse_heartbeat_seconds must be less than warehouse_timeout_seconds",
            field="warehouse_heartbeat_seconds",
        )
    # The settings decide whether an integration is pulled; the pull's list only says where to
    # look. So it is written first when pull is turned on and last when it is turned off: a
    # failure between the two writes leaves an entry the pull skips, never a pull left out.
    # Amazon's notifications name the seller account: it may be one merchant's only.
    old_seller, new_seller = str(stored_before.get("seller_id") or ""), str(merged.get("seller_id") or "")
    if new_seller and new_seller != old_seller and not db.claim_seller(marketplace, new_seller, merchant_id):
        raise Conflict(
            "this seller account is connected to another merchant",
            field="seller_id",
            rule="seller_taken",
        )
    turning_on = changes.get("pull") is True
    if turning_on:
        db.set_pull_enabled(merchant_id, marketplace, True)
    table = aws.table(settings().table_name)
    try:
        table.update_item(
            Key=keys.profile_key(merchant_id),
            UpdateExpression="SET #i.#m = :v",
            ConditionExpression="attribute_exists(#i)",
            ExpressionAttributeNames={"#i": "integrations", "#m": marketplace},
            ExpressionAttributeValues={":v": stored},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        table.update_item(
            Key=keys.profile_key(merchant_id),
            UpdateExpression="SET #i = :all",
            ExpressionAttributeNames={"#i": "integrations"},
            ExpressionAttributeValues={":all": {marketplace: stored}},
        )
    profiles.clear_cache()
    if "pull" in changes and not turning_on:
        db.set_pull_enabled(merchant_id, marketplace, False)
    if old_seller and old_seller != new_seller:
        db.release_seller(marketplace, old_seller, merchant_id)
    return _with_pull(merchant_id, view(stored, marketplace))


def _check_pull(merged: dict[str, Any], marketplace: str) -> None:
    """Pull needs an API to read from, in a protocol that lists changed orders."""
    from orderhub.marketplaces import registry

    if not hasattr(registry.client_class(marketplace), "list_changed"):
        raise ValidationFailed(
            f"{marketplace} pushes its orders (webhooks); it has no pull",
            field="pull",
            rule="pull_unsupported",
        )
    if not merged.get("api_base_url"):
        raise ValidationFailed("pull needs an api_base_url to read from", field="pull", rule="pull_needs_api")
