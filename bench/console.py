"""The merchant console on the local cloud: time to the first rendered row of the order list
with 200 orders, and what the browser downloads on first load (the console's own files, the
API's answers).

A local cloud on template.yaml gets 200 orders (a CSV import job), then headless Chromium
(Debian's, as in tests/browser) signs in and opens `#/orders?page_size=200` in a new tab with an
empty cache, `ROUNDS` times. Timed from the navigation's start (the page's own clock,
performance.now()) to the first row in the table, and to all 200. Local figures: the API answers
from moto in this process, with no network between; on AWS add CloudFront's and API Gateway's
round trips."""

from __future__ import annotations

import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench import ROOT
from bench.common import Section, fmt

ORDERS = 200
ROUNDS = 5
HEADER = (
    "marketplace,marketplace_order_no,placed_at,payment_method,paid_at,currency,sku,title,quantity,price,"
    "item_code,recipient_name,address1,address2,city,region,postal_code,country,phone,email"
)
ROW = (
    "base,C-{n},2026-01-10T09:30:00+09:00,card,2026-01-10T09:31:00+09:00,JPY,TS-RED-M,Tシャツ 赤 M,1,1980,"
    "ITEM-TS-RED-M,山田 太郎,神南1-2-3,渋谷ビル 5F,渋谷区,東京都,150-0041,JP,03-1234-5678,taro@example.jp"
)


def _orders(api, cloud, n: int) -> None:
    body = "\r\n".join([HEADER] + [ROW.format(n=i) for i in range(n)]).encode("utf-8")
    from tests.support.http import request

    tok = api.merchant["token"]
    resp = request(
        "POST",
        cloud.api_url + "/orders/import",
        body,
        {"Authorization": f"Bearer {tok}", "Content-Type": "text/csv"},
    )
    assert resp.status == 202, resp
    job = resp.json["job_id"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        cloud.drain(timeout=30)
        state = api.get(f"/jobs/{job}?page_size=25").json
        if state["state"] in ("done", "failed"):
            assert state["succeeded"] == n, state
            return
        time.sleep(0.2)
    raise TimeoutError("the import job did not finish")


def run(quick: bool = False) -> Section:
    from playwright.sync_api import sync_playwright

    from localcloud import LocalCloud
    from tests.support.http import Api

    n = 50 if quick else ORDERS
    rounds = 2 if quick else ROUNDS
    section = Section("7. Merchant console: first rendered row and first load")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        section.add("Chromium is not installed (make test installs it): not measured.")
        return section
    with (
        tempfile.TemporaryDirectory() as state,
        LocalCloud(template_path=ROOT / "template.yaml", port=0, root=ROOT, state_dir=Path(state)) as cloud,
    ):
        api = Api(cloud.config, "demo")
        _orders(api, cloud, n)
        first_row, all_rows, own_bytes, api_bytes, files = [], [], [], [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            for _ in range(rounds):
                ctx = browser.new_context(viewport={"width": 1280, "height": 900})
                page = ctx.new_page()
                page.goto(cloud.console.url + "/")
                page.get_by_role("button", name=re.compile(r"\(demo\)")).click()
                page.get_by_test_id("merchant").wait_for()
                # a new tab of the same session: empty memory cache, the tokens in sessionStorage
                fresh = ctx.new_page()
                session = page.evaluate("() => sessionStorage.getItem('orderhub.session')")
                fresh.add_init_script(f"sessionStorage.setItem('orderhub.session', {session!r})")
                sizes: dict[str, int] = {}

                def count(resp, sizes=sizes):
                    try:
                        sizes[resp.url] = len(resp.body())
                    except Exception:  # noqa: BLE001, S110 a redirect or an aborted request has no body
                        sizes.setdefault(resp.url, 0)

                fresh.on("response", count)
                fresh.goto(cloud.console.url + f"/#/orders?page_size={n}")
                fresh.locator("main table tbody tr").first.wait_for()
                t_first = fresh.evaluate("() => performance.now()")
                fresh.wait_for_function(
                    f"() => document.querySelectorAll('main table tbody tr').length >= {n}", timeout=30_000
                )
                t_all = fresh.evaluate("() => performance.now()")
                fresh.wait_for_load_state("networkidle")
                first_row.append(t_first)
                all_rows.append(t_all)
                own = {u: s for u, s in sizes.items() if u.startswith(cloud.console.url)}
                own_bytes.append(sum(own.values()))
                api_bytes.append(sum(s for u, s in sizes.items() if u.startswith(cloud.api_url)))
                files.append(len(own))
                ctx.close()
            browser.close()
    section.add(
        f"{n} orders on the local cloud; headless Chromium at 1280 px; {rounds} loads, each in a new tab "
        "with an empty cache; medians. Local figures (no network): on AWS add the CDN's and the API's "
        "round trips.",
        "",
    )
    section.table(
        ["measure", "median", "range"],
        [
            [
                "first order row rendered (ms from navigation)",
                fmt(statistics.median(first_row), 0),
                f"{fmt(min(first_row), 0)}–{fmt(max(first_row), 0)}",
            ],
            [
                f"all {n} rows rendered (ms)",
                fmt(statistics.median(all_rows), 0),
                f"{fmt(min(all_rows), 0)}–{fmt(max(all_rows), 0)}",
            ],
            [
                "console files downloaded (KB, uncompressed)",
                fmt(statistics.median(own_bytes) / 1024, 1),
                f"{statistics.median(files):.0f} files",
            ],
            ["API answers on first load (KB)", fmt(statistics.median(api_bytes) / 1024, 1), ""],
        ],
    )
    return section
