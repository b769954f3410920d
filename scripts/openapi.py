"""Generate docs/openapi.json from the API's routes (Powertools) and template.yaml's auth.

    PYTHONPATH=layers/shared:. python scripts/openapi.py          # write docs/openapi.json
    PYTHONPATH=layers/shared:. python scripts/openapi.py --check  # exit 1 when out of date

The merchant and warehouse routes come from their apps (orderhub/api/routing.py: path, method,
the handler's docstring as summary and description), handed to Powertools' OpenAPI generator
here, at build time only; the webhook route is not an app's, so its operation is written here.
Which credential a route needs comes from template.yaml.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "openapi.json"
SECURITY = {"MerchantAuthorizer": "merchantJwt", "WarehouseAuthorizer": "warehouseJwt"}
ERROR = {
    "description": "Error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _load_app(name: str):
    """The assembled app of orderhub.api.<name> (the app its function resolves)."""
    return importlib.import_module(f"orderhub.api.{name}").app


def _schema_app(app):
    """A Powertools resolver holding `app`'s routes, in their order, for its OpenAPI generator
    (operation ids, path parameters from the handlers' signatures, a route's extra answers)."""
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    resolver = APIGatewayHttpResolver()
    for route in app.routes:
        extra = {"responses": route.responses} if route.responses else {}
        resolver.route(route.rule, route.method, **extra)(route.func)
    return resolver


# The function whose app serves the paths of its greedy route (`ANY /{proxy+}`)
RESOLVERS = {"MerchantApiFunction": "merchant", "WarehouseApiFunction": "warehouse"}


def served_routes() -> list[tuple[str, str, str, str | None]]:
    """(function, method, path, Auth.Authorizer as the event writes it: a name, "NONE", or None
    for the API's default) of every route the deployed API serves: each HttpApi event of
    template.yaml, a greedy event expanded into the routes of its function's resolver (those an
    explicit event does not already serve)."""
    from localcloud.template import Template

    t = Template(ROOT / "template.yaml")
    explicit, greedy = [], []
    for fn in t.functions().values():
        for ev in fn.events:
            if ev.type != "HttpApi":
                continue
            auth = (ev.properties.get("Auth") or {}).get("Authorizer")
            method, path = ev.properties.get("Method", "ANY").upper(), ev.properties.get("Path", "/{proxy+}")
            if path == "/{proxy+}" and method == "OPTIONS":
                continue  # the console's CORS preflights (answered 204): not an operation of the API
            if path == "/{proxy+}":
                greedy.append((fn.logical_id, auth))
            else:
                explicit.append((fn.logical_id, method, path, auth))
    served = {(m, p) for _, m, p, _ in explicit}
    out = list(explicit)
    for function_id, auth in greedy:
        app = _load_app(RESOLVERS[function_id])
        for route in app.routes:
            if (route.method, route.openapi_path) not in served:
                out.append((function_id, route.method, route.openapi_path, auth))
    return out


def template_routes() -> dict[tuple[str, str], str | None]:
    """(method, path) -> authorizer name (None for open routes) of every route served."""
    from localcloud.template import Template

    api = Template(ROOT / "template.yaml").resources("AWS::Serverless::HttpApi")
    default = next(iter(api.values()))["Properties"]["Auth"].get("DefaultAuthorizer")
    out = {}
    for _, method, path, auth in served_routes():
        auth = auth or default
        out[(method, path)] = None if auth == "NONE" else auth
    return out


def _webhook_operation() -> dict:
    return {
        "summary": "Receive a marketplace webhook",
        "description": "Verifies the signature, validates the payload and queues it (see docs/webhooks.md).",
        "operationId": "receive_webhook",
        "parameters": [
            {
                "name": "marketplace",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "enum": ["shopify", "wish", "generic"]},
            },
            {"name": "merchant_id", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
        "responses": {
            "200": {"description": "Verified and queued"},
            **{code: ERROR for code in ("400", "401", "404", "413")},
        },
    }


def build() -> dict:
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    merchant = _load_app("merchant")
    warehouse = _load_app("warehouse")
    doc = json.loads(
        _schema_app(merchant).get_openapi_json_schema(
            title="orderhub API",
            version="1.0.0",
            description="Merchant, warehouse and webhook routes of orderhub. Errors are "
            '{"error": {"code", "message", "field"}}.',
            security_schemes={
                "merchantJwt": HTTPBearer(bearerFormat="JWT", description="A JWT with a merchant_id claim"),
                "warehouseJwt": HTTPBearer(bearerFormat="JWT", description="The warehouse's JWT"),
            },
        )
    )
    wdoc = json.loads(_schema_app(warehouse).get_openapi_json_schema(title="w", version="1"))
    for path, ops in wdoc["paths"].items():
        doc["paths"].setdefault(path, {}).update(ops)
    doc["paths"]["/webhooks/{marketplace}/{merchant_id}"] = {"post": _webhook_operation()}
    doc.setdefault("components", {}).setdefault("schemas", {})["Error"] = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": "string"},
                },
            }
        },
    }
    docs = {}
    for app in (merchant, warehouse):
        for route in app.routes:
            docs[(route.method, route.openapi_path)] = (route.func.__doc__ or "").strip()
    auth = template_routes()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            text = " ".join(docs.get((method.upper(), path), "").split())
            if text:
                op["summary"] = text.split(". ")[0].rstrip(".")
                op["description"] = text
            authorizer = auth.get((method.upper(), path))
            if authorizer:
                op["security"] = [{SECURITY[authorizer]: []}]
                op.setdefault("responses", {}).setdefault("401", ERROR)
            if path != "/health" and not path.startswith("/webhooks/"):
                op.setdefault("responses", {})
                for code in ("400", "404"):
                    op["responses"].setdefault(code, ERROR)
                if method in ("post", "put", "delete"):
                    op["responses"].setdefault("409", ERROR)
            op.get("responses", {}).pop("422", None)
            # every answer a function gives names its correlation id (docs/observability.md)
            op["responses"] = {
                code: {
                    **answer,
                    "headers": {"X-Correlation-Id": {"$ref": "#/components/headers/CorrelationId"}},
                }
                for code, answer in op.get("responses", {}).items()
            }
    doc["components"]["headers"] = {
        "CorrelationId": {
            "description": "The id of this request's work in orderhub's logs, history and events: quote it "
            "when you ask about the request (made by orderhub, never taken from the request). Absent from "
            "a 401 of API Gateway's JWT authorizer, which answers before orderhub runs.",
            "schema": {"type": "string", "format": "uuid"},
        }
    }
    doc["paths"] = dict(sorted(doc["paths"].items()))
    return doc


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print("docs/openapi.json is out of date: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
