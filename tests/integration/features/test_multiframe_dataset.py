"""Training data from several timeframes through the real feature store: a 1Hour row joins
from the minute its hour has ended, a 1Day row from the first minute of the next session;
models train on such columns and simulations rebuild the same join."""

from __future__ import annotations

import bisect

import numpy as np
import pandas as pd
import pytest

from stockdb.errors import InvalidInput, NotFound
from stockdb.simulation.service import SimulationRequest
from stockdb.training.dataset import build_dataset
from stockdb.training.feature_store_source import FeatureStoreSource
from stockdb.training.service import TrainRequest

COLUMNS = ("close", "sma_5", "rsi_14")


@pytest.fixture
def built(app, sessions, write_bars):
    for symbol in ("SPY", "QQQ"):
        write_bars(symbol, sessions)
    app.features.build(["SPY", "QQQ"])
    for timeframe in ("1Hour", "1Day"):
        app.features.build(["SPY", "QQQ"], timeframe=timeframe)
    return app


def _pick(frame: pd.DataFrame, rows: list[int]) -> pd.DataFrame:
    """``frame``'s COLUMNS at the row positions ``rows`` (-1: no row, NaN)."""
    values = frame.loc[:, list(COLUMNS)].to_numpy(np.float64)
    picked = np.full((len(rows), len(COLUMNS)), np.nan)
    for out, i in enumerate(rows):
        if i >= 0:
            picked[out] = values[i]
    return pd.DataFrame(picked, columns=list(COLUMNS))


def _expected_daily(app, symbol: str, minutes: pd.Series) -> pd.DataFrame:
    """Plain loop: the daily row of the last session before each minute's session."""
    daily = app.features.read(symbol, timeframe="1Day")
    days = [t.tz_convert("America/New_York").date() for t in daily["ts"]]
    sessions = minutes.dt.tz_convert("America/New_York").dt.date  # extended hours: same date
    return _pick(daily, [bisect.bisect_left(days, d) - 1 for d in sessions])


def _expected_hourly(app, symbol: str, minutes: pd.Series) -> pd.DataFrame:
    """Plain loop: the last hourly row whose hour ended at or before each minute's start."""
    hourly = app.features.read(symbol, timeframe="1Hour")
    ends = [t + pd.Timedelta(hours=1) for t in hourly["ts"]]
    return _pick(hourly, [bisect.bisect_right(ends, ts) - 1 for ts in minutes])


def test_joined_rows_only_see_closed_bars(built, sessions):
    app = built
    source = FeatureStoreSource(app.features)
    ds = build_dataset(source, ["SPY", "QQQ"], timeframes=["1Hour", "1Day"])
    minutes = ds.frame["ts"]
    for symbol, suffix in (("SPY", ""), ("QQQ", "_QQQ")):
        daily = _expected_daily(app, symbol, minutes)
        hourly = _expected_hourly(app, symbol, minutes)
        for column in COLUMNS:
            np.testing.assert_array_equal(ds.frame[f"{column}_1Day{suffix}"], daily[column])
            np.testing.assert_array_equal(ds.frame[f"{column}_1Hour{suffix}"], hourly[column])
    # the daily close of session d is first seen on d+1, at its first minute
    ny = minutes.dt.tz_convert("America/New_York")
    second = ny.dt.date == sessions[1].date
    first_close = app.features.read("SPY", timeframe="1Day")["close"].iloc[0]
    assert (ds.frame.loc[second, "close_1Day"] == first_close).all()
    assert ds.frame.loc[ny.dt.date == sessions[0].date, "close_1Day"].isna().all()


def test_a_later_start_joins_the_same_values(built, sessions):
    source = FeatureStoreSource(built.features)
    everything = build_dataset(source, ["SPY"], timeframes=["1Hour", "1Day"])
    start = sessions[6].date
    later = build_dataset(source, ["SPY"], start, timeframes=["1Hour", "1Day"])
    keep = everything.frame["ts"].dt.tz_convert("America/New_York").dt.date >= start
    pd.testing.assert_frame_equal(later.frame, everything.frame[keep].reset_index(drop=True))


def test_missing_or_bad_timeframes_are_clear(built):
    source = FeatureStoreSource(built.features)
    with pytest.raises(NotFound, match="--timeframe 5Min"):
        build_dataset(source, ["SPY"], timeframes=["5Min"])
    with pytest.raises(InvalidInput):
        build_dataset(source, ["SPY"], timeframes=["30Min"])


def test_train_and_simulate_on_daily_and_hourly_features(built, sessions):
    app = built
    request = TrainRequest(
        tickers=["SPY", "QQQ"],
        features=["rsi_14", "sma_5_1Day", "close_1Hour", "rsi_14_1Day_QQQ"],
        train_end=sessions[7].date,
    )
    record = app.training.train(request)
    assert set(record.features) == {"rsi_14", "sma_5_1Day", "close_1Hour", "rsi_14_1Day_QQQ"}
    result = app.simulation.simulate(SimulationRequest(record.id))
    assert result.metrics is not None
    with pytest.raises(InvalidInput, match="30Min"):
        app.training.train(TrainRequest(tickers=["SPY"], timeframes=("30Min",)))
