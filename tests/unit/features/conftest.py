"""A few sessions of synthetic SPY bars as one continuous history."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from stockdb.calendar import TradingCalendar
from stockdb.features.frame import BarFrame
from stockdb.providers.synthetic import generate_session


@pytest.fixture(scope="module")
def history(calendar: TradingCalendar) -> pa.Table:
    sessions = calendar.sessions(date(2024, 3, 1), date(2024, 3, 14))
    return pa.concat_tables([generate_session("SPY", s) for s in sessions])


@pytest.fixture(scope="module")
def frame(history: pa.Table, calendar: TradingCalendar) -> BarFrame:
    return BarFrame.from_table(history, calendar)
