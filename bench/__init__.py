"""Benchmarks: cost and speed figures. Run with `make bench`, or from the repository root
`PYTHONPATH=layers/shared:. python -m bench [--quick]`.

They print figures and write bench/results.md; they are not tests and assert no time."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "shared"
