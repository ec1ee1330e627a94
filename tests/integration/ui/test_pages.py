"""Each dashboard page run by Streamlit's AppTest against a real API on loopback."""

from __future__ import annotations

import base64
import json
from datetime import date
from typing import Any

import httpx
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.timeout(180)


def _page(url: str, name: str) -> None:
    import importlib

    from stockdb.ui.client import ApiClient

    module = importlib.import_module(f"stockdb.ui.{name}")
    with ApiClient(url) as api:
        module.render(api)


def run_page(url: str, name: str, symbol: str | None = None) -> AppTest:
    """Run page ``name``; with ``symbol``, pick it in the page's symbol box."""
    at = AppTest.from_function(_page, args=(url, name), default_timeout=30)
    at.run()
    if symbol is not None:
        at.selectbox(key=f"{name}-symbol").set_value(symbol).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def figures(at: AppTest) -> list[dict[str, Any]]:
    """The Plotly figures the page drew, as JSON."""
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def values(array: Any) -> list[Any]:
    """A Plotly array as a list (Plotly ships numeric arrays base64-encoded)."""
    if isinstance(array, dict) and "bdata" in array:
        raw = base64.b64decode(array["bdata"])
        return np.frombuffer(raw, dtype=np.dtype(array["dtype"])).tolist()
    return list(array)


def button(at: AppTest, label: str) -> Any:
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r} in {[b.label for b in at.button]}"
    return matches[0]


def errors(at: AppTest) -> list[str]:
    return [str(e.value) for e in at.error]


def follow(at: AppTest, poll: Any, what: str) -> None:
    """Re-run the page until a job it follows shows its final line."""

    def ended() -> bool:
        at.run()
        assert not at.exception
        return bool(at.success) or bool(errors(at)) or bool(at.warning)

    poll(ended, 60, what)


# ---- Overview -----------------------------------------------------------------------------
def test_overview_lists_agents_and_switches_one_off_and_on(api_url: str) -> None:
    at = run_page(api_url, "overview")
    labels = {m.label: m.value for m in at.metric}
    assert {"backfill", "live", "features"} <= set(labels)
    assert labels["queued"] == "0"
    assert int(labels["succeeded"]) >= 2  # the seed ingest and feature build

    at.button(key="stop-backfill").click().run()
    agents = {a["name"]: a for a in httpx.get(f"{api_url}/agents").json()["agents"]}
    assert agents["backfill"]["enabled"] is False
    assert agents["backfill"]["state"] == "stopped"
    assert {m.label: m.value for m in at.metric}["backfill"] == "stopped"
    captions = [str(c.value) for c in at.caption]
    assert "stopped: press Start to resume" in captions  # instead of a next step

    at.button(key="start-backfill").click().run()
    agents = {a["name"]: a for a in httpx.get(f"{api_url}/agents").json()["agents"]}
    assert agents["backfill"]["enabled"] is True
    assert not at.exception


def test_overview_logs_follow_the_filters(api_url: str) -> None:
    at = run_page(api_url, "overview")
    table = at.dataframe[0].value
    assert len(table) > 0
    at.text_input(key="log-symbol").input("ZZZZ").run()
    assert not at.dataframe
    assert any("No log records" in str(i.value) for i in at.info)
    at.text_input(key="log-symbol").input("SPY").run()
    spy = at.dataframe[0].value
    assert len(spy) > 0 and set(spy["symbol"]) == {"SPY"}


# ---- Data ---------------------------------------------------------------------------------
def test_data_queues_an_ingest_and_follows_it_to_done(api_url: str, poll: Any) -> None:
    at = run_page(api_url, "data")
    at.text_input(key="ingest-symbol").input("qqq")
    at.date_input(key="ingest-start").set_value(date(2024, 3, 4))
    at.date_input(key="ingest-end").set_value(date(2024, 3, 6))
    button(at, "Queue ingest").click()
    follow(at, poll, "the ingest to finish")
    assert errors(at) == []
    assert any("succeeded" in str(s.value) for s in at.success)
    bar = at.get("progress")[0]
    assert bar.proto.value == 100
    assert "3/3" in bar.proto.text
    symbols = {s["symbol"]: s for s in httpx.get(f"{api_url}/symbols").json()}
    assert symbols["QQQ"]["complete"] == 3
    table = at.dataframe[0].value
    assert list(table["symbol"]) == sorted(symbols)


