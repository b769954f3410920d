"""HS256 JWTs for the local JWT authorizer (hmac + hashlib, no extra dependency).

On AWS the HTTP API's JWT authorizer checks tokens from the identity provider. Locally the
local cloud is the identity provider: it signs tokens with a key generated per run and
checks them the way API Gateway would (signature, `iss`, `aud`, `exp`, `nbf`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any


class InvalidToken(ValueError):
    pass


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_key() -> bytes:
    return secrets.token_bytes(32)


def encode(claims: dict[str, Any], key: bytes) -> str:
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def decode(token: str, key: bytes, *, issuer: str, audiences: list[str], leeway: int = 0) -> dict[str, Any]:
    """The token's claims if it is valid for this issuer and one of these audiences."""
    try:
        header_b64, claims_b64, signature_b64 = token.split(".")
        header = json.loads(_b64url_decode(header_b64))
        claims = json.loads(_b64url_decode(claims_b64))
        signature = _b64url_decode(signature_b64)
    except ValueError as exc:
        raise InvalidToken("malformed token") from exc
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise InvalidToken("unsupported alg")
    expected = hmac.new(key, f"{header_b64}.{claims_b64}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise InvalidToken("bad signature")
    if not isinstance(claims, dict):
        raise InvalidToken("claims are not an object")
    if claims.get("iss") != issuer:
        raise InvalidToken("wrong issuer")
    aud = claims.get("aud")
    token_audiences = aud if isinstance(aud, list) else [aud]
    if not set(token_audiences) & set(audiences):
        raise InvalidToken("wrong audience")
    now = time.time()
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp <= now - leeway:
        raise InvalidToken("expired")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and nbf > now + leeway:
        raise InvalidToken("not yet valid")
    return claims
