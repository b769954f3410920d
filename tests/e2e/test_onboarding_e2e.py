"""Onboarding on the local cloud, through the documented operator path (docs/onboarding.md): the
operator creates a merchant with scripts/onboard.py, the merchant's first signed webhook is
applied, secrets rotate with an overlap (by the operator, then by the merchant itself), and a
secret past its overlap no longer verifies."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import uuid

import boto3
import pytest

from orderhub.kernel import caches
from tests.support.http import ROOT, Api, load_event, request

pytestmark = [pytest.mark.e2e]


def operator(cloud, *args: str) -> tuple[int, dict]:
    """scripts/onboard.py --local, in its own process, as an operator runs it."""
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "onboard.py"),
            "--local",
            "--config",
            str(cloud.config_path),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode in (0, 2), done.stderr
    return done.returncode, json.loads(done.stdout)


def admin(cloud) -> dict[str, str]:
    """The credential of the local cloud's /_local/* routes (admin_token of local.json)."""
    return {"Authorization": f"Bearer {cloud.config['admin_token']}"}


def as_merchant(cloud, merchant_id: str, secrets: dict[str, str]) -> Api:
    token = request(
        "POST", f"{cloud.api_url}/_local/tokens/merchant/{merchant_id}", headers=admin(cloud)
    ).json["token"]
    config = dict(
        cloud.config, merchants=[{"merchant_id": merchant_id, "token": token, "webhook_secrets": secrets}]
    )
    return Api(config, merchant_id)


def generic_order(no: str) -> dict:
    payload = copy.deepcopy(load_event("generic/order_created.json"))
    payload["event_id"] = f"evt_{uuid.uuid4().hex}"
    payload["order"]["order_no"] = no
    return payload


def delivered(api: Api, cloud, secret: str, no: str) -> int:
    status = api.post_webhook("generic", generic_order(no), topic="created", secret=secret).status
    cloud.drain(timeout=10)
    return status


def test_a_new_merchant_gets_its_first_webhook_and_rotates_its_secrets(cloud):
    mid = f"acme-{uuid.uuid4().hex[:6]}"
    code, created = operator(
        cloud, "merchant", "create", mid, "--name", "ACME 商店", "--timezone", "Asia/Tokyo",
        "--service-start", "2026-12-01T00:00:00+09:00", "--generic-marketplaces", "rakuten,qoo10",
    )  # fmt: skip
    assert code == 0 and created["merchant_id"] == mid and created["name"] == "ACME 商店"
    assert created["webhook_scopes"] == {
        "generic": ["rakuten", "qoo10"],
        "shopify": ["shopify"],
        "wish": ["wish"],
    }
    assert set(created["webhook_secrets"]) == {"shopify", "generic", "wish"}
    first = created["webhook_secrets"]["generic"]
    api = as_merchant(cloud, mid, created["webhook_secrets"])

    assert delivered(api, cloud, first, "ACME-1") == 200
    [order] = api.get("/orders?q=ACME-1").json["orders"]
    assert order["marketplace_order_no"] == "ACME-1"

    # The operator rotates; the old secret verifies through the overlap, the new one at once
    code, rotated = operator(cloud, "secret", "rotate", mid, "generic", "--overlap-hours", "24")
    assert code == 0 and rotated["secret"] != first and rotated["previous_valid_until"]
    caches.reset()  # the receiver reads a profile at most a minute old; the minute has passed
    assert delivered(api, cloud, first, "ACME-2") == 200
    assert delivered(api, cloud, rotated["secret"], "ACME-3") == 200

    # The merchant rotates its own, with no overlap: the operator's secret stops verifying
    resp = api.call("POST", "/webhook-secrets/generic", {"overlap_hours": 0})
    assert resp.status == 200, resp
    own = resp.json["secret"]
    assert resp.json["previous_valid_until"] is None and own not in (first, rotated["secret"])
    caches.reset()
    assert delivered(api, cloud, rotated["secret"], "ACME-4") == 401
    assert delivered(api, cloud, first, "ACME-5") == 401
    assert delivered(api, cloud, own, "ACME-6") == 200
    listed = {n for n in range(1, 7) if api.get(f"/orders?q=ACME-{n}").json["orders"]}
    assert listed == {1, 2, 3, 6}

    code, shown = operator(cloud, "merchant", "show", mid)
    assert code == 0 and shown["webhook_formats"] == ["generic", "shopify", "wish"]
    assert own not in json.dumps(shown) and "webhook_secrets" not in shown


def test_the_operator_s_refusals_name_the_field_and_the_rule(cloud):
    code, refused = operator(cloud, "merchant", "create", "demo", "--name", "again")
    assert code == 2 and refused["error"]["code"] == "merchant_exists"
    code, refused = operator(
        cloud, "merchant", "create", "tz-test", "--name", "x", "--timezone", "Mars/Olympus"
    )
    assert (
        code == 2 and refused["error"]["field"] == "timezone" and refused["error"]["rule"] == "known_timezone"
    )
    code, refused = operator(cloud, "merchant", "create", "Bad_Id", "--name", "x")
    assert code == 2 and refused["error"]["rule"] == "merchant_id_format"
    code, refused = operator(cloud, "secret", "rotate", "demo", "shopify", "--secret", "short")
    assert code == 2 and refused["error"]["rule"] == "secret_length"
    code, refused = operator(cloud, "merchant", "update", "nobody-here", "--name", "x")
    assert code == 2 and refused["error"]["code"] == "not_found"