@pytest.mark.parametrize(
    ("ticker", "status", "word"), [("bad$", 422, "symbol"), ("../x", 404, "not found")]
)
def test_data_shows_a_bad_ticker_as_a_readable_error(
    api_url: str, ticker: str, status: int, word: str
) -> None:
    at = run_page(api_url, "data")
    at.text_input(key="ingest-symbol").input(ticker)
    button(at, "Queue ingest").click().run()
    assert not at.exception
    [message] = errors(at)
    assert f"answered {status}" in message and word in message.lower()
    assert "Traceback" not in message
    assert ticker.upper() not in {s["symbol"] for s in httpx.get(f"{api_url}/symbols").json()}


def test_data_heatmap_colours_each_session_by_status(api_url: str) -> None:
    at = run_page(api_url, "data")
    at.selectbox(key="coverage-symbol").set_value("SPY").run()
    counts = {m.label: m.value for m in at.metric}
    assert counts["complete"] == "5" and counts["missing"] == "0"
    [heatmap] = [f for f in figures(at) if f["data"][0]["type"] == "heatmap"]
    z = heatmap["data"][0]["z"]
    assert [row[0] for row in z] == [0, 0, 0, 0, 0]  # Mon..Fri of 2024-03-04: complete
    assert heatmap["data"][0]["x"] == ["2024-03-04"]

    at.date_input(key="coverage-end-SPY").set_value(date(2024, 3, 15)).run()
    counts = {m.label: m.value for m in at.metric}
    assert counts["complete"] == "5" and counts["missing"] == "5"


# ---- Bars ---------------------------------------------------------------------------------
def _trace(figure: dict[str, Any], name: str) -> dict[str, Any]:
    [trace] = [t for t in figure["data"] if t.get("name") == name]
    return trace


def test_bars_draws_candlesticks_with_volume_and_overlays(api_url: str) -> None:
    at = run_page(api_url, "bars", "SPY")
    expected = httpx.get(f"{api_url}/bars/SPY", params={"limit": 1000}).json()
    [figure] = figures(at)
    candles = _trace(figure, "price")
    assert candles["type"] == "candlestick"
    assert values(candles["close"]) == [b["close"] for b in expected]
    assert values(_trace(figure, "volume")["y"]) == [b["volume"] for b in expected]
    assert len(at.dataframe[0].value) == 1000
    assert at.get("download_button")

    at.multiselect(key="bars-overlays").set_value(["sma_5", "Bollinger"]).run()
    [figure] = figures(at)
    names = [t.get("name") for t in figure["data"]]
    assert {"sma_5", "bb_upper", "bb_middle", "bb_lower"} <= set(names)
    feats = httpx.get(
        f"{api_url}/features/SPY", params={"columns": "sma_5", "start": "2024-03-04"}
    ).json()
    by_ts = {f["ts"]: f["sma_5"] for f in feats}
    want = [by_ts[b["ts"]] for b in expected]
    got = values(_trace(figure, "sma_5")["y"])
    assert got == pytest.approx(want, nan_ok=True)


def test_bars_timeframe_and_session_filters_reach_the_api(api_url: str) -> None:
    at = run_page(api_url, "bars", "SPY")
    at.selectbox(key="bars-timeframe").set_value("1Hour")
    at.toggle(key="bars-regular").set_value(True)
    at.date_input(key="bars-start").set_value(date(2024, 3, 5))
    at.date_input(key="bars-end").set_value(date(2024, 3, 5)).run()
    expected = httpx.get(
        f"{api_url}/bars/SPY",
        params={
            "timeframe": "1Hour",
            "session": "regular",
            "start": "2024-03-05",
            "end": "2024-03-05",
        },
    ).json()
    assert len(expected) == 7  # 09:00 (from 09:30) .. 15:00 New York
    [figure] = figures(at)
    assert values(_trace(figure, "price")["open"]) == [b["open"] for b in expected]


