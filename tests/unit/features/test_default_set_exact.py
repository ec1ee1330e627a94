"""Every column of the default set equals, bit for bit, the TA-Lib / NumPy expression it is
defined by, on the 1-min bars and on coarser bars (every 5th and every 60th bar, standing in
for the higher timeframes the same functions run over). The expected values are written
here from TA-Lib and NumPy directly, never through the feature code."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pyarrow as pa
import pytest
import talib

from stockdb.calendar import TradingCalendar
from stockdb.features.definitions import default_feature_set
from stockdb.features.frame import BarFrame
from stockdb.providers.synthetic import generate_session

FloatArray = np.ndarray


def shifted(values: FloatArray, lag: int) -> FloatArray:
    out = np.full(values.shape[0], np.nan)
    out[lag:] = values[: values.shape[0] - lag]
    return out


def session_reference(ts: np.ndarray, calendar: TradingCalendar) -> tuple[FloatArray, FloatArray]:
    """Minutes from the regular open and weekday of each bar's session, by a plain loop."""
    minutes = np.full(ts.shape[0], np.nan)
    weekdays = np.full(ts.shape[0], np.nan)
    for s in range(calendar.extended_open_us.shape[0]):
        lo, hi = calendar.extended_open_us[s], calendar.extended_close_us[s]
        inside = np.flatnonzero((ts >= lo) & (ts < hi))
        if inside.size:
            minutes[inside] = (ts[inside].astype(np.float64) - float(calendar.open_us[s])) / 6e7
            day = date.fromtimestamp(0).toordinal() + int(lo // 86_400_000_000)
            weekdays[inside] = float(date.fromordinal(day).weekday())
    return minutes, weekdays


def reference(frame: BarFrame, calendar: TradingCalendar) -> dict[str, FloatArray]:
    c, h, lo, v, vw = frame.close, frame.high, frame.low, frame.volume, frame.vwap
    out: dict[str, FloatArray] = {}
    for n in (5, 10, 20, 50, 200):
        out[f"sma_{n}"] = talib.SMA(c, n)
    out["ema_12"], out["ema_26"] = talib.EMA(c, 12), talib.EMA(c, 26)
    out["rsi_14"] = talib.RSI(c, 14)
    out["macd"], out["macd_signal"], out["macd_hist"] = talib.MACD(c, 12, 26, 9)
    upper, middle, lower = talib.BBANDS(c, 20, 2.0, 2.0, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        width = upper - lower
        out |= {"bb_upper": upper, "bb_middle": middle, "bb_lower": lower}
        out["bb_pctb"] = np.where(width > 0, (c - lower) / width, np.nan)
        out["bb_bandwidth"] = np.where(middle != 0, width / middle, np.nan)
        out["atr_14"] = talib.ATR(h, lo, c, 14)
        logc = np.log(c)
        r = np.concatenate(([np.nan], logc[1:] - logc[:-1]))[: c.shape[0]]
        for k in range(1, 6):
            out[f"log_ret_{k}"] = shifted(r, k - 1)
        for n in (20, 60):
            out[f"volatility_{n}"] = talib.STDDEV(r, n, math.sqrt(n / (n - 1)))
        std = talib.STDDEV(v, 20, math.sqrt(20 / 19))
        out["volume_zscore_20"] = np.where(std > 0, (v - talib.SMA(v, 20)) / std, np.nan)
        out["vwap_distance"] = np.where(vw > 0, (c - vw) / vw, np.nan)
    out["minute_of_session"], out["day_of_week"] = session_reference(frame.ts_us, calendar)
    return out


@pytest.fixture(scope="module")
def bars(calendar: TradingCalendar) -> pa.Table:
    sessions = calendar.sessions(date(2024, 2, 26), date(2024, 3, 22))
    return pa.concat_tables([generate_session("QQQ", s) for s in sessions])


@pytest.mark.parametrize("step", [1, 5, 60])
def test_default_set_equals_its_reference_bit_for_bit(
    bars: pa.Table, calendar: TradingCalendar, step: int
) -> None:
    table = bars.take(np.arange(0, bars.num_rows, step))
    frame = BarFrame.from_table(table, calendar)
    fs = default_feature_set()
    values = fs.compute(frame)
    expected = reference(frame, calendar)
    assert list(values) == list(fs.columns) == list(expected)
    for name in fs.columns:
        assert values[name].dtype == np.float64, name
        assert np.array_equal(values[name], expected[name], equal_nan=True), name
