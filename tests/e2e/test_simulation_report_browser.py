"""A simulation's HTML tearsheet in a real headless Chromium: served by `stockdb serve` and,
written by `stockdb simulations report`, opened from disk with the network cut off."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from stockdb.app import App
from stockdb.training.requests import simulation_request, train_request

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "simulation-report"
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _serve(data_dir: Path, log: Path) -> Iterator[str]:
    """`stockdb serve` on a free loopback port, in its own process group, stopped at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "STOCKDB_"))}
    env["STOCKDB_DATA_DIR"] = str(data_dir)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(BIN / "stockdb"), "serve", "--port", str(port), "--log-level", "warning"]
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log.read_text()
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                        break
                assert time.monotonic() < deadline, "the API did not come up"
                time.sleep(0.2)  # polling a starting server, not synchronising on a result
            yield url
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)


@pytest.fixture
def simulation_id(app: App) -> str:
    source = app.provider("synthetic")
    try:
        app.backfill.run(["SPY"], date(2024, 2, 12), date(2024, 3, 15), source)
    finally:
        source.close()
    app.features.build(["SPY"])
    model = app.training.train(
        train_request({"tickers": ["SPY"], "model": "ridge", "target": "return"})
    )
    body = {"model_id": model.id, "fee_bps": 1, "fill": "next_open"}
    return app.simulation.simulate(simulation_request(body)).id


def _check_rendered(page: object, shot: Path) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    charts = page.locator(".js-plotly-plot")
    expect(charts).to_have_count(4)
    for k in range(4):
        expect(charts.nth(k).locator(".main-svg").first).to_be_attached()
    assert page.locator(".js-plotly-plot g.scatterlayer path.js-line").count() >= 6
    expect(page.locator(".js-plotly-plot g.hm image").first).to_be_attached()  # the heatmap
    expect(page.get_by_text("Monthly returns of the strategy (%)")).to_be_visible()
    expect(page.locator("table.metrics")).to_contain_text("sharpe")
    expect(page.locator("table.trades tbody tr").first).to_be_visible()
    page.screenshot(path=shot, full_page=True)


def test_report_opens_in_chromium(app: App, simulation_id: str, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    written = tmp_path / "report.html"
    env = {**os.environ, "STOCKDB_DATA_DIR": str(app.settings.data_dir)}
    cli = subprocess.run(  # noqa: S603
        [str(BIN / "stockdb"), "simulations", "report", simulation_id, "--out", str(written)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    with _serve(app.settings.data_dir, tmp_path / "api.log") as api, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            errors: list[str] = []
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.set_default_timeout(30_000)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{api}/simulations/{simulation_id}/report")
            _check_rendered(page, ARTIFACTS / "served.png")

            # The written file works offline: every request other than the file is refused.
            offline = browser.new_context(viewport={"width": 1300, "height": 1000})
            refused: list[str] = []

            def refuse(route: object) -> None:
                from playwright.sync_api import Route

                assert isinstance(route, Route)
                if route.request.url.startswith("file:"):
                    route.continue_()
                else:
                    refused.append(route.request.url)
                    route.abort()

            offline.route("**/*", refuse)
            local = offline.new_page()
            local.on("pageerror", lambda exc: errors.append(str(exc)))
            local.goto(written.as_uri())
            _check_rendered(local, ARTIFACTS / "report.png")
            assert refused == [] and errors == []
        finally:
            browser.close()
