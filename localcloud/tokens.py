"""The local identity provider: RS256 JWTs and the JWKS that checks them (joserfc).

On AWS the HTTP API's JWT authorizer checks tokens against the public keys the identity
provider (the stack's Cognito user pool, or the issuer named by `JwtIssuer`) publishes as a
JWKS. Locally the local cloud is that identity provider: `IdentityProvider` signs tokens with an
RSA key and publishes the public half at `GET /_local/.well-known/jwks.json`, and `verify`
checks a token the way API Gateway does, from the JWKS alone:

1. the header names an RSA algorithm (API Gateway accepts no other: `HS256` and `none` are
   refused) and a `kid` that is in the key set;
2. the signature verifies with that key;
3. `iss` is the authorizer's issuer; `aud`, or `client_id` when there is no `aud` (a Cognito
   access token), is one of its audiences; `exp` is in the future; `nbf` and `iat`, when
   present, are not.

joserfc is a dependency of the local cloud only (requirements-dev.txt), never of the layer. It
brings in `cryptography` (a quarter of a second of imports), so it is imported on first use:
by a started local cloud, not by every test that imports a `localcloud` module.
"""

from __future__ import annotations

import base64
import functools
import json
import time
from typing import Any

# The algorithms API Gateway's JWT authorizer accepts ("only RSA-based algorithms").
ALGORITHMS = ("RS256", "RS384", "RS512")
SIGNING_ALGORITHM = "RS256"  # what Cognito signs with
KEY_BITS = 2048


class InvalidToken(ValueError):
    pass


def _new_key() -> Any:
    """A new RSA signing key with its kid (the RFC 7638 thumbprint)."""
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(KEY_BITS, parameters={"use": "sig", "alg": SIGNING_ALGORITHM})
    key.ensure_kid()
    return key


@functools.lru_cache(maxsize=1)
def _process_key() -> Any:
    """One RSA key per process: generating one costs a tenth of a second, and every local cloud
    of a test run may share it (each publishes it in its own JWKS)."""
    return _new_key()


class IdentityProvider:
    """Signs tokens as the stack's identity provider would, and publishes the key that checks them."""

    def __init__(self, key: Any = None):
        self._key = key  # a joserfc RSAKey with a kid; made on first use
        self._jwks: dict[str, Any] | None = None  # the key never changes: its JWKS is made once

    @property
    def key(self) -> Any:
        if self._key is None:
            self._key = _process_key()
        return self._key

    @classmethod
    def generate(cls) -> IdentityProvider:
        """An identity provider with a key of its own (tests of a foreign signer)."""
        return cls(_new_key())

    @classmethod
    def from_private_jwk(cls, jwk: dict[str, Any]) -> IdentityProvider:
        """The identity provider whose key was kept (localcloud/state.py): ValueError if unusable."""
        from joserfc.jwk import RSAKey

        try:
            key = RSAKey.import_key(jwk)
        except Exception as exc:  # noqa: BLE001 joserfc raises several kinds for a bad key
            raise ValueError(str(exc)) from exc
        if not key.is_private or not key.kid:
            raise ValueError("not a private RSA key with a kid")
        return cls(key)

    def private_jwk(self) -> dict[str, Any]:
        """The signing key with its private parameters, for the state directory (0600) only."""
        return dict(self.key.as_dict(private=True))

    def issue(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        """The claims signed with RS256; `kid` overrides the header's key id (tests only)."""
        from joserfc import jwt

        header = {"alg": SIGNING_ALGORITHM, "typ": "JWT", "kid": kid or self.key.kid}
        return jwt.encode(header, dict(claims), self.key, algorithms=[SIGNING_ALGORITHM])

    def jwks(self) -> dict[str, Any]:
        """The public key set, as served at the issuer's jwks_uri (no private parameter). The
        authorizer reads it on every request, so it is built once."""
        if self._jwks is None:
            public = self.key.as_dict(private=False)
            self._jwks = {"keys": [{**public, "alg": SIGNING_ALGORITHM, "use": "sig", "kid": self.key.kid}]}
        return self._jwks


def _header(token: str) -> dict[str, Any]:
    try:
        segment = token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidToken("malformed token") from exc
    if not isinstance(header, dict):
        raise InvalidToken("malformed token")
    return header


def verify(
    token: str, jwks: dict[str, Any], *, issuer: str, audiences: list[str], leeway: int = 0
) -> dict[str, Any]:
    """The token's claims if it is valid for this issuer and one of these audiences, checked
    with the public key set `jwks` only; InvalidToken (with the reason) otherwise."""
    from joserfc import jwt
    from joserfc.errors import JoseError

    header = _header(token)
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise InvalidToken(f"algorithm {alg!r} is not accepted")
    kid = header.get("kid")
    published = next((k for k in jwks.get("keys", []) if kid and k.get("kid") == kid), None)
    if published is None or published.get("kty") != "RSA":
        raise InvalidToken("no published key matches the token's kid")
    try:
        claims = jwt.decode(
            token, _public_key(json.dumps(published, sort_keys=True)), algorithms=[alg]
        ).claims
    except JoseError as exc:
        raise InvalidToken(exc.error.replace("_", " ")) from exc
    except (ValueError, TypeError) as exc:
        raise InvalidToken("malformed token") from exc
    _check_claims(claims, issuer=issuer, audiences=audiences, leeway=leeway)
    return claims


@functools.lru_cache(maxsize=16)
def _public_key(published: str) -> Any:
    from joserfc.jwk import RSAKey

    return RSAKey.import_key(json.loads(published))


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidToken(f"{name} is not a number")
    return float(value)


def _check_claims(claims: dict[str, Any], *, issuer: str, audiences: list[str], leeway: int) -> None:
    if claims.get("iss") != issuer:
        raise InvalidToken("wrong issuer")
    # API Gateway reads client_id only when there is no aud (Cognito access tokens have none).
    audience = claims["aud"] if "aud" in claims else claims.get("client_id")
    held = audience if isinstance(audience, list) else [audience]
    if not any(isinstance(a, str) and a in audiences for a in held):
        raise InvalidToken("wrong audience")
    now = time.time()
    exp = _number(claims, "exp")
    if exp is None:
        raise InvalidToken("no exp")
    if exp <= now - leeway:
        raise InvalidToken("expired")
    for name in ("nbf", "iat"):
        value = _number(claims, name)
        if value is not None and value > now + leeway:
            raise InvalidToken(f"{name} is in the future")
