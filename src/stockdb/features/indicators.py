"""The feature functions: pure, backward-looking computations over a :class:`BarFrame`.

Each function returns its outputs in the order its definition declares them. The indicators
are TA-Lib's: computed by TA-Lib itself (EMA, RSI, MACD, ATR; a set computes those together,
see :mod:`~stockdb.features.fusion`) or by the one-pass replicas of
:mod:`~stockdb.features.windows` (SMA, STDDEV, Bollinger), equal to TA-Lib bit for bit.
Warm-up rows (too little history) are NaN, never zero. Rolling standard deviations are
sample ones (ddof=1), like pandas' ``rolling().std()``.
"""

from __future__ import annotations

import math

import talib

from stockdb.errors import InvalidInput
from stockdb.features import kernels, windows
from stockdb.features.frame import BarFrame, FloatArray

__all__ = [
    "atr",
    "bollinger",
    "day_of_week",
    "ema",
    "log_return_lags",
    "macd",
    "minute_of_session",
    "rolling_volatility",
    "rsi",
    "sma",
    "volume_zscore",
    "vwap_distance",
]


def _period(period: int, least: int) -> int:
    if not least <= period <= 100_000:
        raise InvalidInput(f"period must be between {least} and 100000, got {period}")
    return period


def _window(x: FloatArray, period: int, nbdev: float, mode: int, count: int) -> list[FloatArray]:
    out = [kernels.empty(x.shape[0]) for _ in range(count)]
    spare = [kernels.empty(0)] * (5 - count)
    windows.window_stats(x, _period(period, 2), nbdev, mode, (*out, *spare))
    return out


def _sample_std(values: FloatArray, period: int, mode: int) -> list[FloatArray]:
    """Rolling sample standard deviation (ddof=1) over ``period`` values, NaN in warm-up
    (``mode`` STDDEV), or the z-score of each value against it (``mode`` ZSCORE).

    TA-Lib's STDDEV is the population one; its ``nbdev`` factor sqrt(n/(n-1)) rescales it to
    the sample one (one multiplication of the square root). The window starts at the first
    non-NaN value (so the leading NaN of the log returns only delays the first output).
    """
    _period(period, 2)
    return _window(values, period, math.sqrt(period / (period - 1)), mode, 1)


def sma(bars: BarFrame, *, period: int) -> list[FloatArray]:
    """Simple moving average of the close over ``period`` bars (TA-Lib SMA)."""
    out = kernels.empty(len(bars))
    windows.sma(bars.close, _period(period, 1), out)
    return [out]


def ema(bars: BarFrame, *, period: int) -> list[FloatArray]:
    """Exponential moving average of the close (TA-Lib EMA, seeded by the first SMA)."""
    return [talib.EMA(bars.close, timeperiod=period)]


def rsi(bars: BarFrame, *, period: int) -> list[FloatArray]:
    """Wilder's relative strength index of the close (TA-Lib RSI)."""
    return [talib.RSI(bars.close, timeperiod=period)]


def macd(bars: BarFrame, *, fast: int, slow: int, signal: int) -> list[FloatArray]:
    """MACD line, signal line and histogram of the close (TA-Lib MACD)."""
    line, sig, hist = talib.MACD(bars.close, fastperiod=fast, slowperiod=slow, signalperiod=signal)
    return [line, sig, hist]


def bollinger(bars: BarFrame, *, period: int, nbdev: float) -> list[FloatArray]:
    """Bollinger bands of the close (TA-Lib BBANDS, SMA middle, population std), plus
    %B ``(close - lower) / (upper - lower)`` and bandwidth ``(upper - lower) / middle``.

    %B is NaN where the bands collapse (a window of identical closes).
    """
    return _window(bars.close, period, nbdev, windows.BBANDS, 5)


def atr(bars: BarFrame, *, period: int) -> list[FloatArray]:
    """Wilder's average true range (TA-Lib ATR)."""
    return [talib.ATR(bars.high, bars.low, bars.close, timeperiod=period)]


def log_return_lags(bars: BarFrame, *, lags: int) -> list[FloatArray]:
    """``log_ret_k`` for k = 1..lags: the 1-min log return ``ln(c[t-k+1] / c[t-k])``.

    ``log_ret_1`` is the return into the current bar, ``log_ret_2`` the one before, etc.
    """
    return bars.log_return_lags(lags)


def rolling_volatility(bars: BarFrame, *, period: int) -> list[FloatArray]:
    """Sample std (ddof=1) of the last ``period`` 1-min log returns (needs period+1 bars)."""
    return _sample_std(bars.log_returns, period, windows.STDDEV)


def volume_zscore(bars: BarFrame, *, period: int) -> list[FloatArray]:
    """``(volume - mean) / std`` over the last ``period`` bars including this one (ddof=1);
    NaN where the window's volumes are all equal."""
    return _sample_std(bars.volume, period, windows.ZSCORE)


def vwap_distance(bars: BarFrame) -> list[FloatArray]:
    """``(close - vwap) / vwap`` of the bar itself; NaN when the vwap is not positive."""
    return [kernels.relative_distance(bars.close, bars.vwap)]


def minute_of_session(bars: BarFrame) -> list[FloatArray]:
    """Minutes since the regular open of the bar's session (negative pre-market)."""
    return [bars.session_minutes()]


def day_of_week(bars: BarFrame) -> list[FloatArray]:
    """Weekday of the bar's New York session date, Monday=0 .. Friday=4."""
    return [bars.session_weekdays()]
