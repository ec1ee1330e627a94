"""Rolling-window TA-Lib indicators in one pass each: SMA, STDDEV, a z-score and Bollinger.

The values are TA-Lib's bit for bit (``tests/property/features/test_windows_equal_talib.py``
compares with ``talib`` directly): the SMA is its running sum divided by the period, and
the variance is the cancellation-free one of the installed TA-Lib (0.8, ``var.c``): sums
of deviations from a shift near the window, re-anchored on the window mean when the shift
goes stale (the variance falls under 1e-6 of the mean squared deviation, a large value
leaves the window, or every 32 periods), floored at 0 under 1e-12 of it. Like the
``talib`` wrapper, a window starts at the first non-NaN value; rows before its first
output are NaN.

Doing the mean, the variance and what is derived from them in one loop writes each output
once and needs no temporary arrays (TA-Lib's z-score needed an SMA and a STDDEV array).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from stockdb.features.recursions import begin

__all__ = ["STDDEV", "ZSCORE", "BBANDS", "sma", "stddev_pair", "window_stats"]

FloatArray = npt.NDArray[np.float64]

_NAN = math.nan

STDDEV = 0
"""``out[0] = talib.STDDEV(x, period, nbdev)``."""
ZSCORE = 1
"""``out[0] = (x - talib.SMA(x, period)) / talib.STDDEV(x, period, nbdev)``, NaN unless the
std is positive."""
BBANDS = 2
"""``out[0:3] = talib.BBANDS(x, period, nbdev, nbdev, SMA)`` (upper, middle, lower), then
%B ``(x - lower) / (upper - lower)`` (NaN unless the width is positive) and bandwidth
``(upper - lower) / middle`` (NaN where the middle is 0) into ``out[3:5]``."""


@numba.njit(cache=True, nogil=True)
def sma(x: FloatArray, period: int, out: FloatArray) -> None:
    """``out = talib.SMA(x, period)``."""
    n = x.shape[0]
    beg = begin(x)
    first = beg + period - 1
    out[: min(first, n)] = _NAN
    total = 0.0
    for i in range(beg, min(first, n)):
        total += x[i]
    trail = beg
    for i in range(max(first, 0), n):
        total += x[i]
        value = total
        total -= x[trail]
        trail += 1
        out[i] = value / period


@numba.njit(cache=True, nogil=True)
def window_stats(
    x: FloatArray, period: int, nbdev: float, mode: int, out: tuple[FloatArray, ...]
) -> None:
    """One of :data:`STDDEV`, :data:`ZSCORE`, :data:`BBANDS` into the arrays of ``out``:
    always five, of which the first two modes write only the first."""
    n = x.shape[0]
    beg = begin(x)
    lb = period - 1
    first = beg + lb
    for row in out:
        row[: min(first, n)] = _NAN
    if first >= n:
        return
    inv = 1.0 / float(period)
    shift = x[beg]
    ma = 0.0
    t1 = 0.0
    t2 = 0.0
    for j in range(beg, first):
        ma += x[j]
        t = x[j] - shift
        t1 += t
        t2 += t * t
    since = 32 * period
    trail = beg
    for i in range(first, n):
        v_in = x[i]
        ma += v_in
        t = v_in - shift
        t1 += t
        t2 += t * t
        m1 = t1 * inv
        var = t2 * inv - m1 * m1
        mid = ma / period
        w = x[trail]
        ma -= w
        t = w - shift
        t1 -= t
        tt = t * t
        t2 -= tt
        trail += 1
        since -= 1
        if var < 0.000001 * (t2 * inv) or tt > 1000000.0 * t2 or since <= 0:
            since = 32 * period
            start = i - lb
            s = 0.0
            for j in range(start, i + 1):
                s += x[j]
            shift = s * inv
            t1 = 0.0
            t2 = 0.0
            for j in range(start, i + 1):
                t = x[j] - shift
                t1 += t
                t2 += t * t
            m1 = t1 * inv
            var = t2 * inv - m1 * m1
            if var < 0.000000000001 * (t2 * inv):
                var = 0.0
            t = x[start] - shift
            t1 -= t
            t2 -= t * t
        if mode == STDDEV:
            out[0][i] = math.sqrt(var) * nbdev
        elif mode == ZSCORE:
            std = math.sqrt(var) * nbdev
            out[0][i] = (v_in - mid) / std if std > 0.0 else _NAN
        else:
            dev = (math.sqrt(var) if var != 0.0 else 0.0) * nbdev
            up = mid + dev
            lo = mid - dev
            out[0][i] = up
            out[1][i] = mid
            out[2][i] = lo
            width = up - lo
            out[3][i] = (v_in - lo) / width if width > 0.0 else _NAN
            out[4][i] = width / mid if mid != 0.0 else _NAN


@numba.njit(cache=True, nogil=True)
def _reseed(x: FloatArray, i: int, lb: int, inv: float, state: FloatArray) -> float:
    """TA-Lib VAR's re-anchoring at bar ``i``: the window's variance (floored), and in
    ``state`` the new shift and the sums left after the trailing value."""
    start = i - lb
    s = 0.0
    for j in range(start, i + 1):
        s += x[j]
    shift = s * inv
    t1 = 0.0
    t2 = 0.0
    for j in range(start, i + 1):
        t = x[j] - shift
        t1 += t
        t2 += t * t
    m1 = t1 * inv
    var = t2 * inv - m1 * m1
    if var < 0.000000000001 * (t2 * inv):
        var = 0.0
    t = x[start] - shift
    state[0] = shift
    state[1] = t1 - t
    state[2] = t2 - t * t
    return var


@numba.njit(cache=True, nogil=True)
def _sums(x: FloatArray, beg: int, lb: int) -> tuple[float, float, float]:
    shift = x[beg]
    t1 = 0.0
    t2 = 0.0
    for j in range(beg, beg + lb):
        t = x[j] - shift
        t1 += t
        t2 += t * t
    return shift, t1, t2


@numba.njit(cache=True, nogil=True)
def stddev_pair(
    x: FloatArray, pa: int, pb: int, nba: float, nbb: float, oa: FloatArray, ob: FloatArray
) -> None:
    """``oa = talib.STDDEV(x, pa, nba)`` and ``ob = talib.STDDEV(x, pb, nbb)`` in one loop
    (``pa <= pb``): two independent recurrences the CPU overlaps."""
    n = x.shape[0]
    beg = begin(x)
    la = pa - 1
    lb = pb - 1
    oa[: min(beg + la, n)] = _NAN
    ob[: min(beg + lb, n)] = _NAN
    if beg + la >= n:
        return
    ia = 1.0 / float(pa)
    ib = 1.0 / float(pb)
    state = np.empty(3)
    sa, a1, a2 = _sums(x, beg, la)
    sb, b1, b2 = _sums(x, beg, lb)
    ca = 32 * pa
    cb = 32 * pb
    for i in range(beg + la, n):
        v = x[i]
        t = v - sa
        a1 += t
        a2 += t * t
        m1 = a1 * ia
        var = a2 * ia - m1 * m1
        t = x[i - la] - sa
        a1 -= t
        tt = t * t
        a2 -= tt
        ca -= 1
        if var < 0.000001 * (a2 * ia) or tt > 1000000.0 * a2 or ca <= 0:
            ca = 32 * pa
            var = _reseed(x, i, la, ia, state)
            sa, a1, a2 = state[0], state[1], state[2]
        oa[i] = math.sqrt(var) * nba
        if i >= beg + lb:
            t = v - sb
            b1 += t
            b2 += t * t
            m1 = b1 * ib
            var = b2 * ib - m1 * m1
            t = x[i - lb] - sb
            b1 -= t
            tt = t * t
            b2 -= tt
            cb -= 1
            if var < 0.000001 * (b2 * ib) or tt > 1000000.0 * b2 or cb <= 0:
                cb = 32 * pb
                var = _reseed(x, i, lb, ib, state)
                sb, b1, b2 = state[0], state[1], state[2]
            ob[i] = math.sqrt(var) * nbb
