"""The App's Clock is the only time source: with a ManualClock every stamp is the manual time.

Before the seam was closed, feature builds, ledger entries, agent switches and migrations took
the wall clock while coverage took the App's, so the features agent compared two clocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from stockdb.app import App
from stockdb.calendar import TradingCalendar
from stockdb.clock import ManualClock
from stockdb.config import Settings
from stockdb.jobs.agents import symbols_needing_features
from stockdb.jobs.controls import AgentControls
from stockdb.providers.base import BarSource
from stockdb.providers.synthetic import SyntheticProvider
from stockdb.state import tables
from stockdb.state.store import stored_utc

START = datetime(2024, 3, 8, 22, 0, tzinfo=UTC)  # a Friday evening: the week has closed
MON, TUE, FRI = date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 8)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def app(settings: Settings, calendar: TradingCalendar, clock: ManualClock) -> Iterator[App]:
    made: list[BarSource] = []

    def synthetic() -> BarSource:
        made.append(SyntheticProvider(calendar, clock))
        return made[-1]

    stockdb = App(settings, clock, calendar=calendar, providers={"synthetic": synthetic})
    yield stockdb
    stockdb.close()
    assert made, "the provider override was never used"


def _ingest(app: App, first: date, last: date) -> None:
    provider = app.provider("synthetic")
    try:
        app.backfill.run(["SPY"], first, last, provider)
    finally:
        provider.close()


def test_every_stamp_is_the_app_clock(app: App, clock: ManualClock) -> None:
    app.coverage.ensure_symbol("SPY", "synthetic", "synthetic")
    _ingest(app, MON, MON)
    coverage = app.coverage.sessions("SPY")[MON]
    assert coverage.fetched_at == START
    symbol = app.coverage.get_symbol("SPY")
    assert symbol is not None and symbol.added_at == START == symbol.updated_at
    with app.state.engine.connect() as conn:
        applied = conn.execute(select(tables.schema_version.c.applied_at)).scalars().all()
    assert applied and {stored_utc(a) for a in applied} == {START}

    clock.advance(3600)
    built_at = START + timedelta(hours=1)
    [result] = app.features.build(["SPY"])
    assert result.partitions_written == 1
    [build] = app.features.records.builds("SPY")
    assert build.built_at == built_at
    entries = app.ledger.entries("features", ["SPY"])
    assert entries and {e.written_at for e in entries} == {built_at}

    clock.advance(60)
    AgentControls(app.state).set("live", False)
    with app.state.engine.connect() as conn:
        switched = conn.execute(select(tables.agent_controls.c.updated_at)).scalar_one()
    assert stored_utc(switched) == built_at + timedelta(minutes=1)


def test_the_features_agent_compares_one_clock(app: App, clock: ManualClock) -> None:
    """Bars fetched after the last build are due, however far the App's clock is from now."""
    app.coverage.ensure_symbol("SPY", "synthetic", "synthetic")
    _ingest(app, MON, MON)
    assert symbols_needing_features(app.jobs) == {"SPY": START}
    clock.advance(60)
    app.features.build(["SPY"])
    assert symbols_needing_features(app.jobs) == {}
    clock.advance(60)
    _ingest(app, TUE, FRI)  # a wall-clock build stamp (years later) would hide these bars
    assert symbols_needing_features(app.jobs) == {"SPY": START + timedelta(minutes=2)}
