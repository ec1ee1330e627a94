"""No look-ahead across timeframes: changing or deleting anything after t changes no joined
feature (1Min plus 5Min, 15Min, 1Hour and 1Day) of a 1-minute row at or before t."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockdb.calendar import TradingCalendar
from stockdb.features.builder import wide_table
from stockdb.features.definitions import default_feature_set
from stockdb.features.multiframe import aggregate_history, available_from
from stockdb.features.sources import BarHistory, PartitionSlice
from stockdb.providers.synthetic import generate_session
from stockdb.timeframes import parse_timeframe
from stockdb.training.dataset import AVAILABLE_COLUMN, JOIN_TIMEFRAMES, join_timeframes

SESSIONS = (date(2024, 5, 1), date(2024, 5, 10))


def _history(table: pa.Table, calendar: TradingCalendar) -> BarHistory:
    """``table`` partitioned by session, as the lake source hands it to the builder."""
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    positions = calendar.session_positions(ts)
    cuts = np.flatnonzero(np.diff(positions)) + 1
    starts = np.concatenate(([0], cuts)).astype(int)
    stops = np.concatenate((cuts, [ts.size])).astype(int)
    days = calendar.session_dates_at(positions[starts])
    parts = tuple(
        PartitionSlice(d, int(a), int(b), "") for d, a, b in zip(days, starts, stops, strict=True)
    )
    return BarHistory(table.drop_columns(["symbol"]), parts)


def joined(table: pa.Table, calendar: TradingCalendar) -> pd.DataFrame:
    """The 1-minute rows with every higher timeframe joined, computed as the store does."""
    history = _history(table, calendar)
    base = default_feature_set()

    def compute(tf: str, hist: BarHistory) -> tuple[pd.DataFrame, np.ndarray]:
        wide = wide_table(hist, base.at(tf), calendar)
        frame = wide.to_pandas()
        frame["ts"] = frame["ts"].astype("datetime64[us, UTC]")
        return frame, wide.column("ts").cast(pa.int64()).to_numpy()

    minute, _ = compute("1Min", history)
    higher = {}
    for tf in JOIN_TIMEFRAMES:
        timeframe = parse_timeframe(tf)
        frame, ts = compute(tf, aggregate_history(history, timeframe, calendar))
        ready = pd.to_datetime(available_from(ts, timeframe, calendar), unit="us", utc=True)
        higher[tf] = frame.assign(**{AVAILABLE_COLUMN: ready})
    return join_timeframes(minute, higher)


@pytest.fixture(scope="module")
def history(calendar: TradingCalendar) -> pa.Table:
    return pa.concat_tables([generate_session("QQQ", s) for s in calendar.sessions(*SESSIONS)])


@pytest.fixture(scope="module")
def full(history: pa.Table, calendar: TradingCalendar) -> pd.DataFrame:
    return joined(history, calendar)


def _altered(table: pa.Table, cut: int, seed: int) -> pa.Table:
    """Rows after ``cut`` get scrambled prices and volumes (still sorted, same ts)."""
    rng = np.random.default_rng(seed)
    tail = table.num_rows - cut - 1
    columns = {}
    for name in table.column_names:
        col = table.column(name).to_numpy(zero_copy_only=False)
        if name in ("open", "high", "low", "close", "vwap"):
            col = col.copy()
            col[cut + 1 :] = rng.uniform(1.0, 1000.0, tail)
        elif name in ("volume", "trade_count"):
            col = col.copy()
            col[cut + 1 :] = rng.integers(1, 10**6, tail)
        columns[name] = col
    return pa.Table.from_pydict(columns, schema=table.schema)


def test_every_timeframe_is_joined(full: pd.DataFrame) -> None:
    for tf in JOIN_TIMEFRAMES:
        assert full[f"close_{tf}"].notna().any() and full[f"sma_5_{tf}"].notna().any()
    # the first session sees no daily row at all: session d is visible from d+1 only
    first_day = full["ts"].dt.tz_convert("America/New_York").dt.date == SESSIONS[0]
    assert full.loc[first_day, "close_1Day"].isna().all()
    assert full.loc[~first_day, "close_1Day"].notna().all()


@settings(max_examples=20, deadline=None)
@given(fraction=st.floats(0.0, 0.999), seed=st.integers(0, 2**16), delete=st.booleans())
def test_joined_features_up_to_t_ignore_the_future(history, full, calendar, fraction, seed, delete):
    cut = int(fraction * (history.num_rows - 1))
    changed = history.slice(0, cut + 1) if delete else _altered(history, cut, seed)
    got = joined(changed, calendar)
    upto = got.iloc[: cut + 1]
    pd.testing.assert_frame_equal(upto, full.iloc[: cut + 1], check_exact=True)
