"""Demo data for a fresh local cloud: two merchants, their webhook secrets and tokens.

Writes `.orderhub/local.json` (docs/local-cloud.md) so clients, scripts and tests know the API URL,
each merchant's bearer token and webhook secrets, and the warehouse's token.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localcloud.template import Template

log = logging.getLogger("localcloud.seed")

MERCHANTS = (("demo", "Demo Shop"), ("demo2", "Demo Shop 2"))
MARKETPLACES = ("shopify", "generic", "wish")
TOKEN_DAYS = 30


def _merchant_store() -> Any:
    """orderhub.merchants.profiles when the functions have a table and the shared layer; else None."""
    if not os.environ.get("TABLE_NAME"):
        log.warning("no TABLE_NAME in the functions' environment: merchant profiles are not stored")
        return None
    try:
        from orderhub.merchants import profiles
    except ModuleNotFoundError as exc:
        if exc.name != "orderhub":
            raise
        log.warning("the orderhub layer is not importable: merchant profiles are not stored")
        return None
    return profiles


def warehouse_audience_of(template: Template) -> str:
    return template.parameter("WarehouseAudience") or "orderhub-warehouse"


def is_user_pool(issuer: str) -> bool:
    """Whether the issuer is a Cognito user pool (https://cognito-idp.<region>.amazonaws.com/<pool id>)."""
    return issuer.startswith("https://cognito-idp.")


def user_claims(username: str, attributes: dict[str, str], iss: str, aud: str) -> dict[str, Any]:
    """The claims the issuer puts in a user's token. A Cognito user pool's ID token names the
    operator-set attributes `custom:<name>` (plus token_use, cognito:username, auth_time);
    another issuer (JwtIssuer) is expected to put them as plain claims (docs/onboarding.md)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": username,
        "iss": iss,
        "aud": aud,
        "iat": now,
        "exp": now + TOKEN_DAYS * 86400,
    }
    if is_user_pool(iss):
        claims.update({"token_use": "id", "auth_time": now, "cognito:username": username})
        claims.update({f"custom:{name}": value for name, value in attributes.items()})
    else:
        claims.update(attributes)
    return claims


def merchant_claims(merchant_id: str, iss: str, aud: str) -> dict[str, Any]:
    return user_claims(merchant_id, {"merchant_id": merchant_id}, iss, aud)


def seed(
    template: Template,
    issue: Callable[[dict[str, Any]], str],
    api_url: str,
    *,
    default_issuer: str,
    default_audience: str,
    warehouse_audience: str | None = None,
    fake_marketplace_url: str | None = None,
) -> dict[str, Any]:
    """Create the demo merchants and return the local.json content."""
    iss = default_issuer  # the issuer and audience the template's authorizer checks
    aud = default_audience
    merchant_store = _merchant_store()
    merchants = []
    for merchant_id, name in MERCHANTS:
        webhook_secrets = kept_secrets(merchant_store, merchant_id) if merchant_store is not None else None
        if webhook_secrets is None:
            webhook_secrets = {m: secrets.token_hex(16) for m in MARKETPLACES}
            integrations = marketplace_integrations(fake_marketplace_url, merchant_id)
            if merchant_store is not None:
                merchant_store.put_profile(merchant_id, webhook_secrets, name=name, integrations=integrations)
        merchants.append(
            {
                "merchant_id": merchant_id,
                "token": issue(merchant_claims(merchant_id, iss, aud)),
                "webhook_secrets": webhook_secrets,
            }
        )
    warehouse_claims = user_claims(
        "warehouse", {"role": "warehouse"}, iss, warehouse_audience or warehouse_audience_of(template)
    )
    config = {
        "api_url": api_url,
        "merchants": merchants,
        "warehouse_token": issue(warehouse_claims),
    }
    if fake_marketplace_url:
        config["fake_marketplace_url"] = fake_marketplace_url
    return config


def kept_secrets(merchant_store: Any, merchant_id: str) -> dict[str, str] | None:
    """A demo merchant kept from the previous run (localcloud/state.py): its profile stays as
    it was (settings, rotated secrets), and local.json shows its current webhook secrets. None
    when the merchant is new."""
    profile = merchant_store.get_profile(merchant_id)
    if not profile:
        return None
    from orderhub.merchants import sealed

    return {
        fmt: sealed.unseal(value, merchant_id, sealed.webhook_purpose(fmt))
        for fmt, value in (profile.get("webhook_secrets") or {}).items()
    }


# ---------------------------------------------------------------- marketplace APIs (fake marketplace)
# Marketplaces whose API the demo merchants reach on the local fake marketplace, and whether a
# merchant cancel is reflected there: on for Shopify and Wish (the merchant would otherwise
# have to cancel twice), off for the others (those merchants cancel in the marketplace's seller
# tool), so the local cloud shows both behaviours. Amazon, Rakuten, Qoo10 and Wish speak their
# own protocols (docs/connectors.md); ecforce speaks the orderhub marketplace protocol.
MARKETPLACE_APIS = {
    "shopify": True,
    "wish": True,
    "ecforce": False,
    "rakuten": False,
    "qoo10": False,
    "amazon": False,
}


def marketplace_integrations(
    fake_marketplace_url: str | None, merchant_id: str = "demo"
) -> dict[str, dict[str, Any]]:
    """Per-marketplace integration settings pointing at the fake marketplace ({} without one),
    with each marketplace's credentials (made up: the fake takes any)."""
    if not fake_marketplace_url:
        return {}
    base = fake_marketplace_url.rstrip("/")
    out: dict[str, dict[str, Any]] = {}
    for marketplace, reflect in MARKETPLACE_APIS.items():
        conf: dict[str, Any] = {
            "api_base_url": f"{base}/{marketplace}",
            "api_token": ("shpat_" if marketplace == "shopify" else "tok_") + secrets.token_hex(16),
            "reflect_cancel_to_marketplace": reflect,
        }
        if marketplace == "amazon":
            conf.update(
                lwa_client_id="amzn1.application-oa2-client." + secrets.token_hex(8),
                lwa_client_secret=secrets.token_hex(16),
                lwa_refresh_token="Atzr|" + secrets.token_hex(16),
                lwa_token_url=f"{base}/amazon/auth/o2/token",
                seller_id=f"A{merchant_id.upper()}SELLER",
            )
        if marketplace == "rakuten":
            conf.update(service_secret="SP" + secrets.token_hex(8), license_key="SL" + secrets.token_hex(8))
        out[marketplace] = conf
    return out


def write_config(state_dir: Path, config: dict[str, Any]) -> Path:
    """local.json: mode 0600 in a 0700 directory, replaced atomically (it holds every secret of
    the local cloud: tokens, webhook secrets, the admin token)."""
    from localcloud.state import write_private

    return write_private(state_dir / "local.json", config)
