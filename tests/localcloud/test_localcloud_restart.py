"""What a restart of `make run` keeps (docs/local-cloud.md, "What a restart keeps"): with `keep`,
the tables come back item for item, the KMS keys with their ids and material (the sealed
secrets still open), the signing key and the admin token (tokens issued before still work);
the stream does not publish the restored items again; `fresh` starts without the data."""

from __future__ import annotations

import json
import os
import stat
import uuid

import pytest

from localcloud import LocalCloud
from localcloud.state import DATA_FILE, IDENTITY_FILE
from tests.support.http import ROOT, Api, load_event, request
from tests.support.tables import scan_table

pytestmark = pytest.mark.slowest(30)


def started(state_dir, **kw) -> LocalCloud:
    cloud = LocalCloud(
        template_path=ROOT / "template.yaml", port=0, root=ROOT, state_dir=state_dir, keep=True, **kw
    )
    return cloud.start()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def generic_delivery(api: Api, order_no: str, **order) -> int:
    event = load_event("generic/order_created.json")
    event["event_id"] = f"keep-{uuid.uuid4()}"
    event["order"].update(order_no=order_no, **order)
    return api.post_webhook("generic", event).status


def stream_keys(cloud: LocalCloud) -> list[str]:
    """The pk of every record the orders table's stream holds."""
    streams = cloud.client("dynamodbstreams")
    arn = cloud.client("dynamodb").describe_table(TableName=cloud.environment["TABLE_NAME"])["Table"][
        "LatestStreamArn"
    ]
    pks = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        it = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )
        records = streams.get_records(ShardIterator=it["ShardIterator"], Limit=1000)["Records"]
        pks += [r["dynamodb"]["Keys"]["pk"]["S"] for r in records]
    return pks


def profile(cloud: LocalCloud, merchant_id: str) -> dict:
    return cloud.client("dynamodb").get_item(
        TableName=cloud.environment["TABLE_NAME"],
        Key={"pk": {"S": f"MERCHANT#{merchant_id}"}, "sk": {"S": "#PROFILE"}},
    )["Item"]


def test_a_restart_keeps_the_data_the_secrets_and_the_tokens(tmp_path):
    first = started(tmp_path)
    try:
        api = Api(first.config, "demo")
        assert generic_delivery(api, "KEEP-1") == 200
        first.drain(timeout=10)
        [order] = api.get("/orders?q=KEEP-1").json["orders"]
        rotated = api.call("POST", "/webhook-secrets/generic", {"overlap_hours": 0}).json["secret"]
        assert (
            api.call("PUT", "/integrations/wish", {"api_token": "tok_kept_across_restarts_1"}).status == 200
        )
        before = scan_table(first)
        kept = dict(first.config)
        old_fake = first.fake_marketplace.url
    finally:
        first.stop()
    for name in ("local.json", IDENTITY_FILE, DATA_FILE):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600, name
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o700

    second = started(tmp_path)
    try:
        # the same items (the fake marketplace's URL moved to this run's port), and no new record
        # on the stream for them: the events were published before the restart
        after = scan_table(second)
        moved = {
            k: json.loads(json.dumps(v).replace(old_fake, second.fake_marketplace.url))
            for k, v in before.items()
        }
        assert after == moved  # the demo profiles too: kept as they were, not seeded again
        assert stream_keys(second) == []
        # tokens of the first run, and the admin token, still open the doors
        assert second.admin_token == kept["admin_token"]
        old = request(
            "GET", f"{second.api_url}/orders?q=KEEP-1", headers=bearer(kept["merchants"][0]["token"])
        )
        assert [o["order_id"] for o in old.json["orders"]] == [order["order_id"]]
        assert (
            request("POST", f"{second.api_url}/_local/drain", headers=bearer(kept["admin_token"])).status
            == 200
        )
        # local.json shows the secret as rotated, and it verifies: the sealed secret opens with the kept key
        demo = next(m for m in second.config["merchants"] if m["merchant_id"] == "demo")
        assert demo["webhook_secrets"]["generic"] == rotated
        api = Api(second.config, "demo")
        assert generic_delivery(api, "KEEP-1", updated_at="2026-01-08T10:00:00+09:00") == 200
        assert generic_delivery(api, "KEEP-2") == 200
        second.drain(timeout=10)
        assert api.get("/orders?q=KEEP-1").json["orders"][0]["version"] == order["version"] + 1
        assert len(api.get("/orders?q=KEEP-2").json["orders"]) == 1
        from orderhub.merchants import sealed

        wish = profile(second, "demo")["integrations"]["M"]["wish"]["M"]
        assert sealed.unseal(wish["api_token"]["S"], "demo", sealed.api_token_purpose("wish")) == (
            "tok_kept_across_restarts_1"
        )
        assert wish["api_base_url"]["S"] == f"{second.fake_marketplace.url}/wish"
    finally:
        second.stop()

    fresh = started(tmp_path, fresh=True)
    try:
        api = Api(fresh.config, "demo")
        assert api.get("/orders").json["orders"] == []
        old = request("GET", f"{fresh.api_url}/orders", headers=bearer(kept["merchants"][0]["token"]))
        assert old.status == 200 and old.json["orders"] == []  # the identity is kept, the data is not
    finally:
        fresh.stop()


def test_a_local_cloud_without_keep_writes_nothing_but_local_json(tmp_path):
    with LocalCloud(template_path=ROOT / "template.yaml", port=0, root=ROOT, state_dir=tmp_path) as cloud:
        assert cloud.admin_token and cloud.config["admin_token"] == cloud.admin_token
    assert sorted(p.name for p in tmp_path.iterdir()) == ["local.json"]
