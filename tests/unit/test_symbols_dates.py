"""Input gates: symbols, dates, timeframes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from stockdb.dates import parse_date, parse_date_or_instant
from stockdb.errors import InvalidInput
from stockdb.symbols import normalize_symbol, normalize_symbols
from stockdb.timeframes import parse_timeframe


@pytest.mark.parametrize("raw", ["spy", " SPY ", "BRK.B", "A", "ABCDEFGHIJ"])
def test_good_symbols(raw: str) -> None:
    assert normalize_symbol(raw) == raw.strip().upper()


@pytest.mark.parametrize(
    "raw", ["", "../x", "SPY;DROP", "1ABC", "SPY/..", "ABCDEFGHIJK", "SP Y", "A..B", "'; --", ".A"]
)
def test_bad_symbols(raw: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_symbol(raw)


def test_symbol_lists_dedupe_and_split() -> None:
    assert normalize_symbols(["spy,qqq", "SPY", "aapl"]) == ["SPY", "QQQ", "AAPL"]
    with pytest.raises(InvalidInput):
        normalize_symbols([","])


def test_dates() -> None:
    assert parse_date("2024-03-05") == date(2024, 3, 5)
    assert parse_date_or_instant("2024-03-05T14:30:00Z") == datetime(2024, 3, 5, 14, 30, tzinfo=UTC)
    assert parse_date_or_instant("2024-03-05T09:30:00-05:00") == datetime(
        2024, 3, 5, 14, 30, tzinfo=UTC
    )
    for bad in ("2024-13-01", "2024-02-30", "yesterday", "2024-03-05T14:30:00"):
        with pytest.raises(InvalidInput):
            parse_date_or_instant(bad)


@pytest.mark.parametrize(
    ("raw", "name"),
    [("1Min", "1Min"), ("5min", "5Min"), ("15T", "15Min"), ("1H", "1Hour"), ("1Day", "1Day")],
)
def test_timeframes(raw: str, name: str) -> None:
    assert parse_timeframe(raw).name == name


@pytest.mark.parametrize("raw", ["7Min", "1M", "2Hour", "", "1Week", "5 mins please"])
def test_bad_timeframes(raw: str) -> None:
    with pytest.raises(InvalidInput):
        parse_timeframe(raw)
