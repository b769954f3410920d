"""Options of the whole suite: --shuffle-modules=SEED runs the test modules in an order drawn from
SEED (the tests of a module keep their order), as `make test-shuffled` does; the suite must pass
whichever order its modules run in. Every xdist worker draws the same order from the same seed."""

from __future__ import annotations

import random


def pytest_addoption(parser):
    parser.addoption(
        "--shuffle-modules",
        metavar="SEED",
        default=None,
        help="run the test modules in an order drawn from SEED (an integer or any text)",
    )


def pytest_terminal_summary(terminalreporter, config):
    seed = config.getoption("shuffle_modules")
    if seed is not None:  # at the end, so a failure can be repeated (make test-shuffled SEED=...)
        terminalreporter.write_line(f"test modules shuffled with --shuffle-modules={seed}")


def pytest_collection_modifyitems(config, items):
    modules: dict[str, list] = {}  # in collection order
    for item in items:
        modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    seed = config.getoption("shuffle_modules")
    if seed is None:
        # the modules marked slowest first, the longest first (the order xdist hands modules to
        # workers, with --no-loadscope-reorder): the long ones run alongside the rest instead of
        # after it, and the short ones fill the workers at the end
        order = sorted(modules, key=lambda name: -_seconds(modules[name][0]))
    else:
        order = sorted(modules)
        random.Random(seed).shuffle(order)
    items[:] = [item for name in order for item in modules[name]]


def _seconds(item) -> float:
    """A module's `slowest(seconds)` mark: about how long it runs on one of 2 cores (0 unmarked)."""
    mark = item.get_closest_marker("slowest")
    if mark is None:
        return 0.0
    return float(mark.args[0]) if mark.args else 1.0
