"""HS256 JWTs for the local JWT authorizer, signed and checked with joserfc.

On AWS the HTTP API's JWT authorizer checks tokens from the identity provider. Locally the
local cloud is the identity provider: it signs tokens with a key generated per run and
checks them the way API Gateway would (signature, `iss`, `aud`, `exp`, `nbf`).
joserfc is a dependency of the local cloud only (requirements-dev.txt), never of the layer. It
brings in `cryptography` (a quarter of a second of imports), so it is imported on first use:
by a started local cloud, not by every test that imports a `localcloud` module.
"""

from __future__ import annotations

import functools
import secrets
import time
from typing import Any

ALGORITHMS = ["HS256"]
# The claims the authorizer checks; others (iat, sub, scope...) are passed to the handler as they are.
_CHECKED = ("iss", "aud", "exp", "nbf")
_REASONS = {"iss": "wrong issuer", "aud": "wrong audience", "exp": "expired", "nbf": "not yet valid"}


class InvalidToken(ValueError):
    pass


@functools.lru_cache(maxsize=8)
def _octet_key(key: bytes) -> Any:
    from joserfc.jwk import OctKey

    return OctKey.import_key(key)


def new_key() -> bytes:
    return secrets.token_bytes(32)


def encode(claims: dict[str, Any], key: bytes) -> str:
    from joserfc import jwt

    return jwt.encode({"alg": "HS256"}, dict(claims), _octet_key(key), algorithms=ALGORITHMS)


def decode(token: str, key: bytes, *, issuer: str, audiences: list[str], leeway: int = 0) -> dict[str, Any]:
    """The token's claims if it is valid for this issuer and one of these audiences."""
    from joserfc import jwt
    from joserfc.errors import ExpiredTokenError, InvalidClaimError, JoseError, MissingClaimError

    try:
        claims = jwt.decode(token, _octet_key(key), algorithms=ALGORITHMS).claims
    except JoseError as exc:
        raise InvalidToken(exc.error.replace("_", " ")) from exc
    except (ValueError, TypeError) as exc:
        raise InvalidToken("malformed token") from exc
    registry = jwt.JWTClaimsRegistry(
        now=time.time,
        leeway=leeway,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "values": list(audiences)},
        exp={"essential": True},
    )
    try:
        registry.validate({name: claims[name] for name in _CHECKED if name in claims})
    except ExpiredTokenError as exc:
        raise InvalidToken("expired") from exc
    except MissingClaimError as exc:
        missing = exc.claim.split(",")
        raise InvalidToken(next(_REASONS[c] for c in _CHECKED if c in missing)) from exc
    except InvalidClaimError as exc:
        raise InvalidToken(_REASONS.get(exc.claim, "invalid claim")) from exc
    return claims
