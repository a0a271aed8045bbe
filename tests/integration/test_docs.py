"""`runner docs generate` in a real browser (Debian's Chromium driven by Playwright), opened from
the file system; `runner docs serve` on 127.0.0.1. No Spark, no service."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from runner.cli import main
from tests.conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
DOCS = ROOT / "target" / "docs"
SCREENSHOT = ROOT / "target" / "docs-screenshot.png"
ERRORS: list[str] = []  # uncaught errors of the page's script
REQUESTS: list[str] = []  # every URL the page loaded


@pytest.fixture(scope="module")
def site() -> Path:
    result = CliRunner().invoke(main, ["docs", "generate", "--project-dir", str(ROOT)])
    assert result.exit_code == 0, result.output
    assert (DOCS / "index.html").is_file() and (DOCS / "data.js").is_file()
    return DOCS / "index.html"


@pytest.fixture(scope="module")
def page(site):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.on("pageerror", lambda exc: ERRORS.append(str(exc)))
        page.on("request", lambda req: REQUESTS.append(req.url))
        page.goto(site.as_uri())
        yield page
        browser.close()


def raw_columns(page) -> list[str]:
    return page.locator("#raw-columns li").all_inner_texts()


def open_column(page, model: str, column: str) -> list[str]:
    page.click(f'#tree a[data-node="model.{model}"]')
    page.click(f'tr.col-row[data-column="{model}.{column}"] a')
    page.wait_for_selector(f'#column-graph g.node.sel[data-id="model.{model}:{column}"]')
    return raw_columns(page)


def test_the_page_lists_every_node_and_draws_the_graph(page):
    names = page.locator("#tree a").all_inner_texts()
    for name in ["raw.lk_onboarding", "stg_onboarding", "int_user_metrics", "ab_test_results",
                 "Fintech onboarding", "segment_rates"]:
        assert name in names
    nodes = page.locator("#graph g.node").count()
    charts = yaml.safe_load((ROOT / "dashboards" / "onboarding.yml").read_text())["charts"]
    models = list((ROOT / "models").rglob("*.sql"))
    assert nodes == 3 + len(models) + len(charts)  # sources, models, charts
    assert ERRORS == []


def test_habit_comes_from_the_window_transactions(page):
    raw = open_column(page, "user_onboarding_metrics", "habit")
    # distinct transaction days and type 8/9 collections, by segment (transactions, dim_users)
    assert {"raw.bt_users_transactions.transaction_dt", "raw.bt_users_transactions.type",
            "raw.bt_users_transactions.segment"} <= set(raw)
    assert "raw.lk_onboarding.habito" not in raw  # that flag is habit_source
    page.click('#through a:text-is("int_user_window_activity")')
    page.go_back()
    page.click('#column-graph g.node[data-id="model.user_onboarding_metrics:habit"]')
    assert "habit_rate" in page.locator("#used-by").inner_text()
    page.goto(page.url.split("#")[0] + "#!model.user_onboarding_metrics:habit_source")
    assert raw_columns(page) == ["raw.lk_onboarding.habito"]


def test_p_value_comes_from_the_assignment_and_the_four_flags(page):
    raw = set(open_column(page, "ab_test_results", "p_value"))
    assert {"raw.lk_onboarding.user_id",  # hashed into the A/B bucket
            "raw.lk_onboarding.return", "raw.lk_onboarding.activacion_dt",
            "raw.lk_onboarding.setup_dt",  # drop, activation, setup
            "raw.bt_users_transactions.transaction_dt", "raw.bt_users_transactions.type"} <= raw
    assert "ab_results" in page.locator("#used-by").inner_text()
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 50_000


def test_a_chart_shows_the_raw_columns_behind_it(page):
    page.click('#tree a[data-node="chart.fintech-onboarding.segment_rates"]')
    # the list is redrawn after the click: wait for it (a timeout fails the test as well)
    page.wait_for_function("""() => [...document.querySelectorAll('#raw-columns li')]
        .some((li) => li.innerText.trim() === 'raw.lk_onboarding.habito')""", timeout=10_000)
    assert "raw.lk_onboarding.habito" in raw_columns(page)  # segment_habit_source_rate
    assert ERRORS == []
    assert REQUESTS and all(url.startswith("file://") for url in REQUESTS), REQUESTS


def test_docs_serve_serves_that_folder_on_loopback(site):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "docs", "serve", "--project-dir", str(ROOT),
         "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "docs serve did not start"
                time.sleep(0.3)
        assert b'<script src="data.js">' in body
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/../manifest.json", timeout=2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
