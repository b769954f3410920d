"""Benchmarks: cost and speed figures. Run with `make bench` or `python -m bench [--quick]`.

They print figures and write bench/results.md; they are not tests and assert no time."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "shared"
for _p in (str(LAYER), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)
