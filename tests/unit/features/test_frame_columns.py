"""A frame built from an Arrow table converts a bar column only when a feature reads it, and
each converted column equals the table's values as float64."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from stockdb.calendar import TradingCalendar
from stockdb.errors import DataIntegrityError
from stockdb.features.definitions import default_feature_set
from stockdb.features.frame import BarFrame

PRICES = ("open", "high", "low", "close", "volume", "trade_count", "vwap")


def test_default_set_never_converts_open_trade_count_or_volume(
    history: pa.Table, calendar: TradingCalendar
) -> None:
    frame = BarFrame.from_table(history, calendar)
    default_feature_set().compute(frame)
    converted = {name for name in PRICES if name in vars(frame)}
    # The volume z-score reads the int64 volumes as stored (converted value by value).
    assert converted == {"high", "low", "close", "vwap"}


def test_volume_as_stored_is_the_int64_column(history: pa.Table, calendar: TradingCalendar) -> None:
    frame = BarFrame.from_table(history, calendar)
    stored = frame.volume_as_stored
    assert stored.dtype == np.int64
    assert stored.tolist() == history.column("volume").to_pylist()
    converted = frame.volume  # once converted, the float64 array is what it gives
    assert frame.volume_as_stored is converted


def test_columns_equal_the_table_as_float64(history: pa.Table, calendar: TradingCalendar) -> None:
    frame = BarFrame.from_table(history, calendar)
    for name in PRICES:
        expected = np.asarray(history.column(name).to_pylist(), dtype=np.float64)
        got = getattr(frame, name)
        assert got.dtype == np.float64
        assert np.array_equal(got, expected), name
    ts = history.column("ts").cast(pa.int64()).to_pylist()
    assert frame.ts_us.tolist() == ts


def test_unordered_timestamps_are_rejected(history: pa.Table, calendar: TradingCalendar) -> None:
    swapped = pa.concat_tables([history.slice(1, 1), history.slice(0, 1)])
    with pytest.raises(DataIntegrityError, match="strictly increasing"):
        BarFrame.from_table(swapped, calendar)
