"""The gap report: every expected session of a symbol against the coverage ledger."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime

from stockdb.calendar import TradingCalendar
from stockdb.errors import NotFound
from stockdb.state.coverage import CoverageRepo, CoverageStatus

__all__ = ["GapRow", "gap_report"]


@dataclass(frozen=True, slots=True)
class GapRow:
    """One expected session: its status and minutes present vs possible."""

    session_date: date
    status: CoverageStatus
    rows: int
    regular_rows: int
    regular_minutes: int
    extended_minutes: int
    early_close: bool
    fetched_at: datetime | None
    reason: str | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def gap_report(
    calendar: TradingCalendar,
    coverage: CoverageRepo,
    symbol: str,
    start: date | None,
    end: date | None,
    now: datetime,
) -> list[GapRow]:
    """Per expected session in ``[start, end]``: status, minutes present and when fetched.

    The default range runs from the symbol's first covered session to the last session that
    has begun. Raises NotFound when nothing was ever fetched for ``symbol`` and no range is
    given.
    """
    known = coverage.sessions(symbol)
    if start is None:
        if not known:
            raise NotFound(f"nothing fetched for {symbol}; give --start to list expected sessions")
        start = min(known)
    last_begun = (
        calendar.session_date_of(now) or calendar.latest_session_on_or_before(now.date()).date
    )
    end = min(end, last_begun) if end is not None else last_begun
    if start > end:
        return []
    rows = []
    for s in calendar.sessions(start, end):
        if s.extended_open > now:
            continue
        rec = known.get(s.date)
        rows.append(
            GapRow(
                session_date=s.date,
                status=CoverageStatus.MISSING if rec is None else rec.status,
                rows=0 if rec is None else rec.rows,
                regular_rows=0 if rec is None else rec.regular_rows,
                regular_minutes=s.regular_minutes,
                extended_minutes=s.extended_minutes,
                early_close=s.early_close,
                fetched_at=None if rec is None else rec.fetched_at,
                reason=None if rec is None else rec.reason,
            )
        )
    return rows
