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

__all__ = ["STDDEV", "ZSCORE", "BBANDS", "sma", "stddevs_zscore", "window_stats"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

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
        u = np.uint64(i)  # unsigned: no wraparound check on each access
        total += x[u]
        value = total
        total -= x[np.uint64(trail)]
        trail += 1
        out[u] = value / period


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
    state = np.empty(3)
    for i in range(first, n):
        u = np.uint64(i)  # unsigned: no wraparound check on each access
        v_in = x[u]
        ma += v_in
        t = v_in - shift
        t1 += t
        t2 += t * t
        m1 = t1 * inv
        var = t2 * inv - m1 * m1
        mid = ma / period
        w = x[np.uint64(trail)]
        ma -= w
        t = w - shift
        t1 -= t
        tt = t * t
        t2 -= tt
        trail += 1
        since -= 1
        if var < 0.000001 * (t2 * inv) or tt > 1000000.0 * t2 or since <= 0:
            since = 32 * period
            var = _reseed(x, i, lb, inv, state)
            shift, t1, t2 = state[0], state[1], state[2]
        if mode == STDDEV:
            out[0][u] = math.sqrt(var) * nbdev
        elif mode == ZSCORE:
            std = math.sqrt(var) * nbdev
            out[0][u] = (v_in - mid) / std if std > 0.0 else _NAN
        else:
            dev = (math.sqrt(var) if var != 0.0 else 0.0) * nbdev
            up = mid + dev
            lo = mid - dev
            out[0][u] = up
            out[1][u] = mid
            out[2][u] = lo
            width = up - lo
            out[3][u] = (v_in - lo) / width if width > 0.0 else _NAN
            out[4][u] = width / mid if mid != 0.0 else _NAN


@numba.njit(cache=True, nogil=True)
def _reseed(x: FloatArray | IntArray, i: int, lb: int, inv: float, state: FloatArray) -> float:
    """TA-Lib VAR's re-anchoring at bar ``i``: the window's variance (floored), and in
    ``state`` the new shift and the sums left after the trailing value."""
    start = i - lb
    s = 0.0
    for j in range(start, i + 1):
        s += float(x[j])
    shift = s * inv
    t1 = 0.0
    t2 = 0.0
    for j in range(start, i + 1):
        t = float(x[j]) - shift
        t1 += t
        t2 += t * t
    m1 = t1 * inv
    var = t2 * inv - m1 * m1
    if var < 0.000000000001 * (t2 * inv):
        var = 0.0
    t = float(x[start]) - shift
    state[0] = shift
    state[1] = t1 - t
    state[2] = t2 - t * t
    return var


@numba.njit(cache=True, nogil=True)
def _sums(x: FloatArray | IntArray, beg: int, lb: int) -> tuple[float, float, float]:
    shift = float(x[beg])
    t1 = 0.0
    t2 = 0.0
    for j in range(beg, beg + lb):
        t = float(x[j]) - shift
        t1 += t
        t2 += t * t
    return shift, t1, t2


@numba.njit(cache=True, nogil=True)
def _var_step(
    v_in: float, v_out: float, shift: float, inv: float, t1: float, t2: float, since: int
) -> tuple[float, float, float, int, bool]:
    """One bar of TA-Lib VAR: ``v_in`` enters the window, ``v_out`` leaves it. Returns the
    variance, the sums and re-anchoring countdown for the next bar, and whether the shift
    went stale (then the caller re-anchors: :func:`_reseed`)."""
    t = v_in - shift
    t1 += t
    t2 += t * t
    m1 = t1 * inv
    var = t2 * inv - m1 * m1
    t = v_out - shift
    t1 -= t
    tt = t * t
    t2 -= tt
    since -= 1
    stale = var < 0.000001 * (t2 * inv) or tt > 1000000.0 * t2 or since <= 0
    return var, t1, t2, since, stale


@numba.njit(cache=True, nogil=True)
def _first(x: FloatArray | IntArray, period: int, out: FloatArray, n: int) -> int:
    """The first output index of a window of ``period`` over ``x`` (NaN written before it);
    ``n`` when there is none or ``period`` is 0 (then ``out`` is left alone)."""
    if period <= 0:
        return n
    first = begin(x) + period - 1
    out[: min(first, n)] = _NAN
    return min(first, n)


@numba.njit(cache=True, nogil=True)
def stddevs_zscore(
    x: FloatArray, pa: int, pb: int, nba: float, nbb: float, oa: FloatArray, ob: FloatArray,
    y: FloatArray | IntArray, pz: int, nbz: float, oz: FloatArray,
) -> None:  # fmt: skip
    """In one loop: ``oa = talib.STDDEV(x, pa, nba)``, ``ob = talib.STDDEV(x, pb, nbb)`` and
    ``oz`` the :data:`ZSCORE` of ``y`` over ``pz`` values with ``nbz`` (``y`` as long as
    ``x``); a period of 0 skips its output (``x`` may be empty when both its periods are 0,
    ``y`` when ``pz`` is). Three independent recurrences the CPU overlaps. ``y`` may be
    int64 (volumes as stored): each value is converted to float64 as it is read."""
    n = max(x.shape[0], y.shape[0])
    fa = _first(x, pa, oa, n)
    fb = _first(x, pb, ob, n)
    fz = _first(y, pz, oz, n)
    la, lb, lz = pa - 1, pb - 1, pz - 1
    ia = 1.0 / float(pa) if pa > 0 else 0.0
    ib = 1.0 / float(pb) if pb > 0 else 0.0
    iz = 1.0 / float(pz) if pz > 0 else 0.0
    state = np.empty(3)
    sa, a1, a2 = _sums(x, fa - la, la) if fa < n else (0.0, 0.0, 0.0)
    sb, b1, b2 = _sums(x, fb - lb, lb) if fb < n else (0.0, 0.0, 0.0)
    sz, z1, z2 = _sums(y, fz - lz, lz) if fz < n else (0.0, 0.0, 0.0)
    ma = 0.0
    if fz < n:
        for j in range(fz - lz, fz):
            ma += float(y[j])
    ca, cb, cz = 32 * pa, 32 * pb, 32 * pz
    for i in range(min(fa, fb, fz), n):
        u = np.uint64(i)  # unsigned: no wraparound check on each access
        if i >= fa:
            var, a1, a2, ca, stale = _var_step(x[u], x[np.uint64(i - la)], sa, ia, a1, a2, ca)
            if stale:
                ca = 32 * pa
                var = _reseed(x, i, la, ia, state)
                sa, a1, a2 = state[0], state[1], state[2]
            oa[u] = math.sqrt(var) * nba
        if i >= fb:
            var, b1, b2, cb, stale = _var_step(x[u], x[np.uint64(i - lb)], sb, ib, b1, b2, cb)
            if stale:
                cb = 32 * pb
                var = _reseed(x, i, lb, ib, state)
                sb, b1, b2 = state[0], state[1], state[2]
            ob[u] = math.sqrt(var) * nbb
        if i >= fz:
            v = float(y[u])
            ma += v
            mid = ma / pz
            w = float(y[np.uint64(i - lz)])
            ma -= w
            var, z1, z2, cz, stale = _var_step(v, w, sz, iz, z1, z2, cz)
            if stale:
                cz = 32 * pz
                var = _reseed(y, i, lz, iz, state)
                sz, z1, z2 = state[0], state[1], state[2]
            std = math.sqrt(var) * nbz
            oz[u] = (v - mid) / std if std > 0.0 else _NAN
