"""The default features equal TA-Lib (indicators) and plain pandas (everything else)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import talib

from stockdb.features.definitions import default_feature_set
from stockdb.features.frame import BarFrame


@pytest.fixture(scope="module")
def values(frame: BarFrame) -> dict[str, np.ndarray]:
    return default_feature_set().compute(frame)


@pytest.fixture(scope="module")
def df(history: pa.Table) -> pd.DataFrame:
    return history.to_pandas()


def close_to(actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-9) -> None:
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=1e-12, equal_nan=True)


def test_every_column_float64_and_full_length(values: dict[str, np.ndarray], df: pd.DataFrame):
    assert list(values) == list(default_feature_set().columns)
    for name, array in values.items():
        assert array.dtype == np.float64, name
        assert array.shape == (len(df),), name


@pytest.mark.parametrize("n", [5, 10, 20, 50, 200])
def test_sma_equals_talib(values, df, n):
    close_to(values[f"sma_{n}"], talib.SMA(df["close"].to_numpy(), n), rtol=0)


@pytest.mark.parametrize("n", [12, 26])
def test_ema_equals_talib(values, df, n):
    close_to(values[f"ema_{n}"], talib.EMA(df["close"].to_numpy(), n), rtol=0)


def test_rsi_macd_bbands_atr_equal_talib(values, df):
    c, h, lo = (df[k].to_numpy() for k in ("close", "high", "low"))
    close_to(values["rsi_14"], talib.RSI(c, 14), rtol=0)
    line, signal, hist = talib.MACD(c, 12, 26, 9)
    close_to(values["macd"], line, rtol=0)
    close_to(values["macd_signal"], signal, rtol=0)
    close_to(values["macd_hist"], hist, rtol=0)
    upper, middle, lower = talib.BBANDS(c, 20, 2.0, 2.0, 0)
    close_to(values["bb_upper"], upper, rtol=0)
    close_to(values["bb_middle"], middle, rtol=0)
    close_to(values["bb_lower"], lower, rtol=0)
    close_to(values["bb_pctb"], (c - lower) / (upper - lower))
    close_to(values["bb_bandwidth"], (upper - lower) / middle)
    close_to(values["atr_14"], talib.ATR(h, lo, c, 14), rtol=0)


def test_log_return_lags_equal_pandas(values, df):
    r = np.log(df["close"]).diff()
    for k in range(1, 6):
        close_to(values[f"log_ret_{k}"], r.shift(k - 1).to_numpy())


@pytest.mark.parametrize("n", [20, 60])
def test_volatility_equals_pandas(values, df, n):
    expected = np.log(df["close"]).diff().rolling(n).std().to_numpy()
    close_to(values[f"volatility_{n}"], expected, rtol=1e-7)


def test_volume_zscore_equals_pandas(values, df):
    v = df["volume"].astype(float)
    z = ((v - v.rolling(20).mean()) / v.rolling(20).std()).replace([np.inf, -np.inf], np.nan)
    np.testing.assert_allclose(values["volume_zscore_20"], z, rtol=1e-7, atol=1e-9, equal_nan=True)


def test_vwap_distance_equals_pandas(values, df):
    close_to(values["vwap_distance"], ((df["close"] - df["vwap"]) / df["vwap"]).to_numpy())


def test_minute_of_session_and_day_of_week_equal_pandas(values, df):
    ny = df["ts"].dt.tz_convert("America/New_York")
    regular_open = ny.dt.normalize() + pd.Timedelta(hours=9, minutes=30)
    minutes = (ny - regular_open).dt.total_seconds() / 60
    close_to(values["minute_of_session"], minutes.to_numpy())
    close_to(values["day_of_week"], ny.dt.day_of_week.to_numpy().astype(float))
    assert np.nanmin(values["minute_of_session"]) < 0  # pre-market bars count backwards


def test_minute_of_session_uses_early_close_calendar(calendar):
    # 2024-11-29 closes early, but the regular open is still 09:30 New York time.
    session = calendar.session(pd.Timestamp("2024-11-29").date())
    ts = np.array([int(session.open.timestamp() * 1e6) + 60_000_000 * 5], dtype=np.int64)
    one = np.ones(1)
    bars = BarFrame(ts, one, one, one, one, one, one, one, calendar)
    assert bars.minutes_from_open[0] == 5.0
    assert bars.session_weekday[0] == 4.0


def test_bar_outside_every_session_gets_nan(calendar):
    ts = np.array([int(pd.Timestamp("2024-03-09 15:00Z").value // 1000)], dtype=np.int64)
    one = np.ones(1)
    bars = BarFrame(ts, one, one, one, one, one, one, one, calendar)
    assert np.isnan(bars.minutes_from_open[0])
    assert np.isnan(bars.session_weekday[0])


def test_flat_volume_window_gives_nan_zscore(calendar):
    n = 40
    ts = np.arange(n, dtype=np.int64) * 60_000_000 + int(
        pd.Timestamp("2024-03-08 15:00Z").value // 1000
    )
    price = np.full(n, 10.0)
    volume = np.full(n, 100.0)
    bars = BarFrame(ts, price, price, price, price, volume, volume, price, calendar)
    values = default_feature_set().compute(bars)
    assert np.isnan(values["volume_zscore_20"][19:]).all()
    assert (values["volatility_20"][20:] == 0).all()


def test_history_shorter_than_every_window_is_all_nan(frame: BarFrame, calendar):
    bars = BarFrame(
        frame.ts_us[:3],
        frame.open[:3],
        frame.high[:3],
        frame.low[:3],
        frame.close[:3],
        frame.volume[:3],
        frame.trade_count[:3],
        frame.vwap[:3],
        calendar,
    )
    values = default_feature_set().compute(bars)
    assert np.isnan(values["log_ret_5"]).all()
    assert np.isnan(values["volatility_20"]).all()
    assert np.isnan(values["volume_zscore_20"]).all()
    close_to(values["log_ret_2"][2:], np.log(bars.close[1:2] / bars.close[:1]))
