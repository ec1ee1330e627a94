"""Compute the recursive indicators of a set together: EMA, MACD, RSI and ATR definitions
are grouped into slots of :func:`~stockdb.features.recursions.recursions` (two EMAs, a MACD,
an RSI and an ATR per pass), whose rows become their columns.

The definitions keep their own functions (TA-Lib, used by :meth:`FeatureDef.compute`); a
set's compute takes the fused values instead, which equal them bit for bit
(``tests/property/features/test_recursions_equal_talib.py``). Parameters outside TA-Lib's
ordinary ranges are left to the definition's own function.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from stockdb.features import indicators, kernels, windows
from stockdb.features.frame import BarFrame, FloatArray
from stockdb.features.recursions import recursions

__all__ = ["FusedDefinition", "fused_recursions", "smas_from_bollinger", "volatility_passes"]

# Row of each output in a slot's block (see recursions()).
_EMA_ROWS = (0, 1)
_MACD_ROWS = (2, 3, 4)
_RSI_ROW = 5
_ATR_ROW = 6


class FusedDefinition(Protocol):
    """What fusion reads of a feature definition."""

    @property
    def name(self) -> str: ...

    @property
    def function(self) -> object: ...

    @property
    def params(self) -> Mapping[str, int | float | str]: ...


@dataclass
class _Slot:
    """One pass: its seven periods and, per definition it serves, the rows it owns."""

    periods: list[int] = field(default_factory=lambda: [0] * 7)
    rows: dict[str, tuple[int, ...]] = field(default_factory=dict)


def _int(params: Mapping[str, int | float | str], key: str) -> int | None:
    value = params.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _plan(definitions: Sequence[FusedDefinition]) -> list[_Slot]:
    emas: list[tuple[str, int]] = []
    macds: list[tuple[str, int, int, int]] = []
    rsis: list[tuple[str, int]] = []
    atrs: list[tuple[str, int]] = []
    for d in definitions:
        p = d.params
        if d.function is indicators.ema and set(p) == {"period"}:
            period = _int(p, "period")
            if period is not None and 2 <= period <= 100_000:
                emas.append((d.name, period))
        elif d.function is indicators.rsi and set(p) == {"period"}:
            period = _int(p, "period")
            if period is not None and 2 <= period <= 100_000:
                rsis.append((d.name, period))
        elif d.function is indicators.atr and set(p) == {"period"}:
            period = _int(p, "period")
            if period is not None and 1 <= period <= 100_000:
                atrs.append((d.name, period))
        elif d.function is indicators.macd and set(p) == {"fast", "slow", "signal"}:
            fast, slow, signal = _int(p, "fast"), _int(p, "slow"), _int(p, "signal")
            if (
                fast is not None
                and slow is not None
                and signal is not None
                and 2 <= min(fast, slow)
                and max(fast, slow) <= 100_000
                and 2 <= signal <= 100_000  # a 1-bar signal: TA-Lib itself (see below)
            ):
                # TA-Lib swaps the periods when the "fast" one is the slower. With a 1-bar
                # signal (k = 1) TA-Lib's last signal value can differ from the recursion's
                # by one ulp (found by the property test), so that case stays with TA-Lib.
                macds.append((d.name, min(fast, slow), max(fast, slow), signal))
    count = max((len(emas) + 1) // 2, len(macds), len(rsis), len(atrs))
    slots = [_Slot() for _ in range(count)]
    for i, (name, period) in enumerate(emas):
        slot = slots[i // 2]
        slot.periods[i % 2] = period
        slot.rows[name] = (_EMA_ROWS[i % 2],)
    for slot, (name, fast, slow, signal) in zip(slots, macds, strict=False):
        slot.periods[2:5] = [fast, slow, signal]
        slot.rows[name] = _MACD_ROWS
    for slot, (name, period) in zip(slots, rsis, strict=False):
        slot.periods[5] = period
        slot.rows[name] = (_RSI_ROW,)
    for slot, (name, period) in zip(slots, atrs, strict=False):
        slot.periods[6] = period
        slot.rows[name] = (_ATR_ROW,)
    return slots


def fused_recursions(
    bars: BarFrame, definitions: Sequence[FusedDefinition]
) -> dict[str, list[FloatArray]]:
    """The outputs of every EMA, MACD, RSI and ATR definition in ``definitions`` that fusion
    handles, by definition name, in the order the definition declares them."""
    out: dict[str, list[FloatArray]] = {}
    n = len(bars)
    for slot in _plan(definitions):
        used = {r for rows in slot.rows.values() for r in rows}
        spare = kernels.empty(0)
        arrays = tuple(kernels.empty(n) if r in used else spare for r in range(7))
        periods = np.array(slot.periods, dtype=np.int64)
        recursions(bars.close, bars.high, bars.low, periods, arrays)
        for name, rows in slot.rows.items():
            out[name] = [arrays[r] for r in rows]
    return out


def smas_from_bollinger(
    definitions: Sequence[FusedDefinition], computed: Mapping[str, Sequence[FloatArray]]
) -> dict[str, list[FloatArray]]:
    """The SMA definitions whose column is the middle band of a Bollinger definition in
    ``computed`` (by name): TA-Lib's BBANDS middle is its SMA of the same period, bit for
    bit, so the SMA column is that array instead of a second pass."""
    middles: dict[int, FloatArray] = {}
    for d in definitions:
        period = _int(d.params, "period")
        if d.function is indicators.bollinger and d.name in computed and period is not None:
            middles.setdefault(period, computed[d.name][1])
    out: dict[str, list[FloatArray]] = {}
    for d in definitions:
        period = _int(d.params, "period")
        if d.function is indicators.sma and set(d.params) == {"period"} and period in middles:
            out[d.name] = [middles[period]]
    return out


def _periods(definitions: Sequence[FusedDefinition], function: object) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for d in definitions:
        period = _int(d.params, "period")
        if d.function is function and set(d.params) == {"period"}:
            if period is not None and 2 <= period <= 100_000:
                found.append((period, d.name))
    return found


def volatility_passes(
    bars: BarFrame, definitions: Sequence[FusedDefinition]
) -> dict[str, list[FloatArray]]:
    """The rolling-volatility definitions two at a time and the volume z-scores, each pass
    computing two volatilities of the log returns and a z-score of the volume
    (:func:`~stockdb.features.windows.stddevs_zscore`)."""
    vols = sorted(_periods(definitions, indicators.rolling_volatility))
    zscores = _periods(definitions, indicators.volume_zscore)
    out: dict[str, list[FloatArray]] = {}
    n = len(bars)
    spare = kernels.empty(0)
    for k in range(max((len(vols) + 1) // 2, len(zscores))):
        pair = vols[2 * k : 2 * k + 2]
        (pa, a), (pb, b) = (pair + [(0, ""), (0, "")])[:2]
        pz, z = zscores[k] if k < len(zscores) else (0, "")
        oa, ob, oz = (kernels.empty(n) if p else spare for p in (pa, pb, pz))
        windows.stddevs_zscore(
            bars.log_returns if pa else spare, pa, pb, _sample(pa), _sample(pb), oa, ob,
            bars.volume_as_stored if pz else spare, pz, _sample(pz), oz,
        )  # fmt: skip
        out.update((name, [o]) for name, o in ((a, oa), (b, ob), (z, oz)) if name)
    return out


def _sample(period: int) -> float:
    """TA-Lib STDDEV's factor to the sample standard deviation (1.0 for a skipped one)."""
    return math.sqrt(period / (period - 1)) if period > 1 else 1.0
