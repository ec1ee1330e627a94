"""Pure planning of an ingest: which sessions to fetch, grouped into month chunks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from stockdb.calendar import Session, TradingCalendar

__all__ = ["Chunk", "SessionSplit", "month_chunks", "split_by_session"]


@dataclass(frozen=True, slots=True)
class Chunk:
    """Consecutive sessions of one calendar month that one request series covers."""

    sessions: tuple[Session, ...]

    @property
    def key(self) -> str:
        return self.sessions[0].date.strftime("%Y-%m")


def month_chunks(sessions: Sequence[Session]) -> list[Chunk]:
    """Group sessions (oldest first) by calendar month, keeping order."""
    chunks: list[list[Session]] = []
    for s in sessions:
        if chunks and (chunks[-1][0].date.year, chunks[-1][0].date.month) == (
            s.date.year,
            s.date.month,
        ):
            chunks[-1].append(s)
        else:
            chunks.append([s])
    return [Chunk(tuple(c)) for c in chunks]


@dataclass(frozen=True, slots=True)
class SessionSplit:
    """Bars of one symbol split by session, and the rows that fell outside every session."""

    by_session: dict[date, pa.Table]
    outside: int


def split_by_session(bars: pa.Table, calendar: TradingCalendar) -> SessionSplit:
    """Assign every (time-sorted) bar to the session whose extended hours contain it."""
    if bars.num_rows == 0:
        return SessionSplit({}, 0)
    ts: npt.NDArray[np.int64] = bars.column("ts").cast(pa.int64()).to_numpy()
    order = np.argsort(ts, kind="stable")
    if not np.array_equal(order, np.arange(len(ts))):
        bars = bars.take(pa.array(order))
        ts = ts[order]
    positions = calendar.session_positions(ts)
    outside = int((positions < 0).sum())
    inside = np.flatnonzero(positions >= 0)
    by_session: dict[date, pa.Table] = {}
    if inside.size:
        pos = positions[inside]
        starts = np.concatenate(([0], np.flatnonzero(pos[1:] != pos[:-1]) + 1))
        ends = np.append(starts[1:], pos.size)
        days = calendar.session_dates_at(pos[starts])
        for day, a, b in zip(days, starts, ends, strict=True):
            idx = inside[a:b]
            by_session[day] = (
                bars.slice(int(idx[0]), int(idx[-1] - idx[0] + 1))
                if (idx[-1] - idx[0] + 1 == idx.size)
                else bars.take(pa.array(idx))
            )
    return SessionSplit(by_session, outside)
