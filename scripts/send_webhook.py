#!/usr/bin/env python3
"""Sign a sample webhook and post it to a running local cloud (stdlib only).

    python scripts/send_webhook.py events/shopify/orders_create.json
    python scripts/send_webhook.py events/generic/order_paid.json --merchant demo2
    python scripts/send_webhook.py events/shopify/orders_updated.json --set updated_at=2026-01-01T00:00:00Z
    make webhook EVENT=events/wish/order_cancelled.json

Reads `.orderhub/local.json` (written by `make run`) for the API URL and the merchant's
webhook secrets. The adapter defaults to the parent directory of FILE (shopify, wish,
generic); the topic defaults to the file name (orders_create*.json -> orders/create,
order_cancelled.json -> order.cancelled). Prints the HTTP status and the response body; the
exit code is 0 on a 2xx answer, 1 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ADAPTERS = ("shopify", "wish", "generic")
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / ".orderhub" / "local.json"
DEFAULT_SHOP_DOMAIN = "orderhub-demo.myshopify.com"


def sign_shopify(secret: str, body: bytes) -> str:
    """X-Shopify-Hmac-Sha256 (also X-Wish-Hmac-Sha256): base64 HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode("ascii")


def sign_generic(secret: str, timestamp: int | str, body: bytes) -> str:
    """X-Orderhub-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _unix(now: datetime | float | int) -> int:
    return int(now.timestamp()) if isinstance(now, datetime) else int(now)


def build_request(
    adapter: str,
    body_bytes: bytes,
    secret: str,
    topic: str | None,
    delivery_id: str,
    now: datetime | float | int,
    *,
    shop_domain: str = DEFAULT_SHOP_DOMAIN,
) -> dict[str, str]:
    """The headers of a signed delivery of `body_bytes` (sent exactly as given)."""
    headers = {"Content-Type": "application/json", "User-Agent": "orderhub-send-webhook/1"}
    if adapter == "shopify":
        if not topic:
            raise ValueError("a Shopify delivery needs a topic (orders/create, ...)")
        triggered = datetime.fromtimestamp(_unix(now), UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        headers.update(
            {
                "X-Shopify-Topic": topic,
                "X-Shopify-Hmac-Sha256": sign_shopify(secret, body_bytes),
                "X-Shopify-Webhook-Id": delivery_id,
                "X-Shopify-Shop-Domain": shop_domain,
                "X-Shopify-Triggered-At": triggered,
                "X-Shopify-Api-Version": "2025-01",
            }
        )
    elif adapter == "wish" and body_bytes.lstrip().startswith(b"["):
        # Wish's own webhook: an array of {data, timestamp}, Wish's header names, no event id
        headers.update(
            {
                "Wish-Hmac-Sha256": sign_shopify(secret, body_bytes),
                "Wish-Topic": topic or "ORDER_ALL",
                "Wish-API-Version": "V3",
                "Wish-Retry-Attempt": "0",
            }
        )
    elif adapter == "wish":
        headers.update(
            {"X-Wish-Hmac-Sha256": sign_shopify(secret, body_bytes), "X-Wish-Event-Id": delivery_id}
        )
        if topic:
            headers["X-Wish-Topic"] = topic
    elif adapter == "generic":
        ts = str(_unix(now))
        headers.update(
            {"X-Orderhub-Timestamp": ts, "X-Orderhub-Signature": sign_generic(secret, ts, body_bytes)}
        )
    else:
        raise ValueError(f"unknown adapter {adapter!r}; expected one of {', '.join(ADAPTERS)}")
    return headers


def default_topic(adapter: str, file: Path) -> str | None:
    """orders_create_cod.json -> orders/create (shopify); order_cancelled.json -> order.cancelled (wish)."""
    parts = file.stem.split("_")
    if adapter == "shopify" and len(parts) >= 2 and parts[0] == "orders":
        return f"orders/{parts[1]}"
    if adapter == "wish" and len(parts) >= 2 and parts[0] == "order":
        return "order." + "_".join(parts[1:])
    if adapter == "wish" and len(parts) >= 2 and parts[0] == "webhook":
        return "_".join(parts[1:]).upper()  # webhook_order_release.json -> ORDER_RELEASE (Wish's own)
    return None


def parse_set(assignments: list[str]) -> list[tuple[list[str], Any]]:
    """`key=value` pairs; a dotted key reaches into objects (order.updated_at=...).

    The value is read as JSON when it parses (numbers, true, null, {...}), else as a string.
    """
    out = []
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set needs key=value, got {item!r}")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        out.append((key.split("."), value))
    return out


def apply_set(body: dict[str, Any], assignments: list[tuple[list[str], Any]]) -> dict[str, Any]:
    for keys, value in assignments:
        target = body
        for k in keys[:-1]:
            nxt = target.get(k)
            if not isinstance(nxt, dict):
                nxt = target[k] = {}
            target = nxt
        target[keys[-1]] = value
    return body


def load_config(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"{path} not found: start the local cloud with `make run` first") from None


def merchant_secret(config: dict[str, Any], merchant_id: str, adapter: str) -> str:
    for m in config.get("merchants", []):
        if m.get("merchant_id") == merchant_id:
            secret = (m.get("webhook_secrets") or {}).get(adapter)
            if not secret:
                raise SystemExit(f"merchant {merchant_id!r} has no {adapter} webhook secret in local.json")
            return secret
    raise SystemExit(f"merchant {merchant_id!r} is not in local.json")


def prepare(
    file: Path,
    adapter: str,
    *,
    topic: str | None,
    delivery_id: str | None,
    keep_event_id: bool,
    sets: list[str],
) -> tuple[bytes, str | None, str]:
    """The body to send, the topic and the delivery id.

    The file is sent byte for byte unless it must change (--set, or a generic event_id).
    """
    raw = file.read_bytes()
    body: dict[str, Any] | None = None
    assignments = parse_set(sets)
    if adapter == "generic":
        # The generic delivery id IS the body's event_id.
        body = json.loads(raw)
        original = json.dumps(body, sort_keys=True)
        if delivery_id:
            body["event_id"] = delivery_id
        elif keep_event_id and body.get("event_id"):
            delivery_id = str(body["event_id"])
        else:
            delivery_id = body["event_id"] = str(uuid.uuid4())
        if topic:
            body["type"] = topic
        apply_set(body, assignments)
        if json.dumps(body, sort_keys=True) == original:
            body = None  # unchanged: send the file byte for byte
    else:
        topic = topic or default_topic(adapter, file)
        delivery_id = delivery_id or str(uuid.uuid4())
        if assignments:
            body = apply_set(json.loads(raw), assignments)
    data = raw if body is None else json.dumps(body, ensure_ascii=False, indent=2).encode("utf-8")
    return data, topic, delivery_id


def marketplace_copy(adapter: str, data: bytes) -> tuple[str, dict] | None:
    """(marketplace, order object) the marketplace itself would now hold for this webhook: the
    local fake marketplace is given it, so refresh, relink and reflect find the order there."""
    try:
        body = json.loads(data)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    if adapter == "generic":
        order, marketplace = body.get("order"), body.get("marketplace")
        return (marketplace, order) if isinstance(order, dict) and isinstance(marketplace, str) else None
    return adapter, body


def post(url: str, data: bytes, headers: dict[str, str], timeout: float = 10.0) -> tuple[int, str]:
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", errors="replace")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Sign and post a sample webhook to the local cloud.")
    ap.add_argument("file", type=Path, metavar="FILE", help="a sample under events/<adapter>/")
    ap.add_argument("--merchant", default="demo", help="merchant id in local.json (default: demo)")
    ap.add_argument("--adapter", choices=ADAPTERS, help="default: the parent directory name of FILE")
    ap.add_argument(
        "--topic", help="shopify: orders/create...; wish: order.created...; generic: sets the body type"
    )
    ap.add_argument("--delivery-id", help="default: a fresh uuid4 (generic: replaces the body's event_id)")
    ap.add_argument("--keep-event-id", action="store_true", help="generic: keep the file's event_id")
    ap.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a body field (dotted keys reach nested fields; repeatable)",
    )
    ap.add_argument("--url", help="override api_url from local.json")
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"default: {DEFAULT_CONFIG}")
    ap.add_argument("--shop-domain", default=DEFAULT_SHOP_DOMAIN, help="X-Shopify-Shop-Domain")
    ap.add_argument(
        "--no-mirror",
        action="store_true",
        help="do not give the order to the local fake marketplace (by default it gets it, as the real "
        "marketplace that sent the webhook has it)",
    )
    args = ap.parse_args(argv)

    adapter = args.adapter or args.file.resolve().parent.name
    if adapter not in ADAPTERS:
        ap.error(f"cannot tell the adapter from {args.file}; pass --adapter")
    config = load_config(args.config)
    secret = merchant_secret(config, args.merchant, adapter)
    try:
        data, topic, delivery_id = prepare(
            args.file,
            adapter,
            topic=args.topic,
            delivery_id=args.delivery_id,
            keep_event_id=args.keep_event_id,
            sets=args.sets,
        )
        headers = build_request(
            adapter, data, secret, topic, delivery_id, datetime.now(UTC), shop_domain=args.shop_domain
        )
    except ValueError as exc:
        ap.error(str(exc))
    base = (args.url or config.get("api_url") or "http://127.0.0.1:3000").rstrip("/")
    url = f"{base}/webhooks/{adapter}/{args.merchant}"
    print(f"POST {url}  topic={topic or '-'}  delivery_id={delivery_id}", file=sys.stderr)
    try:
        status, text = post(url, data, headers)
    except (urllib.error.URLError, OSError) as exc:
        print(f"request failed: {exc}", file=sys.stderr)
        return 1
    print(status)
    print(text)
    fake = config.get("fake_marketplace_url")
    copy = marketplace_copy(adapter, data) if fake and not args.no_mirror and 200 <= status < 300 else None
    if copy:
        marketplace, order = copy
        body = json.dumps(order).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        try:
            post(f"{fake.rstrip('/')}/_control/orders/{marketplace}", body, headers)
            print(f"the local fake marketplace ({marketplace}) now holds this order", file=sys.stderr)
        except (urllib.error.URLError, OSError) as exc:
            print(f"could not give the order to the fake marketplace: {exc}", file=sys.stderr)
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
