"""The console's local origin (localcloud/console.py): its files, config.json, and the hosted UI's
stand-in (authorization code with PKCE); and the HTTP API's CORS as the local gateway applies it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from localcloud.console import ConsoleServer, pkce_challenge
from localcloud.server.http import Cors
from tests.support.http import ROOT

CLIENT = "local-client-merchant"
VERIFIER = "v" * 50


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def request(url, data=None, method=None):
    body = urlencode(data).encode() if isinstance(data, dict) else data
    req = urllib.request.Request(url, data=body, method=method or ("POST" if body is not None else "GET"))
    try:
        with _opener.open(req, timeout=5) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


@pytest.fixture(scope="module")
def console():
    issued = []

    def issue(merchant_id, seconds):
        issued.append((merchant_id, seconds))
        return f"token-for-{merchant_id}-{len(issued)}"

    server = ConsoleServer(ROOT / "console")
    server.configure("http://127.0.0.1:9", CLIENT, [{"merchant_id": "demo", "name": "Demo Shop"}], issue)
    server.start()
    yield server
    server.stop()


def authorize(console, **over):
    query = {
        "response_type": "code",
        "client_id": CLIENT,
        "redirect_uri": console.redirect_uri,
        "state": "s1",
        "code_challenge": pkce_challenge(VERIFIER),
        "code_challenge_method": "S256",
        "scope": "openid email profile",
        **over,
    }
    return query


def signed_code(console, merchant="demo"):
    form = {**authorize(console), "merchant_id": merchant}
    status, headers, _ = request(console.url + "/oauth2/authorize", form)
    assert status == 302
    target = urlsplit(headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == console.redirect_uri
    got = parse_qs(target.query)
    assert got["state"] == ["s1"]
    return got["code"][0]


def token(console, **form):
    status, _, body = request(console.url + "/oauth2/token", {"client_id": CLIENT, **form})
    return status, json.loads(body)


def test_files_come_with_the_distributions_security_headers(console):
    status, headers, body = request(console.url + "/")
    assert status == 200 and b'<script type="module" src="js/main.js">' in body
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self' http://127.0.0.1:9" in csp
    assert headers["x-frame-options"] == "DENY"
    status, headers, _ = request(console.url + "/js/main.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")


@pytest.mark.parametrize(
    "path", ["/../template.yaml", "/js/../../Makefile", "/%2e%2e/Makefile", "/nothing.js"]
)
def test_nothing_outside_the_console_folder_is_served(console, path):
    status, _, body = request(console.url + path)
    assert status == 404, body


def test_config_names_the_api_and_the_sign_in_endpoints(console):
    status, _, body = request(console.url + "/config.json")
    config = json.loads(body)
    assert status == 200 and config["api_url"] == "http://127.0.0.1:9"
    assert config["auth"]["client_id"] == CLIENT
    assert config["auth"]["authorize_url"] == console.url + "/oauth2/authorize"


def test_the_sign_in_page_offers_the_seeded_merchants(console):
    status, _, body = request(console.url + "/oauth2/authorize?" + urlencode(authorize(console)))
    assert status == 200 and b"Demo Shop" in body and b'value="demo"' in body


@pytest.mark.parametrize(
    "over",
    [
        {"client_id": "another-client"},
        {"redirect_uri": "https://evil.example/"},
        {"code_challenge_method": "plain"},
        {"code_challenge": ""},
        {"response_type": "token"},
    ],
)
def test_the_sign_in_page_refuses_a_request_the_app_client_would_refuse(console, over):
    status, _, _ = request(console.url + "/oauth2/authorize?" + urlencode(authorize(console, **over)))
    assert status == 400


def test_a_code_is_exchanged_once_and_only_with_its_verifier(console):
    code = signed_code(console)
    status, body = token(
        console,
        grant_type="authorization_code",
        code=code,
        redirect_uri=console.redirect_uri,
        code_verifier="w" * 50,
    )
    assert status == 400 and body["error"] == "invalid_grant"
    code = signed_code(console)
    status, body = token(
        console,
        grant_type="authorization_code",
        code=code,
        redirect_uri=console.redirect_uri,
        code_verifier=VERIFIER,
    )
    assert status == 200 and body["id_token"].startswith("token-for-demo") and body["expires_in"] == 3600
    again, body2 = token(
        console,
        grant_type="authorization_code",
        code=code,
        redirect_uri=console.redirect_uri,
        code_verifier=VERIFIER,
    )
    assert again == 400 and body2["error"] == "invalid_grant"
    refreshed, body3 = token(console, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert refreshed == 200 and body3["id_token"] != body["id_token"]
    request(console.url + "/oauth2/revoke", {"token": body["refresh_token"], "client_id": CLIENT})
    revoked, _ = token(console, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert revoked == 400


def test_an_unknown_merchant_cannot_be_chosen(console):
    form = {**authorize(console), "merchant_id": "demo2"}
    status, _, _ = request(console.url + "/oauth2/authorize", form)
    assert status == 400


def test_logout_returns_only_to_the_console(console):
    ok = request(
        console.url + "/logout?" + urlencode({"client_id": CLIENT, "logout_uri": console.redirect_uri})
    )
    assert ok[0] == 302 and ok[1]["location"] == console.redirect_uri
    bad = request(
        console.url + "/logout?" + urlencode({"client_id": CLIENT, "logout_uri": "https://evil.example/"})
    )
    assert bad[0] == 400


# ---------------------------------------------------------------- CORS as API Gateway applies it
CORS = Cors.from_config(
    {
        "AllowOrigins": ["https://d111.cloudfront.net", "https://127.0.0.1:3001"],
        "AllowMethods": ["GET", "POST", "PUT", "DELETE"],
        "AllowHeaders": ["authorization", "content-type"],
        "MaxAge": 600,
    }
)


def test_a_preflight_from_the_console_is_answered():
    status, headers, _ = CORS.preflight("https://d111.cloudfront.net", "PUT", "Authorization, Content-Type")
    got = dict(headers)
    assert status == 204 and got["access-control-allow-origin"] == "https://d111.cloudfront.net"
    assert "PUT" in got["access-control-allow-methods"] and got["access-control-max-age"] == "600"


@pytest.mark.parametrize(
    "origin, method, headers",
    [
        ("https://evil.example", "GET", "authorization"),
        ("https://d111.cloudfront.net", "PATCH", "authorization"),
        ("https://d111.cloudfront.net", "GET", "x-api-key"),
        ("http://d111.cloudfront.net", "GET", "authorization"),  # http admitted on loopback only
    ],
)
def test_a_preflight_the_configuration_does_not_allow_gets_no_cors_headers(origin, method, headers):
    status, out, _ = CORS.preflight(origin, method, headers)
    assert status == 204 and out == []


def test_the_local_console_over_http_on_loopback_is_its_https_origin():
    assert CORS.headers_for("http://127.0.0.1:3001")[0] == (
        "access-control-allow-origin",
        "http://127.0.0.1:3001",
    )
    assert CORS.headers_for("http://127.0.0.1:3002") == []
