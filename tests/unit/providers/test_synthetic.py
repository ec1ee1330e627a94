"""The synthetic provider: deterministic, calendar-aware, consistent and realistic."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from stockdb.bars import validate_bars
from stockdb.calendar import TradingCalendar
from stockdb.clock import ManualClock
from stockdb.providers.synthetic import SyntheticProvider, generate_session


def test_deterministic_per_symbol_and_session(calendar: TradingCalendar) -> None:
    s = calendar.session(date(2024, 3, 11))
    assert generate_session("SPY", s).equals(generate_session("SPY", s))
    assert not generate_session("SPY", s).equals(generate_session("QQQ", s))


def test_bars_are_valid_inside_extended_hours_with_gaps(calendar: TradingCalendar) -> None:
    for day in (date(2024, 3, 8), date(2024, 3, 11), date(2024, 11, 29)):
        s = calendar.session(day)
        t = generate_session("AAPL", s)
        assert validate_bars(t).rejections == []
        ts = t.column("ts").cast(pa.int64()).to_numpy()
        assert ts.min() >= s.extended_open.timestamp() * 1e6
        assert ts.max() < s.extended_close.timestamp() * 1e6
        assert 0 < t.num_rows < s.extended_minutes  # some minutes have no bar
        vw, lo, hi = (t.column(c).to_numpy() for c in ("vwap", "low", "high"))
        assert ((vw >= lo) & (vw <= hi)).all()


def test_u_shaped_regular_volume(calendar: TradingCalendar) -> None:
    s = calendar.session(date(2024, 3, 11))
    t = generate_session("SPY", s).to_pandas()
    regular = t[(t["ts"] >= s.open) & (t["ts"] < s.close)]
    n = len(regular)
    edges = np.r_[regular["volume"].iloc[:30], regular["volume"].iloc[-30:]].mean()
    middle = regular["volume"].iloc[n // 2 - 30 : n // 2 + 30].mean()
    outside = t[(t["ts"] < s.open) | (t["ts"] >= s.close)]["volume"].mean()
    assert edges > 2 * middle > 2 * outside


def test_never_serves_the_future(calendar: TradingCalendar) -> None:
    s = calendar.session(date(2024, 3, 11))
    clock = ManualClock(s.open + timedelta(minutes=10))
    provider = SyntheticProvider(calendar, clock)
    pages = list(provider.fetch_bars(["SPY"], s.extended_open, s.extended_close))
    last = max(p.column("ts")[-1].as_py() for p in pages)
    assert last < clock.now() - timedelta(seconds=59)
    latest = provider.latest_bars(["SPY", "QQQ"])
    assert latest.column("symbol").to_pylist() == ["SPY", "QQQ"]
