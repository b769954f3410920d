"""Merchant routes on the daily digest's own address (docs/digest.md)."""

from __future__ import annotations

from orderhub.api import request
from orderhub.api.common import json_response
from orderhub.api.routing import Router

router = Router()


@router.get("/notifications")
def get_notifications():
    """Where the daily digest goes: {email, language (ja|en), subscription (none |
    pending_confirmation | confirmed)}."""
    from orderhub.schedules import digest_settings

    return json_response(200, digest_settings.get(request.merchant_id()))


@router.put("/notifications")
def put_notifications():
    """Set the digest's e-mail address (null: none) and language. A new address gets a confirmation
    mail from AWS first; the old one is unsubscribed. Body: {email?, language?}."""
    from orderhub.schedules import digest_settings

    b = request.body({"email", "language"}, required=True)
    return json_response(200, digest_settings.put(request.merchant_id(), b))
