"""docs/openapi.json is generated from the routes; these tests fail when routes drift from it."""

from __future__ import annotations

import json

from scripts import openapi

DOC = json.loads((openapi.ROOT / "docs" / "openapi.json").read_text())


def operations(doc: dict) -> set[tuple[str, str]]:
    return {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}


def test_published_document_is_up_to_date():
    assert openapi.render() == (openapi.ROOT / "docs" / "openapi.json").read_text(), "run `make openapi`"


def test_every_template_route_is_documented_and_nothing_else():
    assert operations(DOC) == set(openapi.template_routes())


def test_every_route_has_a_summary_and_the_right_credential():
    auth = openapi.template_routes()
    for path, ops in DOC["paths"].items():
        for method, op in ops.items():
            assert op.get("summary") and not op["summary"].startswith(method.upper()), (method, path)
            expected = {"MerchantAuthorizer": "merchantJwt", "WarehouseAuthorizer": "warehouseJwt"}.get(
                auth[(method.upper(), path)]
            )
            assert op.get("security") == ([{expected: []}] if expected else None), (method, path)
