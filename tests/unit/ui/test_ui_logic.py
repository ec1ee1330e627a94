"""The dashboard's pure logic: REST client errors, progress captions, grids, overlays, forms."""

from __future__ import annotations

import sys
from datetime import date

import httpx
import pandas as pd
import pyarrow as pa
import pytest

from stockdb.cli.ui import streamlit_command
from stockdb.ui import entry_script
from stockdb.ui.bars import BOLLINGER, bars_params, overlay_choices
from stockdb.ui.charts import coverage_grid, drawdown
from stockdb.ui.client import ApiClient, ApiError
from stockdb.ui.data import coverage_counts, symbol_rows
from stockdb.ui.features import staleness_rows
from stockdb.ui.models import flatten_metrics, job_result_id, parse_tickers, train_request
from stockdb.ui.overview import agent_rows, format_age, stall_messages
from stockdb.ui.simulation import metrics_table, simulate_request
from stockdb.ui.widgets import job_progress


def _client(handler: object, token: str | None = None) -> ApiClient:
    return ApiClient("http://api.test", token, transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


def test_client_raises_the_json_detail_and_sends_the_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(422, json={"detail": "unknown timeframe 'x'"})

    with _client(handler, "s3cret") as api, pytest.raises(ApiError) as info:
        api.bars("SPY", timeframe="x", start=date(2024, 3, 4), limit=None)
    assert info.value.status == 422
    assert str(info.value) == "GET /bars/SPY answered 422: unknown timeframe 'x'"
    assert "s3cret" not in str(info.value)
    assert seen[0].headers["authorization"] == "Bearer s3cret"
    assert dict(seen[0].url.params) == {"timeframe": "x", "start": "2024-03-04"}


def test_client_encodes_path_segments_and_reports_unreachable_apis() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        raise httpx.ConnectError("refused", request=request)

    with _client(handler) as api, pytest.raises(ApiError) as info:
        api.ingest("../x")
    assert paths == ["/ingest/..%2Fx"]
    assert info.value.status == 0 and "cannot reach the API at http://api.test" in str(info.value)


def test_client_matches_endpoints_whatever_the_parameter_names() -> None:
    spec = {"paths": {"/simulations/{simulation_id}": {"get": {}}, "/train": {"post": {}}}}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=spec)

    with _client(handler) as api:
        assert api.has_endpoint("get", "/simulations/{id}")
        assert api.has_endpoint("POST", "/train")
        assert not api.has_endpoint("post", "/simulate")


def test_job_progress_captions() -> None:
    running = {
        "kind": "ingest",
        "status": "running",
        "progress_done": 2,
        "progress_total": 8,
        "message": "SPY:2024-03",
    }
    assert job_progress(running) == (0.25, "ingest running 2/8 — SPY:2024-03")
    assert job_progress({"kind": "ingest", "status": "queued"}) == (0.0, "ingest queued")
    failed = {
        "kind": "train",
        "status": "failed",
        "progress_done": 1,
        "progress_total": 4,
        "error": "no rows",
        "message": "loading",
    }
    assert job_progress(failed) == (0.25, "train failed 1/4 — no rows")
    assert job_progress({"status": "succeeded", "progress_total": 0})[0] == 1.0


def test_overview_rows_flag_stalled_agents() -> None:
    body = {
        "agents": [
            {
                "name": "live",
                "enabled": True,
                "state": "stalled",
                "stalled": True,
                "workers": [{"age_s": 95.2, "next_step": None}, {"age_s": 400.0}],
            },
            {
                "name": "features",
                "enabled": False,
                "state": "stopped",
                "stalled": False,
                "workers": [],
            },
        ],
        "alerts": [{"agent": "live", "kind": "stalled", "message": "no heartbeat for 95s"}],
    }
    rows = agent_rows(body)
    assert [r["heartbeat_age"] for r in rows] == ["1m 35s", "never"]
    assert stall_messages(body) == [
        "Agent live is STALLED: last heartbeat 1m 35s ago",
        "live: no heartbeat for 95s",
    ]
    assert (format_age(4.9), format_age(7800)) == ("4s", "2h 10m")


def test_coverage_grid_places_sessions_by_week_and_weekday() -> None:
    rows = [
        {"session_date": "2024-03-01", "status": "complete", "rows": 500},  # a Friday
        {"session_date": "2024-03-04", "status": "partial", "rows": 20},  # next Monday
        {"session_date": "2024-03-05", "status": "missing", "rows": 0},
    ]
    x, y, z, text = coverage_grid(rows)
    assert x == ["2024-02-26", "2024-03-04"]
    assert y == ["Mon", "Tue", "Wed", "Thu", "Fri"]
    assert z == [[None, 1.0], [None, 3.0], [None, None], [None, None], [0.0, None]]
    assert text[4][0] == "2024-03-01: complete, 500 rows"
    assert coverage_counts(rows) == {
        "complete": 1,
        "partial": 1,
        "empty": 0,
        "missing": 1,
        "error": 0,
        "in_progress": 0,
    }


