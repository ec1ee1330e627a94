"""The recursive TA-Lib indicators of a feature set, advanced together in one pass.

EMA, MACD, RSI and ATR are recursions: each bar's value needs the previous one, so on its
own each runs at the latency of its chain of floating-point operations, and the CPU sits
mostly idle. :func:`recursions` advances up to two EMAs, a MACD, an RSI and an ATR in the
same loop, so their chains overlap. The values are TA-Lib's bit for bit: the same
operations in the same order, seeds summed from 0.0 in input order, Wilder's smoothing as
multiply, add, divide, and a fused multiply-add exactly where the TA-Lib build computes one
(``tests/property/features/test_recursions_equal_talib.py`` compares with ``talib`` on
random series). Like the ``talib`` wrapper, a recursion starts at the first bar whose
inputs are not NaN; rows before its first output are NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import numba
import numpy as np
import numpy.typing as npt
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = ["begin", "begin3", "recursions"]

FloatArray = npt.NDArray[np.float64]

_NAN = math.nan


def _fma_intrinsic(_typingctx: Any, a: Any, b: Any, c: Any) -> Any:  # noqa: ARG001
    """``a * b + c`` rounded once (LLVM's fma), as the TA-Lib build computes it."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:  # noqa: ARG001
        d = ir.DoubleType()
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(d, [d, d, d]), "llvm.fma.f64"
        )
        return builder.call(fn, args)

    return sig, codegen


_fma = cast(Callable[[float, float, float], float], intrinsic(_fma_intrinsic))


@numba.njit(cache=True, nogil=True)
def begin(x: FloatArray | npt.NDArray[np.int64]) -> int:
    """The first non-NaN index, as the ``talib`` wrapper finds it (``n - 1`` if none)."""
    n = x.shape[0]
    for i in range(n):
        if x[i] == x[i]:
            return i
    return max(n - 1, 0)


@numba.njit(cache=True, nogil=True)
def begin3(a: FloatArray, b: FloatArray, c: FloatArray) -> int:
    """The first index where none of the three inputs is NaN (``n - 1`` if none)."""
    n = a.shape[0]
    for i in range(n):
        if a[i] == a[i] and b[i] == b[i] and c[i] == c[i]:
            return i
    return max(n - 1, 0)


@numba.njit(cache=True, nogil=True)
def _true_range(h: float, lo: float, cy: float) -> float:
    """The bar's true range from its high, its low and the previous close."""
    greatest = h - lo
    v2 = abs(cy - h)
    if v2 > greatest:
        greatest = v2
    v3 = abs(cy - lo)
    if v3 > greatest:
        greatest = v3
    return greatest


@numba.njit(cache=True, nogil=True)
def _rsi_value(gain: float, loss: float) -> float:
    total = gain + loss
    return 100.0 * (gain / total) if total > 0.0 else 0.0


@numba.njit(cache=True, nogil=True)
def _ema_first(x: FloatArray, beg: int, p: int, out: FloatArray) -> tuple[int, float]:
    """Seed an EMA: NaN warm-up, the first output; returns (its index, its value)."""
    n = x.shape[0]
    first = beg + p - 1
    out[: min(first, n)] = _NAN
    if p <= 0 or first >= n:
        return n, 0.0
    total = 0.0
    for i in range(beg, beg + p):
        total += x[i]
    prev = total / p
    out[first] = prev
    return first, prev


@numba.njit(cache=True, nogil=True)
def _macd_first(
    x: FloatArray, beg: int, fast: int, slow: int, signal: int, line: FloatArray,
    sig: FloatArray, hist: FloatArray,
) -> tuple[int, float, float, float]:  # fmt: skip
    """Seed MACD as TA-Lib's lockstep pass; returns (first output index, fast, slow, signal)."""
    n = x.shape[0]
    first = beg + slow - 1 + signal - 1
    stop = min(first, n)
    line[:stop] = _NAN
    sig[:stop] = _NAN
    hist[:stop] = _NAN
    if slow <= 0 or first >= n:
        return n, 0.0, 0.0, 0.0
    fk = 2.0 / float(fast + 1)
    sk = 2.0 / float(slow + 1)
    today = beg
    total = 0.0
    for _ in range(slow - fast):
        total += x[today]
        today += 1
    pf = 0.0
    for _ in range(fast):
        pf += x[today]
        total += x[today]
        today += 1
    ps = total / slow
    pf = pf / fast
    value = pf - ps
    pg = 0.0
    pg += value
    for _ in range(signal - 1):
        t = x[today]
        today += 1
        pf = _fma(t - pf, fk, pf)
        ps = _fma(t - ps, sk, ps)
        value = pf - ps
        pg += value
    pg = pg / signal
    line[first] = value
    sig[first] = pg
    hist[first] = value - pg
    return first, pf, ps, pg


@numba.njit(cache=True, nogil=True)
def _rsi_first(x: FloatArray, beg: int, p: int, out: FloatArray) -> tuple[int, float, float]:
    """Seed Wilder's RSI; returns (first output index, average gain, average loss)."""
    n = x.shape[0]
    first = beg + p
    out[: min(first, n)] = _NAN
    if p <= 0 or first >= n:
        return n, 0.0, 0.0
    gain = 0.0
    loss = 0.0
    prev = x[beg]
    for i in range(beg + 1, first + 1):
        d = x[i] - prev
        prev = x[i]
        up = d if d > 0.0 else 0.0
        gain += up
        loss += up - d
    inv = 1.0 / float(p)
    loss *= inv
    gain *= inv
    out[first] = _rsi_value(gain, loss)
    return first, gain, loss


