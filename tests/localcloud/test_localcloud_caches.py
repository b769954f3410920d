"""A local cloud starts from nothing an earlier app of the same process cached (orderhub/kernel/caches.py)."""

from __future__ import annotations

from localcloud import LocalCloud
from orderhub.orders import mappings
from tests.support.http import ROOT
from tests.support.moto_env import moto_app


def test_a_local_cloud_sees_no_mapping_an_earlier_app_cached(tmp_path):
    with moto_app():
        mappings.put("demo", [{"marketplace": "shopify", "sku": "SKU-1", "item_code": "IC-A"}])
        assert mappings.codes_for("demo", "shopify", ["SKU-1"]) == {"SKU-1": "IC-A"}

    with LocalCloud(template_path=ROOT / "template.yaml", port=0, root=ROOT, state_dir=tmp_path):
        assert mappings.codes_for("demo", "shopify", ["SKU-1"]) == {}  # its table is empty
