"""A cash dividend multiplies prices before its ex-date by 1 - cash / previous close."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa

from stockdb.app import App
from stockdb.corporate.adjust import ex_cutoff_us
from stockdb.corporate.model import make_action
from stockdb.lake.reader import BarQuery

from .conftest import FIRST, LAST, WriteFn, raw_session  # type: ignore[import-not-found]

SYMBOL = "DIVV"
EX = date(2024, 3, 7)


def _previous_regular_close(app: App) -> float:
    """Computed here from the session before the ex-date: the close of its last bar that
    starts before the 16:00 regular close (after-hours bars follow it)."""
    session = app.calendar.session(date(2024, 3, 6))
    bars = raw_session(SYMBOL, session, None)
    ts = bars.column("ts").cast(pa.int64()).to_numpy()
    regular = ts < int(session.close.timestamp()) * 1_000_000
    assert regular.sum() < len(ts)  # there are after-hours bars to skip
    return float(bars.column("close").to_numpy()[regular][-1])


def test_dividend_factor_applies_before_the_ex_date_only(app: App, write_raw: WriteFn) -> None:
    write_raw(SYMBOL, FIRST, LAST, None)
    app.corporate.record([make_action(SYMBOL, "cash_dividend", EX, cash=0.5)])
    factor = 1 - 0.5 / _previous_regular_close(app)
    raw = app.reader.bars(BarQuery.parse(SYMBOL))
    adjusted = app.reader.bars(BarQuery.parse(SYMBOL, adjustment="dividend"))
    before = raw.column("ts").cast(pa.int64()).to_numpy() < ex_cutoff_us(EX)
    for name in ("open", "high", "low", "close", "vwap"):
        r, a = raw.column(name).to_numpy(), adjusted.column(name).to_numpy()
        np.testing.assert_allclose(a[before], r[before] * factor, rtol=1e-15)
        np.testing.assert_array_equal(a[~before], r[~before])
    assert adjusted.column("volume").equals(raw.column("volume"))
    # split-only adjustment ignores dividends; all = dividend here (no splits)
    assert app.reader.bars(BarQuery.parse(SYMBOL, adjustment="split")).equals(raw)
    assert app.reader.bars(BarQuery.parse(SYMBOL, adjustment="all")).equals(adjusted)


def test_split_and_dividend_factors_multiply(app: App, write_raw: WriteFn) -> None:
    write_raw(SYMBOL, FIRST, LAST, None)
    app.corporate.record(
        [
            make_action(SYMBOL, "cash_dividend", EX, cash=0.5),
            make_action(SYMBOL, "forward_split", date(2024, 3, 11), ratio=2.0),
        ]
    )
    factor = 1 - 0.5 / _previous_regular_close(app)
    raw = app.reader.bars(BarQuery.parse(SYMBOL))
    both = app.reader.bars(BarQuery.parse(SYMBOL, adjustment="all"))
    ts = raw.column("ts").cast(pa.int64()).to_numpy()
    r, a = raw.column("close").to_numpy(), both.column("close").to_numpy()
    early = ts < ex_cutoff_us(EX)
    middle = (ts >= ex_cutoff_us(EX)) & (ts < ex_cutoff_us(date(2024, 3, 11)))
    np.testing.assert_allclose(a[early], r[early] * factor * 0.5, rtol=1e-15)
    np.testing.assert_allclose(a[middle], r[middle] * 0.5, rtol=1e-15)
    late = ~(early | middle)
    np.testing.assert_array_equal(a[late], r[late])


def test_announced_actions_are_not_applied_before_their_ex_date(
    app: App, write_raw: WriteFn
) -> None:
    write_raw(SYMBOL, FIRST, LAST, None)
    future = app.corporate.as_of().replace(year=app.corporate.as_of().year + 1)
    app.corporate.record([make_action(SYMBOL, "forward_split", future, ratio=3.0)])
    raw = app.reader.bars(BarQuery.parse(SYMBOL))
    assert app.reader.bars(BarQuery.parse(SYMBOL, adjustment="split")).equals(raw)
