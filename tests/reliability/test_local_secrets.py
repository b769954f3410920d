"""The local cloud does not hand out its secrets (issue 15, defect 9; docs/reliability.md, "Local
cloud"): on the app's own local cloud, `/_local/config` and the token route answer only with the
admin token of local.json and only to a request named to this machine, and local.json is readable
by its owner alone. The local cloud's own suite (tests/localcloud/test_localcloud_admin.py)
covers every admin route and the moto endpoint."""

from __future__ import annotations

import json
import os
import stat

import pytest

from tests.localcloud.test_localcloud_admin import admin_call

pytestmark = [pytest.mark.e2e]


def test_no_secret_leaves_the_config_route_without_the_admin_token(cloud):
    secrets = [m["token"] for m in cloud.config["merchants"]]
    secrets += [s for m in cloud.config["merchants"] for s in m["webhook_secrets"].values()]
    for path, method in (("/_local/config", "GET"), ("/_local/tokens/merchant/demo", "POST")):
        status, body = admin_call(cloud, method, path)
        assert status == 401, (path, body)
        assert not [s for s in secrets if s in json.dumps(body)]
        # a web page that rebinds its own name to 127.0.0.1 sends its name as Host
        status, body = admin_call(cloud, method, path, token=cloud.admin_token, host="attacker.example:3000")
        assert status == 403 and not [s for s in secrets if s in json.dumps(body)], (path, body)
        status, body = admin_call(
            cloud, method, path, token=cloud.admin_token, origin="https://attacker.example"
        )
        assert status == 403, (path, body)
    status, body = admin_call(cloud, "GET", "/_local/config", token=cloud.admin_token)
    assert status == 200 and body["merchants"][0]["token"] == secrets[0]


def test_local_json_is_readable_by_its_owner_alone(cloud):
    path = cloud.config_path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
