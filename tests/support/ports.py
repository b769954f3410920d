"""Ports for the tests that start servers of their own: a free one, and the environment of a
`python -m localcloud` process whose API and console ports are both free (the console would
otherwise take the API's port + 1, which another test may hold)."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def local_cloud_env(state_dir: Path, **extra: str) -> tuple[dict[str, str], int]:
    """(environment, API port) for a `python -m localcloud` subprocess."""
    port = free_port()
    env = {
        **os.environ,
        "ORDERHUB_PORT": str(port),
        "ORDERHUB_CONSOLE_PORT": str(free_port()),
        "ORDERHUB_STATE_DIR": str(state_dir),
        **extra,
    }
    return env, port
