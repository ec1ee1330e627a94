"""Dashboard states a new user meets, run by Streamlit's AppTest over a canned API (httpx
MockTransport answering JSON per path): synthetic badge, stale flags, empty states."""

from __future__ import annotations

from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

MODEL = {
    "id": "m-1",
    "created_at": "2026-11-25T12:15:09.832000+00:00",
    "kind": "ridge",
    "task": "regression",
    "tickers": ["SPY"],
    "target": "return",
    "horizon": 1,
    "features": ["rsi_14", "sma_20"],
    "feature_set_hash": "a" * 64,
    "params": {},
    "windows": {"train": {"start": "2024-03-04T14:30:00+00:00", "end": None, "rows": 10}},
    "metrics": {"test": {"r2": 0.1234567}},
    "class_balance": None,
    "library_versions": {},
    "sha256": "x",
    "path": "p",
    "stale": False,
}
RUN = {
    "id": "s-1",
    "model_id": "m-1",
    "symbol": "SPY",
    "created_at": "2026-11-25T12:20:00+00:00",
    "params": {"fill": "close", "fee_bps": 1.0, "slippage_bps": 2.0, "cash": 10000.0},
    "metrics": {"total_return": 0.01},
    "benchmark_metrics": {"total_return": 0.02},
    "overlaps_training": False,
    "warnings": [],
    "stale": False,
}
SPEC = {
    "paths": {"/train": {"post": {}}, "/simulate": {"post": {}}, "/simulations/{i}": {"get": {}}}
}


def _page(name: str, routes: dict) -> None:  # type: ignore[type-arg]
    import importlib

    import httpx

    from stockdb.ui.client import ApiClient

    def handler(request: httpx.Request) -> httpx.Response:
        body = routes.get(request.url.path)
        if body is None:
            return httpx.Response(404, json={"detail": f"no {request.url.path}"})
        return httpx.Response(200, json=body)

    api = ApiClient("http://api.test", transport=httpx.MockTransport(handler))
    if name == "badge":
        from stockdb.ui.app import data_source

        data_source(api.health())
    else:
        importlib.import_module(f"stockdb.ui.{name}").render(api)


def run(name: str, routes: dict[str, Any]) -> AppTest:
    at = AppTest.from_function(_page, args=(name, routes), default_timeout=30)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [w.value for w in at.warning] + [i.value for i in at.info]
    return "\n".join(str(p) for p in parts)


def all_cells(at: AppTest) -> list[Any]:
    return [v for frame in at.dataframe for v in frame.value.to_numpy().ravel().tolist()]


@pytest.mark.parametrize(("provider", "shown"), [("synthetic", True), ("alpaca", False)])
def test_synthetic_badge(provider: str, shown: bool) -> None:
    health = {"status": "ok", "version": "1", "provider": provider, "feed": "iex", "checks": {}}
    at = run("badge", {"/health": health})
    assert ("SYNTHETIC DATA" in texts(at)) is shown
    assert ("generated, not real market data" in texts(at)) is shown


def test_models_page_flags_a_stale_model_and_shows_human_times() -> None:
    stale = {**MODEL, "id": "m-2", "stale": True}
    other_set = {**MODEL, "id": "m-3", "feature_set_hash": "b" * 64}
    routes = {
        "/openapi.json": SPEC,
        "/models": [MODEL, stale, other_set],
        "/features": {"set_hash": "a" * 64, "definitions": [], "builds": []},
    }
    at = run("models", routes)
    warnings = [str(w.value) for w in at.warning]
    assert any("m-2 is stale" in w and "corporate action" in w for w in warnings), warnings
    assert any("m-3 is stale" in w and "feature set bbbbbbbbbb" in w for w in warnings)
    assert not any("m-1" in w for w in warnings)
    table = at.dataframe[0].value
    assert list(table["id"]) == ["m-1", "m-2", "m-3"]
    assert table["stale"].tolist()[0] == "" and table["stale"].tolist()[1].startswith("STALE")
    assert table["created_at"].tolist()[0] == "2026-11-25 07:15:09 ET"
    cells = all_cells(at)
    assert not any(c is None or c == "None" or c == "nan" for c in cells), cells


def test_simulation_page_flags_a_stale_run_and_lists_past_runs() -> None:
    stale_run = {**RUN, "stale": True, "equity": {}, "trades": {}}
    routes = {
        "/openapi.json": SPEC,
        "/models": [MODEL],
        "/simulations": [{**RUN, "stale": True}],
        "/simulations/s-1": stale_run,
    }
    at = run("simulation", routes)
    assert any("This run is stale" in str(w.value) for w in at.warning)
    assert at.selectbox(key="sim-model").value == "m-1"  # the picker follows the shown run
    runs = at.dataframe[-1].value
    assert runs["id"].tolist() == ["s-1"] and runs["stale"].tolist() == ["STALE"]
    assert runs["fill"].tolist() == ["close"] and runs["slippage_bps"].tolist() == [2.0]
    assert "fee bps: 1.0" in texts(at)


@pytest.mark.parametrize(
    ("page", "routes", "message"),
    [
        ("models", {"/openapi.json": SPEC, "/models": []}, "No models yet"),
        ("simulation", {"/openapi.json": SPEC, "/models": [], "/simulations": []}, "No models"),
        ("simulation", {"/openapi.json": SPEC, "/models": [MODEL], "/simulations": []}, "No sim"),
        ("bars", {"/symbols": []}, "No symbols yet"),
        ("data", {"/symbols": []}, "No symbols yet"),
        ("universe_page", {"/symbols": []}, "No symbols yet"),
    ],
)
def test_empty_states_say_what_to_do(page: str, routes: dict[str, Any], message: str) -> None:
    at = run(page, routes)
    assert message in texts(at), texts(at)
    assert not at.error


def test_universe_page_shows_a_failed_coverage_read_as_one_error() -> None:
    symbols = [{"symbol": "SPY"}, {"symbol": "QQQ"}]
    at = run("universe_page", {"/symbols": symbols})  # /coverage/months answers 404
    [message] = [str(e.value) for e in at.error]
    assert "Reading the coverage by month failed" in message and "404" in message
    assert "Pick one or more" in texts(at)
