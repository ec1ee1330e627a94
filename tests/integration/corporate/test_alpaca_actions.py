"""The fake Alpaca serves /v1/corporate-actions; the client pages through them; the backfill
job and the live agent fetch and record them."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from stockdb.app import App
from stockdb.calendar import TradingCalendar
from stockdb.clock import ManualClock
from stockdb.corporate.model import CorporateAction, make_action
from stockdb.corporate.synthetic import synthetic_actions
from stockdb.errors import AuthError, InvalidInput
from stockdb.jobs.handlers import ingest_handler
from stockdb.jobs.live import LiveAgent
from stockdb.providers.alpaca import AlpacaProvider
from stockdb.providers.corporate_actions import ACTIONS_PATH, AlpacaActionSource
from stockdb.providers.retry import RetryPolicy
from stockdb.testing.fake_alpaca import FakeAlpacaServer

FAST = RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.02)


def processed(action: CorporateAction) -> date:
    """Alpaca dates splits by their ex-date and dividends by their payable date (the fake
    pays 14 days after the ex-date); start/end filter on that date."""
    return action.ex_date + timedelta(days=14 if action.type == "cash_dividend" else 0)


def terms(actions: list[CorporateAction]) -> set[tuple[object, ...]]:
    return {(a.symbol, a.type, a.ex_date, a.ratio, a.cash) for a in actions}


@pytest.fixture
def fake(calendar: TradingCalendar) -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(calendar=calendar) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ALPACA_FEED", "ALPACA_API_BASE_URL", "ALPACA_TIMEOUT_S"):
        monkeypatch.delenv(name, raising=False)


def test_the_client_pages_through_every_action(fake: FakeAlpacaServer) -> None:
    start, end = date(2004, 1, 1), date(2012, 12, 31)
    want = [
        a for s in ("AAPL", "MSFT") for a in synthetic_actions(s) if start <= processed(a) <= end
    ]
    assert len(want) > 20
    with AlpacaProvider(fake.settings(), retry=FAST) as provider:
        source = AlpacaActionSource(provider, page_limit=7)
        got = source.fetch_actions(["AAPL", "MSFT"], start, end)
    assert terms(got) == terms(want) and len(got) == len(want)
    assert {a.source for a in got} == {"alpaca"}
    calls = [r for r in fake.requests if r.path == ACTIONS_PATH]
    assert len(calls) == source.pages == math.ceil(len(want) / 7)
    assert all(r.status == 200 for r in calls)
    assert "page_token" not in calls[0].params
    assert all("page_token" in r.params for r in calls[1:])
    first = calls[0].params
    assert first["types"] == "forward_split,reverse_split,cash_dividend"
    assert (first["symbols"], first["limit"], first["start"], first["end"]) == (
        "AAPL,MSFT",
        "7",
        "2004-01-01",
        "2012-12-31",
    )
    assert provider.stats.requests == len(calls)


def test_an_announced_action_is_served_and_fetched(fake: FakeAlpacaServer) -> None:
    new = make_action("ZZZ", "forward_split", date(2024, 6, 10), ratio=10.0)
    fake.actions.add(new)
    with AlpacaProvider(fake.settings(), retry=FAST) as provider:
        got = AlpacaActionSource(provider).fetch_actions(
            ["ZZZ"], date(2024, 6, 1), date(2024, 6, 30)
        )
    assert terms(got) == terms([new])


def test_wrong_keys_and_bad_ranges_are_refused(fake: FakeAlpacaServer) -> None:
    with AlpacaProvider(fake.settings(alpaca_secret_key="wrong"), retry=FAST) as provider:
        with pytest.raises(AuthError):
            AlpacaActionSource(provider).fetch_actions(["AAPL"], date(2020, 1, 1), date(2020, 2, 1))
        with pytest.raises(InvalidInput):
            AlpacaActionSource(provider).fetch_actions(["AAPL"], date(2020, 2, 1), date(2020, 1, 1))


def _payer() -> str:
    return next(
        s
        for s in ("AAPL", "MSFT", "SPY", "QQQ", "IBM", "KO", "PEP", "XOM")
        if any(a.type == "cash_dividend" and a.ex_date.year == 2024 for a in synthetic_actions(s))
    )


def test_the_backfill_job_fetches_the_symbols_actions(
    fake: FakeAlpacaServer, data_dir: Path, calendar: TradingCalendar
) -> None:
    symbol = _payer()
    app = App(fake.settings(data_dir=data_dir), calendar=calendar)
    try:
        params = {"symbols": [symbol], "start": "2024-03-04", "end": "2024-03-05"}
        result = app.bind(ingest_handler)(
            {**params, "provider": "alpaca"}, lambda *_: None, lambda: False
        )
        calls = [r for r in fake.requests if r.path == ACTIONS_PATH]
        assert len(calls) == 1 and calls[0].params["start"] == "2024-03-04"
        end = date.fromisoformat(calls[0].params["end"])
        assert end >= datetime.now(UTC).date()  # later actions still adjust old bars
        want = [a for a in synthetic_actions(symbol) if date(2024, 3, 4) <= processed(a) <= end]
        stored = app.corporate.actions(symbol)
        assert terms(stored) == terms(want)
        assert result["corporate_actions"]["new"] == len(want) > 0
        assert {a.source for a in stored} == {"alpaca"}
        again = app.bind(ingest_handler)(
            {**params, "provider": "alpaca"}, lambda *_: None, lambda: False
        )
        assert again["corporate_actions"]["new"] == 0
        assert again["corporate_actions"]["unchanged"] == len(want)
    finally:
        app.close()


def test_the_live_agent_checks_actions_once_a_day(
    data_dir: Path, calendar: TradingCalendar
) -> None:
    clock = ManualClock(datetime(2024, 3, 5, 15, 0, tzinfo=UTC))
    with FakeAlpacaServer(calendar=calendar, clock=clock) as fake:
        fake.actions.add(make_action("SPY", "forward_split", date(2024, 3, 4), ratio=2.0))
        app = App(fake.settings(data_dir=data_dir), clock, calendar=calendar)
        try:
            app.coverage.ensure_symbol("SPY", "alpaca", "iex")
            app.coverage.set_tracked("SPY", True)
            agent = LiveAgent(app)
            agent.run_once(clock.now())
            clock.set(clock.now() + timedelta(minutes=5))
            agent.run_once(clock.now())
            calls = [r for r in fake.requests if r.path == ACTIONS_PATH]
            assert len(calls) == 1
            assert calls[0].params["start"] == "2024-02-27"
            assert [a.ratio for a in app.corporate.actions("SPY") if a.is_split] == [2.0]
            clock.set(clock.now() + timedelta(days=1))
            agent.run_once(clock.now())
            assert len([r for r in fake.requests if r.path == ACTIONS_PATH]) == 2
        finally:
            app.close()
