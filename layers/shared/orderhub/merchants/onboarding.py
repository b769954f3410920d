"""Creating and updating merchants, and issuing their webhook secrets (docs/onboarding.md).

The operator runs these through `scripts/onboard.py` with the stack's AWS credentials; a
merchant rotates its own secrets through the merchant API (POST /webhook-secrets/{format}).
Every write is conditional: a merchant id is created once, an update or a rotation applies to
the profile as it was read (a concurrent rotation makes the later one retry on fresh data).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botocore.exceptions import ClientError

from orderhub.kernel import aws, clock, ids
from orderhub.kernel.config import settings
from orderhub.kernel.errors import Conflict, NotFound, ValidationFailed
from orderhub.merchants import profiles, sealed, secrets
from orderhub.store import keys

MAX_ATTEMPTS = 5


class MerchantExists(Conflict):
    code = "merchant_exists"


def _table():
    return aws.table(settings().table_name)


def check_id(merchant_id: Any) -> str:
    if not ids.is_merchant_id(merchant_id):  # the one rule (kernel/ids.py), also the APIs' claims
        raise ValidationFailed(
            f"a merchant id is {ids.MERCHANT_ID_RULE}",
            field="merchant_id",
            rule="merchant_id_format",
        )
    return merchant_id


def check_timezone(name: Any) -> str:
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            f"{name!r} is not an IANA time zone", field="timezone", rule="known_timezone"
        ) from None
    return str(name)


def check_service_start(text: Any) -> str:
    try:
        at = clock.parse_iso(str(text))
    except ValueError:
        raise ValidationFailed(
            "service_start is an ISO 8601 date-time with its offset", field="service_start"
        ) from None
    if at.tzinfo is None:
        raise ValidationFailed("service_start needs its UTC offset", field="service_start")
    return clock.iso(at)


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ValidationFailed("a display name has 1 to 200 characters", field="name")
    return name.strip()


def create_merchant(
    merchant_id: str,
    name: str,
    timezone: str = "Asia/Tokyo",
    service_start: str | None = None,
    generic_marketplaces: list[str] | None = None,
) -> dict:
    """A new merchant with one generated webhook secret per format; the generic one speaks for
    `generic_marketplaces` (none until declared). MerchantExists (409) if the id is taken.
    Returns the profile (with its secrets: shown to the operator once)."""
    item = {
        **keys.profile_key(check_id(merchant_id)),
        "merchant_id": merchant_id,
        "name": check_name(name),
        "timezone": check_timezone(timezone),
        "previous_webhook_secrets": {},
        "webhook_scopes": {},
        "integrations": {},
        "created_at": clock.iso(clock.now()),
    }
    if service_start is not None:
        item["service_start"] = check_service_start(service_start)
    if generic_marketplaces is not None:
        item["webhook_scopes"] = {"generic": secrets.check_marketplaces("generic", generic_marketplaces)}
    plain = {fmt: secrets.new_secret() for fmt in secrets.FORMATS}
    item["webhook_secrets"] = {
        fmt: sealed.seal(secret, merchant_id, sealed.webhook_purpose(fmt)) for fmt, secret in plain.items()
    }
    try:
        _table().put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise MerchantExists(f"merchant {merchant_id} exists", field="merchant_id") from None
        raise
    profiles.clear_cache()
    return {**_public(item), "webhook_secrets": plain}


def update_merchant(merchant_id: str, **fields: Any) -> dict:
    """Change a merchant's display name, time zone or service start (None: unchanged)."""
    checks = {"name": check_name, "timezone": check_timezone, "service_start": check_service_start}
    unknown = set(fields) - set(checks)
    if unknown:
        raise ValidationFailed(f"unknown fields {sorted(unknown)}", field=sorted(unknown)[0])
    changes = {k: checks[k](v) for k, v in fields.items() if v is not None}
    if not changes:
        return show_merchant(merchant_id)
    names = {f"#f{n}": k for n, k in enumerate(changes)}
    values = {f":v{n}": v for n, v in enumerate(changes.values())}
    try:
        resp = _table().update_item(
            Key=keys.profile_key(check_id(merchant_id)),
            UpdateExpression="SET " + ", ".join(f"#f{n} = :v{n}" for n in range(len(changes))),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise NotFound(f"merchant {merchant_id} not found", field="merchant_id") from None
        raise
    profiles.clear_cache()
    return _public(resp["Attributes"])


def show_merchant(merchant_id: str) -> dict:
    item = _read(merchant_id)
    return _public(item)


def rotate_secret(
    merchant_id: str,
    fmt: str,
    *,
    secret: str | None = None,
    overlap: timedelta = secrets.DEFAULT_OVERLAP,
    marketplaces: list[str] | None = None,
    now: datetime | None = None,
) -> dict:
    """Give `fmt` a new webhook secret (generated, or the one the marketplace issued); the old
    one keeps verifying for `overlap`, for the marketplaces it was issued for. The new generic
    secret speaks for `marketplaces` (None: the same as the old one). Returns {format, secret,
    previous_valid_until, marketplaces}."""
    secrets.check_format(fmt)
    if marketplaces is not None:
        marketplaces = secrets.check_marketplaces(fmt, marketplaces)
    new = secrets.check_secret(secret) if secret is not None else secrets.new_secret()
    secrets.check_overlap(overlap)
    stored = sealed.seal(new, check_id(merchant_id), sealed.webhook_purpose(fmt))  # once, not per retry
    for _ in range(MAX_ATTEMPTS):
        item = _read(merchant_id)
        at = now or clock.now()
        fields = secrets.rotated(item, fmt, stored, at, overlap, marketplaces)
        try:
            _table().update_item(
                Key=keys.profile_key(merchant_id),
                UpdateExpression="SET webhook_secrets = :s, previous_webhook_secrets = :p, "
                "webhook_scopes = :scopes, secrets_version = :next",
                ConditionExpression="attribute_exists(pk) AND "
                "(attribute_not_exists(secrets_version) OR secrets_version = :read)",
                ExpressionAttributeValues={
                    ":s": fields["webhook_secrets"],
                    ":p": fields["previous_webhook_secrets"],
                    ":scopes": fields["webhook_scopes"],
                    ":read": int(item.get("secrets_version", 0)),
                    ":next": int(item.get("secrets_version", 0)) + 1,
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                continue  # rotated by someone else meanwhile: read again
            raise
        profiles.clear_cache()
        previous = fields["previous_webhook_secrets"].get(fmt) or {}
        return {
            "format": fmt,
            "secret": new,
            "previous_valid_until": previous.get("valid_until"),
            "marketplaces": list(secrets.scope({**item, **fields}, fmt)),
        }
    raise Conflict("the secrets kept changing; try again", field="format", rule="concurrent_rotation")


def _read(merchant_id: str) -> dict:
    item = _table().get_item(Key=keys.profile_key(check_id(merchant_id)), ConsistentRead=True).get("Item")
    if item is None:
        raise NotFound(f"merchant {merchant_id} not found", field="merchant_id")
    return item


def _public(item: dict) -> dict:
    out = {k: item.get(k) for k in ("merchant_id", "name", "timezone", "service_start", "created_at")}
    out["webhook_formats"] = sorted((item.get("webhook_secrets") or {}).keys())
    out["webhook_scopes"] = {fmt: list(secrets.scope(item, fmt)) for fmt in out["webhook_formats"]}
    return out
