"""Gap scan: expected sessions (calendar) against what a fetch returned, both explicit.

A minute with no trades has no bar, so completeness is judged per session: a past session
with no bars while the symbol traded on other sessions of the fetch, or one whose bars stop
long before the close, is a gap to re-request. Pure functions; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

import pyarrow as pa

from stockdb.calendar import Session

__all__ = ["CUT_SHORT_MARGIN", "SessionVerdict", "judge_session", "sessions_needing_refetch"]

# Bars ending this long before the regular close mark a session as cut short.
CUT_SHORT_MARGIN = timedelta(minutes=60)

Verdict = Literal["ok", "in_progress", "empty", "cut_short", "future"]


@dataclass(frozen=True, slots=True)
class SessionVerdict:
    """The gap scan's judgement of one fetched session."""

    session: Session
    verdict: Verdict
    reason: str | None


def _last_ts(bars: pa.Table) -> datetime | None:
    if bars.num_rows == 0:
        return None
    value = bars.column("ts")[-1].as_py()
    return value if isinstance(value, datetime) else None


def judge_session(
    session: Session, bars: pa.Table | None, now: datetime, symbol_trades: bool
) -> SessionVerdict:
    """Classify one session's fetched bars.

    ``symbol_trades`` says whether the symbol had bars in other sessions of the same fetch; a
    symbol that returned nothing at all (unknown, delisted, not yet listed) is not a gap.
    """
    if now < session.extended_open:
        return SessionVerdict(session, "future", "session has not started")
    if now < session.extended_close:
        return SessionVerdict(session, "in_progress", "session in progress")
    rows = 0 if bars is None else bars.num_rows
    if rows == 0:
        if symbol_trades:
            return SessionVerdict(session, "empty", "no bars although the symbol trades")
        return SessionVerdict(session, "empty", "provider returned no bars for the symbol")
    last = _last_ts(bars) if bars is not None else None
    if last is not None and last < session.close - CUT_SHORT_MARGIN:
        return SessionVerdict(
            session, "cut_short", f"bars stop at {last.isoformat()} before the close"
        )
    return SessionVerdict(session, "ok", None)


def sessions_needing_refetch(
    sessions: Sequence[Session], by_session: Mapping[date, pa.Table], now: datetime
) -> list[SessionVerdict]:
    """The sessions of one symbol's fetch that look like gaps worth re-requesting."""
    symbol_trades = any(t.num_rows for t in by_session.values())
    if not symbol_trades:
        return []
    verdicts = [judge_session(s, by_session.get(s.date), now, True) for s in sessions]
    return [v for v in verdicts if v.verdict in ("empty", "cut_short")]