def test_symbol_rows_and_staleness() -> None:
    symbols = [
        {
            "symbol": "SPY",
            "sessions": 4,
            "complete": 3,
            "partial": 1,
            "empty": 0,
            "error": 0,
            "rows": 10,
            "last_fetched_at": "2024-03-09T00:00:00Z",
        }
    ]
    assert symbol_rows(symbols)[0]["coverage_%"] == 75.0
    overview = {
        "set_hash": "new",
        "builds": [
            {
                "symbol": "SPY",
                "set_hash": "new",
                "partitions": 3,
                "built_at": "2024-03-08T00:00:00Z",
            },
            {
                "symbol": "SPY",
                "set_hash": "old",
                "partitions": 4,
                "built_at": "2024-03-01T00:00:00Z",
            },
        ],
    }
    [row] = staleness_rows(overview, symbols)
    assert (row["stale_partitions"], row["bars_changed_since_build"]) == (1, True)
    overview["set_hash"] = "newer"
    assert staleness_rows(overview, symbols)[0]["stale_partitions"] == 4


def test_bar_params_and_overlay_choices() -> None:
    assert bars_params("5Min", None, None, True, 500) == {
        "timeframe": "5Min",
        "session": "regular",
        "start": None,
        "end": None,
        "limit": 500,
    }
    assert "limit" not in bars_params("1Min", date(2024, 3, 4), None, False, 500)
    defs = [
        {"columns": ["sma_5"]},
        {"columns": ["rsi_14"]},
        {"columns": ["bb_upper", "bb_middle", "bb_lower", "bb_pctb"]},
    ]
    assert overlay_choices(defs) == ["sma_5", BOLLINGER]


def test_training_and_simulation_requests() -> None:
    assert parse_tickers(" spy, qqq  SPY vix") == ["SPY", "QQQ", "VIX"]
    body = train_request("spy,vix", "direction", 3, "ridge", end=date(2024, 3, 8))
    assert body == {
        "tickers": ["SPY", "VIX"],
        "target": "direction",
        "horizon": 3,
        "model": "ridge",
        "end": "2024-03-08",
        "train_fraction": 0.7,
        "validation_fraction": 0.15,
    }
    dated = train_request("SPY", "return", 1, "ridge", train_end=date(2024, 3, 6))
    assert dated["train_end"] == "2024-03-06" and "train_fraction" not in dated
    assert simulate_request("m1", " spy ", cash=5000, fill="next_open") == {
        "model_id": "m1",
        "symbol": "SPY",
        "cash": 5000.0,
        "fill": "next_open",
        "fee_bps": 0.0,
        "slippage_bps": 0.0,
    }
    assert "in_sample" not in simulate_request("m1")  # the default run is out of sample
    assert simulate_request("m1", in_sample=True)["in_sample"] is True
    assert job_result_id({"result": {"model_id": "abc"}}, "model_id") == "abc"
    assert job_result_id({"result": None}, "model_id") is None
    assert flatten_metrics({"test": {"accuracy": 0.51234, "rows": 9}, "dataset": {"x": 1}}) == {
        "test.accuracy": 0.5123,
        "test.rows": 9,
    }


def test_metrics_side_by_side_and_drawdown() -> None:
    table = metrics_table(
        {
            "metrics": {
                "total_return": 0.1,
                "trades": 4,
                "sharpe": 1.23456,
                "max_drawdown_peak": "2024-03-08T10:20:00+00:00",
                "win_rate": None,
                "curve": [1],
            },
            "benchmark_metrics": {
                "total_return": 0.05,
                "trades": 1,
                "sharpe": -0.5,
                "max_drawdown_peak": None,
                "win_rate": None,
            },
        }
    )
    assert table.to_dict("records") == [
        {"metric": "total_return", "strategy": "10.00 %", "buy_and_hold": "5.00 %"},
        {"metric": "trades", "strategy": "4", "buy_and_hold": "1"},
        {"metric": "sharpe", "strategy": "1.2346", "buy_and_hold": "-0.5000"},
        {
            "metric": "max_drawdown_peak",
            "strategy": "2024-03-08T10:20:00+00:00",
            "buy_and_hold": "–",
        },
        {"metric": "win_rate", "strategy": "–", "buy_and_hold": "–"},
    ]
    pa.Table.from_pandas(table)  # one type per column: Streamlit can ship it
    assert drawdown(pd.Series([100.0, 110.0, 99.0, 120.0])).tolist() == pytest.approx(
        [0.0, 0.0, -0.1, 0.0]
    )


def test_stockdb_ui_runs_streamlit_on_the_entry_script() -> None:
    cmd = streamlit_command("http://h:9", 8600, "127.0.0.1")
    assert cmd[:5] == [sys.executable, "-m", "streamlit", "run", str(entry_script())]
    assert entry_script().is_file()
    assert cmd[cmd.index("--server.port") + 1] == "8600"
    assert cmd[-3:] == ["--", "--api-url", "http://h:9"]
