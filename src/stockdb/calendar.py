"""NYSE trading sessions (exchange_calendars XNYS): holidays, early closes, extended hours.

A session is identified by its New York date. Extended hours run from 04:00 New York time to
four hours after the regular close (20:00, or 17:00 on an early-close day). All instants
returned are UTC; vectorised helpers work on int64 microseconds since the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from stockdb.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["NEW_YORK", "Session", "TradingCalendar"]

NEW_YORK = ZoneInfo("America/New_York")
_EXTENDED_OPEN_NY = timedelta(hours=4)
_AFTER_HOURS = timedelta(hours=4)


@dataclass(frozen=True, slots=True)
class Session:
    """One trading session: its New York date and its regular and extended bounds (UTC)."""

    date: date
    open: datetime
    close: datetime
    extended_open: datetime
    extended_close: datetime

    @property
    def early_close(self) -> bool:
        """True when the regular session closes before 16:00 New York time."""
        return self.close.astimezone(NEW_YORK).hour < 16

    @property
    def regular_minutes(self) -> int:
        return int((self.close - self.open).total_seconds() // 60)

    @property
    def extended_minutes(self) -> int:
        return int((self.extended_close - self.extended_open).total_seconds() // 60)


def _to_us(values: pd.DatetimeIndex | pd.Series) -> npt.NDArray[np.int64]:
    import pandas as pd

    index = pd.DatetimeIndex(values)
    return np.asarray(index.as_unit("us").asi8, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class _Schedule:
    """Session dates (days since the epoch) and bounds (UTC microseconds), one row each."""

    dates: npt.NDArray[np.int64]
    open_us: npt.NDArray[np.int64]
    close_us: npt.NDArray[np.int64]
    extended_open_us: npt.NDArray[np.int64]
    extended_close_us: npt.NDArray[np.int64]


def _load_schedule(first: date) -> _Schedule:
    """XNYS sessions from ``first``; imports exchange_calendars and pandas (slow), so it runs
    on the calendar's first use, not when a command merely builds the App."""
    import exchange_calendars as xcals
    import pandas as pd

    schedule = xcals.get_calendar("XNYS", start=pd.Timestamp(first)).schedule
    close_us = _to_us(schedule["close"])
    midnight_ny = [
        datetime.combine(d.date(), datetime.min.time(), NEW_YORK) for d in schedule.index
    ]
    extended_open_us = (
        np.array([int(m.timestamp()) * 1_000_000 for m in midnight_ny], dtype=np.int64)
        + int(_EXTENDED_OPEN_NY.total_seconds()) * 1_000_000
    )
    return _Schedule(
        dates=np.asarray(schedule.index.values.astype("datetime64[D]").astype(np.int64)),
        open_us=_to_us(schedule["open"]),
        close_us=close_us,
        extended_open_us=extended_open_us,
        extended_close_us=close_us + int(_AFTER_HOURS.total_seconds()) * 1_000_000,
    )


