"""A tiny HTTP client for end-to-end tests against the local cloud (real sockets, stdlib only)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

from scripts.send_webhook import build_request

ROOT = Path(__file__).resolve().parents[2]
# How long a request may take before the test fails: a hang fails it, a slow machine does not (the
# CSV download of 2,000 orders in tests/e2e/test_fulfillment_e2e.py takes 20 to 30 s on moto on a
# busy two-core machine).
REQUEST_TIMEOUT = 120


class Response:
    def __init__(self, status: int, body: bytes, headers: dict[str, str] | None = None):
        self.status = status
        self.raw = body
        self.body = body
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self) -> str:
        return f"<{self.status} {self.raw[:300]!r}>"


def request(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> Response:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as resp:
            return Response(resp.status, resp.read(), dict(resp.headers.items()))
    except urllib.error.HTTPError as err:
        return Response(err.code, err.read(), dict(err.headers.items()) if err.headers else None)


class Api:
    """Calls the local cloud as one merchant."""

    def __init__(self, config: dict, merchant_id: str = "demo"):
        self.config = config
        self.base = config["api_url"].rstrip("/")
        self.merchant = next(m for m in config["merchants"] if m["merchant_id"] == merchant_id)

    def get(self, path: str, token: str | None = None) -> Response:
        tok = self.merchant["token"] if token is None else token
        return request("GET", self.base + path, headers={"Authorization": f"Bearer {tok}"} if tok else {})

    def call(self, method: str, path: str, body=None, token: str | None = None) -> Response:
        """A merchant API call with a JSON body (token defaults to this merchant's)."""
        tok = self.merchant["token"] if token is None else token
        headers = {"Authorization": f"Bearer {tok}"} if tok else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return request(method, self.base + path, data, headers)

    def warehouse(self, method: str, path: str, body=None) -> Response:
        return self.call(method, path, body, token=self.config["warehouse_token"])

    def post_webhook(
        self,
        adapter: str,
        payload: dict | bytes,
        *,
        topic: str | None = None,
        delivery_id: str | None = None,
        secret: str | None = None,
        merchant_id: str | None = None,
        headers: dict | None = None,
    ) -> Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        secret = secret if secret is not None else self.merchant["webhook_secrets"][adapter]
        hdrs = build_request(
            adapter, body, secret, topic, delivery_id or str(uuid.uuid4()), datetime.now(UTC)
        )
        hdrs.update(headers or {})
        mid = merchant_id or self.merchant["merchant_id"]
        return request("POST", f"{self.base}/webhooks/{adapter}/{mid}", body, hdrs)

    def wait_for(self, predicate, timeout: float = 5.0, interval: float = 0.05):
        """Poll until predicate() returns a truthy value; return it (or fail with the last value)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def load_event(rel: str) -> dict:
    return json.loads((ROOT / "events" / rel).read_text())
