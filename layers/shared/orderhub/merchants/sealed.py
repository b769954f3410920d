"""Secrets at rest: a merchant's webhook secrets and marketplace API tokens are stored sealed
with the stack's KMS key (`SecretsKey`), bound to the merchant and their purpose by KMS's
encryption context, so the table holds no plaintext secret; only the functions that verify a
webhook or call a marketplace may decrypt (their `kms:Decrypt` grant), and those that set a
secret may encrypt (docs/onboarding.md).

A sealed value reads `kms:v1:<base64 ciphertext>`. A value without that prefix is a secret
stored before sealing: it is used as it is, and sealed when next rotated or set.
"""

from __future__ import annotations

import base64
import threading

from orderhub.kernel import aws, caches
from orderhub.kernel.config import settings

PREFIX = "kms:v1:"
_opened: dict[str, str] = {}  # sealed value -> plaintext: one Decrypt per value per process
_lock = threading.Lock()


def _context(merchant_id: str, purpose: str) -> dict[str, str]:
    return {"merchant_id": merchant_id, "purpose": purpose}


def seal(value: str, merchant_id: str, purpose: str) -> str:
    """`value` encrypted with the stack's key for this merchant and purpose."""
    if not value or value.startswith(PREFIX):
        return value
    key = settings().secrets_key_arn
    if not key:
        raise RuntimeError("SECRETS_KEY_ARN is not set: this function can't store a secret")
    blob = aws.client("kms").encrypt(
        KeyId=key, Plaintext=value.encode("utf-8"), EncryptionContext=_context(merchant_id, purpose)
    )["CiphertextBlob"]
    return PREFIX + base64.b64encode(blob).decode("ascii")


def unseal(value: str, merchant_id: str, purpose: str) -> str:
    """The plaintext of a sealed value (a value stored before sealing is returned as it is)."""
    if not value or not value.startswith(PREFIX):
        return value
    with _lock:
        hit = _opened.get(value)
    if hit is not None:
        return hit
    plain = (
        aws.client("kms")
        .decrypt(
            KeyId=settings().secrets_key_arn,
            CiphertextBlob=base64.b64decode(value[len(PREFIX) :]),
            EncryptionContext=_context(merchant_id, purpose),
        )["Plaintext"]
        .decode("utf-8")
    )
    with _lock:
        _opened[value] = plain
    return plain


def webhook_purpose(fmt: str) -> str:
    return f"webhook_secret/{fmt}"


def secret_purpose(key: str, marketplace: str) -> str:
    """The encryption context of an integration's secret (domain/settings.py SECRET_KEYS)."""
    return f"{key}/{marketplace}"


def api_token_purpose(marketplace: str) -> str:
    return secret_purpose("api_token", marketplace)


def clear_cache() -> None:
    with _lock:
        _opened.clear()


caches.register(clear_cache)
