"""Higher-timeframe bars for features: 5Min, 15Min, 1Hour and 1Day derived from the 1-min history.

:class:`TimeframeBarSource` wraps the builder's 1-minute source (raw or split-adjusted) and
serves the same partitions and fingerprints with the bars aggregated as the bars reader
derives them (:mod:`stockdb.timeframes`): intraday buckets aligned to the New York clock over
the extended hours and labelled by their start; 1Day one bar per session over the regular
hours, labelled 00:00 New York time of the session date. A bucket never spans two sessions, so
each session's aggregated rows depend on that session's 1-minute bars alone and its
fingerprint carries over unchanged.

The session in progress follows one rule in every timeframe: a bar exists as soon as one
1-minute bar falls in it and holds the minutes stored so far, so the newest bar of any
timeframe may be provisional until its interval ends (its partition is rewritten when more
minutes arrive, as the 1-minute partition is). :func:`available_from` gives the instant a bar
has closed; training joins a higher-timeframe row to a 1-minute row only from then on.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import date

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from stockdb.calendar import TradingCalendar
from stockdb.features.sources import BarHistory, BarSource, PartitionSlice
from stockdb.timeframes import Timeframe, aggregate_by_keys, parse_timeframe

__all__ = ["TimeframeBarSource", "aggregate_history", "available_from", "daily_labels"]

_US_PER_MINUTE = 60_000_000
_US_PER_HOUR = 3_600_000_000
IntArray = npt.NDArray[np.int64]


def daily_labels(calendar: TradingCalendar, positions: IntArray) -> IntArray:
    """00:00 New York time of each session's date (the extended open is 04:00 that day)."""
    labels: IntArray = calendar.extended_open_us[positions] - 4 * _US_PER_HOUR
    return labels


def _bucket_keys(
    ts: IntArray, timeframe: Timeframe, calendar: TradingCalendar
) -> tuple[npt.NDArray[np.bool_], IntArray, IntArray, IntArray]:
    """Which 1-min rows enter ``timeframe`` bars, and for those: group keys, labels and the
    timestamps features see (the bar's start; for 1Day the session's regular open)."""
    if not timeframe.daily:
        width = timeframe.minutes * _US_PER_MINUTE
        buckets = ts - np.mod(ts, width)
        return np.ones(ts.shape, dtype=bool), buckets, buckets, buckets
    positions = calendar.session_positions(ts)
    inside = positions >= 0
    safe = np.where(inside, positions, 0)
    keep = inside & (ts >= calendar.open_us[safe]) & (ts < calendar.close_us[safe])
    kept = positions[keep]
    return keep, kept, daily_labels(calendar, kept), calendar.open_us[kept]


def aggregate_history(
    history: BarHistory, timeframe: Timeframe, calendar: TradingCalendar
) -> BarHistory:
    """``history`` (1-minute bars, partitioned by session) as ``timeframe`` bars with the same
    partitions and fingerprints; a partition with no bar of ``timeframe`` (a session with no
    regular-hours minute, for 1Day) keeps an empty row range. Pure."""
    if timeframe.is_base:
        return history
    table = history.table
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    keep, keys, labels, anchors = _bucket_keys(ts, timeframe, calendar)
    kept = table.filter(pa.array(keep)) if not bool(np.all(keep)) else table
    # aggregate_by_keys carries a symbol column through; the history has none.
    with_symbol = kept.append_column("symbol", pa.array([""] * kept.num_rows, pa.string()))
    bars = aggregate_by_keys(with_symbol, keys, labels).drop_columns(["symbol"])
    # Row i of the kept 1-min rows lands in group groups[i].
    starts = np.ones(keys.shape, dtype=bool)
    starts[1:] = keys[1:] != keys[:-1]
    groups = np.cumsum(starts) - 1
    group_anchor = anchors[starts]
    kept_before = np.concatenate(([0], np.cumsum(keep)))
    parts = []
    for p in history.partitions:
        lo, hi = int(kept_before[p.start]), int(kept_before[p.stop])
        first = int(groups[lo]) if hi > lo else 0
        stop = int(groups[hi - 1]) + 1 if hi > lo else 0
        if hi == lo:
            # no bar: an empty range placed after the bars written so far
            first = stop = int(groups[lo - 1]) + 1 if lo > 0 else 0
        parts.append(PartitionSlice(p.day, first, stop, p.fingerprint))
    return BarHistory(bars, tuple(parts), np.ascontiguousarray(group_anchor, dtype=np.int64))


def available_from(ts_us: IntArray, timeframe: Timeframe, calendar: TradingCalendar) -> IntArray:
    """The instant each ``timeframe`` bar (labelled ``ts_us``) has closed, in epoch us.

    Intraday: the bar's start plus its width, so the first 1-minute bar that may see it
    starts when it ends. 1Day: the extended open (04:00 New York) of the next session, so the
    value of session d is first visible on the first minute of the session after d, never in
    d's own after-hours. A session beyond the calendar yields the largest int64 (never)."""
    if timeframe.is_base:
        out: IntArray = ts_us + _US_PER_MINUTE
        return out
    if not timeframe.daily:
        out = ts_us + timeframe.minutes * _US_PER_MINUTE
        return out
    opens = calendar.extended_open_us
    positions = np.searchsorted(opens, ts_us + 4 * _US_PER_HOUR, side="left")
    following = positions + 1
    never = np.iinfo(np.int64).max
    safe = np.minimum(following, opens.size - 1)
    out = np.where(following < opens.size, opens[safe], never).astype(np.int64)
    return out


class TimeframeBarSource:
    """``inner``'s bars aggregated to ``timeframe``, same partitions and fingerprints."""

    def __init__(self, inner: BarSource, timeframe: str, calendar: TradingCalendar) -> None:
        self.inner = inner
        self.timeframe = parse_timeframe(timeframe)
        self.calendar = calendar

    def symbols(self) -> list[str]:
        return self.inner.symbols()

    def reading(self, symbol: str) -> AbstractContextManager[None]:
        return self.inner.reading(symbol)

    def fingerprints(self, symbol: str) -> dict[date, str]:
        return self.inner.fingerprints(symbol)

    def read(self, symbol: str) -> BarHistory:
        return aggregate_history(self.inner.read(symbol), self.timeframe, self.calendar)
