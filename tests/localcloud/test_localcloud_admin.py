"""The local cloud's own credentials (docs/local-cloud.md, "Local-only routes" and "The state
directory"): the /_local/* routes answer only a request named to this machine and, but the JWKS,
only with the admin token of local.json; local.json is 0600 in a 0700 directory."""

from __future__ import annotations

import http.client
import json
import os
import stat
from urllib.parse import urlsplit

from localcloud.seed import write_config


def admin_call(cloud, method, path, *, token=None, host=None, origin=None):
    """A request to the local server with exactly these headers (http.client sends Host as given)."""
    url = urlsplit(cloud.api_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=20)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host if host is not None else url.netloc)
        if token is not None:
            conn.putheader("Authorization", f"Bearer {token}")
        if origin is not None:
            conn.putheader("Origin", origin)
        conn.putheader("Content-Length", "0")
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, json.loads(body) if body else None
    finally:
        conn.close()


ADMIN_ROUTES = [
    ("GET", "/_local/config"),
    ("POST", "/_local/tokens/merchant/m1"),
    ("POST", "/_local/schedules/SweepFunction"),
    ("POST", "/_local/drain?timeout=1"),
]


def test_the_config_route_serves_no_secret_without_the_admin_token(cloud):
    for token in (None, "", "wrong", cloud.admin_token[:-1], cloud.config["warehouse_token"]):
        status, body = admin_call(cloud, "GET", "/_local/config", token=token)
        assert status == 401 and body["error"]["code"] == "unauthorized", (token, body)
        text = json.dumps(body)
        assert cloud.admin_token not in text and cloud.config["merchants"][0]["token"] not in text
    status, body = admin_call(cloud, "GET", "/_local/config", token=cloud.admin_token)
    assert status == 200 and body == cloud.config


def test_every_admin_route_but_the_jwks_needs_the_admin_token_and_does_nothing_without(cloud, notes):
    sweeps = len(notes("sweep"))
    for method, path in ADMIN_ROUTES:
        status, body = admin_call(cloud, method, path)
        assert status == 401 and body["error"]["field"] == "Authorization", (method, path, body)
        assert "token" not in (body or {}), body
    assert len(notes("sweep")) == sweeps  # the schedule did not run
    status, jwks = admin_call(cloud, "GET", "/_local/.well-known/jwks.json")  # public keys: open
    assert status == 200 and "d" not in jwks["keys"][0]
    status, body = admin_call(cloud, "POST", "/_local/schedules/SweepFunction", token=cloud.admin_token)
    assert status == 200 and body["swept"] is True and len(notes("sweep")) == sweeps + 1


FOREIGN = [
    ("evil.example", None),  # a DNS-rebound name: the browser sends the page's own host
    ("evil.example:{port}", None),
    ("127.0.0.1.evil.example:{port}", None),
    ("localhost.:{port}", None),
    ("", None),
    ("127.0.0.1:{port}", "http://evil.example"),  # a foreign page's fetch or form post
    ("127.0.0.1:{port}", "null"),
]
LOCAL = ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST", "[::1]:{port}"]


def test_admin_routes_answer_only_requests_named_to_this_machine(cloud):
    """Even with the admin token: a browser page can't reach them by a rebound name or from its
    origin. The names of this machine, and their origins, are served."""
    port = urlsplit(cloud.api_url).port
    for host, origin in FOREIGN:
        for method, path in [*ADMIN_ROUTES, ("GET", "/_local/.well-known/jwks.json")]:
            status, body = admin_call(
                cloud, method, path, token=cloud.admin_token, host=host.format(port=port), origin=origin
            )
            assert status == 403 and body["error"]["code"] == "forbidden", (host, origin, method, path, body)
    for host in LOCAL:
        host = host.format(port=port)
        status, body = admin_call(
            cloud, "GET", "/_local/config", token=cloud.admin_token, host=host, origin=f"http://{host}"
        )
        assert status == 200 and body["api_url"] == cloud.api_url, (host, body)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_local_json_is_readable_by_its_owner_alone(cloud):
    assert mode(cloud.config_path) == 0o600
    assert mode(cloud.config_path.parent) == 0o700
    assert json.loads(cloud.config_path.read_text())["admin_token"] == cloud.admin_token


def test_write_config_tightens_an_old_state_directory_and_replaces_the_file_whole(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    old = state / "local.json"
    old.write_text('{"old": true}')
    old.chmod(0o644)
    path = write_config(state, {"api_url": "http://127.0.0.1:1", "admin_token": "t"})
    assert path == old and json.loads(path.read_text())["admin_token"] == "t"
    assert mode(path) == 0o600 and mode(state) == 0o700
    assert sorted(p.name for p in state.iterdir()) == ["local.json"]  # no temporary file left
    fresh = write_config(tmp_path / "new" / "dir", {"a": 1})
    assert mode(fresh) == 0o600 and mode(fresh.parent) == 0o700


def test_motos_endpoint_answers_no_foreign_page(cloud):
    """moto's server allows every origin and asks no credential: a page that found its port
    could read the tables or have KMS decrypt the sealed secrets. Refused from a foreign origin
    (the CORS preflight included) or through a foreign name; botocore's own calls go through."""
    url = urlsplit(cloud.endpoint_url)
    table = cloud.environment["TABLE_NAME"]
    scan = json.dumps({"TableName": table}).encode()

    def call(method, host, origin=None):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=20)
        try:
            headers = {"Host": host, "X-Amz-Target": "DynamoDB_20120810.Scan"}
            headers["Content-Type"] = "application/x-amz-json-1.0"
            if origin:
                headers["Origin"] = origin
                headers["Access-Control-Request-Method"] = "POST"
            conn.request(method, "/", body=scan if method == "POST" else None, headers=headers)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    for method, host, origin in [
        ("POST", "evil.example", None),
        ("POST", f"evil.example:{url.port}", None),
        ("POST", url.netloc, "http://evil.example"),
        ("OPTIONS", url.netloc, "http://evil.example"),
    ]:
        status, headers, body = call(method, host, origin)
        assert status == 403 and "Access-Control-Allow-Origin" not in headers, (
            method,
            host,
            origin,
            body[:200],
        )
        assert b"Items" not in body
    cloud.client("dynamodb").scan(TableName=table, Limit=1)  # botocore: through
