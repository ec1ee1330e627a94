"""The live agent in virtual time: catch-up after a gap, revised bars, reconciling at the close."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from stockdb.app import App
from stockdb.bars import BAR_SCHEMA
from stockdb.calendar import TradingCalendar
from stockdb.clock import ManualClock
from stockdb.config import Settings
from stockdb.jobs.live import LiveAgent
from stockdb.providers.synthetic import SyntheticProvider, generate_session
from stockdb.state.coverage import CoverageStatus
from stockdb.testing.fake_alpaca import FakeAlpacaServer

DAY = date(2024, 3, 5)  # a Tuesday; New York is UTC-5 (DST starts 2024-03-10)


def ny(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
        hours=hour + 5, minutes=minute
    )


class RevisingProvider:
    """Synthetic bars; when ``revise_ts`` is set, that minute's close comes back changed."""

    name = "synthetic"
    feed = "synthetic"

    def __init__(self, inner: SyntheticProvider) -> None:
        self.inner = inner
        self.stats = inner.stats
        self.revise_ts: datetime | None = None
        self.calls: list[tuple[tuple[str, ...], datetime, datetime]] = []

    def fetch_bars(
        self, symbols: Sequence[str], start: datetime, end: datetime
    ) -> Iterator[pa.Table]:
        self.calls.append((tuple(symbols), start, end))
        for page in self.inner.fetch_bars(symbols, start, end):
            if self.revise_ts is not None:
                frame = page.to_pandas()
                hit = frame["ts"] == self.revise_ts
                frame.loc[hit, "close"] = frame.loc[hit, "high"] + 0.5
                frame.loc[hit, "high"] = frame.loc[hit, "close"]
                page = pa.Table.from_pandas(frame, schema=BAR_SCHEMA, preserve_index=False)
            yield page

    def latest_bars(self, symbols: Sequence[str]) -> pa.Table:
        return self.inner.latest_bars(symbols)

    def close(self) -> None:
        return None


def expected(
    symbol: str, calendar: TradingCalendar, day: date, before: datetime | None
) -> pa.Table:
    bars = generate_session(symbol, calendar.session(day))
    if before is None:
        return bars
    return bars.filter(pc.less(bars.column("ts"), pa.scalar(before, BAR_SCHEMA.field("ts").type)))


def track(app: App, provider: str, feed: str, *symbols: str) -> None:
    for symbol in symbols:
        app.coverage.ensure_symbol(symbol, provider, feed)
        app.coverage.set_tracked(symbol, True)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(ny(DAY, 10))


@pytest.fixture
def live_app(settings: Settings, calendar: TradingCalendar, clock: ManualClock) -> Iterator[App]:
    app = App(settings, clock, calendar=calendar)
    yield app
    app.close()


