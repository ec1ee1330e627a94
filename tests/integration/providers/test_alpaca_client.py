"""AlpacaProvider over real HTTP on loopback against the fake Alpaca server.

Expected bars come straight from generate_session (the fake's data source), never from the
client under test.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from stockdb.bars import BAR_SCHEMA
from stockdb.calendar import TradingCalendar
from stockdb.clock import Clock, ManualClock
from stockdb.errors import (
    AuthError,
    BadRequest,
    DataIntegrityError,
    UnknownSymbol,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from stockdb.providers.alpaca import AlpacaProvider
from stockdb.providers.retry import RetryPolicy
from stockdb.providers.synthetic import generate_session
from stockdb.providers.throttle import RateLimiter
from stockdb.testing.fake_alpaca import FAKE_SECRET_KEY, FakeAlpacaServer

FAST_RETRY = RetryPolicy(max_attempts=8, base_delay_s=0.01, max_delay_s=0.05)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(autouse=True)
def _clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("ALPACA_FEED", "ALPACA_API_BASE_URL", "ALPACA_TIMEOUT_S"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake(calendar: TradingCalendar) -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(calendar=calendar) as server:
        yield server


@pytest.fixture
def make_provider() -> Iterator[Callable[..., AlpacaProvider]]:
    """A factory of providers pointed at a fake; every one is closed after the test."""
    made: list[AlpacaProvider] = []

    def make(
        fake: FakeAlpacaServer,
        *,
        clock: Clock | None = None,
        retry: RetryPolicy = FAST_RETRY,
        batch_size: int = 100,
        **settings: Any,
    ) -> AlpacaProvider:
        provider = AlpacaProvider(
            fake.settings(**settings),
            limiter=RateLimiter(clock) if clock is not None else None,
            clock=clock,
            batch_size=batch_size,
            retry=retry,
        )
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


def expected_bars(
    calendar: TradingCalendar, symbols: Sequence[str], start: datetime, end: datetime
) -> pa.Table:
    """What Alpaca-the-fake holds for ``symbols`` in ``[start, end)``, symbol-major."""
    tables = []
    for symbol in sorted(set(symbols)):
        for session in calendar.sessions(start.date() - timedelta(days=1), end.date()):
            table = generate_session(symbol, session)
            ts = table.column("ts")
            keep = pc.and_(
                pc.greater_equal(ts, pa.scalar(start, ts.type)),
                pc.less(ts, pa.scalar(end, ts.type)),
            )
            tables.append(table.filter(keep))
    return pa.concat_tables(tables) if tables else BAR_SCHEMA.empty_table()


def fetch_all(
    provider: AlpacaProvider, symbols: Sequence[str], start: datetime, end: datetime
) -> tuple[pa.Table, list[pa.Table]]:
    pages = list(provider.fetch_bars(symbols, start, end))
    table = pa.concat_tables(pages) if pages else BAR_SCHEMA.empty_table()
    return table, pages


# -- paging and parsing ------------------------------------------------------------------------


def test_pages_follow_tokens_across_symbols_and_every_bar_is_exact(
    fake: FakeAlpacaServer, calendar: TradingCalendar, make_provider: Callable[..., AlpacaProvider]
) -> None:
    start, end = utc("2024-03-04T00:00:00Z"), utc("2024-04-06T00:00:00Z")
    provider = make_provider(fake)
    table, pages = fetch_all(provider, ["MSFT", "AAPL", "SPY"], start, end)

    want = expected_bars(calendar, ["MSFT", "AAPL", "SPY"], start, end)
    assert want.num_rows > 30_000
    assert table.schema == BAR_SCHEMA
    assert table.equals(want)  # every field of every bar, in symbol-major order

    page_symbols = [set(p.column("symbol").to_pylist()) for p in pages]
    assert any(len(s) > 1 for s in page_symbols)  # tail of one symbol + head of the next
    assert sum("AAPL" in s for s in page_symbols) > 1  # a symbol spans pages

    requests = fake.requests
    assert len(requests) == len(pages) == provider.stats.requests
    assert provider.stats.rows == want.num_rows
    first = requests[0].params
    assert first == {
        "symbols": "MSFT,AAPL,SPY",
        "timeframe": "1Min",
        "start": "2024-03-04T00:00:00Z",
        "end": "2024-04-05T23:59:59.999999Z",
        "limit": "10000",
        "adjustment": "raw",
        "feed": "iex",
        "sort": "asc",
    }
    assert "page_token" not in first
    for request in requests[1:]:
        assert request.params.pop("page_token")
        assert request.params == first  # every other parameter repeated unchanged


def test_short_pages_with_a_token_are_followed(
    fake: FakeAlpacaServer, calendar: TradingCalendar, make_provider: Callable[..., AlpacaProvider]
) -> None:
    start, end = utc("2024-05-06T00:00:00Z"), utc("2024-05-08T00:00:00Z")
    fake.faults.short_page(count=3, rows=7)
    table, pages = fetch_all(make_provider(fake), ["SPY", "QQQ"], start, end)
    assert [p.num_rows for p in pages[:3]] == [7, 7, 7]
    assert table.equals(expected_bars(calendar, ["SPY", "QQQ"], start, end))


def test_start_is_inclusive_and_end_exclusive(
    fake: FakeAlpacaServer, calendar: TradingCalendar, make_provider: Callable[..., AlpacaProvider]
) -> None:
    bars = generate_session("IBM", calendar.session(date(2024, 6, 12)))
    ts = bars.column("ts").to_pylist()
    start, end = ts[100], ts[200]
    table, _ = fetch_all(make_provider(fake), ["IBM"], start, end)
    assert table.column("ts").to_pylist() == ts[100:200]
    assert table.equals(bars.slice(100, 100))


def test_single_symbol_endpoint_and_symbols_without_data(
    fake: FakeAlpacaServer, calendar: TradingCalendar, make_provider: Callable[..., AlpacaProvider]
) -> None:
    start, end = utc("2024-02-05T00:00:00Z"), utc("2024-02-06T00:00:00Z")
    fake.faults.no_data_for("ZZZZ")
    provider = make_provider(fake)
    table, _ = fetch_all(provider, ["AAPL"], start, end)
    assert table.equals(expected_bars(calendar, ["AAPL"], start, end))
    assert fake.requests[-1].path == "/v2/stocks/AAPL/bars"
    assert "symbols" not in fake.requests[-1].params

    empty, pages = fetch_all(provider, ["ZZZZ"], start, end)  # answered with "bars": null
    assert pages == [] and empty.num_rows == 0

    mixed, _ = fetch_all(provider, ["ZZZZ", "AAPL"], start, end)  # ZZZZ absent from the object
    assert mixed.equals(table)


def test_symbols_are_batched(
    fake: FakeAlpacaServer, calendar: TradingCalendar, make_provider: Callable[..., AlpacaProvider]
) -> None:
    start, end = utc("2024-02-05T14:00:00Z"), utc("2024-02-05T15:00:00Z")
    provider = make_provider(fake, batch_size=2)
    table, _ = fetch_all(provider, ["C", "B", "A"], start, end)
    assert [r.params.get("symbols") for r in fake.requests] == ["C,B", None]
    assert fake.requests[1].path == "/v2/stocks/A/bars"
    want = pa.concat_tables(
        [
            expected_bars(calendar, ["C", "B"], start, end),
            expected_bars(calendar, ["A"], start, end),
        ]
    )
    assert table.equals(want)


@pytest.mark.parametrize(
    ("day", "ext_open", "regular_open", "ext_close", "past_utc_midnight"),
    [
        ("2024-03-08", "2024-03-08T09:00Z", "2024-03-08T14:30Z", "2024-03-09T01:00Z", True),
        ("2024-03-11", "2024-03-11T08:00Z", "2024-03-11T13:30Z", "2024-03-12T00:00Z", False),
        ("2024-11-01", "2024-11-01T08:00Z", "2024-11-01T13:30Z", "2024-11-02T00:00Z", False),
        ("2024-11-04", "2024-11-04T09:00Z", "2024-11-04T14:30Z", "2024-11-05T01:00Z", True),
        ("2024-07-03", "2024-07-03T08:00Z", "2024-07-03T13:30Z", "2024-07-03T21:00Z", False),
        ("2024-11-29", "2024-11-29T09:00Z", "2024-11-29T14:30Z", "2024-11-29T22:00Z", False),
    ],
)
def test_dst_switches_and_early_closes_land_on_the_right_utc_instants(
    fake: FakeAlpacaServer,
    calendar: TradingCalendar,
    day: str,
    ext_open: str,
    regular_open: str,
    ext_close: str,
    past_utc_midnight: bool,
    make_provider: Callable[..., AlpacaProvider],
) -> None:
    lo, hi = utc(ext_open), utc(ext_close)
    # ask for a wider window: only the session's own bars may come back
    table, _ = fetch_all(
        make_provider(fake), ["SPY"], lo - timedelta(hours=3), hi + timedelta(hours=6)
    )
    session_bars = generate_session("SPY", calendar.session(date.fromisoformat(day)))
    assert table.equals(session_bars)
    ts = table.column("ts").to_pylist()
    assert lo <= ts[0] and ts[-1] < hi
    assert utc(regular_open) in ts  # the opening minute always trades
    next_midnight = datetime.combine(
        date.fromisoformat(day) + timedelta(days=1), datetime.min.time(), UTC
    )
    assert any(t >= next_midnight for t in ts) is past_utc_midnight
    if day in ("2024-07-03", "2024-11-29"):  # after-hours follow the 13:00 close
        close = utc(regular_open) + timedelta(hours=3, minutes=30)
        assert any(t >= close for t in ts)


def test_a_query_across_the_spring_dst_switch_is_exact(
    fake: FakeAlpacaServer, calendar: TradingCalendar, make_provider: Callable[..., AlpacaProvider]
) -> None:
    start, end = utc("2024-03-07T00:00:00Z"), utc("2024-03-13T00:00:00Z")
    table, _ = fetch_all(make_provider(fake), ["SPY", "AAPL"], start, end)
    assert table.equals(expected_bars(calendar, ["SPY", "AAPL"], start, end))


def test_latest_bars(
    calendar: TradingCalendar, make_provider: Callable[..., AlpacaProvider]
) -> None:
    now = utc("2024-03-08T18:00:30Z")
    with FakeAlpacaServer(calendar=calendar, clock=ManualClock(now)) as fake:
        fake.faults.no_data_for("ZZZZ")
        provider = make_provider(fake)
        latest = provider.latest_bars(["AAPL", "ZZZZ", "MSFT"])
    assert latest.column("symbol").to_pylist() == ["AAPL", "MSFT"]
    for i, symbol in enumerate(["AAPL", "MSFT"]):
        bars = generate_session(symbol, calendar.session(date(2024, 3, 8)))
        done = bars.filter(pc.less_equal(bars.column("ts"), pa.scalar(now - timedelta(minutes=1))))
        assert latest.slice(i, 1).equals(done.slice(done.num_rows - 1, 1))


# -- faults and retries ------------------------------------------------------------------------


def test_transient_faults_are_retried_and_the_data_stays_exact(
    fake: FakeAlpacaServer, calendar: TradingCalendar, make_provider: Callable[..., AlpacaProvider]
) -> None:
    start, end = utc("2024-04-01T00:00:00Z"), utc("2024-04-03T00:00:00Z")
    clock = ManualClock(datetime.now(UTC))  # backoffs and 429 resets pass instantly
    fake.faults.server_error(count=2)
    fake.faults.drop_connection()
    fake.faults.rate_limit(count=2)
    fake.faults.server_error(status=503)
    provider = make_provider(fake, clock=clock, retry=RetryPolicy(max_attempts=8))
    table, pages = fetch_all(provider, ["SPY", "AAPL"], start, end)
    assert table.equals(expected_bars(calendar, ["SPY", "AAPL"], start, end))
    assert provider.stats.retries == 6
    assert provider.stats.rate_limited == 2
    assert provider.stats.requests == len(pages) + 6
    assert provider.stats.wait_s > 0  # waited for the injected 429 resets
    assert fake.injected_429s == 2 and fake.limit_429s == 0


def test_a_slow_answer_times_out_and_is_retried(
    fake: FakeAlpacaServer, calendar: TradingCalendar, make_provider: Callable[..., AlpacaProvider]
) -> None:
    start, end = utc("2024-04-01T13:00:00Z"), utc("2024-04-01T16:00:00Z")
    fake.faults.slow(delay_s=3.0)
    provider = make_provider(fake, alpaca_timeout_s=0.3)
    table, _ = fetch_all(provider, ["SPY"], start, end)
    assert table.equals(expected_bars(calendar, ["SPY"], start, end))
    assert provider.stats.retries == 1


def test_timeouts_surface_as_upstream_timeout_when_retries_run_out(
    fake: FakeAlpacaServer, make_provider: Callable[..., AlpacaProvider]
) -> None:
    fake.faults.slow(count=2, delay_s=3.0)
    provider = make_provider(fake, alpaca_timeout_s=0.2, retry=RetryPolicy(max_attempts=2))
    with pytest.raises(UpstreamTimeout, match="within 0.2s"):
        fetch_all(provider, ["SPY"], utc("2024-04-01T00:00:00Z"), utc("2024-04-02T00:00:00Z"))


def test_persistent_5xx_surfaces_as_upstream_unavailable(
    fake: FakeAlpacaServer, make_provider: Callable[..., AlpacaProvider]
) -> None:
    fake.faults.server_error(count=5)
    clock = ManualClock(datetime.now(UTC))
    provider = make_provider(fake, clock=clock, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(UpstreamUnavailable, match="500"):
        fetch_all(provider, ["SPY"], utc("2024-04-01T00:00:00Z"), utc("2024-04-02T00:00:00Z"))
    assert provider.stats.requests == 3


def test_tight_limit_in_virtual_time_sees_no_429_beyond_the_injected(
    calendar: TradingCalendar, make_provider: Callable[..., AlpacaProvider]
) -> None:
    clock = ManualClock(utc("2025-06-02T15:00:00Z"))  # shared: server windows, client waits
    start, end = utc("2024-04-01T00:00:00Z"), utc("2024-04-04T00:00:00Z")
    with FakeAlpacaServer(calendar=calendar, clock=clock, rate_limit=10, window_s=2) as fake:
        fake.faults.short_page(count=15, rows=40)
        fake.faults.rate_limit()
        fake.faults.short_page(count=15, rows=40)
        fake.faults.rate_limit()
        provider = make_provider(fake, clock=clock)
        began = clock.monotonic()
        table, _ = fetch_all(provider, ["SPY"], start, end)
        elapsed = clock.monotonic() - began
        requests = len(fake.requests)
        assert (fake.limit_429s, fake.injected_429s) == (0, 2)
    assert table.equals(expected_bars(calendar, ["SPY"], start, end))
    assert requests >= 33
    assert provider.stats.rate_limited == 2
    assert elapsed <= (math.ceil(requests / 10) + 2) * 2.0  # paced, not crawling


def test_tight_limit_in_real_time_sees_no_429(
    calendar: TradingCalendar, make_provider: Callable[..., AlpacaProvider]
) -> None:
    start, end = utc("2024-04-01T00:00:00Z"), utc("2024-04-02T00:00:00Z")
    with FakeAlpacaServer(calendar=calendar, rate_limit=5, window_s=1) as fake:
        fake.faults.short_page(count=11, rows=50)
        provider = make_provider(fake)
        began = time.monotonic()
        table, _ = fetch_all(provider, ["SPY"], start, end)
        elapsed = time.monotonic() - began
        assert fake.total_429s == 0
        requests = len(fake.requests)
    assert table.equals(expected_bars(calendar, ["SPY"], start, end))
    assert requests >= 12
    assert elapsed < 2 * requests / 5 + 1.0


# -- permanent errors --------------------------------------------------------------------------


def test_wrong_keys_give_auth_error_naming_the_settings(
    fake: FakeAlpacaServer, make_provider: Callable[..., AlpacaProvider]
) -> None:
    provider = make_provider(fake, alpaca_secret_key="wrong-secret-123")
    with pytest.raises(AuthError) as info:
        fetch_all(provider, ["SPY"], utc("2024-04-01T00:00:00Z"), utc("2024-04-02T00:00:00Z"))
    message = str(info.value)
    assert "401" in message
    assert "ALPACA_API_KEY_ID" in message and "ALPACA_API_SECRET_KEY" in message
    assert "wrong-secret-123" not in message
    assert len(fake.requests) == 1  # not retried


def test_missing_keys_are_refused_before_any_request(fake: FakeAlpacaServer) -> None:
    with pytest.raises(AuthError, match="ALPACA_API_SECRET_KEY"):
        AlpacaProvider(fake.settings(alpaca_secret_key=None))
    assert fake.requests == []


def test_recent_sip_refusal_suggests_iex_or_an_older_end(
    fake: FakeAlpacaServer, calendar: TradingCalendar, make_provider: Callable[..., AlpacaProvider]
) -> None:
    fake.faults.forbid_recent_sip()
    provider = make_provider(fake, alpaca_feed="sip")
    now = datetime.now(UTC)
    with pytest.raises(AuthError) as info:
        fetch_all(provider, ["SPY"], now - timedelta(hours=2), now)
    assert "ALPACA_FEED=iex" in str(info.value) and "15 minutes" in str(info.value)
    with pytest.raises(AuthError, match="ALPACA_FEED=iex"):
        provider.latest_bars(["SPY"])
    start, end = utc("2024-04-01T12:00:00Z"), utc("2024-04-01T14:00:00Z")
    table, _ = fetch_all(provider, ["SPY"], start, end)  # history is fine on SIP
    assert table.equals(expected_bars(calendar, ["SPY"], start, end))
    assert fake.requests[-1].params["feed"] == "sip"


def test_bad_parameters_give_bad_request_with_alpacas_message(
    fake: FakeAlpacaServer, make_provider: Callable[..., AlpacaProvider]
) -> None:
    provider = make_provider(fake, alpaca_feed="delayed_sip")  # valid for latest, not for bars
    with pytest.raises(BadRequest, match="invalid feed: delayed_sip"):
        fetch_all(provider, ["SPY"], utc("2024-04-01T00:00:00Z"), utc("2024-04-02T00:00:00Z"))
    assert len(fake.requests) == 1


def test_unknown_and_malformed_symbols(
    fake: FakeAlpacaServer, make_provider: Callable[..., AlpacaProvider]
) -> None:
    provider = make_provider(fake)
    fake.faults.no_data_for("NOPE")
    start, end = utc("2024-04-01T00:00:00Z"), utc("2024-04-02T00:00:00Z")
    table, _ = fetch_all(provider, ["NOPE", "NADA"], start, end)  # unknown: no data, no error
    assert set(table.column("symbol").to_pylist()) == {"NADA"}
    with pytest.raises(UnknownSymbol, match="invalid symbol: BRK\\$B"):
        fetch_all(provider, ["BRK$B", "SPY"], start, end)


def test_garbage_body_is_a_data_integrity_error(
    fake: FakeAlpacaServer, make_provider: Callable[..., AlpacaProvider]
) -> None:
    fake.faults.garbage()
    provider = make_provider(fake)
    with pytest.raises(DataIntegrityError, match="not JSON"):
        fetch_all(provider, ["SPY"], utc("2024-04-01T00:00:00Z"), utc("2024-04-02T00:00:00Z"))
    assert len(fake.requests) == 1


def test_naive_datetimes_are_refused(
    fake: FakeAlpacaServer, make_provider: Callable[..., AlpacaProvider]
) -> None:
    from stockdb.errors import InvalidInput

    with pytest.raises(InvalidInput):
        fetch_all(make_provider(fake), ["SPY"], datetime(2024, 4, 1), datetime(2024, 4, 2))


# -- logs and secrets --------------------------------------------------------------------------


def test_calls_are_logged_structured_and_the_secret_never_appears(
    fake: FakeAlpacaServer,
    caplog: pytest.LogCaptureFixture,
    make_provider: Callable[..., AlpacaProvider],
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = ManualClock(datetime.now(UTC))
    fake.faults.server_error()
    fake.faults.rate_limit()
    provider = make_provider(fake, clock=clock)
    fetch_all(provider, ["SPY", "AAPL"], utc("2024-04-01T00:00:00Z"), utc("2024-04-02T00:00:00Z"))
    messages = []
    wrong = make_provider(fake, alpaca_secret_key="another-secret-456")
    with pytest.raises(AuthError) as info:
        wrong.latest_bars(["SPY"])
    messages.append(str(info.value))
    messages += [repr(provider), repr(wrong), str(provider.stats)]

    calls = [r for r in caplog.records if r.name == "stockdb.alpaca" and hasattr(r, "status")]
    assert [r.status for r in calls] == [500, 429, 200, 401]  # type: ignore[attr-defined]
    ok = calls[2]
    assert ok.endpoint == "/v2/stocks/bars"  # type: ignore[attr-defined]
    assert ok.params["symbols"] == "SPY,AAPL"  # type: ignore[attr-defined]
    assert ok.rows > 0 and ok.latency_ms >= 0 and ok.attempt == 3  # type: ignore[attr-defined]
    assert isinstance(ok.remaining, int)  # type: ignore[attr-defined]

    for record in caplog.records:
        text = record.getMessage() + repr(vars(record))
        for secret in (FAKE_SECRET_KEY, "another-secret-456"):
            assert secret not in text
    for text in messages:
        assert FAKE_SECRET_KEY not in text and "another-secret-456" not in text
    for request in fake.requests:  # the fake never records the secret either
        assert FAKE_SECRET_KEY not in repr(request)
