"""Human times, empty cells and chart gaps, checked against zoneinfo and a plain loop."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from stockdb.ui.charts import (
    BENCHMARK_COLOR,
    STRATEGY_COLOR,
    drawdown_figure,
    equity_figure,
    rangebreaks_for,
)
from stockdb.ui.format import human_time, provider_badge, table
from stockdb.ui.widgets import job_progress, running_for


def test_human_time_is_new_york_wall_clock() -> None:
    raw = "2026-11-25T12:15:09.832000+00:00"
    want = datetime(2026, 11, 25, 12, 15, 9, tzinfo=ZoneInfo("UTC")).astimezone(
        ZoneInfo("America/New_York")
    )
    assert human_time(raw) == want.strftime("%Y-%m-%d %H:%M:%S ET")
    assert human_time("2024-07-01T13:30:00Z", seconds=False) == "2024-07-01 09:30 ET"  # EDT
    assert human_time("2024-03-04") == "2024-03-04"
    assert human_time(None) == "" and human_time("") == ""


def test_table_has_no_none_cells_and_puts_needed_columns_first() -> None:
    rows = [
        {"a": 1, "n": None, "f": 2.0, "when": "2024-03-04T14:30:00Z"},
        {"a": 2, "n": 3, "f": None, "when": None},
    ]
    out = table(rows, times=["when"], first=["when"])
    assert list(out.columns) == ["when", "a", "n", "f"]
    assert out["n"].tolist() == ["", "3"] and out["f"].tolist() == ["2", ""]
    assert out["when"].tolist() == ["2024-03-04 09:30:00 ET", ""]
    assert out["a"].tolist() == [1, 2]  # complete numeric columns stay numeric


def test_rangebreaks_hide_weekends_holidays_and_nights() -> None:
    # Regular-hours minute bars over 2024-03-26..2024-04-02; Good Friday (03-29) closed.
    sessions = [date(2024, 3, 26), date(2024, 3, 27), date(2024, 3, 28), date(2024, 4, 1)]
    sessions.append(date(2024, 4, 2))
    times = pd.Series(
        [
            datetime.combine(d, datetime.min.time()) + timedelta(hours=9, minutes=30 + i)
            for d in sessions
            for i in range(390)
        ]
    )
    breaks = rangebreaks_for(times)
    # the plain-loop reference: weekdays in the span with no bar
    day, missing = sessions[0], []
    while day <= sessions[-1]:
        if day.weekday() < 5 and day not in sessions:
            missing.append(day.isoformat())
        day += timedelta(days=1)
    assert {"bounds": ["sat", "mon"]} in breaks
    assert {"values": missing} in breaks and missing == ["2024-03-29"]
    assert {"bounds": [16.0, 9.5], "pattern": "hour"} in breaks
    assert rangebreaks_for(times, daily=True) == breaks[:2]


def test_equity_and_drawdown_colours_differ() -> None:
    ts = pd.date_range("2024-03-04 14:30", periods=5, freq="1min", tz="UTC")
    frame = pd.DataFrame({"ts": ts, "equity": [1.0, 2, 1, 3, 2], "benchmark_equity": 1.0})
    eq = equity_figure(frame)
    assert [t.line.color for t in eq.data] == [STRATEGY_COLOR, BENCHMARK_COLOR]
    dd = drawdown_figure(frame)
    assert dd.data[0].line.color != dd.data[1].line.color
    assert "New York" in eq.layout.xaxis.title.text


def test_badge_only_for_synthetic() -> None:
    assert provider_badge({"provider": "synthetic"}) is not None
    assert provider_badge({"provider": "alpaca"}) is None and provider_badge({}) is None


def test_running_job_caption_moves_with_its_heartbeat() -> None:
    job = {
        "kind": "train",
        "status": "running",
        "progress_done": 2,
        "progress_total": 5,
        "message": "labelled",
        "started_at": "2024-03-04T14:30:00Z",
        "heartbeat_at": "2024-03-04T14:30:42Z",
    }
    assert running_for(job) == "42s"
    later = {**job, "heartbeat_at": "2024-03-04T14:32:05Z"}
    assert job_progress(later)[1] == "train running 2/5 — labelled · running for 2m 05s"
    assert running_for({**job, "status": "succeeded"}) is None


def test_features_coverage_counts_the_whole_history_not_the_last_build() -> None:
    from stockdb.ui.features import staleness_rows

    symbols = [{"symbol": "SPY", "complete": 9, "partial": 1}]
    overview = {
        "set_hash": "h",
        "builds": [{"symbol": "SPY", "set_hash": "h", "partitions": 1, "built_at": "2024-03-08"}],
        "stale": [{"symbol": "SPY", "stale_partitions": 2, "reasons": {"bars_changed": 2}}],
    }
    [row] = staleness_rows(overview, symbols)
    assert (row["current_partitions"], row["coverage_%"]) == (8, 80.0)
    assert row["last_build_wrote"] == 1
    overview["stale"] = []
    assert staleness_rows(overview, symbols)[0]["current_partitions"] == 10


def test_stopped_agent_has_no_next_step() -> None:
    from stockdb.ui.overview import agent_rows

    body = {
        "agents": [
            {
                "name": "backfill",
                "enabled": False,
                "state": "stopped",
                "workers": [{"age_s": 3.0, "next_step": "sleep 30s"}],
            },
            {"name": "live", "state": "idle", "workers": [{"age_s": 1.0, "next_step": "poll"}]},
        ]
    }
    stopped, live = agent_rows(body)
    assert (stopped["next_step"], stopped["status"]) == ("", "stopped")
    assert (live["next_step"], live["status"]) == ("poll", "idle")


def test_next_steps_show_new_york_times() -> None:
    from stockdb.ui.overview import readable

    text = "0 queued; next step at 2026-12-03T13:29:02+00:00"
    assert readable(text) == "0 queued; next step at 2026-12-03 08:29:02 ET"
