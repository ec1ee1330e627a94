"""The Universe page and the Data page's search with 500 symbols, via AppTest against a real
uvicorn API (in a thread) over a temp data dir."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import httpx
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from stockdb.api import create_app
from stockdb.app import App
from stockdb.testing.coverage_rows import SeededCoverage, seed_coverage

from ..api.conftest import live_server
from .test_pages import figures, values

pytestmark = pytest.mark.timeout(180)


def _page(url: str, name: str) -> None:
    import importlib

    from stockdb.ui.client import ApiClient

    module = importlib.import_module(f"stockdb.ui.{name}")
    with ApiClient(url) as api:
        module.render(api)


@pytest.fixture
def universe(app: App) -> Iterator[tuple[str, SeededCoverage]]:
    """500 synthetic coverage-only symbols plus SPY and QQQ with two weeks of real bars."""
    source = app.provider("synthetic")
    try:
        app.backfill.run(["SPY", "QQQ"], date(2024, 3, 4), date(2024, 3, 15), source)
    finally:
        source.close()
    seeded = seed_coverage(app.state, 500, 45)
    with live_server(create_app(app=app, run_runtime=False)) as url:
        yield url, seeded


def run(url: str, name: str) -> AppTest:
    at = AppTest.from_function(_page, args=(url, name), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_heatmap_is_symbols_by_months_with_search(universe: tuple[str, SeededCoverage]) -> None:
    url, seeded = universe
    at = run(url, "universe_page")
    [heatmap] = [f for f in figures(at) if f["data"][0]["type"] == "heatmap"]
    trace = heatmap["data"][0]
    assert values(trace["y"]) == ["QQQ", "S0000", *[f"S{i:04d}" for i in range(1, 59)]]
    assert values(trace["x"]) == ["2024-01", "2024-02", "2024-03"]
    complete: dict[tuple[str, str], list[int]] = {}  # plain-loop reference of the shares
    damaged = set(seeded.damaged)
    for symbol, day, status, _ in seeded.coverage:
        cell = complete.setdefault((symbol, f"{day:%Y-%m}"), [0, 0])
        cell[0] += status == "complete" and (symbol, day) not in damaged
        cell[1] += 1
    row = values(trace["y"]).index("S0007")
    z = trace["z"][row]
    assert z[0] == pytest.approx(complete[("S0007", "2024-01")][0] / 30)
    assert z[1] == pytest.approx(complete[("S0007", "2024-02")][0] / 15) and z[2] is None
    assert trace["z"][0][2] == pytest.approx(1.0)  # QQQ: ten complete sessions in March

    at.text_input(key="universe-search").input("s01").run()
    [heatmap] = [f for f in figures(at) if f["data"][0]["type"] == "heatmap"]
    assert values(heatmap["data"][0]["y"]) == [f"S{i:04d}" for i in range(100, 160)]
    assert any("60 of 100 matching" in str(c.value) for c in at.caption)


def test_compare_view_rebases_daily_closes(universe: tuple[str, SeededCoverage]) -> None:
    url, _ = universe
    at = run(url, "universe_page")
    assert any("Pick one or more" in str(i.value) for i in at.info)
    at.text_input(key="compare-symbols-search").input("q spy").run()
    picker = at.multiselect(key="compare-symbols")
    assert picker.options == ["QQQ", "SPY"]
    picker.set_value(["SPY", "QQQ"]).run()
    assert not at.exception and not at.error
    [chart] = [f for f in figures(at) if f["data"][0]["type"] == "scatter"]
    lines = {t["name"]: values(t["y"]) for t in chart["data"]}
    for symbol in ("SPY", "QQQ"):
        bars = httpx.get(f"{url}/bars/{symbol}", params={"timeframe": "1Day"}).json()
        closes = pd.Series([b["close"] for b in bars], dtype=float)
        assert lines[symbol] == pytest.approx((closes / closes.iloc[0] * 100).tolist())
    at.toggle(key="compare-rebase").set_value(False).run()
    [chart] = [f for f in figures(at) if f["data"][0]["type"] == "scatter"]
    spy = httpx.get(f"{url}/bars/SPY", params={"timeframe": "1Day"}).json()
    got = {t["name"]: values(t["y"]) for t in chart["data"]}["SPY"]
    assert got == pytest.approx([b["close"] for b in spy])


def test_data_page_search_narrows_table_and_picker(universe: tuple[str, SeededCoverage]) -> None:
    url, _ = universe
    at = run(url, "data")
    assert len(at.dataframe[0].value) == 502
    at.text_input(key="symbols-search").input("spy").run()
    assert list(at.dataframe[0].value["symbol"]) == ["SPY"]
    at.text_input(key="coverage-symbol-search").input("S04").run()
    assert at.selectbox(key="coverage-symbol").options == [f"S{i:04d}" for i in range(400, 500)]
    at.text_input(key="coverage-symbol-search").input("QQ").run()
    at.selectbox(key="coverage-symbol").set_value("QQQ").run()
    assert {m.label: m.value for m in at.metric}["complete"] == "10"
