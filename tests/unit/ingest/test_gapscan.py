"""The gap scan's verdicts and the repair of a session served empty on the first request."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stockdb.app import App
from stockdb.calendar import TradingCalendar
from stockdb.errors import UnknownSymbol
from stockdb.ingest.gapscan import judge_session, sessions_needing_refetch
from stockdb.providers.synthetic import SyntheticProvider, generate_session

DAY = date(2024, 3, 12)


def test_verdicts(calendar: TradingCalendar) -> None:
    s = calendar.session(DAY)
    full = generate_session("SPY", s)
    after = s.extended_close + timedelta(minutes=1)
    assert judge_session(s, full, after, True).verdict == "ok"
    assert judge_session(s, full, s.open, True).verdict == "in_progress"
    assert judge_session(s, full, s.extended_open - timedelta(hours=1), True).verdict == "future"
    assert judge_session(s, full.slice(0, 0), after, True).verdict == "empty"
    ts = full.column("ts").cast(pa.int64()).to_numpy()
    morning = full.filter(pa.array(ts < int((s.open + timedelta(hours=1)).timestamp() * 1e6)))
    assert judge_session(s, morning, after, True).verdict == "cut_short"
    sessions = calendar.sessions(date(2024, 3, 11), date(2024, 3, 13))
    by_session = {
        d: generate_session("SPY", calendar.session(d))
        for d in (date(2024, 3, 11), date(2024, 3, 13))
    }
    gaps = sessions_needing_refetch(sessions, by_session, after + timedelta(days=2))
    assert [g.session.date for g in gaps] == [DAY]
    assert sessions_needing_refetch(sessions, {}, after + timedelta(days=2)) == []


class FlakyOnce(SyntheticProvider):
    """Serves ``DAY`` empty on the first request that covers it, like a short upstream page."""

    def __init__(self, calendar: TradingCalendar) -> None:
        super().__init__(calendar)
        self.calls: list[tuple[datetime, datetime]] = []

    def fetch_bars(
        self, symbols: Sequence[str], start: datetime, end: datetime
    ) -> Iterator[pa.Table]:
        self.calls.append((start, end))
        lo = int(self.calendar.session(DAY).extended_open.timestamp() * 1_000_000)
        hi = int(self.calendar.session(DAY).extended_close.timestamp() * 1_000_000)
        for page in super().fetch_bars(symbols, start, end):
            if len(self.calls) == 1:
                ts = page.column("ts").cast(pa.int64()).to_numpy()
                page = page.filter(pa.array((ts < lo) | (ts >= hi)))
            yield page


def test_gap_served_empty_once_is_repaired(app: App) -> None:
    provider = FlakyOnce(app.calendar)
    summary = app.backfill.run(["SPY"], date(2024, 3, 11), date(2024, 3, 13), provider)
    assert summary.gap_refetches == 1 and summary.sessions_complete == 3
    assert len(provider.calls) == 2
    assert provider.calls[1] == (
        app.calendar.session(DAY).extended_open,
        app.calendar.session(DAY).extended_close,
    )
    stored = pq.read_table(app.lake.partition_path("SPY", DAY)).replace_schema_metadata(None)
    assert stored.equals(generate_session("SPY", app.calendar.session(DAY)))


def test_symbol_without_any_bars_leaves_no_trace(app: App) -> None:
    class Nothing(SyntheticProvider):
        def fetch_bars(
            self, symbols: Sequence[str], start: datetime, end: datetime
        ) -> Iterator[pa.Table]:
            self.stats.requests += 1
            if "SPY" in symbols:
                yield from super().fetch_bars(["SPY"], start, end)

    provider = Nothing(app.calendar)
    with pytest.raises(UnknownSymbol, match="ZZZZ"):
        app.backfill.run(["ZZZZ"], date(2024, 3, 11), date(2024, 3, 13), provider)
    assert provider.stats.requests == 1  # no gap re-requests for a symbol that never trades
    assert app.coverage.sessions("ZZZZ") == {} and app.coverage.get_symbol("ZZZZ") is None
    assert not app.lake.symbol_dir("ZZZZ").exists()
    mixed = app.backfill.run(["SPY", "ZZZZ"], date(2024, 3, 11), date(2024, 3, 13), provider)
    assert mixed.no_data == ["ZZZZ"] and mixed.sessions_complete == 3


def test_session_in_progress_is_in_progress_then_reconciled(
    calendar: TradingCalendar, app: App
) -> None:
    from stockdb.clock import ManualClock

    session = calendar.session(DAY)
    clock = ManualClock(session.open + timedelta(hours=2))
    app.clock = clock
    app.__dict__.pop("backfill", None)
    provider = SyntheticProvider(calendar, clock)
    first = app.backfill.run(["SPY"], DAY, DAY, provider)
    assert first.sessions_partial == 1
    rec = app.coverage.sessions("SPY")[DAY]
    assert rec.status == "in_progress" and rec.reason == "session in progress"
    assert rec.last_ts is not None and rec.last_ts < clock.now()
    clock.set(session.extended_close + timedelta(minutes=5))
    second = app.backfill.run(["SPY"], DAY, DAY, provider)
    assert second.sessions_complete == 1
    stored = pq.read_table(app.lake.partition_path("SPY", DAY)).replace_schema_metadata(None)
    assert stored.equals(generate_session("SPY", session))
    assert datetime.now(UTC) > clock.now()  # the fake clock never ran ahead of real time
