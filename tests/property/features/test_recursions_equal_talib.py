"""The fused recursions equal TA-Lib's EMA, MACD, RSI and ATR bit for bit, on random price
walks long and short, with leading NaN (the wrapper's start) and NaN inside, any periods."""

from __future__ import annotations

import numpy as np
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from stockdb.features.recursions import recursions

FloatArray = np.ndarray


def series(seed: int, n: int, kind: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    rng = np.random.default_rng(seed)
    close = np.round(100 + np.cumsum(rng.normal(0, 1, n)), 2)
    if kind == 1:  # ticks of 1e-8: tiny gains and losses
        close = 1 + np.cumsum(rng.integers(-3, 4, n)) * 1e-8
    if kind == 2:  # long flat stretches: zero gains and losses
        close = np.repeat(close[: n // 8 + 1], 8)[:n]
    high = close + np.abs(rng.normal(0, 0.5, n))
    low = close - np.abs(rng.normal(0, 0.5, n))
    if kind == 3 and n > 4:
        close[:3] = np.nan
        high[:4] = np.nan
    if kind == 4 and n > 60:
        close[int(rng.integers(0, n))] = np.nan
    return close, high, low


def same(actual: FloatArray, expected: FloatArray) -> bool:
    return bool(np.array_equal(actual, expected, equal_nan=True))


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.one_of(st.integers(0, 60), st.integers(61, 5000)),
    kind=st.integers(0, 4),
    ema_a=st.integers(2, 60),
    ema_b=st.integers(2, 250),
    fast=st.integers(2, 30),
    slow=st.integers(2, 60),
    signal=st.integers(2, 20),  # a 1-bar signal is left to TA-Lib (fusion.py)
    rsi=st.integers(2, 40),
    atr=st.integers(1, 40),
)
def test_recursions_equal_talib(
    seed: int, n: int, kind: int, ema_a: int, ema_b: int, fast: int, slow: int, signal: int,
    rsi: int, atr: int,
) -> None:  # fmt: skip
    close, high, low = series(seed, n, kind)
    fast, slow = min(fast, slow), max(fast, slow)
    periods = np.array([ema_a, ema_b, fast, slow, signal, rsi, atr], dtype=np.int64)
    out = tuple(np.full(n, -7.0) for _ in range(7))
    recursions(close, high, low, periods, out)
    line, sig, hist = talib.MACD(close, fast, slow, signal)
    assert same(out[0], talib.EMA(close, ema_a))
    assert same(out[1], talib.EMA(close, ema_b))
    assert same(out[2], line) and same(out[3], sig) and same(out[4], hist)
    assert same(out[5], talib.RSI(close, rsi))
    assert same(out[6], talib.ATR(high, low, close, atr))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 400), skip=st.sets(st.integers(0, 4)))
def test_skipped_indicators_leave_their_arrays_alone(seed: int, n: int, skip: set[int]) -> None:
    close, high, low = series(seed, n, 0)
    periods = np.array([12, 26, 12, 26, 9, 14, 14], dtype=np.int64)
    owners = {0: (0,), 1: (1,), 2: (2, 3, 4), 3: (5,), 4: (6,)}
    for group in skip:
        periods[[0, 1, 2, 5, 6][group]] = 0
        if group == 2:
            periods[2:5] = 0
    out = tuple(np.full(n, -7.0) for _ in range(7))
    recursions(close, high, low, periods, out)
    expected = [
        talib.EMA(close, 12), talib.EMA(close, 26), *talib.MACD(close, 12, 26, 9),
        talib.RSI(close, 14), talib.ATR(high, low, close, 14),
    ]  # fmt: skip
    for group, rows in owners.items():
        for r in rows:
            assert same(out[r], np.full(n, -7.0) if group in skip else expected[r])
