"""Integration settings and the sync history on moto (the merchant profile's integrations map)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from orderhub.kernel.errors import NotFound, ValidationFailed
from orderhub.merchants import profiles, sealed
from orderhub.store import keys
from orderhub.sync import history as sync_history
from orderhub.sync import integrations


def test_defaults_then_put_merges_and_keeps_secrets_write_only(app_env):
    got = integrations.get("demo", "shopify")
    assert got["cancel_sync"] is True and got["modify_sync"] is False and got["api_token_set"] is False
    assert integrations.get("demo", "nextengine")["cancel_sync"] is False

    out = integrations.put("demo", "shopify", {"cancel_after_confirmed": True, "api_token": "t0k"})
    assert out["cancel_after_confirmed"] is True and out["api_token_set"] is True and "api_token" not in out
    out = integrations.put("demo", "shopify", {"warehouse_timeout_seconds": 600})
    assert out["cancel_after_confirmed"] is True and out["warehouse_timeout_seconds"] == 600
    stored = profiles.get_profile("demo")["integrations"]["shopify"]
    assert stored["warehouse_timeout_seconds"] == 600
    # the token is stored sealed with the stack's KMS key, bound to the merchant and marketplace
    assert stored["api_token"].startswith(sealed.PREFIX) and "t0k" not in stored["api_token"]
    assert sealed.unseal(stored["api_token"], "demo", sealed.api_token_purpose("shopify")) == "t0k"
    sealed.clear_cache()
    with pytest.raises(ClientError):  # another merchant's context does not open it
        sealed.unseal(stored["api_token"], "demo2", sealed.api_token_purpose("shopify"))
    assert integrations.for_merchant("demo", "shopify")["warehouse_timeout_seconds"] == 600
    assert integrations.get("demo2", "shopify")["cancel_after_confirmed"] is False


def test_put_validates(app_env):
    with pytest.raises(ValidationFailed) as err:
        integrations.put("demo", "shopify", {"warehouse_heartbeat_seconds": 90000})
    assert err.value.field == "warehouse_heartbeat_seconds"
    with pytest.raises(NotFound):
        integrations.put("demo", "amazonia", {})
    with pytest.raises(NotFound):
        integrations.put("nobody", "shopify", {"cancel_sync": True})


def test_each_marketplace_takes_its_own_credentials_sealed_and_write_only(app_env):
    from orderhub.marketplaces import registry
    from tests.support.outbound import allowing

    with pytest.raises(ValidationFailed) as err:  # Rakuten's keys are not Amazon's
        integrations.put("demo", "amazon", {"license_key": "SL1"})
    assert err.value.field == "license_key"
    with pytest.raises(ValidationFailed) as err:
        integrations.put("demo", "shopify", {"lwa_refresh_token": "Atzr|x"})
    assert err.value.field == "lwa_refresh_token"
    with pytest.raises(ValidationFailed) as err:  # a URL orderhub calls passes the outbound rule
        integrations.put("demo", "amazon", {"lwa_token_url": "http://169.254.169.254/token"})
    assert err.value.field == "lwa_token_url"

    shown = integrations.get("demo", "amazon")
    assert shown["amazon_marketplace_id"] == "A1VC38T7YXB528"  # Amazon.co.jp
    assert shown["lwa_refresh_token_set"] is False and "lwa_refresh_token" not in shown
    assert "license_key_set" not in shown  # only the marketplace's own secrets are named
    with allowing("https://api.example.test:443"):
        out = integrations.put(
            "demo",
            "amazon",
            {
                "api_base_url": "https://api.example.test",
                "lwa_client_id": "amzn1.application-oa2-client.1",
                "lwa_client_secret": "s3cret",
                "lwa_refresh_token": "Atzr|r3fresh",
            },
        )
        assert out["lwa_client_secret_set"] is out["lwa_refresh_token_set"] is True
        assert out["lwa_client_id"] == "amzn1.application-oa2-client.1"
        stored = profiles.get_profile("demo")["integrations"]["amazon"]
        assert stored["lwa_refresh_token"].startswith(sealed.PREFIX)
        assert "r3fresh" not in str(stored)
        client = registry.client_for("demo", "amazon")
        assert client.credential("lwa_refresh_token") == "Atzr|r3fresh"
        assert client.credential("lwa_client_secret") == "s3cret"
        assert "r3fresh" not in repr(client)


def test_a_seller_account_belongs_to_one_merchant(app_env):
    from orderhub.kernel.errors import Conflict
    from orderhub.store import db

    integrations.put("demo", "amazon", {"seller_id": "A2SELLER"})
    assert db.merchant_of_seller("amazon", "A2SELLER") == "demo"
    with pytest.raises(Conflict) as err:
        integrations.put("demo2", "amazon", {"seller_id": "A2SELLER", "hold_minutes": 5})
    assert err.value.field == "seller_id"
    assert integrations.get("demo2", "amazon")["hold_minutes"] == 60  # nothing changed
    integrations.put("demo", "amazon", {"seller_id": "A2OTHER"})  # the old account is let go
    assert db.merchant_of_seller("amazon", "A2SELLER") is None
    integrations.put("demo2", "amazon", {"seller_id": "A2SELLER"})
    assert db.merchant_of_seller("amazon", "A2SELLER") == "demo2"


def test_put_without_an_integrations_map(app_env):
    from orderhub.kernel import aws
    from orderhub.kernel.config import settings

    aws.table(settings().table_name).update_item(
        Key=keys.profile_key("demo"), UpdateExpression="REMOVE integrations"
    )
    assert integrations.put("demo", "generic", {"modify_sync": True})["modify_sync"] is True


def test_sync_history_lists_newest_first_with_filters(app_env):
    days = [datetime(2026, 1, d, 9, 0, tzinfo=UTC) for d in (1, 2, 3)]
    sync_history.record("demo", "cancel", "applied", order_id="o1", at=days[0])
    sync_history.record("demo", "cancel", "not_reflected", reason="packed", order_id="o2", at=days[1])
    sync_history.record("demo", "modify", "applied", order_id="o3", at=days[2], paid=True)
    sync_history.record("demo2", "cancel", "applied", order_id="x", at=days[2])

    page = sync_history.list_page("demo", {})
    assert [e["order_id"] for e in page["entries"]] == ["o3", "o2", "o1"]
    assert page["entries"][0]["paid"] is True
    cancels = sync_history.list_page("demo", {"kind": "cancel"})["entries"]
    assert [e["order_id"] for e in cancels] == ["o2", "o1"]
    only = sync_history.list_page("demo", {"outcome": "not_reflected"})["entries"]
    assert [(e["order_id"], e["reason"]) for e in only] == [("o2", "packed")]
    ranged = sync_history.list_page("demo", {"from": "2026-01-02", "to": "2026-01-02"})["entries"]
    assert [e["order_id"] for e in ranged] == ["o2"]
    assert [e["order_id"] for e in sync_history.list_page("demo", {"to": "2026-01-01"})["entries"]] == ["o1"]

    for i in range(30):
        sync_history.record("demo2", "cancel", "applied", order_id=f"p{i}")
    first = sync_history.list_page("demo2", {"page_size": "25"})
    assert len(first["entries"]) == 25 and first["next_cursor"]
    rest = sync_history.list_page("demo2", {"page_size": "25", "cursor": first["next_cursor"]})
    assert len(rest["entries"]) == 6 and rest["next_cursor"] is None
    with pytest.raises(ValidationFailed) as err:
        sync_history.list_page("demo2", {"page_size": "25", "kind": "cancel", "cursor": first["next_cursor"]})
    assert err.value.field == "cursor"
    with pytest.raises(ValidationFailed) as err:
        sync_history.list_page("demo", {"from": "2026-01-03", "to": "2026-01-01"})
    assert err.value.field == "from"


def test_sync_history_filters_by_marketplace(app_env):
    sync_history.record("demo", "cancel", "applied", order_id="s1", marketplace="shopify")
    sync_history.record("demo", "cancel", "applied", order_id="w1", marketplace="wish")
    sync_history.record("demo", "modify", "applied", order_id="s2", marketplace="shopify")
    shopify = sync_history.list_page("demo", {"marketplace": "shopify"})["entries"]
    assert [e["order_id"] for e in shopify] == ["s2", "s1"]
    both = sync_history.list_page("demo", {"marketplace": "shopify", "kind": "cancel"})["entries"]
    assert [e["order_id"] for e in both] == ["s1"]
    with pytest.raises(ValidationFailed) as err:
        sync_history.list_page("demo", {"marketplace": "Shopify!"})
    assert err.value.field == "marketplace"
