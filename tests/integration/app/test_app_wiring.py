"""App is the one place that wires: shared services, shared writer locks, injected handlers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from stockdb.app import App
from stockdb.calendar import TradingCalendar
from stockdb.config import Settings
from stockdb.errors import ConfigError, Conflict
from stockdb.features.service import FeatureService
from stockdb.jobs.handlers import features_handler
from stockdb.lake.parquet_lake import Lineage
from stockdb.providers.synthetic import generate_session
from stockdb.state import tables

DAY = date(2024, 3, 4)


def test_services_share_the_apps_parts(app: App) -> None:
    assert app.jobs is app.jobs
    assert app.features.builder.locks is app.feature_locks
    assert app.features.builder.clock is app.clock
    assert app.state.clock is app.clock
    assert app.corporate.clock is app.clock


def test_feature_writers_take_the_shared_locks_when_scaled_out(
    settings: Settings, calendar: TradingCalendar
) -> None:
    """A Redis queue means workers on other hosts: feature locks live in the state store,
    under names of their own, so they exclude other Apps' feature writers, not bar writers."""
    scaled = settings.model_copy(update={"queue_url": "redis://127.0.0.1:1/0"})
    one = App(scaled, calendar=calendar)
    two = App(scaled, calendar=calendar)
    try:
        with one.feature_locks.hold("SPY", timeout_s=5):
            with one.state.engine.connect() as conn:
                held = conn.execute(select(tables.lake_locks.c.symbol)).scalars().all()
            assert held == ["f/SPY"]
            with two.writer_locks.hold("SPY", timeout_s=5):  # bars of SPY: not blocked
                pass
            with pytest.raises(Conflict), two.feature_locks.hold("SPY", timeout_s=0.2):
                pass
    finally:
        one.close()
        two.close()


def test_bind_injects_what_a_handler_declares(app: App) -> None:
    with app.lake.writer("SPY"):
        app.lake.write_session(
            "SPY",
            DAY,
            generate_session("SPY", app.calendar.session(DAY)),
            Lineage("synthetic", "synthetic"),
        )
    seen: list[tuple[int, int]] = []
    result = app.bind(features_handler)(
        {"symbols": ["SPY"]}, lambda done, total, _m: seen.append((done, total)), lambda: False
    )
    [build] = result["builds"]
    assert build["symbol"] == "SPY" and build["partitions_written"] == 1
    assert [b.symbol for b in app.features.records.builds()] == ["SPY"]  # the App's service
    assert seen, "the job's progress callback was handed through"

    def legacy(
        given: App, params: Mapping[str, Any], progress: Any, should_stop: Any
    ) -> dict[str, Any]:
        return {"same": given is app, "echo": params["x"]}

    assert app.bind(legacy)({"x": 1}, None, None) == {"same": True, "echo": 1}

    def wants(
        params: Mapping[str, Any], progress: Any, stop: Any, *, features: FeatureService
    ) -> dict[str, Any]:
        return {"features": features}

    assert app.bind(wants)({}, None, None)["features"] is app.features

    def greedy(params: Mapping[str, Any], progress: Any, stop: Any, *, secrets: str) -> None:
        raise AssertionError("never called")

    with pytest.raises(ConfigError, match="secrets"):
        app.bind(greedy)
