"""The dashboard in a real headless Chromium over a real API: ingest, chart, agent switches,
(training and simulation when the API has them), with a screenshot of every page."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _answers(url: str, proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"{url} exited with {proc.returncode}")
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def _process(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``cmd`` in its own process group; the whole group is stopped at the end."""
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(API URL, dashboard URL): `stockdb serve` and `stockdb ui` on free loopback ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "STOCKDB_"))}
    env["STOCKDB_DATA_DIR"] = str(tmp_path / "data")
    env["HOME"] = str(tmp_path)  # streamlit's first-run files stay in the temp dir
    api_port, ui_port = _free_port(), _free_port()
    api = f"http://127.0.0.1:{api_port}"
    ui = f"http://127.0.0.1:{ui_port}"
    serve = [str(BIN / "stockdb"), "serve", "--port", str(api_port), "--log-level", "warning"]
    dash = [str(BIN / "stockdb"), "ui", "--api-url", api, "--port", str(ui_port)]
    with (
        _process(serve, env, tmp_path / "api.log") as api_proc,
        _process(dash, env, tmp_path / "ui.log") as ui_proc,
    ):
        _wait(lambda: _answers(f"{api}/health", api_proc), 60, "the API")
        _wait(lambda: _answers(f"{ui}/_stcore/health", ui_proc), 60, "the dashboard")
        yield api, ui


def _has(api: str, method: str, prefix: str) -> bool:
    paths = httpx.get(f"{api}/openapi.json").json()["paths"]
    return any(p.startswith(prefix) and method in ops for p, ops in paths.items())


def _agent_enabled(api: str, name: str) -> bool:
    agents = httpx.get(f"{api}/agents").json()["agents"]
    return bool(next(a for a in agents if a["name"] == name)["enabled"])


def _refuse(seen: list[str]) -> Callable[[Any], None]:
    """A route handler that records and aborts every request off this machine (no network)."""

    def handler(route: Any) -> None:
        seen.append(route.request.url)
        route.abort()

    return handler


def _synthetic_badge(page: Any) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_text("SYNTHETIC DATA")).to_be_visible()


def test_dashboard_in_chromium(stack: tuple[str, str]) -> None:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # a loaded 2-core machine renders Streamlit slowly

    api, ui = stack
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=30_000)  # 2 shared cores: Streamlit reruns can take seconds
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.set_default_timeout(30_000)

            # Overview: agents listed; stop and start one.
            page.goto(f"{ui}/")
            stop = page.locator(".st-key-stop-backfill button")
            expect(stop).to_be_visible()
            expect(page.get_by_text("API ok")).to_be_visible()
            _synthetic_badge(page)
            stop.click()
            expect(page.locator(".st-key-start-backfill button")).to_be_visible()
            assert _agent_enabled(api, "backfill") is False
            page.locator(".st-key-start-backfill button").click()
            expect(page.locator(".st-key-stop-backfill button")).to_be_visible()
            assert _agent_enabled(api, "backfill") is True

            # Data: type a ticker, queue the ingest, watch the bar reach done.
            page.goto(f"{ui}/data")
            page.get_by_label("Ticker").fill("SPY")
            page.get_by_role("button", name="Queue ingest").click()
            expect(page.get_by_text(re.compile(r"Job \w+ succeeded"))).to_be_visible(timeout=60_000)
            bar = page.locator('[data-testid="stProgress"] [role="progressbar"]').first
            expect(bar).to_have_attribute("aria-valuenow", "100")
            expect(page.get_by_text(re.compile(r"ingest succeeded \d+/\d+"))).to_be_visible()
            expect(page.get_by_text("SPY sessions")).to_be_visible()  # the heatmap's title
            _synthetic_badge(page)
            page.screenshot(path=ARTIFACTS / "data.png", full_page=True)

            # Bars: the candlestick chart renders with data.
            page.goto(f"{ui}/bars")
            candles = page.locator(".js-plotly-plot g.boxlayer path")
            expect(candles.first).to_be_attached()
            assert candles.count() > 0
            expect(page.get_by_role("button", name="Download CSV")).to_be_visible()
            _synthetic_badge(page)
            expect(page.get_by_text("time (New York, ET)").first).to_be_attached()
            page.screenshot(path=ARTIFACTS / "bars.png", full_page=True)

            page.goto(f"{ui}/features")
            expect(page.get_by_text("Definitions")).to_be_visible()
            page.get_by_role("button", name="Rebuild features").click()
            expect(page.get_by_text(re.compile(r"Job \w+ succeeded"))).to_be_visible(timeout=60_000)
            expect(page.get_by_text("SPY features")).to_be_visible()  # the chart's title
            expect(page.locator('[data-testid="stDataFrame"]').nth(2)).to_be_visible()
            _synthetic_badge(page)
            page.screenshot(path=ARTIFACTS / "features.png", full_page=True)

            page.goto(f"{ui}/models")
            page.get_by_role("button", name="Train").click()
            expect(page.get_by_text(re.compile(r"Job \w+ succeeded"))).to_be_visible(timeout=90_000)
            _synthetic_badge(page)
            page.screenshot(path=ARTIFACTS / "models.png", full_page=True)

            page.goto(f"{ui}/simulation")
            page.get_by_role("button", name="Simulate").click()
            expect(page.get_by_text("equity vs buy and hold")).to_be_visible(timeout=90_000)
            expect(page.get_by_text("Past runs")).to_be_visible()
            _synthetic_badge(page)
            page.screenshot(path=ARTIFACTS / "simulation.png", full_page=True)

            # Overview again, now with jobs and logs behind it.
            page.goto(f"{ui}/")
            expect(page.locator(".st-key-stop-backfill button")).to_be_visible()
            expect(page.get_by_text("Recent logs")).to_be_visible()
            page.screenshot(path=ARTIFACTS / "overview.png", full_page=True)

            # Swagger UI and ReDoc render with every request off this machine refused.
            offline = browser.new_context(viewport={"width": 1400, "height": 1400})
            outside: list[str] = []
            offline.route(
                re.compile(r"^(?!https?://127\.0\.0\.1[:/]|data:|blob:)"), _refuse(outside)
            )
            docs = offline.new_page()
            docs.goto(f"{api}/docs")
            expect(docs.locator(".swagger-ui .opblock").first).to_be_visible()
            expect(docs.get_by_text("/bars/{symbol}").first).to_be_visible()
            docs.screenshot(path=ARTIFACTS / "api-docs.png")
            docs.goto(f"{api}/redoc")
            health = "Liveness plus state-store and lake checks"
            expect(docs.get_by_text(health).first).to_be_attached()
            # ReDoc's bundle links its "API docs by Redocly" footer logo; nothing else may leave.
            needed = [u for u in outside if not u.endswith("/redoc/logo-mini.svg")]
            assert needed == [], f"the docs tried to reach the network: {needed[:5]}"
        except AssertionError:
            page.screenshot(path=ARTIFACTS / "failed.png", full_page=True)
            raise
        finally:
            browser.close()
