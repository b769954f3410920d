"""orderhub/api/routing.py: the merchant and warehouse APIs' router (no AWS)."""

from __future__ import annotations

import base64
import json
import threading

import pytest

from orderhub.api import routing
from orderhub.api.routing import App, Response, Router


def event(method: str, path: str, **extra) -> dict:
    ev = {
        "rawPath": path,
        "requestContext": {"http": {"method": method}, "requestId": "r-1", "stage": "$default"},
    }
    ev.update(extra)
    return ev


def text(status: int, value) -> Response:
    return Response(status, json.dumps(value), "application/json")


@pytest.fixture
def app() -> App:
    orders = Router()

    @orders.get("/orders/<order_id>")
    def one(order_id):
        return text(200, {"route": "one", "order_id": order_id})

    @orders.get("/orders/counts")  # added after the templated route: still matched first
    def counts():
        return text(200, {"route": "counts"})

    @orders.post("/orders/<order_id>/hold")
    def hold(order_id):
        return text(200, {"route": "hold", "order_id": order_id})

    @orders.get("/tracking/<number>/events/<n>")
    def events(number, n):
        return text(200, {"number": number, "n": n})

    app = App()
    app.include_router(orders)

    @app.not_found
    def missing():
        return text(404, {"error": "no such route"})

    return app


def answer(app: App, ev: dict) -> tuple[int, dict]:
    out = app.resolve(ev, None)
    return out["statusCode"], json.loads(out["body"])


def test_a_route_without_parameters_wins_over_a_template_that_also_matches(app):
    assert answer(app, event("GET", "/orders/counts")) == (200, {"route": "counts"})
    assert answer(app, event("GET", "/orders/A-1")) == (200, {"route": "one", "order_id": "A-1"})


def test_path_parameters_are_one_segment_each_and_passed_by_name(app):
    assert answer(app, event("GET", "/tracking/1%2F2/events/3")) == (200, {"number": "1%2F2", "n": "3"})
    assert answer(app, event("GET", "/orders/A-1/extra"))[0] == 404
    assert answer(app, event("GET", "/orders/"))[0] == 404


def test_the_method_is_part_of_the_route(app):
    assert answer(app, event("POST", "/orders/A-1/hold")) == (200, {"route": "hold", "order_id": "A-1"})
    assert answer(app, event("GET", "/orders/A-1/hold")) == (404, {"error": "no such route"})
    assert answer(app, event("DELETE", "/orders/counts")) == (404, {"error": "no such route"})


def test_a_stage_other_than_default_is_not_part_of_the_path(app):
    ev = event("GET", "/prod/orders/counts")
    ev["requestContext"]["stage"] = "prod"
    assert answer(app, ev) == (200, {"route": "counts"})


def test_the_most_specific_exception_handler_answers(app):
    class Refused(Exception):
        pass

    class Conflict(Refused):
        pass

    @app.get("/boom/<kind>")
    def boom(kind):
        raise {"conflict": Conflict, "refused": Refused, "other": KeyError}[kind]("x")

    @app.exception_handler(Exception)
    def anything(exc):
        return text(500, {"handled_by": "exception", "request_id": routing.current().request_id})

    @app.exception_handler(Refused)
    def refused(exc):
        return text(400, {"handled_by": "refused", "type": type(exc).__name__})

    assert answer(app, event("GET", "/boom/conflict")) == (400, {"handled_by": "refused", "type": "Conflict"})
    assert answer(app, event("GET", "/boom/refused")) == (400, {"handled_by": "refused", "type": "Refused"})
    assert answer(app, event("GET", "/boom/other")) == (500, {"handled_by": "exception", "request_id": "r-1"})


def test_a_route_added_twice_fails_when_the_app_is_assembled():
    first, second = Router(), Router()
    first.get("/orders/<order_id>")(lambda order_id: text(200, {}))
    second.get("/orders/<id>")(lambda id: text(200, {}))  # the same route, another name
    app = App()
    app.include_router(first)
    with pytest.raises(ValueError, match="GET /orders/<id> is routed twice"):
        app.include_router(second)
    app.post("/orders/<id>")(lambda id: text(200, {}))  # another method: a route of its own


