"""Webhook reception: verify, validate and enqueue one delivery (POST /webhooks/{marketplace}/
{merchant_id}, functions/webhook_receiver). The ingest processor applies what is queued
(webhooks/ingest.py process); the receiver does not import that side (the domain rules, the
flows, the sync history), which would cost its cold start ~13 ms.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from orderhub.kernel import ids, metrics
from orderhub.kernel.errors import (
    Forbidden,
    MalformedPayload,
    NotFound,
    OrderhubError,
    PayloadTooLarge,
    SignatureInvalid,
)
from orderhub.kernel.http import dumps
from orderhub.marketplaces.registry import get_adapter
from orderhub.merchants import profiles, sealed, secrets
from orderhub.store import db
from orderhub.webhooks import payloads

MAX_BODY_BYTES = 256 * 1024
# Headers kept with a quarantined payload (enough to replay it by hand).
_KEPT_HEADERS = {
    "content-type",
    "user-agent",
    "x-shopify-topic",
    "x-shopify-webhook-id",
    "x-shopify-shop-domain",
    "x-shopify-triggered-at",
    "x-orderhub-timestamp",
    "x-wish-topic",
    "x-wish-event-id",
    "wish-topic",
    "wish-merchant-id",
    "wish-subscription-id",
    "wish-retry-attempt",
}


def receive(
    adapter_name: str, merchant_id: str, headers: Mapping[str, str], body: bytes, now: datetime
) -> dict:
    """Verify and validate one webhook and enqueue it. Raises an OrderhubError on refusal.
    Counted: WebhooksReceived, and WebhooksRefused by reason (kernel/metrics.py), under the
    marketplace's name, or `other` for a path naming none (a dimension value is never the
    client's own text)."""
    adapter = get_adapter(adapter_name)
    marketplace = adapter_name if adapter is not None else "other"
    metrics.count("WebhooksReceived", marketplace=marketplace, merchant_id=merchant_id)
    try:
        if adapter is None:
            raise NotFound(f"unknown marketplace {adapter_name!r}", field="marketplace")
        return _receive(adapter, merchant_id, headers, body, now)
    except OrderhubError as exc:
        metrics.count("WebhooksRefused", marketplace=marketplace, reason=exc.code, merchant_id=merchant_id)
        raise


def _receive(adapter, merchant_id: str, headers: Mapping[str, str], body: bytes, now: datetime) -> dict:
    """receive's work, for a known marketplace's adapter.

    An unknown merchant, or one without a secret of this format, is answered exactly as a wrong
    signature is (401), so the route does not tell which merchant ids exist."""
    adapter_name = adapter.name
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}", field="body")
    # An id off the merchant id rule is no merchant: not even looked up (or cached).
    profile = profiles.get_profile(merchant_id) if ids.is_merchant_id(merchant_id) else None
    candidates = secrets.verifying(profile, adapter_name, now) if profile is not None else []
    headers = {k.lower(): v for k, v in headers.items()}
    purpose = sealed.webhook_purpose(adapter_name)
    if candidates:
        signers = [c._replace(secret=sealed.unseal(c.secret, merchant_id, purpose)) for c in candidates]
    else:  # verified against a secret nobody holds: the same answer as a wrong signature
        signers = [secrets.Signer(secrets.new_secret(), ())]
    signer = _verify(adapter, headers, body, signers, now)
    metrics.count("WebhooksVerified", marketplace=adapter_name, merchant_id=merchant_id)
    batch = getattr(adapter, "batch", None)
    try:
        elements = batch(headers, body) if batch is not None else None
        if elements is None:
            delivery_id, change = adapter.parse(headers, body)
    except MalformedPayload as exc:
        _quarantine(merchant_id, adapter_name, exc, headers, body, now)
        raise
    if elements is not None:
        return _receive_batch(adapter, merchant_id, signer, headers, elements, now)
    refusal = _scope_refusal(signer, change, adapter_name)
    if refusal is not None:
        _quarantine(merchant_id, adapter_name, refusal, headers, body, now)
        raise refusal
    return _enqueue(merchant_id, adapter_name, delivery_id, change, now)


def _receive_batch(adapter, merchant_id: str, signer, headers: dict, elements: list, now: datetime) -> dict:
    """A signed delivery of several orders (Wish's own format): each order is a delivery of its
    own. A malformed or out-of-scope order is quarantined whole, with its position, and the
    others are queued; the answer (200) lists what became of each, so the marketplace does not
    resend the batch for the one orderhub keeps (docs/webhooks.md)."""
    results = []
    for index, element in enumerate(elements):
        try:
            delivery_id, change = adapter.parse_element(headers, index, element)
            refusal = _scope_refusal(signer, change, adapter.name)
        except MalformedPayload as exc:
            refusal = exc
        if refusal is not None:
            _quarantine(merchant_id, adapter.name, refusal, headers, dumps(element).encode("utf-8"), now)
            results.append({"index": index, "status": "quarantined", **refusal.to_body()})
            continue
        results.append({"index": index, **_enqueue(merchant_id, adapter.name, delivery_id, change, now)})
    queued = sum(1 for r in results if r["status"] == "queued")
    return {"status": "queued", "queued": queued, "quarantined": len(results) - queued, "orders": results}


def _enqueue(merchant_id: str, adapter_name: str, delivery_id: str, change, now: datetime) -> dict:
    payloads.enqueue(merchant_id, adapter_name, delivery_id, change, now)
    return {"status": "queued", "delivery_id": delivery_id, "topic": change.topic}


def _scope_refusal(signer, change, adapter_name: str) -> Forbidden | None:
    """None when the signing secret speaks for the change's marketplace; else the refusal (403),
    which the caller quarantines with the delivery."""
    if secrets.speaks_for(signer, change.marketplace):
        return None
    return Forbidden(
        f"this {adapter_name} secret does not speak for {change.marketplace} orders"
        + (
            f" ({change.marketplace} has its own webhook route)"
            if change.marketplace in secrets.OWN_CHANNELS
            else f"; it speaks for: {', '.join(signer.marketplaces) or 'no marketplace yet'}"
        ),
        field="marketplace",
        rule="secret_scope",
    )


def _quarantine(
    merchant_id: str, adapter_name: str, exc: OrderhubError, headers: dict, body: bytes, now: datetime
) -> None:
    """Keep a signed delivery that is refused whole, with the reason; its id goes in the answer."""
    qid = db.put_quarantine(
        merchant_id,
        adapter_name,
        {"code": exc.code, "message": exc.message, "field": exc.field},
        {k: v for k, v in headers.items() if k in _KEPT_HEADERS},
        payloads.quarantined_body(merchant_id, body),  # whole: inline, or its bytes in S3
        now,
    )
    exc.details["quarantine_id"] = qid
    metrics.count("WebhooksQuarantined", marketplace=adapter_name, reason=exc.code, merchant_id=merchant_id)


def _verify(adapter, headers: dict, body: bytes, candidates: list, now: datetime):
    """The signer whose secret signed the body: the current one, or the previous one during a
    rotation's overlap."""
    for n, signer in enumerate(candidates):
        try:
            adapter.verify(headers, body, signer.secret, now)
            return signer
        except SignatureInvalid:
            if n == len(candidates) - 1:
                raise
    raise AssertionError("no candidates")
