"""Process-wide caches: a second app in the same process (a new moto, a new local cloud, the next
test) starts from nothing the first one cached."""

from __future__ import annotations

from orderhub.kernel import aws, config
from orderhub.merchants import profiles
from orderhub.orders import mappings
from tests.support.moto_env import moto_app


def test_a_second_app_in_the_same_process_sees_nothing_of_the_first():
    with moto_app():
        mappings.put("demo", [{"marketplace": "shopify", "sku": "SKU-1", "item_code": "IC-A"}])
        assert mappings.codes_for("demo", "shopify", ["SKU-1"]) == {"SKU-1": "IC-A"}
        profiles.put_profile("first-only", {"shopify": "s"})
        assert profiles.get_profile("first-only") is not None
        first_settings = config.settings()
        first_client = aws.client("dynamodb")
        first_table = aws.table(first_settings.table_name)

    with moto_app():  # a fresh moto: empty tables
        assert mappings.codes_for("demo", "shopify", ["SKU-1"]) == {}
        assert profiles.get_profile("first-only") is None
        assert config.settings() is not first_settings
        assert aws.client("dynamodb") is not first_client
        assert aws.table(config.settings().table_name) is not first_table
