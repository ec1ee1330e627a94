"""Timeframes ("1Min" ... "1Day") and the pure aggregation of 1-minute bars into them.

Intraday buckets are aligned to the New York clock and labelled by their start. Every width
here divides an hour and New York's UTC offset is a whole number of hours, so aligning to the
New York clock is the same as flooring the UTC epoch: no timezone conversion per row.
1Day is one bar per session. A bucket exists only if a 1-minute bar falls in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from stockdb.bars import BAR_SCHEMA
from stockdb.errors import InvalidInput

__all__ = ["SUPPORTED", "Timeframe", "aggregate", "parse_timeframe"]

_US_PER_MINUTE = 60_000_000
_PATTERN = re.compile(r"^\s*(\d+)\s*(min|minute|minutes|t|h|hour|hours|d|day)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Timeframe:
    """A bar size: ``minutes`` for intraday, or ``daily`` for one bar per session."""

    name: str
    minutes: int
    daily: bool = False

    @property
    def is_base(self) -> bool:
        return self.minutes == 1 and not self.daily


SUPPORTED: dict[str, Timeframe] = {
    tf.name: tf
    for tf in (
        Timeframe("1Min", 1),
        Timeframe("5Min", 5),
        Timeframe("15Min", 15),
        Timeframe("30Min", 30),
        Timeframe("1Hour", 60),
        Timeframe("1Day", 0, daily=True),
    )
}


def parse_timeframe(raw: str) -> Timeframe:
    """Parse "5Min", "5min", "5T", "1Hour", "1H", "1Day", "1D"; InvalidInput for anything else."""
    match = _PATTERN.match(raw or "")
    if match:
        count, unit = int(match.group(1)), match.group(2).lower()
        if unit in ("min", "minute", "minutes", "t"):
            name = f"{count}Min"
        elif unit in ("h", "hour", "hours"):
            name = f"{count}Hour"
        else:
            name = f"{count}Day"
        if name in SUPPORTED:
            return SUPPORTED[name]
    raise InvalidInput(f"unknown timeframe {raw!r}: use one of {', '.join(SUPPORTED)}")


def _group_starts(keys: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
    """Start offsets of runs of equal keys in a sorted array."""
    if keys.size == 0:
        return np.empty(0, dtype=np.intp)
    change = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    return np.concatenate(([0], change)).astype(np.intp)


def aggregate_by_keys(
    bars: pa.Table, keys: npt.NDArray[np.int64], labels: npt.NDArray[np.int64]
) -> pa.Table:
    """Aggregate time-sorted 1-min ``bars`` over runs of equal ``keys``.

    ``labels[i]`` is the label (epoch us) of the group that row ``i`` belongs to. OHLC are
    first/max/min/last, volume and trade_count are sums, vwap is volume-weighted.
    """
    if bars.num_rows == 0:
        return BAR_SCHEMA.empty_table()
    starts = _group_starts(keys)
    ends = np.append(starts[1:], len(keys)) - 1
    o = bars.column("open").to_numpy()
    h = bars.column("high").to_numpy()
    lo = bars.column("low").to_numpy()
    c = bars.column("close").to_numpy()
    v = bars.column("volume").to_numpy()
    n = bars.column("trade_count").to_numpy()
    vw = bars.column("vwap").to_numpy()
    vol = np.add.reduceat(v, starts)
    pv = np.add.reduceat(vw * v, starts)
    mean_vw = np.add.reduceat(vw, starts) / np.diff(np.append(starts, len(keys)))
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(vol > 0, pv / np.where(vol > 0, vol, 1), mean_vw)
    symbol = bars.column("symbol").take(pa.array(starts))
    return pa.Table.from_arrays(
        [
            symbol,
            pa.array(labels[starts], type=pa.int64()).cast(BAR_SCHEMA.field("ts").type),
            pa.array(o[starts]),
            pa.array(np.maximum.reduceat(h, starts)),
            pa.array(np.minimum.reduceat(lo, starts)),
            pa.array(c[ends]),
            pa.array(vol.astype(np.int64)),
            pa.array(np.add.reduceat(n, starts).astype(np.int64)),
            pa.array(vwap),
        ],
        schema=BAR_SCHEMA,
    )


def aggregate(
    bars: pa.Table,
    timeframe: Timeframe,
    session_keys: npt.NDArray[np.int64] | None = None,
    session_labels: npt.NDArray[np.int64] | None = None,
) -> pa.Table:
    """Derive ``timeframe`` bars from time-sorted 1-minute ``bars`` of one symbol.

    For 1Day, ``session_keys`` (one per row: the session each minute belongs to) and
    ``session_labels`` (one per row: that session's label instant) are required.
    """
    if timeframe.is_base:
        return bars
    if timeframe.daily:
        if session_keys is None or session_labels is None:
            raise ValueError("daily aggregation needs the session of every row")
        return aggregate_by_keys(bars, session_keys, session_labels)
    ts = bars.column("ts").cast(pa.int64()).to_numpy()
    width = timeframe.minutes * _US_PER_MINUTE
    buckets = ts - np.mod(ts, width)
    return aggregate_by_keys(bars, buckets, buckets)
