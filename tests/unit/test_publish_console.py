"""scripts/publish_console.py: what it uploads, with which headers, the config.json it writes, and
the order of its steps (against in-memory stand-ins for S3 and CloudFront; no AWS)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts import publish_console as pc

OUTPUTS = {
    "ConsoleBucketName": "orderhub-dev-consolebucket-abc",
    "ConsoleDistributionId": "E2EXAMPLE",
    "ConsoleUrl": "https://d111111abcdef8.cloudfront.net/",
    "ApiUrl": "https://a1b2c3.execute-api.us-east-1.amazonaws.com/",
    "MerchantAppClientId": "client123",
    "ConsoleAuthUrl": "https://orderhub-123456789012-1c2fa620.auth.us-east-1.amazoncognito.com",
}
OWN_IDP = {
    "authorize_url": "https://login.example.com/authorize",
    "token_url": "https://login.example.com/oauth/token",
    "logout_url": "https://login.example.com/v2/logout",
    "client_id": "own-client",
}


@pytest.mark.parametrize(
    "key,expected",
    [
        ("index.html", "text/html; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("js/api.js", "text/javascript; charset=utf-8"),
        ("js/Auth.JS", "text/javascript; charset=utf-8"),
        ("config.json", "application/json"),
        ("img/logo.svg", "image/svg+xml"),
        ("img/logo.png", "image/png"),
        ("LICENSE", "application/octet-stream"),
    ],
)
def test_content_type(key, expected):
    assert pc.content_type(key) == expected


def test_the_page_and_its_config_are_revalidated_the_rest_cached_briefly():
    assert pc.cache_control("index.html") == "no-cache"
    assert pc.cache_control("config.json") == "no-cache"
    assert pc.cache_control("js/app.js") == "max-age=300"
    assert pc.cache_control("help/index.html") == "max-age=300"


def _console(tmp_path: Path) -> Path:
    root = tmp_path / "console"
    kept = ("index.html", "app.css", "js/app.js", "js/api.js", "img/a.svg")
    for rel in (*kept, "config.json", ".DS_Store", ".git/x"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    return root


def test_console_files_leave_out_dot_files_and_config_json_and_put_index_last(tmp_path):
    files = pc.console_files(_console(tmp_path))
    assert list(files) == ["app.css", "img/a.svg", "js/api.js", "js/app.js", "index.html"]
    assert files["js/app.js"].read_text() == "js/app.js"


def test_console_files_need_an_index(tmp_path):
    (tmp_path / "app.css").write_text("")
    with pytest.raises(pc.PublishError, match="index.html"):
        pc.console_files(tmp_path)


def test_stale_keys_are_those_not_published_but_config_json_stays():
    existing = ["index.html", "js/old.js", "config.json", "js/app.js", "old.css"]
    assert pc.stale_keys(existing, ["index.html", "js/app.js"]) == ["js/old.js", "old.css"]


def test_config_from_the_stack_s_user_pool():
    assert pc.build_config(OUTPUTS) == {
        "api_url": "https://a1b2c3.execute-api.us-east-1.amazonaws.com",
        "auth": {
            "authorize_url": OUTPUTS["ConsoleAuthUrl"] + "/oauth2/authorize",
            "token_url": OUTPUTS["ConsoleAuthUrl"] + "/oauth2/token",
            "logout_url": OUTPUTS["ConsoleAuthUrl"] + "/logout",
            "client_id": "client123",
            "scope": "openid email profile",
        },
    }


def test_config_with_your_own_identity_provider():
    """JwtIssuer set: the stack has no user pool, so no ConsoleAuthUrl or MerchantAppClientId."""
    outputs = {k: v for k, v in OUTPUTS.items() if k not in ("ConsoleAuthUrl", "MerchantAppClientId")}
    config = pc.build_config(outputs, **OWN_IDP, scope="openid email")
    assert config["auth"] == {**OWN_IDP, "scope": "openid email"}
    with pytest.raises(pc.PublishError) as refused:
        pc.build_config(outputs, client_id="own-client")
    assert "--authorize-url, --token-url, --logout-url" in str(refused.value)
    assert "--client-id" not in str(refused.value)


def test_flags_override_the_user_pool():
    config = pc.build_config(OUTPUTS, client_id="other")
    assert config["auth"]["client_id"] == "other"
    assert config["auth"]["token_url"] == OUTPUTS["ConsoleAuthUrl"] + "/oauth2/token"


def test_config_needs_the_api_url():
    with pytest.raises(pc.PublishError, match="ApiUrl"):
        pc.build_config({k: v for k, v in OUTPUTS.items() if k != "ApiUrl"})


def test_samconfig_defaults_name_the_stack_and_region():
    assert pc.samconfig_defaults(pc.SAMCONFIG, "default") == ("orderhub-dev", "us-east-1")
    assert pc.samconfig_defaults(pc.SAMCONFIG, "prod") == ("orderhub-prod", "us-east-1")
    assert pc.samconfig_defaults(pc.SAMCONFIG, "nowhere") == (None, None)


def test_the_outputs_it_reads_are_the_template_s():
    text = (pc.REPO_ROOT / "template.yaml").read_text(encoding="utf-8")
    outputs = text[text.index("\nOutputs:") :]
    for name in pc.OUTPUTS:
        assert f"\n  {name}:\n" in outputs, name


class FakeS3:
    def __init__(self, existing: dict[str, bytes]):
        self.objects = dict(existing)
        self.calls: list[tuple] = []

    def put_object(self, **kw):
        self.calls.append(("put", kw["Key"], kw["ContentType"], kw["CacheControl"]))
        self.objects[kw["Key"]] = kw["Body"]

    def get_paginator(self, name):
        assert name == "list_objects_v2"
        objects = self.objects

        class Paginator:
            def paginate(self, Bucket):  # noqa: N803 (boto3's spelling)
                yield {"Contents": [{"Key": k} for k in sorted(objects)]}

        return Paginator()

    def delete_objects(self, Bucket, Delete):  # noqa: N803
        for obj in Delete["Objects"]:
            self.calls.append(("delete", obj["Key"]))
            del self.objects[obj["Key"]]
        return {}


class FakeCloudFront:
    def __init__(self, s3: FakeS3):
        self.s3 = s3

    def create_invalidation(self, DistributionId, InvalidationBatch):  # noqa: N803
        self.s3.calls.append(("invalidate", DistributionId, InvalidationBatch["Paths"]["Items"]))
        return {"Invalidation": {"Id": "I1", "Status": "InProgress"}}


def test_publish_uploads_then_deletes_what_is_stale_then_invalidates(tmp_path):
    s3 = FakeS3({"index.html": b"old", "js/gone.js": b"x", "config.json": b"{}"})
    files = pc.console_files(_console(tmp_path))
    config = pc.build_config(OUTPUTS)
    done = pc.publish(s3, FakeCloudFront(s3), OUTPUTS, files, config, out=lambda _: None)

    puts = [c for c in s3.calls if c[0] == "put"]
    order = ["app.css", "img/a.svg", "js/api.js", "js/app.js", "config.json", "index.html"]
    assert [c[1] for c in puts] == order
    assert ("put", "js/app.js", "text/javascript; charset=utf-8", "max-age=300") in puts
    assert ("put", "config.json", "application/json", "no-cache") in puts
    assert ("put", "index.html", "text/html; charset=utf-8", "no-cache") in puts
    assert s3.calls[len(puts)] == ("delete", "js/gone.js")
    assert s3.calls[-1] == ("invalidate", "E2EXAMPLE", ["/*"])
    assert json.loads(s3.objects["config.json"]) == config
    assert set(s3.objects) == {*files, "config.json"}
    assert done["deleted"] == ["js/gone.js"] and done["invalidation"] == "I1"


def test_main_asks_for_a_stack_when_samconfig_names_none(capsys):
    with pytest.raises(SystemExit) as exited:
        pc.main(["--config-env", "nowhere"])
    assert exited.value.code == 2
    assert "--stack is needed" in capsys.readouterr().err