def test_an_unhandled_exception_is_raised_to_the_runtime():
    app = App()

    @app.get("/boom")
    def boom():
        raise RuntimeError("no handler")

    with pytest.raises(RuntimeError):
        app.resolve(event("GET", "/boom"))


def test_a_bytes_body_is_sent_base64_and_a_text_body_as_it_is():
    data = "注文,〓\r\n".encode("cp932")
    out = Response(
        200, data, "text/csv; charset=shift_jis", {"Content-Disposition": "attachment"}
    ).to_answer()
    assert out["isBase64Encoded"] is True and base64.b64decode(out["body"]) == data
    assert out["headers"] == {
        "Content-Disposition": "attachment",
        "Content-Type": "text/csv; charset=shift_jis",
    }
    out = Response(201, '{"a":1}', "application/json").to_answer()
    assert out == {
        "statusCode": 201,
        "body": '{"a":1}',
        "isBase64Encoded": False,
        "headers": {"Content-Type": "application/json"},
    }


def test_headers_set_explicitly_keep_their_content_type():
    out = Response(200, "x", "application/json", {"Content-Type": "text/plain"}).to_answer()
    assert out["headers"] == {"Content-Type": "text/plain"}


def test_the_request_reads_its_event():
    body = base64.b64encode(json.dumps({"a": "あ"}).encode()).decode()
    req = routing.Request(
        event(
            "post",
            "/x",
            headers={"Content-Type": "application/json"},
            queryStringParameters={"q": "1"},
            body=body,
            isBase64Encoded=True,
        )
    )
    assert req.http_method == "POST" and req.path == "/x" and req.request_id == "r-1"
    assert req.headers == {"content-type": "application/json"} and req.query_string_parameters == {"q": "1"}
    assert json.loads(req.decoded_body) == {"a": "あ"}
    with pytest.raises(ValueError):
        routing.Request(event("POST", "/x", body="abc", isBase64Encoded=True)).decoded_body  # noqa: B018 (padding)
    with pytest.raises(ValueError):  # base64 of bytes that are not UTF-8
        routing.Request(event("POST", "/x", body="/w==", isBase64Encoded=True)).decoded_body  # noqa: B018
    empty = routing.Request({})
    assert (empty.http_method, empty.path, empty.query_string_parameters, empty.body) == ("", "/", {}, None)


def test_each_thread_sees_its_own_request_while_another_is_in_flight():
    """The local cloud serves several requests at once in one process: a route must read the
    request it serves, never another thread's."""
    app = App()
    first_in = threading.Event()
    second_done = threading.Event()

    @app.get("/who/<name>")
    def who(name):
        if name == "first":
            first_in.set()
            second_done.wait(5)  # the second request is served meanwhile
        return text(200, {"path": routing.current().path, "name": name})

    results = {}
    t = threading.Thread(target=lambda: results.update(first=answer(app, event("GET", "/who/first"))))
    t.start()
    first_in.wait(5)
    results["second"] = answer(app, event("GET", "/who/second"))
    second_done.set()
    t.join(5)
    assert results == {
        "first": (200, {"path": "/who/first", "name": "first"}),
        "second": (200, {"path": "/who/second", "name": "second"}),
    }
    with pytest.raises(LookupError):  # no request outside one
        routing.current()


def test_the_apis_use_this_router_and_not_powertools_event_handler():
    """The merchant and warehouse APIs import no part of Powertools' event handler (docs/architecture.md,
    "Cold start"); checked in a fresh interpreter in test_cold_start_imports.py."""
    from orderhub.api import merchant, warehouse

    assert isinstance(merchant.app, App) and isinstance(warehouse.app, App)
    paths = {(r.method, r.openapi_path) for r in merchant.app.routes}
    assert ("GET", "/orders/{order_id}") in paths and ("GET", "/orders/counts") in paths
