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
