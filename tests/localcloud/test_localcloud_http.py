"""The local HTTP API: routing, the JWT authorizers, the payload 2.0 event and responses."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request

import pytest

from localcloud import limits
from localcloud.functions import FunctionTimedOut
from localcloud.server.http import Route, Router

ISS = "https://issuer.test/"


def call(cloud, method, path, *, token=None, body=None, headers=None):
    hdrs = dict(headers or {})
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(cloud.api_url + path, data=body, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def echoed(cloud, method, path, **kw):
    status, _, body = call(cloud, method, path, **kw)
    assert status == 200, body
    return json.loads(body)["event"]


def token(cloud, **claims):
    base = {"sub": "m1", "merchant_id": "m1", "iss": ISS, "aud": "test-merchant", "exp": time.time() + 60}
    return cloud.issue_token({**base, **claims})


# ---------------------------------------------------------------- routing (no server)
def route(method, path):
    return Route(method=method, path=path, function_id=f"{method} {path}", authorizer=None)


def test_literal_segments_beat_parameters():
    router = Router(
        [route("GET", "/orders/{order_id}"), route("GET", "/orders/counts"), route("ANY", "/{proxy+}")]
    )
    r, params, _ = router.match("GET", "/orders/counts")
    assert r.path == "/orders/counts" and params == {}
    r, params, _ = router.match("GET", "/orders/o-1")
    assert r.path == "/orders/{order_id}" and params == {"order_id": "o-1"}
    r, params, _ = router.match("GET", "/a/b/c")
    assert r.path == "/{proxy+}" and params == {"proxy": "a/b/c"}


def test_unknown_path_and_method_mismatch():
    router = Router([route("GET", "/orders/{order_id}")])
    assert router.match("GET", "/nope") == (None, {}, False)
    assert router.match("DELETE", "/orders/1") == (None, {}, True)
    r, params, _ = router.match("GET", "/orders/a%20b")
    assert params == {"order_id": "a b"}


# ---------------------------------------------------------------- over HTTP
def test_unknown_route_is_404_json(cloud):
    status, headers, body = call(cloud, "GET", "/nope")
    assert status == 404
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "not_found"
    status, _, body = call(cloud, "DELETE", "/health")
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"


def test_literal_route_wins_over_the_parameter_route(cloud):
    t = token(cloud)
    assert echoed(cloud, "GET", "/orders/counts", token=t)["routeKey"] == "GET /orders/counts"
    event = echoed(cloud, "GET", "/orders/o-42", token=t)
    assert event["routeKey"] == "GET /orders/{order_id}"
    assert event["pathParameters"] == {"order_id": "o-42"}


def test_no_token_is_401(cloud):
    status, _, body = call(cloud, "GET", "/orders")
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
    assert call(cloud, "GET", "/orders", token="not-a-jwt")[0] == 401


def test_wrong_audience_is_401(cloud):
    assert call(cloud, "GET", "/orders", token=token(cloud, aud="someone-else"))[0] == 401


def test_bad_signature_is_401(cloud):
    header, claims, _ = token(cloud).split(".")
    forged = f"{header}.{claims}." + base64.urlsafe_b64encode(b"x" * 32).rstrip(b"=").decode()
    assert call(cloud, "GET", "/orders", token=forged)[0] == 401


def test_expired_token_is_401(cloud):
    assert call(cloud, "GET", "/orders", token=token(cloud, exp=time.time() - 5))[0] == 401


def test_wrong_issuer_is_401(cloud):
    assert call(cloud, "GET", "/orders", token=token(cloud, iss="https://evil.test/"))[0] == 401


def test_claims_reach_the_handler(cloud):
    event = echoed(cloud, "GET", "/orders", token=token(cloud, merchant_id="m-7", scope="orders:read"))
    jwt = event["requestContext"]["authorizer"]["jwt"]
    assert jwt["claims"]["merchant_id"] == "m-7"
    assert jwt["claims"]["iss"] == ISS
    assert jwt["scopes"] == ["orders:read"]


def test_each_authorizer_checks_its_own_audience(cloud):
    merchant = token(cloud)
    warehouse = token(cloud, aud="test-warehouse", sub="warehouse", role="warehouse")
    assert call(cloud, "GET", "/warehouse/ping", token=merchant)[0] == 401
    assert call(cloud, "GET", "/orders", token=warehouse)[0] == 401
    event = echoed(cloud, "GET", "/warehouse/ping", token=warehouse)
    assert event["requestContext"]["authorizer"]["jwt"]["claims"]["role"] == "warehouse"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_tokens_are_rs256_and_verify_with_the_published_jwks_alone(cloud):
    """A client (or API Gateway) checks a local token as it would a Cognito one: RS256, a kid
    that the issuer's JWKS publishes, and nothing private in that JWKS."""
    from joserfc import jwt
    from joserfc.jwk import KeySet

    status, headers, body = call(cloud, "GET", "/_local/.well-known/jwks.json")
    assert status == 200 and headers["content-type"] == "application/json"
    jwks = json.loads(body)
    assert cloud.config["jwks_url"] == cloud.api_url + "/_local/.well-known/jwks.json"
    (key,) = jwks["keys"]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
    t = cloud.config["merchants"][0]["token"]
    header = json.loads(base64.urlsafe_b64decode(t.split(".")[0] + "=="))
    assert header["alg"] == "RS256" and header["kid"] == key["kid"]
    claims = jwt.decode(t, KeySet.import_key_set(jwks), algorithms=["RS256"]).claims
    assert claims["aud"] == "test-merchant" and claims["merchant_id"] == "demo"