def profile(cloud, merchant_id: str) -> dict:
    ddb = boto3.client("dynamodb", endpoint_url=cloud.endpoint_url, region_name="us-east-1")
    return ddb.get_item(TableName=cloud.environment["TABLE_NAME"], Key=keys_of(merchant_id))["Item"]


def keys_of(merchant_id: str) -> dict:
    from orderhub.store import keys

    return {k: {"S": v} for k, v in keys.profile_key(merchant_id).items()}


def test_a_merchant_s_rotation_refuses_bad_input_and_changes_nothing(cloud, api):
    before = profile(cloud, "demo")
    for body, field in (
        ({"overlap_hours": -1}, "overlap_hours"),
        ({"overlap_hours": 10**30}, "overlap_hours"),
        ({"overlap_hours": "24"}, "overlap_hours"),
        ({"secret": "short"}, "secret"),
        ({"other": 1}, "other"),
    ):
        resp = api.call("POST", "/webhook-secrets/generic", body)
        assert resp.status == 400 and resp.json["error"]["field"] == field, (body, resp)
    assert api.call("POST", "/webhook-secrets/amazon", {}).status == 400
    assert profile(cloud, "demo") == before


def test_local_sign_in_gives_a_user_pool_shaped_rs256_token_checked_by_the_published_jwks(cloud):
    """Without a JwtIssuer the merchant authorizer trusts the stack's user pool; the local cloud,
    standing in for it, issues what the pool would: an RS256 ID token for the merchant app client
    with custom:merchant_id, verifiable with the key set at jwks_url."""
    from joserfc import jwt
    from joserfc.jwk import KeySet

    merchant = cloud.authorizers["MerchantAuthorizer"]
    assert merchant.issuer.startswith("https://cognito-idp.")
    token = request("POST", f"{cloud.api_url}/_local/tokens/merchant/demo", headers=admin(cloud)).json[
        "token"
    ]
    jwks = request("GET", cloud.config["jwks_url"]).json
    claims = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"]).claims
    assert claims["iss"] == merchant.issuer and claims["aud"] in merchant.audiences
    assert (claims["custom:merchant_id"], claims["token_use"]) == ("demo", "id")
    assert "merchant_id" not in claims


def test_user_pool_id_tokens_name_the_merchant_and_the_role_in_custom_attributes(cloud, api):
    """The stack's Cognito user pool puts the operator-set attributes in ID tokens as
    custom:merchant_id and custom:role; the APIs read them as they read merchant_id and role."""
    import time

    merchant = cloud.authorizers["MerchantAuthorizer"]
    warehouse = cloud.authorizers["WarehouseAuthorizer"]
    base = {
        "iss": merchant.issuer,
        "exp": int(time.time()) + 600,
        "token_use": "id",
        "sub": str(uuid.uuid4()),
    }
    as_demo = cloud.issue_token({**base, "aud": merchant.audiences[0], "custom:merchant_id": "demo"})
    assert api.get("/orders/counts", token=as_demo).json == api.get("/orders/counts").json
    as_warehouse = cloud.issue_token({**base, "aud": warehouse.audiences[0], "custom:role": "warehouse"})
    assert api.call("GET", "/warehouse/shipments", token=as_warehouse).status == 200
    # a merchant user's token is not the warehouse credential, even with a role claim
    forged = cloud.issue_token({**base, "aud": merchant.audiences[0], "custom:role": "warehouse"})
    assert api.call("GET", "/warehouse/shipments", token=forged).status == 401


def test_the_table_holds_no_secret_in_plaintext(cloud, api):
    """Webhook secrets and marketplace API tokens are stored sealed with the stack's KMS key
    (merchants/sealed.py), yet deliveries verify and marketplace calls authenticate."""
    from tests.support.tables import scan_table

    code, created = operator(
        cloud,
        "merchant",
        "create",
        f"seal-{uuid.uuid4().hex[:6]}",
        "--name",
        "Sealed",
        "--generic-marketplaces",
        "*",
    )
    assert code == 0
    assert (
        api.call("PUT", "/integrations/wish", {"api_token": "tok_plaintext_never_stored_1234"}).status == 200
    )
    secrets = [s for m in cloud.config["merchants"] for s in m["webhook_secrets"].values()]
    secrets += list(created["webhook_secrets"].values()) + ["tok_plaintext_never_stored_1234"]
    stored = json.dumps([item for item in scan_table(cloud).values()])
    assert not [s for s in secrets if s in stored]
    assert stored.count("kms:v1:") >= len(secrets)
    assert (
        delivered(api, cloud, api.merchant["webhook_secrets"]["generic"], f"SEAL-{uuid.uuid4().hex[:6]}")
        == 200
    )
