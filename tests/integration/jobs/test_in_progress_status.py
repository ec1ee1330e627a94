"""Reconciliation follows the explicit ``in_progress`` status, not the reason text; a row in
the pre-version-6 spelling still reconciles, and a cut-short session is left alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import update

from stockdb.app import App
from stockdb.bars import BAR_SCHEMA
from stockdb.calendar import TradingCalendar
from stockdb.clock import ManualClock
from stockdb.ingest.fetching import coverage_record, fetch_by_symbol, regular_rows
from stockdb.jobs.live import LiveAgent
from stockdb.lake.parquet_lake import Lineage
from stockdb.providers.synthetic import SyntheticProvider, generate_session
from stockdb.state import tables
from stockdb.state.coverage import CoverageStatus

from .test_live_agent import DAY, RevisingProvider, clock, expected, live_app, ny, track

__all__ = ["clock", "live_app"]


def _rewrite(app: App, status: str, reason: str | None) -> None:
    c = tables.coverage.c
    with app.state.engine.begin() as conn:
        conn.execute(
            update(tables.coverage)
            .where(c.symbol == "SPY", c.session_date == DAY)
            .values(status=status, reason=reason)
        )


@pytest.mark.parametrize(
    ("status", "reason", "reconciled"),
    [
        ("in_progress", "session in progress", True),  # as written now
        ("in_progress", None, True),  # the status decides, whatever the reason says
        ("partial", "session in progress", True),  # an old row (read mapping)
        ("partial", "bars stop at 11:00 before the close", False),  # cut short: not in progress
    ],
)
def test_reconciliation_follows_the_status(
    live_app: App,
    calendar: TradingCalendar,
    clock: ManualClock,
    status: str,
    reason: str | None,
    reconciled: bool,
) -> None:
    track(live_app, "synthetic", "synthetic", "SPY")
    provider = RevisingProvider(SyntheticProvider(calendar, clock))
    agent = LiveAgent(live_app, provider_factory=lambda: provider)
    agent.run_once(clock.now())
    rec = live_app.coverage.sessions("SPY", DAY, DAY)[DAY]
    assert rec.status is CoverageStatus.IN_PROGRESS
    _rewrite(live_app, status, reason)
    partial = live_app.lake.read_session("SPY", DAY)

    clock.set(ny(DAY, 20, 5))
    result = agent.run_once(clock.now())
    after = live_app.coverage.sessions("SPY", DAY, DAY)[DAY]
    if reconciled:
        assert "reconciled 1" in result.message
        assert after.status is CoverageStatus.COMPLETE
        assert live_app.lake.read_session("SPY", DAY).equals(expected("SPY", calendar, DAY, None))
    else:
        assert "reconciled" not in result.message
        assert after.status is CoverageStatus.PARTIAL
        assert live_app.lake.read_session("SPY", DAY).equals(partial)


class _TwoSymbols:
    """Synthetic bars of SPY and QQQ in one page per call, with one broken SPY bar."""

    name = "synthetic"
    feed = "synthetic"

    def __init__(self, calendar: TradingCalendar) -> None:
        session = calendar.session(DAY)
        spy = generate_session("SPY", session).to_pandas()
        spy.loc[5, "low"] = spy.loc[5, "high"] + 1.0  # low above high: must be refused
        self.bad_ts = spy.loc[5, "ts"]
        qqq = generate_session("QQQ", session).to_pandas()
        self.page = pa.Table.from_pandas(
            pd.concat([spy, qqq]).sort_values(["ts", "symbol"]),
            schema=BAR_SCHEMA,
            preserve_index=False,
        )

    def fetch_bars(self, symbols: list[str], start: datetime, end: datetime) -> Iterator[pa.Table]:
        yield self.page


def test_the_shared_fetch_splits_by_symbol_and_refuses_bad_bars(
    calendar: TradingCalendar,
) -> None:
    provider = _TwoSymbols(calendar)
    session = calendar.session(DAY)
    seen: list[tuple[str, int]] = []
    got = fetch_by_symbol(
        provider,  # type: ignore[arg-type]
        ["SPY", "QQQ", "IWM"],
        session.extended_open,
        session.extended_close,
        lambda r: seen.append((r.reason, r.rows)),
    )
    frame = provider.page.to_pandas()
    for symbol in ("SPY", "QQQ"):
        want = frame[(frame["symbol"] == symbol) & (frame["ts"] != provider.bad_ts)]
        assert got[symbol].column("ts").to_pylist() == list(want["ts"])
    assert got["IWM"].num_rows == 0 and got["IWM"].schema == BAR_SCHEMA
    assert [rows for _, rows in seen] == [1]

    # the ledger row: counts from a plain loop over the stored bars
    stored = got["SPY"]
    ts = stored.column("ts").to_pylist()
    plain = sum(1 for t in ts if session.open <= t < session.close)
    assert regular_rows(stored, session) == plain
    rec = coverage_record(
        "SPY",
        session,
        stored,
        Lineage("synthetic", "synthetic"),
        CoverageStatus.IN_PROGRESS,
        None,
        2,
        datetime(2024, 3, 5, 16, tzinfo=UTC),
    )
    assert (rec.rows, rec.regular_rows, rec.first_ts, rec.last_ts) == (
        len(ts),
        plain,
        min(ts),
        max(ts),
    )
    assert rec.status is CoverageStatus.IN_PROGRESS and rec.attempts == 2
    empty = coverage_record(
        "SPY",
        session,
        BAR_SCHEMA.empty_table(),
        Lineage("synthetic", "synthetic"),
        CoverageStatus.EMPTY,
        "no bars",
        1,
        datetime(2024, 3, 5, 16, tzinfo=UTC),
    )
    assert (empty.rows, empty.regular_rows, empty.first_ts, empty.last_ts) == (0, 0, None, None)