def test_a_token_not_signed_by_the_published_key_is_401(cloud):
    from localcloud.tokens import IdentityProvider

    claims = {"sub": "m1", "merchant_id": "m1", "iss": ISS, "aud": "test-merchant", "exp": time.time() + 60}
    stranger = IdentityProvider.generate()
    assert call(cloud, "GET", "/orders", token=stranger.issue(claims))[0] == 401  # unknown kid
    # the same kid as the published key, but signed with another key
    posing = stranger.issue(claims, kid=cloud.identity.key.kid)
    assert call(cloud, "GET", "/orders", token=posing)[0] == 401
    no_kid = cloud.issue_token(claims).split(".")
    no_kid[0] = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    assert call(cloud, "GET", "/orders", token=".".join(no_kid))[0] == 401


def test_only_rsa_algorithms_are_accepted(cloud):
    """API Gateway accepts only RSA signatures: an `alg: none` token, or an HS256 token keyed
    with the public JWKS (the algorithm-confusion attack), is refused."""
    import hashlib
    import hmac

    kid = cloud.identity.key.kid
    claims = b64url(
        json.dumps(
            {
                "sub": "m1",
                "merchant_id": "m1",
                "iss": ISS,
                "aud": "test-merchant",
                "exp": int(time.time()) + 60,
            }
        ).encode()
    )
    none = b64url(json.dumps({"alg": "none", "kid": kid}).encode())
    assert call(cloud, "GET", "/orders", token=f"{none}.{claims}.")[0] == 401
    hs = b64url(json.dumps({"alg": "HS256", "kid": kid}).encode())
    for secret in (
        json.dumps(cloud.identity.jwks()).encode(),
        cloud.identity.jwks()["keys"][0]["n"].encode(),
    ):
        signature = b64url(hmac.new(secret, f"{hs}.{claims}".encode(), hashlib.sha256).digest())
        assert call(cloud, "GET", "/orders", token=f"{hs}.{claims}.{signature}")[0] == 401


def test_client_id_stands_for_aud_only_when_there_is_no_aud(cloud):
    """A Cognito access token names its app client in client_id and has no aud."""
    access = {"sub": "m1", "merchant_id": "m1", "iss": ISS, "exp": time.time() + 60, "token_use": "access"}
    assert (
        call(cloud, "GET", "/orders", token=cloud.issue_token({**access, "client_id": "test-merchant"}))[0]
        == 200
    )
    both = {**access, "client_id": "test-merchant", "aud": "someone-else"}
    assert call(cloud, "GET", "/orders", token=cloud.issue_token(both))[0] == 401


def test_a_token_issued_or_valid_only_in_the_future_is_401(cloud):
    assert call(cloud, "GET", "/orders", token=token(cloud, iat=time.time() + 600))[0] == 401
    assert call(cloud, "GET", "/orders", token=token(cloud, nbf=time.time() + 600))[0] == 401


def test_seeded_tokens_work(cloud):
    config = cloud.config
    assert [m["merchant_id"] for m in config["merchants"]] == ["demo", "demo2"]
    for m in config["merchants"]:
        assert set(m["webhook_secrets"]) == {"shopify", "generic", "wish"}
        event = echoed(cloud, "GET", "/orders", token=m["token"])
        assert event["requestContext"]["authorizer"]["jwt"]["claims"]["merchant_id"] == m["merchant_id"]
    assert call(cloud, "GET", "/warehouse/ping", token=config["warehouse_token"])[0] == 200
    assert json.loads(cloud.config_path.read_text()) == config


