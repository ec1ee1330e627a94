"""One ticker's continuous 1-min history as NumPy arrays, plus derived series shared by features."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from stockdb.calendar import TradingCalendar
from stockdb.errors import DataIntegrityError
from stockdb.features import kernels

__all__ = ["BarFrame", "FloatArray", "IntArray"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_US_PER_MINUTE = 60_000_000
_US_PER_DAY = 86_400_000_000
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday; Monday is 0
_LAG_PAD = 15  # NaN before the log returns: up to 16 lags of them are views


def _column(table: pa.Table, name: str) -> FloatArray:
    return np.ascontiguousarray(table.column(name).to_numpy(), dtype=np.float64)


class BarFrame:
    """Immutable arrays of one symbol's bars, sorted by strictly increasing ``ts``.

    Features read these arrays and the cached derived series below; nothing here looks at a
    bar after the one being computed (every derived series is a backward window).
    """

    def __init__(
        self,
        ts_us: IntArray,
        open_: FloatArray,
        high: FloatArray,
        low: FloatArray,
        close: FloatArray,
        volume: FloatArray,
        trade_count: FloatArray,
        vwap: FloatArray,
        calendar: TradingCalendar,
    ) -> None:
        n = ts_us.shape[0]
        arrays = (open_, high, low, close, volume, trade_count, vwap)
        if any(a.shape != (n,) for a in arrays):
            raise DataIntegrityError("bar columns have different lengths")
        if n > 1 and not bool(np.all(ts_us[1:] > ts_us[:-1])):
            raise DataIntegrityError("bar timestamps must be strictly increasing")
        self.ts_us = ts_us
        self.calendar = calendar
        self._table: pa.Table | None = None
        # Given arrays take the place of the lazily converted columns below.
        self.__dict__.update(
            open=open_,
            high=high,
            low=low,
            close=close,
            volume=volume,
            trade_count=trade_count,
            vwap=vwap,
        )

    @classmethod
    def from_table(cls, table: pa.Table, calendar: TradingCalendar) -> BarFrame:
        """Build from an Arrow table with the bar columns (``symbol`` is ignored).

        Each price and volume column becomes a float64 array the first time a feature
        reads it (a set that never reads ``trade_count`` never converts it).
        Raises DataIntegrityError when timestamps are not strictly increasing.
        """
        ts = np.ascontiguousarray(table.column("ts").cast(pa.int64()).to_numpy(), dtype=np.int64)
        if len(ts) > 1 and not bool(np.all(ts[1:] > ts[:-1])):
            raise DataIntegrityError("bar timestamps must be strictly increasing")
        frame = cls.__new__(cls)
        frame.ts_us = ts
        frame.calendar = calendar
        frame._table = table
        return frame

    def _converted(self, name: str) -> FloatArray:
        if self._table is None:  # pragma: no cover - __init__ sets every column
            raise DataIntegrityError(f"bar column {name} is missing")
        return _column(self._table, name)

    @cached_property
    def open(self) -> FloatArray:
        """Open prices."""
        return self._converted("open")

    @cached_property
    def high(self) -> FloatArray:
        """High prices."""
        return self._converted("high")

    @cached_property
    def low(self) -> FloatArray:
        """Low prices."""
        return self._converted("low")

    @cached_property
    def close(self) -> FloatArray:
        """Close prices."""
        return self._converted("close")

    @cached_property
    def volume(self) -> FloatArray:
        """Volumes, as float64."""
        return self._converted("volume")

    @cached_property
    def trade_count(self) -> FloatArray:
        """Trade counts, as float64."""
        return self._converted("trade_count")

    @cached_property
    def vwap(self) -> FloatArray:
        """Volume-weighted average prices."""
        return self._converted("vwap")

    @property
    def volume_as_stored(self) -> FloatArray | IntArray:
        """The volumes without a float64 copy: the bar table's int64 column itself (a
        compiled kernel converts each value as it reads it, as ``astype`` would), or
        :attr:`volume` when that is already converted or the column is not int64."""
        table = self._table
        if "volume" in self.__dict__ or table is None:
            return self.volume
        column = table.column("volume")
        if column.type != pa.int64() or column.null_count:
            return self.volume
        return np.ascontiguousarray(column.to_numpy(), dtype=np.int64)

    def __len__(self) -> int:
        return int(self.ts_us.shape[0])

    @cached_property
    def _padded_log_returns(self) -> FloatArray:
        return kernels.log_returns(self.close, _LAG_PAD)

    @property
    def log_returns(self) -> FloatArray:
        """``ln(close[t] / close[t-1])``; NaN on the first bar (read-only)."""
        return self._padded_log_returns[_LAG_PAD:]

    def log_return_lags(self, count: int) -> list[FloatArray]:
        """:attr:`log_returns` moved 0 .. ``count - 1`` rows later (leading rows NaN), as
        read-only arrays: views of the log returns' own buffer when ``count`` <= 16."""
        if count - 1 <= _LAG_PAD:
            return kernels.lag_views(self._padded_log_returns, _LAG_PAD, count)
        return kernels.lagged(self.log_returns, count)

    @cached_property
    def _sessions(self) -> tuple[IntArray, IntArray, IntArray]:
        """Per session overlapping the history: its calendar position and the first and
        one-past-last index of its bars (those inside its extended hours).

        Works from each session's bounds (a few thousand searches), not a search per bar.
        """
        cal = self.calendar
        if len(self) == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, empty
        lo = int(np.searchsorted(cal.extended_close_us, self.ts_us[0], side="right"))
        hi = int(np.searchsorted(cal.extended_open_us, self.ts_us[-1], side="right"))
        starts = np.searchsorted(self.ts_us, cal.extended_open_us[lo:hi], side="left")
        ends = np.searchsorted(self.ts_us, cal.extended_close_us[lo:hi], side="left")
        positions = np.arange(lo, hi, dtype=np.int64)
        return positions, starts.astype(np.int64), ends.astype(np.int64)

    def session_minutes(self) -> FloatArray:
        """A new array of :attr:`minutes_from_open` (one pass, for a feature to own)."""
        positions, starts, ends = self._sessions
        opens = np.ascontiguousarray(self.calendar.open_us[positions], dtype=np.int64)
        return kernels.session_minutes(self.ts_us, starts, ends, opens, _US_PER_MINUTE)

    def session_weekdays(self) -> FloatArray:
        """A new array of :attr:`session_weekday` (one pass, for a feature to own)."""
        positions, starts, ends = self._sessions
        # The extended open is 04:00 New York time, i.e. 08:00 or 09:00 UTC on the same date.
        days = self.calendar.extended_open_us[positions] // _US_PER_DAY
        weekdays = ((days + _EPOCH_WEEKDAY) % 7).astype(np.float64)
        return kernels.session_values(starts, ends, weekdays, len(self))

    @cached_property
    def minutes_from_open(self) -> FloatArray:
        """Minutes since the regular open of the bar's session (negative pre-market); NaN
        for a bar outside every session's extended hours."""
        return self.session_minutes()

    @cached_property
    def session_weekday(self) -> FloatArray:
        """Day of week of the bar's New York session date, Monday=0 .. Friday=4; NaN outside."""
        return self.session_weekdays()
