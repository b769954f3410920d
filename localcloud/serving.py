"""One way to run a socketserver in a daemon thread, for the local cloud's three HTTP servers (the
API, moto's endpoint and the fake marketplace).

`socketserver.serve_forever` checks for a shutdown request once per poll interval (0.5 s by
default), so each stop used to wait up to half a second per server. A short interval makes a stop
prompt; the loop's extra wake-ups cost nothing measurable.
"""

from __future__ import annotations

import socketserver
import threading

SHUTDOWN_POLL_SECONDS = 0.02


def serve_in_thread(server: socketserver.BaseServer, name: str) -> threading.Thread:
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
        name=name,
        daemon=True,
    )
    thread.start()
    return thread


class Served:
    """A socketserver on 127.0.0.1 served in a daemon thread: its port and URL, start and stop (the
    local API and the console's origin hold one)."""

    def __init__(self, server: socketserver.TCPServer, name: str):
        self.server = server
        self._name = name
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self._thread is None:
            self._thread = serve_in_thread(self.server, self._name)

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() would wait forever for a loop that never ran
            self.server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server.server_close()
