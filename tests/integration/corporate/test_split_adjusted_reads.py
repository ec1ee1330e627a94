"""A 4:1 split in the middle of the history: raw bars untouched, split-adjusted reads and
features continuous across the split, SMA-200 computed on adjusted prices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import talib

from stockdb.app import App
from stockdb.client import StockDB
from stockdb.corporate.adjust import ex_cutoff_us
from stockdb.corporate.model import make_action
from stockdb.lake.reader import BarQuery

from ...conftest import snapshot  # type: ignore[import-not-found]
from .conftest import EX_DATE, SPLIT_SYMBOL, raw_session  # type: ignore[import-not-found]

SPLIT = make_action(SPLIT_SYMBOL, "forward_split", EX_DATE, ratio=4.0)


def _lake_table(app: App) -> pa.Table:
    paths = [p for _, p in app.lake.session_paths(SPLIT_SYMBOL)]
    return pa.concat_tables([pq.read_table(p) for p in paths])


def _before_split(table: pa.Table) -> np.ndarray:
    return table.column("ts").cast(pa.int64()).to_numpy() < ex_cutoff_us(EX_DATE)


def test_raw_bars_stay_raw_and_split_adjusted_reads_divide_by_four(split_app: App) -> None:
    app = split_app
    lake_before = snapshot(app.settings.parquet_dir)
    app.corporate.record([SPLIT])
    raw = app.reader.bars(BarQuery.parse(SPLIT_SYMBOL))
    adjusted = app.reader.bars(BarQuery.parse(SPLIT_SYMBOL, adjustment="split"))
    stored = _lake_table(app)
    assert raw.equals(stored.select(raw.column_names))  # raw reads are the lake, unchanged
    assert snapshot(app.settings.parquet_dir) == lake_before  # nothing written on read
    before = _before_split(raw)
    assert 0 < before.sum() < len(before)
    for name in ("open", "high", "low", "close", "vwap"):
        r, a = raw.column(name).to_numpy(), adjusted.column(name).to_numpy()
        np.testing.assert_array_equal(a[before], r[before] / 4)
        np.testing.assert_array_equal(a[~before], r[~before])
    rv, av = raw.column("volume").to_numpy(), adjusted.column("volume").to_numpy()
    np.testing.assert_array_equal(av[before], rv[before] * 4)
    np.testing.assert_array_equal(av[~before], rv[~before])
    assert adjusted.column("trade_count").equals(raw.column("trade_count"))
    # continuous across the split: the last close before and the first after are close
    # (synthetic sessions open within ~1 % of the previous close), raw jumps by 4
    last_before = int(np.flatnonzero(before)[-1])
    a_close = adjusted.column("close").to_numpy()
    r_close = raw.column("close").to_numpy()
    assert abs(a_close[last_before + 1] / a_close[last_before] - 1) < 0.05
    assert r_close[last_before] / r_close[last_before + 1] == pytest.approx(4, rel=0.05)


def test_daily_bars_are_adjusted_before_aggregation(split_app: App) -> None:
    app = split_app
    app.corporate.record([SPLIT])
    raw = app.reader.bars(BarQuery.parse(SPLIT_SYMBOL, "1Day")).to_pandas()
    adjusted = app.reader.bars(BarQuery.parse(SPLIT_SYMBOL, "1Day", adjustment="split"))
    adjusted_frame = adjusted.to_pandas()
    days = raw["ts"].dt.tz_convert("America/New_York").dt.date
    before = (days < EX_DATE).to_numpy()
    np.testing.assert_array_equal(adjusted_frame["close"][before], raw["close"][before] / 4)
    np.testing.assert_array_equal(adjusted_frame["volume"][before], raw["volume"][before] * 4)
    np.testing.assert_array_equal(adjusted_frame["close"][~before], raw["close"][~before])


def test_python_api_and_limit_windows_after_the_split_are_unadjusted(split_app: App) -> None:
    app = split_app
    app.corporate.record([SPLIT])
    db = StockDB(app)
    latest = db.bars(SPLIT_SYMBOL, limit=5, adjustment="all", output="arrow")
    assert latest.equals(db.bars(SPLIT_SYMBOL, limit=5, output="arrow"))
    first = db.bars(SPLIT_SYMBOL, start="2024-03-04", end="2024-03-04", adjustment="split")
    raw_first = db.bars(SPLIT_SYMBOL, start="2024-03-04", end="2024-03-04")
    np.testing.assert_array_equal(first["close"].to_numpy(), raw_first["close"].to_numpy() / 4)
    listed = db.actions(SPLIT_SYMBOL)
    assert listed[["type", "ratio"]].values.tolist() == [["forward_split", 4.0]]


def test_sma_200_across_the_split_uses_adjusted_prices(split_app: App) -> None:
    app = split_app
    app.corporate.record([SPLIT])
    service = app.feature_service()
    assert service.feature_set.price_adjustment == "split"
    service.build([SPLIT_SYMBOL])
    features = service.read(SPLIT_SYMBOL, columns=["close", "volume", "sma_200"])
    # the expected series, built here from the raw partitions: closes before the ex-date / 4
    sessions = app.calendar.sessions(min(app.lake.sessions(SPLIT_SYMBOL)), EX_DATE)
    expected_closes = []
    for s in app.calendar.sessions(sessions[0].date, max(app.lake.sessions(SPLIT_SYMBOL))):
        close = raw_session(SPLIT_SYMBOL, s, EX_DATE).column("close").to_numpy()
        expected_closes.append(close / 4 if s.date < EX_DATE else close)
    closes = np.concatenate(expected_closes)
    np.testing.assert_array_equal(features["close"].to_numpy(), closes)
    want = talib.SMA(closes, timeperiod=200)
    got = features["sma_200"].to_numpy()
    assert np.isnan(got[:199]).all()
    np.testing.assert_allclose(got[199:], want[199:], rtol=1e-12)
    # the windows that straddle the ex-date are on the adjusted scale, not a 4x blend
    cutoff = pd.Timestamp(ex_cutoff_us(EX_DATE), unit="us", tz="UTC")
    first_after = int(np.argmax((features["ts"] >= cutoff).to_numpy()))
    assert first_after > 200
    assert abs(got[first_after + 100] / closes[first_after + 100] - 1) < 0.05


def test_features_built_raw_differ_from_split_adjusted(split_app: App) -> None:
    """The set's price_adjustment is honoured: a raw set reads the 4x pre-split prices."""
    from stockdb.features.definitions import default_feature_set

    app = split_app
    app.corporate.record([SPLIT])
    raw_set = default_feature_set("raw").select(["sma_5"])
    service = app.feature_service(raw_set)
    service.build([SPLIT_SYMBOL])
    closes = service.read(SPLIT_SYMBOL, columns=["close"])["close"].to_numpy()
    stored = _lake_table(app)
    np.testing.assert_array_equal(closes, stored.column("close").to_numpy())
