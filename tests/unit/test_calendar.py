"""Sessions, DST, early closes and the session date of instants (facts from the NYSE calendar)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest

from stockdb.calendar import TradingCalendar
from stockdb.errors import InvalidInput


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "open_", "close", "ext_open", "ext_close"),
    [
        # Friday before the spring DST switch: EST, UTC-5.
        (
            date(2024, 3, 8),
            utc(2024, 3, 8, 14, 30),
            utc(2024, 3, 8, 21),
            utc(2024, 3, 8, 9),
            utc(2024, 3, 9, 1),
        ),
        # Monday after it: EDT, UTC-4.
        (
            date(2024, 3, 11),
            utc(2024, 3, 11, 13, 30),
            utc(2024, 3, 11, 20),
            utc(2024, 3, 11, 8),
            utc(2024, 3, 12, 0),
        ),
        (
            date(2024, 11, 1),
            utc(2024, 11, 1, 13, 30),
            utc(2024, 11, 1, 20),
            utc(2024, 11, 1, 8),
            utc(2024, 11, 2, 0),
        ),
        (
            date(2024, 11, 4),
            utc(2024, 11, 4, 14, 30),
            utc(2024, 11, 4, 21),
            utc(2024, 11, 4, 9),
            utc(2024, 11, 5, 1),
        ),
        # Early closes at 13:00 New York; after-hours end at 17:00.
        (
            date(2024, 7, 3),
            utc(2024, 7, 3, 13, 30),
            utc(2024, 7, 3, 17),
            utc(2024, 7, 3, 8),
            utc(2024, 7, 3, 21),
        ),
        (
            date(2024, 11, 29),
            utc(2024, 11, 29, 14, 30),
            utc(2024, 11, 29, 18),
            utc(2024, 11, 29, 9),
            utc(2024, 11, 29, 22),
        ),
    ],
)
def test_session_bounds(
    calendar: TradingCalendar,
    day: date,
    open_: datetime,
    close: datetime,
    ext_open: datetime,
    ext_close: datetime,
) -> None:
    s = calendar.session(day)
    assert (s.open, s.close, s.extended_open, s.extended_close) == (
        open_,
        close,
        ext_open,
        ext_close,
    )
    assert s.early_close == (close.hour in (17, 18))


def test_holidays_and_weekends_are_not_sessions(calendar: TradingCalendar) -> None:
    for day in (date(2024, 7, 4), date(2024, 11, 28), date(2024, 12, 25), date(2024, 3, 9)):
        assert not calendar.is_session(day)
        with pytest.raises(InvalidInput):
            calendar.session(day)
    days = [s.date for s in calendar.sessions(date(2024, 7, 1), date(2024, 7, 8))]
    assert days == [date(2024, 7, d) for d in (1, 2, 3, 5, 8)]


def test_minutes_per_session(calendar: TradingCalendar) -> None:
    assert calendar.session(date(2024, 3, 11)).regular_minutes == 390
    assert calendar.session(date(2024, 3, 11)).extended_minutes == 960
    assert calendar.session(date(2024, 11, 29)).regular_minutes == 210
    assert calendar.session(date(2024, 11, 29)).extended_minutes == 780


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (utc(2024, 3, 11, 23, 59), date(2024, 3, 11)),  # 19:59 EDT, after-hours
        (utc(2024, 3, 12, 0, 0), None),  # 20:00 EDT: closed
        (utc(2024, 11, 5, 0, 30), date(2024, 11, 4)),  # 19:30 EST, past UTC midnight
        (utc(2024, 11, 4, 8, 59), None),  # 03:59 EST: before pre-market
        (utc(2024, 11, 4, 9, 0), date(2024, 11, 4)),  # 04:00 EST
        (utc(2024, 11, 29, 21, 59), date(2024, 11, 29)),  # 16:59 on an early-close day
        (utc(2024, 11, 29, 22, 0), None),
        (utc(2024, 7, 4, 15, 0), None),  # holiday
    ],
)
def test_session_date_of(
    calendar: TradingCalendar, instant: datetime, expected: date | None
) -> None:
    assert calendar.session_date_of(instant) == expected
    us = np.array([int(instant.timestamp() * 1_000_000)], dtype=np.int64)
    pos = int(calendar.session_positions(us)[0])
    assert (pos >= 0) == (expected is not None)


def test_bad_ranges(calendar: TradingCalendar) -> None:
    with pytest.raises(InvalidInput):
        calendar.sessions(date(2024, 5, 2), date(2024, 5, 1))
    with pytest.raises(InvalidInput):
        calendar.sessions(date(1990, 1, 1), date(1990, 2, 1))
    with pytest.raises(InvalidInput):
        calendar.session_date_of(datetime(2024, 3, 11, 12))  # naive