@numba.njit(cache=True, nogil=True)
def _atr_first(
    high: FloatArray, low: FloatArray, close: FloatArray, p: int, out: FloatArray
) -> tuple[int, float]:
    """Seed Wilder's ATR (mean of the first ``p`` true ranges); returns (index, value)."""
    n = close.shape[0]
    beg = begin3(high, low, close)
    first = beg + p
    out[: min(first, n)] = _NAN
    if p <= 0 or first >= n:
        return n, 0.0
    total = 0.0
    for i in range(beg + 1, first + 1):
        total += _true_range(high[i], low[i], close[i - 1])
    prev = total / p
    out[first] = prev
    return first, prev


@numba.njit(cache=True, nogil=True)
def recursions(
    close: FloatArray, high: FloatArray, low: FloatArray, periods: npt.NDArray[np.int64],
    out: tuple[FloatArray, ...],
) -> None:  # fmt: skip
    """Up to two EMAs, a MACD, an RSI and an ATR in one pass (a period of 0 skips one).

    ``periods`` is ``(ema_a, ema_b, macd_fast, macd_slow, macd_signal, rsi, atr)``; ``out``
    holds seven arrays: ema_a, ema_b, macd, macd_signal, macd_hist, rsi, atr (those of
    skipped indicators are left as they are). MACD's periods must satisfy fast <= slow.
    """
    n = close.shape[0]
    pa_, pb, mf, ms, mg, pr, pt = (
        periods[0], periods[1], periods[2], periods[3], periods[4], periods[5], periods[6],
    )  # fmt: skip
    beg = begin(close)
    ea, eb, line, sig, hist, rsi, atr = out[0], out[1], out[2], out[3], out[4], out[5], out[6]
    fa, va = _ema_first(close, beg, pa_, ea) if pa_ > 0 else (n, 0.0)
    fb, vb = _ema_first(close, beg, pb, eb) if pb > 0 else (n, 0.0)
    fm, pf, ps, pg = _macd_first(close, beg, mf, ms, mg, line, sig, hist) if ms > 0 else (
        n, 0.0, 0.0, 0.0,
    )  # fmt: skip
    fr, gain, loss = _rsi_first(close, beg, pr, rsi) if pr > 0 else (n, 0.0, 0.0)
    ft, vt = _atr_first(high, low, close, pt, atr) if pt > 0 else (n, 0.0)
    ka = 2.0 / float(pa_ + 1)
    kb = 2.0 / float(pb + 1)
    fk = 2.0 / float(mf + 1)
    sk = 2.0 / float(ms + 1)
    gk = 2.0 / float(mg + 1)
    rm = float(pr - 1)
    rinv = 1.0 / float(pr) if pr > 0 else 0.0
    # Wilder's weights for ATR; alpha derived from beta, as TA-Lib does.
    wbeta = float(pt - 1) / float(pt) if pt > 0 else 0.0
    walpha = 1.0 - wbeta
    # Each recursion alone until the last one has started, then all of them in lockstep.
    start = max(fa if fa < n else -1, fb if fb < n else -1, fm if fm < n else -1,
                fr if fr < n else -1, ft if ft < n else -1) + 1  # fmt: skip
    for i in range(fa + 1, start):
        va = _fma(close[i] - va, ka, va)
        ea[i] = va
    for i in range(fb + 1, start):
        vb = _fma(close[i] - vb, kb, vb)
        eb[i] = vb
    for i in range(fm + 1, start):
        t = close[i]
        pf = _fma(t - pf, fk, pf)
        ps = _fma(t - ps, sk, ps)
        value = pf - ps
        pg = _fma(value - pg, gk, pg)
        line[i] = value
        sig[i] = pg
        hist[i] = value - pg
    for i in range(fr + 1, start):
        d = close[i] - close[i - 1]
        up = d if d > 0.0 else 0.0
        loss = (loss * rm + (up - d)) * rinv
        gain = (gain * rm + up) * rinv
        rsi[i] = _rsi_value(gain, loss)
    for i in range(ft + 1, start):
        vt = _fma(wbeta, vt, walpha * _true_range(high[i], low[i], close[i - 1]))
        atr[i] = vt
    a_on, b_on, m_on, r_on, t_on = fa < n, fb < n, fm < n, fr < n, ft < n
    for i in range(max(start, 1), n):
        u = np.uint64(i)  # unsigned: no wraparound check on each access
        c = close[u]
        if a_on:
            va = _fma(c - va, ka, va)
            ea[u] = va
        if b_on:
            vb = _fma(c - vb, kb, vb)
            eb[u] = vb
        if m_on:
            pf = _fma(c - pf, fk, pf)
            ps = _fma(c - ps, sk, ps)
            value = pf - ps
            pg = _fma(value - pg, gk, pg)
            line[u] = value
            sig[u] = pg
            hist[u] = value - pg
        if r_on:
            d = c - close[np.uint64(i - 1)]
            up = d if d > 0.0 else 0.0
            loss = (loss * rm + (up - d)) * rinv
            gain = (gain * rm + up) * rinv
            rsi[u] = _rsi_value(gain, loss)
        if t_on:
            vt = _fma(wbeta, vt, walpha * _true_range(high[u], low[u], close[np.uint64(i - 1)]))
            atr[u] = vt