def test_open_route_needs_no_token_and_gets_the_full_event(cloud):
    body = json.dumps({"a": 1}).encode()
    event = echoed(
        cloud,
        "POST",
        "/open/n%C3%A9?x=1&x=2&y=",
        body=body,
        headers={"X-Thing": "v", "Cookie": "c1=1; c2=2", "Content-Type": "application/json"},
    )
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /open/{name}"
    assert event["rawPath"] == "/open/n%C3%A9"
    assert event["rawQueryString"] == "x=1&x=2&y="
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["pathParameters"] == {"name": "né"}
    assert event["headers"]["x-thing"] == "v"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["c1=1", "c2=2"]
    assert event["body"] == body.decode() and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["http"]["method"] == "POST" and ctx["http"]["sourceIp"] == "127.0.0.1"
    assert ctx["requestId"] and ctx["timeEpoch"] > 0 and ctx["time"]
    assert "authorizer" not in ctx


def test_binary_body_is_base64(cloud):
    event = echoed(cloud, "POST", "/open/bin", body=b"\xff\x00\xfe")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\x00\xfe"


def test_handler_gets_a_lambda_context(cloud):
    status, headers, body = call(cloud, "GET", "/health")
    assert status == 200
    assert headers["x-function"] == "EchoFunction"
    assert 0 < json.loads(body)["remaining_ms"] <= 10_000


def test_responses(cloud):
    status, headers, body = call(cloud, "GET", "/respond/plain")
    assert (status, json.loads(body)) == (200, {"hello": "world"})
    assert headers["content-type"] == "application/json"
    status, headers, body = call(cloud, "PUT", "/respond/binary")
    assert (status, body) == (201, b"\x00\xff\x10")
    assert headers["content-type"] == "application/octet-stream"
    status, headers, _ = call(cloud, "GET", "/respond/cookies")
    assert status == 204
    assert headers.get_all("set-cookie") == ["a=1; Path=/", "b=2"]


def test_handler_error_is_500(cloud):
    status, _, body = call(cloud, "GET", "/respond/raise")
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})


def test_body_over_10_mb_is_413(cloud):
    status, _, body = call(cloud, "POST", "/open/big", body=b"x" * (10 * 1024 * 1024 + 1))
    assert status == 413


def test_an_event_over_lambda_s_6_mb_is_413_and_runs_nothing(cloud):
    status, _, body = call(cloud, "POST", "/open/big", body=b"x" * (6 * 1024 * 1024))
    assert (status, json.loads(body)) == (413, {"message": "Request Entity Too Large"})


def test_a_result_over_lambda_s_6_mb_is_500(cloud):
    status, _, body = call(cloud, "GET", "/respond/huge")
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})


def test_a_handler_past_its_timeout_fails_though_its_writes_stand(cloud):
    """ResponsesFunction's Timeout is 2 s: Lambda stops it there; what it wrote before stays."""
    assert call(cloud, "GET", "/respond/slow?seconds=0.1")[0] == 200
    status, _, body = call(cloud, "GET", "/respond/slow?seconds=2.2")
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    with pytest.raises(FunctionTimedOut, match="Task timed out"):
        cloud.invoke(
            "ResponsesFunction",
            {"pathParameters": {"kind": "slow"}, "queryStringParameters": {"seconds": "2.1"}},
        )


def test_an_answer_after_the_http_api_s_timeout_is_503(cloud, monkeypatch):
    monkeypatch.setattr(limits, "HTTP_API_TIMEOUT_SECONDS", 0.5)  # 30 s on AWS
    status, _, body = call(cloud, "GET", "/respond/slow?seconds=0.8")
    assert (status, json.loads(body)) == (503, {"message": "Service Unavailable"})
    assert call(cloud, "GET", "/respond/slow?seconds=0.1")[0] == 200


def test_invoke_runs_a_handler_in_process(cloud):
    result = cloud.invoke("ResponsesFunction", {"pathParameters": {"kind": "plain"}})
    assert result == {"hello": "world"}


def test_a_missing_function_only_fails_when_used(cloud):
    with pytest.raises(Exception, match="does not exist"):
        cloud.invoke("MissingFunction", {})
    assert call(cloud, "GET", "/health")[0] == 200
