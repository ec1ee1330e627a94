"""Alpaca JSON bars to Arrow: exact values, timestamp formats, and garbage refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from stockdb.bars import BAR_SCHEMA
from stockdb.errors import DataIntegrityError
from stockdb.providers.alpaca_wire import bars_table, format_rfc3339, keep_range

BAR = {"t": "2024-03-05T14:30:00Z", "o": 170.1, "h": 170.4, "l": 169.9, "c": 170.2, "v": 51234,
       "n": 612, "vw": 170.15}  # fmt: skip


def test_bars_become_rows_with_the_bar_schema() -> None:
    table = bars_table(
        [("AAPL", [BAR, {**BAR, "t": "2024-03-05T14:31:00Z", "o": 171}]), ("MSFT", [])]
    )
    assert table.schema == BAR_SCHEMA
    assert table.to_pylist() == [
        {"symbol": "AAPL", "ts": datetime(2024, 3, 5, 14, 30, tzinfo=UTC), "open": 170.1,
         "high": 170.4, "low": 169.9, "close": 170.2, "volume": 51234, "trade_count": 612,
         "vwap": 170.15},
        {"symbol": "AAPL", "ts": datetime(2024, 3, 5, 14, 31, tzinfo=UTC), "open": 171.0,
         "high": 170.4, "low": 169.9, "close": 170.2, "volume": 51234, "trade_count": 612,
         "vwap": 170.15},
    ]  # fmt: skip


def test_nanosecond_times_are_truncated_to_microseconds() -> None:
    table = bars_table([("AAPL", [{**BAR, "t": "2024-03-05T14:30:00.123456789Z"}])])
    assert table.column("ts")[0].as_py() == datetime(2024, 3, 5, 14, 30, 0, 123456, tzinfo=UTC)


def test_no_bars_give_an_empty_table() -> None:
    assert bars_table([]).schema == BAR_SCHEMA
    assert bars_table([("AAPL", [])]).num_rows == 0


@pytest.mark.parametrize(
    ("bar", "message"),
    [
        ({k: v for k, v in BAR.items() if k != "vw"}, "lacks field 'vw'"),
        ({**BAR, "t": 1709649000}, "'t' is not a string"),
        ({**BAR, "t": "yesterday"}, "not RFC-3339"),
        ({**BAR, "o": "170.1"}, "'o' is not a number"),
        ({**BAR, "c": None}, "'c' is null"),
        ({**BAR, "v": 12.5}, "'v' is not an integer"),
        ({**BAR, "n": True}, "'n' is not an integer"),
        ("not an object", "not an object"),
    ],
)
def test_garbage_is_a_data_integrity_error(bar: Any, message: str) -> None:
    with pytest.raises(DataIntegrityError, match=message):
        bars_table([("AAPL", [bar])])


def test_format_rfc3339_is_utc_with_z() -> None:
    new_york = timezone(timedelta(hours=-5))
    assert format_rfc3339(datetime(2024, 3, 8, 9, 30, tzinfo=new_york)) == "2024-03-08T14:30:00Z"
    assert (
        format_rfc3339(datetime(2024, 3, 8, 14, 30, 0, 999999, tzinfo=UTC))
        == "2024-03-08T14:30:00.999999Z"
    )
    with pytest.raises(ValueError):
        format_rfc3339(datetime(2024, 3, 8, 14, 30))


def test_keep_range_is_start_inclusive_end_exclusive() -> None:
    times = ["2024-03-05T14:29:00Z", "2024-03-05T14:30:00Z", "2024-03-05T14:31:00Z"]
    table = bars_table([("AAPL", [{**BAR, "t": t} for t in times])])
    kept = keep_range(
        table, datetime(2024, 3, 5, 14, 30, tzinfo=UTC), datetime(2024, 3, 5, 14, 31, tzinfo=UTC)
    )
    assert kept.column("ts").to_pylist() == [datetime(2024, 3, 5, 14, 30, tzinfo=UTC)]
