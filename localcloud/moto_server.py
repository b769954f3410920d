"""moto's server app on an HTTP/1.1 server that keeps connections open, and the same app
answering this process's own boto3 clients without a socket.

`moto.server.ThreadedMotoServer` serves moto's WSGI app with werkzeug's development server,
which answers every request with `Connection: close`: each AWS call of a function then opens a
new TCP connection (connect, a server thread, teardown). This server speaks HTTP/1.1 with
keep-alive, as AWS endpoints do, so botocore's connection pool reuses its connections: about
half the time per call measured here. Requests are served one thread per connection; the
WSGI app is moto's own (localcloud/internals.moto_wsgi_app).

The functions the local cloud runs live in its process; their boto3 clients reach the app
through `InProcessRoute`, a botocore `before-send` handler: the same signed request, the same
app, the same answer, without encoding it on a socket and parsing it back twice (a quarter of
a busy job's time). Clients in other processes (the AWS CLI, a second terminal) use the HTTP
endpoint.
"""

from __future__ import annotations

import io
import logging
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from localcloud.serving import serve_in_thread

log = logging.getLogger("localcloud.moto")

IDLE_SECONDS = 60  # an idle kept-alive connection is closed after this long


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once (no 40 ms delayed-ACK stall)
    timeout = IDLE_SECONDS
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        host, port = self.server.server_address[:2]
        code, reason, headers, data = call_app(
            self.server.app,
            self.command,
            self.path,
            self.headers.items(),
            self._body(),
            server=(str(host), int(port)),
            remote=self.client_address[0],
            protocol=self.request_version,
            on_error=lambda: self.server.handle_error(self.request, self.client_address),
        )
        self.send_response(code, reason)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _serve


def call_app(
    app: Callable,
    method: str,
    target: str,
    headers: Any,
    body: bytes,
    *,
    server: tuple[str, int],
    remote: str = "127.0.0.1",
    protocol: str = "HTTP/1.1",
    on_error: Callable[[], None] | None = None,
) -> tuple[int, str, list[tuple[str, str]], bytes]:
    """One request through a WSGI app: (status code, reason, response headers with the body's
    Content-Length, body). An app that raises answers 500, as moto's own server does."""
    path, _, query = target.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": protocol,
        "REMOTE_ADDR": remote,
        "CONTENT_TYPE": "",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers:
        key = "HTTP_" + name.upper().replace("-", "_")
        if key == "HTTP_CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif key != "HTTP_CONTENT_LENGTH":
            environ[key] = f"{environ[key]},{value}" if key in environ else value
    started: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info=None):
        started["status"], started["headers"] = status, response_headers
        return lambda data: None

    try:
        result = app(environ, start_response)
        try:
            data = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
    except Exception:  # noqa: BLE001 moto failed: answer 500 like its own server, keep serving
        if on_error is not None:
            on_error()
        started = {"status": "500 Internal Server Error", "headers": []}
        data = b""
    code, _, reason = started["status"].partition(" ")
    kept = [
        (name, value)
        for name, value in started["headers"]
        if name.lower() not in ("content-length", "connection", "transfer-encoding")
    ]
    return int(code), reason, [*kept, ("Content-Length", str(len(data)))], data


class _Raw(io.BytesIO):
    """An answer's body as botocore reads one: `stream()` for a whole body, `read()` for a
    streaming one."""

    def stream(self, **_: Any):
        chunk = self.read()
        while chunk:
            yield chunk
            chunk = self.read()


class InProcessRoute:
    """A botocore `before-send` handler: a request to `endpoint` is answered by calling `app` in
    the calling thread; any other request goes its way (None)."""

    def __init__(self, app: Callable, endpoint: str) -> None:
        self.app = app
        self.endpoint = endpoint.rstrip("/")
        parts = urlsplit(self.endpoint)
        self.netloc = parts.netloc
        self.server = (parts.hostname or "127.0.0.1", parts.port or 80)

    def __call__(self, request: Any, **_: Any) -> Any:
        url = request.url
        target = url[len(self.endpoint) :]
        if not url.startswith(self.endpoint) or target[:1] not in ("", "/", "?"):
            return None
        from botocore.awsrequest import AWSResponse
        from urllib3 import HTTPHeaderDict

        body = request.body
        if body is None:
            body = b""
        elif hasattr(body, "read"):
            body = body.read()
        elif isinstance(body, str):
            body = body.encode("utf-8")
        headers = [("Host", self.netloc)] + [
            (name, value.decode("latin-1") if isinstance(value, bytes) else str(value))
            for name, value in request.headers.items()
            if name.lower() != "host"
        ]
        code, _, answer_headers, data = call_app(
            self.app,
            request.method,
            target or "/",
            headers,
            bytes(body),
            server=self.server,
            on_error=lambda: log.exception("moto failed on %s %s", request.method, url),
        )
        return AWSResponse(url, code, HTTPHeaderDict(answer_headers), _Raw(data))


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: Callable) -> None:
        super().__init__(address, _Handler)
        self.app = app
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request, client_address) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        with self._open_lock:
            open_now, self._open = list(self._open), set()
        for sock in open_now:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class KeepAliveMotoServer:
    """start(), get_host_and_port(), stop(): what the local cloud used of ThreadedMotoServer."""

    def __init__(self, app: Callable, ip_address: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((ip_address, port), app)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = serve_in_thread(self._server, "moto")

    def get_host_and_port(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.close_open_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
