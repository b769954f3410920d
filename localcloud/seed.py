"""Demo data for a fresh local cloud: two merchants, their webhook secrets and tokens.

Writes `.orderhub/local.json` (SPEC section 9) so clients, scripts and tests know the API URL,
each merchant's bearer token and webhook secrets, and the warehouse's token.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

from localcloud import tokens
from localcloud.template import Template

log = logging.getLogger("localcloud.seed")

MERCHANTS = (("demo", "Demo Shop"), ("demo2", "Demo Shop 2"))
MARKETPLACES = ("shopify", "generic", "wish")
TOKEN_DAYS = 30


def _merchant_store() -> Any:
    """orderhub.merchants when the functions have a table and the shared layer; else None."""
    if not os.environ.get("TABLE_NAME"):
        log.warning("no TABLE_NAME in the functions' environment: merchant profiles are not stored")
        return None
    try:
        from orderhub import merchants
    except ModuleNotFoundError as exc:
        if exc.name != "orderhub":
            raise
        log.warning("the orderhub layer is not importable: merchant profiles are not stored")
        return None
    return merchants


def warehouse_audience(template: Template) -> str:
    return template.parameter("WarehouseAudience") or "orderhub-warehouse"


def merchant_claims(merchant_id: str, iss: str, aud: str) -> dict[str, Any]:
    return {
        "merchant_id": merchant_id,
        "sub": merchant_id,
        "iss": iss,
        "aud": aud,
        "exp": int(time.time()) + TOKEN_DAYS * 86400,
    }


def seed(
    template: Template,
    signing_key: bytes,
    api_url: str,
    *,
    default_issuer: str,
    default_audience: str,
) -> dict[str, Any]:
    """Create the demo merchants and return the local.json content."""
    iss = template.parameter("JwtIssuer") or default_issuer
    aud = template.parameter("MerchantAudience") or default_audience
    merchant_store = _merchant_store()
    merchants = []
    for merchant_id, name in MERCHANTS:
        webhook_secrets = {m: secrets.token_hex(16) for m in MARKETPLACES}
        if merchant_store is not None:
            merchant_store.put_profile(merchant_id, webhook_secrets, name=name)
        merchants.append(
            {
                "merchant_id": merchant_id,
                "token": tokens.encode(merchant_claims(merchant_id, iss, aud), signing_key),
                "webhook_secrets": webhook_secrets,
            }
        )
    warehouse_claims = {
        "sub": "warehouse",
        "role": "warehouse",
        "iss": iss,
        "aud": warehouse_audience(template),
        "exp": int(time.time()) + TOKEN_DAYS * 86400,
    }
    return {
        "api_url": api_url,
        "merchants": merchants,
        "warehouse_token": tokens.encode(warehouse_claims, signing_key),
    }


def write_config(state_dir: Path, config: dict[str, Any]) -> Path:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "local.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
