"""Browser tests: Playwright for Python drives a real headless Chromium (Debian's `chromium`, by
`executable_path`; `make test` installs it) against the console served by a local cloud, signing
in through the console's own PKCE flow and posting webhooks as a marketplace would.

Each module gets one local cloud and one browser; each test a new browser context (no cookies,
no storage) at 1280x900 unless it asks for another viewport."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.support.cloud_fixtures import api, api2, cloud, fake  # noqa: F401 (fixtures)
from tests.support.http import ROOT

# The README's screenshots are written there by `make screenshots` only; otherwise into a
# temporary folder (the same pages and the same calls), so that a test run leaves the working tree
# as it found it.
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("ORDERHUB_SCREENSHOTS") == "docs"
    else Path(tempfile.gettempdir()) / f"orderhub-screenshots-{os.getpid()}"
)


def chromium_path() -> str:
    """Debian's chromium (or $ORDERHUB_CHROMIUM)."""
    for candidate in (os.environ.get("ORDERHUB_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    pytest.fail(
        "Chromium is not installed: run `make test` (it installs Debian's chromium) or set ORDERHUB_CHROMIUM"
    )


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=chromium_path(),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def context(browser, request):
    marker = request.node.get_closest_marker("viewport")
    width, height = marker.args if marker else (1280, 900)
    locale = request.node.get_closest_marker("locale")
    ctx = browser.new_context(
        viewport={"width": width, "height": height}, locale=locale.args[0] if locale else "en-US"
    )
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on(
        "console",
        lambda msg: (
            errors.append(msg.text) if msg.type == "error" and "Content Security Policy" in msg.text else None
        ),
    )
    yield pg
    assert not errors, f"the page raised: {errors}"


def sign_in(page, local_cloud, merchant_id: str = "demo", route: str = "#/orders"):
    """Open the console and sign in on the local sign-in page as `merchant_id`."""
    page.goto(local_cloud.console.url + "/" + route)
    page.get_by_role("button", name=re.compile(rf"\({re.escape(merchant_id)}\)")).click()
    page.get_by_test_id("merchant").wait_for()
    return page


def screenshot(page, name: str) -> None:
    """<name>.png in docs/screenshots (shown in the README) under `make screenshots`, else in a
    temporary folder."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def pytest_unconfigure(config):
    if SCREENSHOTS.name.startswith("orderhub-screenshots-"):
        shutil.rmtree(SCREENSHOTS, ignore_errors=True)


def pytest_configure(config):
    config.addinivalue_line("markers", "viewport(width, height): the browser context's viewport")
    config.addinivalue_line("markers", "locale(tag): the browser context's locale (navigator.language)")


__all__ = ["Path", "screenshot", "sign_in"]
