"""Deterministic, calendar-aware synthetic minute bars: the default when no Alpaca keys are set.

Each (symbol, session) is generated from its own seed, so any session can be produced alone
and always comes out the same. Bars cover the extended session (04:00 to 4 h after the close,
New York time); volume is U-shaped over regular hours and thin outside them; some minutes have
no bar (no trades), more of them in extended hours; OHLC are consistent and vwap lies within
each bar's range.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa

from stockdb.bars import BAR_SCHEMA
from stockdb.calendar import Session, TradingCalendar
from stockdb.clock import Clock, SystemClock
from stockdb.corporate.synthetic import split_multiplier
from stockdb.providers.base import ProviderStats

__all__ = ["SyntheticProvider", "generate_session", "price_level"]

_US_PER_MIN = 60_000_000
_PAGE_ROWS = 10_000


def _seed(*parts: str) -> int:
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _base_price(symbol: str, day: date) -> float:
    """A smooth, deterministic price level for ``symbol`` on ``day``."""
    rng = np.random.default_rng(_seed("base", symbol))
    p0 = float(rng.uniform(20.0, 500.0))
    phase = float(rng.uniform(0, 2 * math.pi))
    t = (day - date(2000, 1, 1)).days
    return p0 * math.exp(0.00015 * t / 10 + 0.15 * math.sin(t / 90.0 + phase))


def price_level(symbol: str, day: date) -> float:
    """The raw price level of ``symbol`` on ``day``: the smooth path times the ratios of the
    synthetic splits still ahead (:mod:`stockdb.corporate.synthetic`), so raw prices jump at
    each ex-date and split-adjusted ones do not."""
    return _base_price(symbol, day) * split_multiplier(symbol, day)


def generate_session(symbol: str, session: Session) -> pa.Table:
    """All bars of ``symbol`` for ``session`` (deterministic in ``symbol`` and the date)."""
    rng = np.random.default_rng(_seed("session", symbol, session.date.isoformat()))
    ext_open = int(session.extended_open.timestamp()) * 1_000_000
    reg_open = int(session.open.timestamp()) * 1_000_000
    reg_close = int(session.close.timestamp()) * 1_000_000
    n = session.extended_minutes
    ts = ext_open + np.arange(n, dtype=np.int64) * _US_PER_MIN
    regular = (ts >= reg_open) & (ts < reg_close)

    # U-shaped intensity over the regular session, thin outside it.
    x = np.where(regular, (ts - reg_open) / max(reg_close - reg_open, 1), 0.5)
    intensity = np.where(regular, 1.0 + 4.0 * (2 * x - 1) ** 2, 0.08)
    present = rng.random(n) < np.where(regular, 0.97, 0.35)
    present[np.argmax(regular)] = True  # the opening minute always trades

    sigma = 0.0006 * np.where(regular, 1.0, 0.5)
    returns = rng.normal(0.0, 1.0, n) * sigma
    start = price_level(symbol, session.date) * float(np.exp(rng.normal(0, 0.004)))
    closes = start * np.exp(np.cumsum(returns))
    opens = np.concatenate(([start], closes[:-1])) * np.exp(rng.normal(0, 0.0001, n))
    spread = np.abs(rng.normal(0, 1, n)) * sigma * closes * 0.8
    highs = np.maximum(opens, closes) + spread * rng.random(n)
    lows = np.minimum(opens, closes) - spread * rng.random(n)
    opens, closes = np.round(opens, 2), np.round(closes, 2)
    highs = np.maximum(np.round(highs, 2), np.maximum(opens, closes))
    lows = np.maximum(np.minimum(np.round(lows, 2), np.minimum(opens, closes)), 0.01)
    weights = rng.random(n)
    vwap = np.round(lows + (highs - lows) * (0.25 + 0.5 * weights), 4)
    vwap = np.clip(vwap, lows, highs)
    volume = np.maximum(1, (rng.gamma(2.0, 1.0, n) * 400 * intensity)).astype(np.int64)
    trade_count = np.maximum(1, volume // np.maximum(1, rng.integers(40, 160, n))).astype(np.int64)

    keep = present
    count = int(keep.sum())
    return pa.Table.from_arrays(
        [
            pa.array([symbol] * count, type=pa.string()),
            pa.array(ts[keep], type=pa.int64()).cast(BAR_SCHEMA.field("ts").type),
            pa.array(opens[keep]),
            pa.array(highs[keep]),
            pa.array(lows[keep]),
            pa.array(closes[keep]),
            pa.array(volume[keep]),
            pa.array(trade_count[keep]),
            pa.array(vwap[keep]),
        ],
        schema=BAR_SCHEMA,
    )


class SyntheticProvider:
    """A :class:`~stockdb.providers.base.BarSource` of generated bars; never in the future."""

    name = "synthetic"
    feed = "synthetic"

    def __init__(self, calendar: TradingCalendar, clock: Clock | None = None) -> None:
        self.calendar = calendar
        self.clock = clock or SystemClock()
        self.stats = ProviderStats()

    def _sessions(self, start: datetime, end: datetime) -> list[Session]:
        first = max(start.date() - timedelta(days=1), self.calendar.first_session)
        last = min(end.date() + timedelta(days=1), self.calendar.last_session)
        if first > last:
            return []
        return [
            s
            for s in self.calendar.sessions(first, last)
            if s.extended_close > start and s.extended_open < end
        ]

    def fetch_bars(
        self, symbols: Sequence[str], start: datetime, end: datetime
    ) -> Iterator[pa.Table]:
        horizon = self.clock.now() - timedelta(minutes=1)
        lo = int(start.timestamp() * 1_000_000)
        hi = int(min(end, horizon).timestamp() * 1_000_000)
        pending: list[pa.Table] = []
        pending_rows = 0
        self.stats.requests += 1
        for symbol in symbols:
            for session in self._sessions(start, end):
                table = generate_session(symbol, session)
                ts = table.column("ts").cast(pa.int64()).to_numpy()
                table = table.filter(pa.array((ts >= lo) & (ts < hi)))
                if table.num_rows:
                    pending.append(table)
                    pending_rows += table.num_rows
                if pending_rows >= _PAGE_ROWS:
                    page = pa.concat_tables(pending)
                    self.stats.rows += page.num_rows
                    yield page
                    pending, pending_rows = [], 0
        if pending:
            page = pa.concat_tables(pending)
            self.stats.rows += page.num_rows
            yield page

    def latest_bars(self, symbols: Sequence[str]) -> pa.Table:
        now = self.clock.now()
        tables = []
        for symbol in symbols:
            for page in self.fetch_bars([symbol], now - timedelta(days=6), now):
                tables.append(page.slice(page.num_rows - 1, 1))
        latest = pa.concat_tables(tables) if tables else BAR_SCHEMA.empty_table()
        if latest.num_rows == 0:
            return latest
        # keep only the last row per symbol
        syms = latest.column("symbol").to_pylist()
        last_index = {s: i for i, s in enumerate(syms)}
        return latest.take(pa.array(sorted(last_index.values())))

    def close(self) -> None:
        return None