class TradingCalendar:
    """XNYS sessions between ``first`` and the calendar's end (a year ahead of today), loaded
    on first use."""

    def __init__(self, first: date = date(2000, 1, 3)) -> None:
        self._first = first

    @cached_property
    def _schedule(self) -> _Schedule:
        return _load_schedule(self._first)

    @property
    def _dates(self) -> npt.NDArray[np.int64]:
        return self._schedule.dates

    @property
    def open_us(self) -> npt.NDArray[np.int64]:
        return self._schedule.open_us

    @property
    def close_us(self) -> npt.NDArray[np.int64]:
        return self._schedule.close_us

    @property
    def extended_open_us(self) -> npt.NDArray[np.int64]:
        return self._schedule.extended_open_us

    @property
    def extended_close_us(self) -> npt.NDArray[np.int64]:
        return self._schedule.extended_close_us

    @property
    def first_session(self) -> date:
        return self._date_at(0)

    @property
    def last_session(self) -> date:
        return self._date_at(len(self._dates) - 1)

    def _date_at(self, i: int) -> date:
        return date(1970, 1, 1) + timedelta(days=int(self._dates[i]))

    def _check_range(self, day: date) -> None:
        if not (date(1970, 1, 1) <= day <= date(2200, 1, 1)):
            raise InvalidInput(f"date {day} is out of range")

    def _session_at(self, i: int) -> Session:
        def utc(us: np.int64) -> datetime:
            return datetime.fromtimestamp(int(us) / 1_000_000, tz=UTC)

        return Session(
            date=self._date_at(i),
            open=utc(self.open_us[i]),
            close=utc(self.close_us[i]),
            extended_open=utc(self.extended_open_us[i]),
            extended_close=utc(self.extended_close_us[i]),
        )

    def _ordinal(self, day: date) -> int:
        return (day - date(1970, 1, 1)).days

    def index_range(self, start: date, end: date) -> tuple[int, int]:
        """Positions ``[lo, hi)`` of the sessions with ``start <= date <= end``."""
        if start > end:
            raise InvalidInput(f"start {start} is after end {end}")
        lo = int(np.searchsorted(self._dates, self._ordinal(start), side="left"))
        hi = int(np.searchsorted(self._dates, self._ordinal(end), side="right"))
        return lo, hi

    def sessions(self, start: date, end: date) -> list[Session]:
        """Every session with ``start <= date <= end`` (both inclusive), oldest first.

        Raises InvalidInput when ``start`` is after ``end`` or the range leaves the calendar.
        """
        self._check_range(start)
        self._check_range(end)
        if start < self.first_session or end > self.last_session:
            raise InvalidInput(
                f"dates must lie between {self.first_session} and {self.last_session}"
            )
        lo, hi = self.index_range(start, end)
        return [self._session_at(i) for i in range(lo, hi)]

    def is_session(self, day: date) -> bool:
        i = int(np.searchsorted(self._dates, self._ordinal(day)))
        return i < len(self._dates) and int(self._dates[i]) == self._ordinal(day)

    def session(self, day: date) -> Session:
        """The session on ``day``; raises InvalidInput when the market is closed that day."""
        i = int(np.searchsorted(self._dates, self._ordinal(day)))
        if i >= len(self._dates) or int(self._dates[i]) != self._ordinal(day):
            raise InvalidInput(f"{day} is not a trading session")
        return self._session_at(i)

    def previous_session(self, day: date) -> Session:
        """The last session strictly before ``day``."""
        i = int(np.searchsorted(self._dates, self._ordinal(day), side="left")) - 1
        if i < 0:
            raise InvalidInput(f"no session before {day}")
        return self._session_at(i)

    def session_positions(self, ts_us: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """For each instant, the position of the session whose extended hours contain it, else -1.

        Vectorised: two binary searches, no timezone conversion per row.
        """
        pos = np.searchsorted(self.extended_open_us, ts_us, side="right").astype(np.int64) - 1
        valid = pos >= 0
        inside = np.zeros(ts_us.shape, dtype=bool)
        inside[valid] = ts_us[valid] < self.extended_close_us[pos[valid]]
        return np.where(inside, pos, -1)

    def session_dates_at(self, positions: npt.NDArray[np.int64]) -> list[date]:
        """The session dates at the given positions (from :meth:`session_positions`)."""
        return [self._date_at(int(p)) for p in positions]

    def session_date_of(self, ts: datetime) -> date | None:
        """The New York session date whose extended hours contain ``ts``; None outside them."""
        if ts.tzinfo is None:
            raise InvalidInput("timestamps must be timezone-aware")
        us = np.array([int(ts.timestamp() * 1_000_000)], dtype=np.int64)
        pos = int(self.session_positions(us)[0])
        return None if pos < 0 else self._date_at(pos)

    def latest_session_on_or_before(self, day: date) -> Session:
        """The session on ``day`` or the last one before it."""
        return self.session(day) if self.is_session(day) else self.previous_session(day)
