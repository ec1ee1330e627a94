"""`stockdb ingest --provider alpaca` end to end against the fake Alpaca server on loopback.

Expected bars come from generate_session, the fake's data source, never from the code under test.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from stockdb.calendar import TradingCalendar
from stockdb.cli.main import main
from stockdb.clock import ManualClock
from stockdb.config import Settings
from stockdb.obs.logging import setup_logging
from stockdb.providers.synthetic import generate_session
from stockdb.state.store import StateStore
from stockdb.testing.fake_alpaca import FAKE_KEY_ID, FAKE_SECRET_KEY, FakeAlpacaServer

from ...conftest import snapshot  # type: ignore[import-not-found]


@pytest.fixture
def fake(
    calendar: TradingCalendar, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(calendar=calendar, rate_limit=12, window_s=1.0) as server:
        monkeypatch.setenv("ALPACA_API_KEY_ID", FAKE_KEY_ID)
        monkeypatch.setenv("ALPACA_API_SECRET_KEY", FAKE_SECRET_KEY)
        monkeypatch.setenv("ALPACA_API_BASE_URL", server.url)
        monkeypatch.setenv("ALPACA_FEED", "sip")
        yield server


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_lake_exact(
    data_dir: Path, calendar: TradingCalendar, symbols: list[str], start: date, end: date
) -> int:
    rows = 0
    for symbol in symbols:
        for session in calendar.sessions(start, end):
            path = data_dir / "parquet" / symbol / f"dt={session.date}" / "bars.parquet"
            stored = pq.read_table(path).replace_schema_metadata(None)
            assert stored.equals(generate_session(symbol, session)), (symbol, session.date)
            rows += stored.num_rows
    return rows


def test_months_of_several_symbols_with_faults_store_every_bar_once(
    fake: FakeAlpacaServer,
    data_dir: Path,
    calendar: TradingCalendar,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake.faults.rate_limit(2, reset_in_s=0.3)
    fake.faults.server_error(2, 500)
    fake.faults.short_page(1, 137)
    fake.faults.drop_connection(1)
    fake.faults.empty_once("QQQ", date(2024, 3, 12))
    symbols = ["SPY", "QQQ", "AAPL"]
    code, out, err = run(capsys, "ingest", *symbols, "--start", "2024-02-01", "--end", "2024-04-30")
    assert code == 0, err
    assert "SYNTHETIC" not in err
    rows = assert_lake_exact(data_dir, calendar, symbols, date(2024, 2, 1), date(2024, 4, 30))
    assert f"rows written {rows}" in out
    assert "429s 2" in out and "gap re-requests 1" in out
    assert fake.limit_429s == 0  # the throttle provoked none beyond the injected ones
    assert fake.injected_429s == 2
    bar_requests = [r for r in fake.requests if "/bars" in r.path]
    assert all(r.params.get("timeframe") == "1Min" for r in bar_requests)
    assert all(r.params.get("adjustment") == "raw" for r in bar_requests)
    # the backfill also fetched the symbols' corporate actions
    assert any(r.path == "/v1/corporate-actions" for r in fake.requests)
    # A re-run asks for nothing and changes nothing.
    before = snapshot(data_dir / "parquet")
    bars_before = sum("/bars" in r.path for r in fake.requests)
    code, out, _ = run(capsys, "ingest", *symbols, "--start", "2024-02-01", "--end", "2024-04-30")
    assert code == 0 and sum("/bars" in r.path for r in fake.requests) == bars_before
    assert snapshot(data_dir / "parquet") == before


def test_dst_early_closes_and_after_hours_land_in_their_session(
    fake: FakeAlpacaServer,
    data_dir: Path,
    calendar: TradingCalendar,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ranges = [
        ("2024-03-08", "2024-03-11"),
        ("2024-07-03", "2024-07-05"),
        ("2024-11-01", "2024-11-04"),
        ("2024-11-29", "2024-11-29"),
    ]
    for start, end in ranges:
        code, _, err = run(capsys, "ingest", "SPY", "--start", start, "--end", end)
        assert code == 0, err
    past_midnight = 0
    for path in sorted((data_dir / "parquet" / "SPY").glob("dt=*/bars.parquet")):
        ts = pq.read_table(path).column("ts").to_pandas()
        ny_dates = set(ts.dt.tz_convert("America/New_York").dt.date.astype(str))
        assert ny_dates == {path.parent.name[3:]}
        past_midnight += int((ts.dt.date.astype(str) != path.parent.name[3:]).sum())
    assert past_midnight > 0  # after-hours bars past UTC midnight stayed with their session
    stored = sorted(p.name for p in (data_dir / "parquet" / "SPY").iterdir())
    assert "dt=2024-07-04" not in stored and "dt=2024-03-09" not in stored
    last = pd.read_parquet(data_dir / "parquet" / "SPY" / "dt=2024-11-29" / "bars.parquet")["ts"]
    assert last.max().tz_convert("America/New_York").hour == 16  # early close: after-hours to 17:00


def test_the_secret_never_appears(
    fake: FakeAlpacaServer,
    data_dir: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = io.StringIO()
    state = StateStore(Settings().state_database_url)
    state.migrate()
    handle = setup_logging(Settings(), agent="test", state=state, stream=stream, level="DEBUG")
    fake.faults.rate_limit(1, reset_in_s=0.2)
    fake.faults.server_error(1, 503)
    try:
        with caplog.at_level(logging.DEBUG):
            code, out, err = run(
                capsys, "ingest", "SPY", "--start", "2024-03-04", "--end", "2024-03-08"
            )
            bad, _, bad_err = run(
                capsys,
                "ingest",
                "SPY",
                "--start",
                "2024-03-11",
                "--end",
                "2024-03-12",
                "--provider",
                "alpaca",
            )
    finally:
        handle.close()
        state.dispose()
    assert code == 0 and bad == 0, (err, bad_err)
    raw = [str(v) for r in caplog.records for v in vars(r).values()]
    assert any("v2/stocks" in text for text in raw)  # the calls were logged
    for text in [out, err, bad_err, stream.getvalue(), *raw]:
        assert FAKE_SECRET_KEY not in text
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert FAKE_SECRET_KEY.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("setup", "needle", "code"),
    [
        ("wrong-key", "ALPACA_API_KEY_ID", 5),
        ("recent-sip", "ALPACA_FEED=iex", 5),
        ("bad-feed", "invalid feed", 10),
        ("unknown", "no bars for ZZZZ", 10),
    ],
)
def test_upstream_refusals_give_one_clear_line_and_write_nothing(
    fake: FakeAlpacaServer,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setup: str,
    needle: str,
    code: int,
) -> None:
    symbol, start, end = "SPY", "2024-03-04", "2024-03-08"
    if setup == "wrong-key":
        monkeypatch.setenv("ALPACA_API_SECRET_KEY", "not-the-secret")
    elif setup == "recent-sip":
        fake.faults.forbid_recent_sip(minutes=15)
        # The fake lives in the middle of 2024-03-08's session, so asking for that session's
        # bars is "recent SIP data" on any day the tests run.
        fake.clock = ManualClock(datetime(2024, 3, 8, 15, 0, tzinfo=UTC))
        start = end = "2024-03-08"
    elif setup == "bad-feed":
        monkeypatch.setenv("ALPACA_FEED", "delayed_sip")
    else:
        symbol = "ZZZZ"
        fake.faults.no_data_for("ZZZZ")
    before = snapshot(data_dir)
    got, _, err = run(capsys, "ingest", symbol, "--start", start, "--end", end)
    lines = err.strip().splitlines()
    assert got == code, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]
    assert "not-the-secret" not in err and FAKE_SECRET_KEY not in err
    after = snapshot(data_dir)
    assert {k: v for k, v in after.items() if "parquet" in k} == {}
    assert set(after) - set(before) <= {"state", "state/stockdb.sqlite", "locks"}