def test_bars_bad_range_is_a_readable_error(api_url: str) -> None:
    at = run_page(api_url, "bars", "SPY")
    at.date_input(key="bars-start").set_value(date(2024, 3, 8))
    at.date_input(key="bars-end").set_value(date(2024, 3, 4)).run()
    assert not at.exception
    [message] = errors(at)
    assert "answered 422" in message and "after" in message


# ---- Features -----------------------------------------------------------------------------
def test_features_lists_definitions_staleness_and_charts_a_column(api_url: str) -> None:
    at = run_page(api_url, "features", "SPY")
    definitions = at.dataframe[0].value
    names = set(definitions["name"])
    api = httpx.get(f"{api_url}/features").json()
    assert names == {d["name"] for d in api["definitions"]}
    assert set(definitions["version"]) == {d["version"] for d in api["definitions"]}
    stale = at.dataframe[1].value.set_index("symbol")
    assert stale.loc["SPY", "stale_partitions"] == 0
    assert stale.loc["SPY", "current_set"]
    at.multiselect(key="features-chart-cols").set_value(["rsi_14"]).run()
    [figure] = figures(at)
    assert _trace(figure, "rsi_14")["type"] == "scatter"
    preview = at.dataframe[2].value
    assert len(preview) == 500 and "rsi_14" in preview.columns


def test_features_rebuild_runs_as_a_followed_job(api_url: str, poll: Any) -> None:
    at = run_page(api_url, "features")
    at.multiselect(key="rebuild-symbols").set_value(["SPY"])
    at.checkbox(key="rebuild-full").check()
    button(at, "Rebuild features").click()
    follow(at, poll, "the feature build")
    assert errors(at) == []
    assert at.get("progress")[0].proto.value == 100
    # the job this page queued (the features agent may have queued a newer one meanwhile)
    followed = at.session_state["features-rebuild-job"]
    job = httpx.get(f"{api_url}/jobs/{followed}").json()
    assert job["kind"] == "features"
    assert job["status"] == "succeeded" and job["params"].get("full") is True


# ---- Models and simulation ----------------------------------------------------------------
def _has(url: str, method: str, prefix: str) -> bool:
    paths = httpx.get(f"{url}/openapi.json").json()["paths"]
    return any(p.startswith(prefix) and method in ops for p, ops in paths.items())


def test_train_then_simulate_through_the_pages(api_url: str, poll: Any) -> None:
    assert _has(api_url, "post", "/train") and _has(api_url, "post", "/simulate")
    at = run_page(api_url, "models")
    at.text_input(key="train-tickers").input("SPY")
    button(at, "Train").click()
    follow(at, poll, "the training job")
    assert errors(at) == []
    models = httpx.get(f"{api_url}/models").json()
    assert len(models) >= 1
    assert models[0]["id"] in set(at.dataframe[0].value["id"])

    sim = run_page(api_url, "simulation")
    button(sim, "Simulate").click()
    follow(sim, poll, "the simulation job")
    assert errors(sim) == []
    kinds = {t["type"] for f in figures(sim) for t in f["data"]}
    assert "scatter" in kinds
    metrics = sim.dataframe[0].value
    assert {"metric", "strategy", "buy_and_hold"} <= set(metrics.columns)
    # The default run is out of sample: no overlap warning, and nothing absurd in the table.
    assert not [w for w in sim.warning if "overlap" in str(w.value)]
    shown = metrics.set_index("metric")
    for column in ("strategy", "buy_and_hold"):
        cagr = float(shown.loc["cagr", column].rstrip(" %").replace(",", ""))
        assert -100 <= cagr < 1e4  # percent; annualised from sessions, not from bars
        sharpe = shown.loc["sharpe", column]  # None (a dash) over a single session
        assert sharpe == "–" or abs(float(sharpe)) < 100
    latest = httpx.get(f"{api_url}/simulations").json()[0]
    assert latest["params"]["out_of_sample_from"] is not None
    assert latest["overlaps_training"] is False
    assert httpx.get(f"{api_url}/simulations/{latest['id']}/report").status_code == 200