def test_catch_up_revision_and_reconciliation(
    live_app: App, calendar: TradingCalendar, clock: ManualClock
) -> None:
    track(live_app, "synthetic", "synthetic", "SPY", "QQQ")
    provider = RevisingProvider(SyntheticProvider(calendar, clock))
    agent = LiveAgent(live_app, provider_factory=lambda: provider)

    first = agent.run_once(clock.now())
    assert first.state == "working"
    assert len(provider.calls) == 1 and set(provider.calls[0][0]) == {"SPY", "QQQ"}
    horizon = clock.now() - timedelta(minutes=1)  # synthetic serves minutes that have ended
    for symbol in ("SPY", "QQQ"):
        assert live_app.lake.read_session(symbol, DAY).equals(
            expected(symbol, calendar, DAY, horizon)
        )
    cov = live_app.coverage.sessions("SPY", DAY, DAY)[DAY]
    assert cov.status is CoverageStatus.IN_PROGRESS and cov.reason == "session in progress"
    last_before_gap = cov.last_ts
    assert last_before_gap is not None

    # Three hours without steps, then a fresh agent (a restart) catches up by itself.
    clock.set(ny(DAY, 13))
    restarted = LiveAgent(live_app, provider_factory=lambda: provider)
    restarted.run_once(clock.now())
    assert provider.calls[-1][1] == last_before_gap - timedelta(minutes=1)
    horizon = clock.now() - timedelta(minutes=1)
    spy = live_app.lake.read_session("SPY", DAY)
    assert spy.equals(expected("SPY", calendar, DAY, horizon))
    assert pc.count_distinct(spy.column("ts")).as_py() == spy.num_rows

    # Alpaca revises the latest bar after the minute: the next step replaces it.
    revised_ts = spy.column("ts")[-1].as_py()
    provider.revise_ts = revised_ts
    clock.advance(120)
    restarted.run_once(clock.now())
    stored = live_app.lake.read_session("SPY", DAY).to_pandas().set_index("ts")
    original = expected("SPY", calendar, DAY, None).to_pandas().set_index("ts")
    assert stored.loc[revised_ts, "close"] == pytest.approx(original.loc[revised_ts, "high"] + 0.5)
    others = stored.index[stored.index != revised_ts]
    assert stored.loc[others, "close"].equals(original.loc[others, "close"])

    # After the close: one reconciliation re-fetches the whole session, replaces it, completes it.
    provider.revise_ts = None
    clock.set(ny(DAY, 20, 5))
    closed = restarted.run_once(clock.now())
    assert closed.state == "idle" and "reconciled 2" in closed.message
    for symbol in ("SPY", "QQQ"):
        assert live_app.lake.read_session(symbol, DAY).equals(expected(symbol, calendar, DAY, None))
        assert live_app.coverage.sessions(symbol, DAY, DAY)[DAY].status == "complete"
    calls = len(provider.calls)
    restarted.run_once(clock.now())
    assert len(provider.calls) == calls  # reconciled once; nothing more to fetch

    # Down for two whole sessions: the next step fills them and resumes the current one.
    friday = date(2024, 3, 8)
    clock.set(ny(friday, 11))
    restarted.run_once(clock.now())
    for day in (date(2024, 3, 6), date(2024, 3, 7)):
        assert live_app.coverage.sessions("SPY", day, day)[day].status == "complete"
        assert live_app.lake.read_session("SPY", day).equals(expected("SPY", calendar, day, None))
    assert live_app.coverage.sessions("SPY", friday, friday)[friday].status == "in_progress"


def test_no_tracked_symbols_is_idle(
    live_app: App, calendar: TradingCalendar, clock: ManualClock
) -> None:
    provider = RevisingProvider(SyntheticProvider(calendar, clock))
    result = LiveAgent(live_app, provider_factory=lambda: provider).run_once(clock.now())
    assert result.state == "idle" and "no tracked symbols" in result.message
    assert provider.calls == []


def test_against_fake_alpaca(data_dir: Path, calendar: TradingCalendar, clock: ManualClock) -> None:
    with FakeAlpacaServer(clock=clock, calendar=calendar) as fake:
        app = App(fake.settings(data_dir=data_dir), clock, calendar=calendar)
        try:
            track(app, "alpaca", "iex", "SPY", "QQQ")
            agent = LiveAgent(app)
            agent.run_once(clock.now())
            bar_requests = [r for r in fake.requests if r.path == "/v2/stocks/bars"]
            assert bar_requests and {"SPY", "QQQ"} == set(
                bar_requests[0].params["symbols"].split(",")
            )
            # the fake serves every minute that has ended by now
            assert app.lake.read_session("SPY", DAY).equals(
                expected("SPY", calendar, DAY, clock.now())
            )
            clock.set(ny(DAY, 20, 5))
            agent.run_once(clock.now())
            stored = app.lake.read_session("QQQ", DAY)
            assert stored.equals(expected("QQQ", calendar, DAY, None))
            assert app.coverage.sessions("QQQ", DAY, DAY)[DAY].status == "complete"
        finally:
            app.close()


def test_sip_on_a_free_plan_stays_15_minutes_behind(
    data_dir: Path, calendar: TradingCalendar, clock: ManualClock
) -> None:
    with FakeAlpacaServer(clock=clock, calendar=calendar) as fake:
        fake.faults.forbid_recent_sip(15)
        app = App(fake.settings(data_dir=data_dir, alpaca_feed="sip"), clock, calendar=calendar)
        try:
            track(app, "alpaca", "sip", "SPY")
            result = LiveAgent(app).run_once(clock.now())
            assert "15 minutes behind" in result.message
            assert all(r.status == 200 for r in fake.requests)
            last = app.lake.read_session("SPY", DAY).column("ts")[-1].as_py()
            assert last < clock.now() - timedelta(minutes=15)
            assert result.lag_s is not None and result.lag_s >= 15 * 60 - 60
        finally:
            app.close()
