"""The coverage ledger: what was fetched for each (symbol, session), kept apart from the bars.

A minute with no trades has no bar, so "no row" in the lake never means "never fetched";
this ledger says which sessions were fetched, when, with how many rows, and how complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    and_,
    case,
    delete,
    extract,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from stockdb.errors import DataIntegrityError
from stockdb.state import tables
from stockdb.state.store import StateStore, as_utc, stored_utc

__all__ = [
    "LEGACY_IN_PROGRESS_REASON",
    "CoverageRecord",
    "CoverageRepo",
    "CoverageStatus",
    "MonthCoverage",
    "SymbolRecord",
    "SymbolSummary",
    "stored_status",
]


class CoverageStatus(StrEnum):
    """How complete one (symbol, session) is; the stored value is the member's string.

    ``IN_PROGRESS`` marks a session recorded while it was still open: once finished it is
    fetched again in full and replaced (reconciliation). ``MISSING`` is never stored: it names
    an expected session with no ledger row in the gap report.
    """

    COMPLETE = "complete"
    PARTIAL = "partial"
    IN_PROGRESS = "in_progress"
    EMPTY = "empty"
    ERROR = "error"
    MISSING = "missing"


# The statuses a ledger row can hold, each counted in a SymbolSummary.
_COUNTED = frozenset(CoverageStatus) - {CoverageStatus.MISSING}

# Before schema version 6 an open session was stored as partial with this reason.
LEGACY_IN_PROGRESS_REASON = "session in progress"


def stored_status(status: str, reason: str | None) -> CoverageStatus:
    """The status of a stored row, mapping the pre-version-6 spelling of "in progress".

    Raises DataIntegrityError for a value no version of stockdb writes.
    """
    if status == CoverageStatus.PARTIAL and reason == LEGACY_IN_PROGRESS_REASON:
        return CoverageStatus.IN_PROGRESS
    try:
        return CoverageStatus(status)
    except ValueError:
        raise DataIntegrityError(
            f"unknown coverage status {status[:20]!r} in the state store"
        ) from None


@dataclass(frozen=True, slots=True)
class CoverageRecord:
    symbol: str
    session_date: date
    rows: int
    regular_rows: int
    first_ts: datetime | None
    last_ts: datetime | None
    status: CoverageStatus
    source: str
    feed: str
    reason: str | None
    attempts: int
    fetched_at: datetime


@dataclass(frozen=True, slots=True)
class SymbolRecord:
    symbol: str
    provider: str
    feed: str
    tracked: bool
    added_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SymbolSummary:
    """A symbol with a summary of its coverage."""

    symbol: str
    provider: str
    feed: str
    tracked: bool
    sessions: int
    complete: int
    partial: int
    in_progress: int
    empty: int
    error: int
    rows: int
    first_session: date | None
    last_session: date | None
    last_fetched_at: datetime | None


@dataclass(frozen=True, slots=True)
class MonthCoverage:
    """Sessions of one symbol in one calendar month (``YYYY-MM``) by coverage status."""

    symbol: str
    month: str
    complete: int
    partial: int
    in_progress: int
    empty: int
    error: int

    @property
    def sessions(self) -> int:
        return self.complete + self.partial + self.in_progress + self.empty + self.error


def _record(row: object) -> CoverageRecord:
    m = row._mapping  # type: ignore[attr-defined]
    return CoverageRecord(
        symbol=m["symbol"],
        session_date=m["session_date"],
        rows=m["rows"],
        regular_rows=m["regular_rows"],
        first_ts=as_utc(m["first_ts"]),
        last_ts=as_utc(m["last_ts"]),
        status=stored_status(m["status"], m["reason"]),
        source=m["source"],
        feed=m["feed"],
        reason=m["reason"],
        attempts=m["attempts"],
        fetched_at=stored_utc(m["fetched_at"]),
    )


class CoverageRepo:
    """Reads and writes ``symbols`` and ``coverage``."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def record(self, records: list[CoverageRecord]) -> None:
        """Upsert coverage rows (one per symbol and session): one statement executed for
        every row, in one transaction."""
        if not records:
            return
        rows = [{**asdict(r), "status": CoverageStatus(r.status).value} for r in records]
        keys = ("symbol", "session_date")
        dialect = postgresql if self.store.dialect == "postgresql" else sqlite
        stmt = dialect.insert(tables.coverage)
        upsert = stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={c: stmt.excluded[c] for c in rows[0] if c not in keys},
        )
        with self.store.engine.begin() as conn:
            conn.execute(upsert, rows)

    def sessions(
        self, symbol: str, start: date | None = None, end: date | None = None
    ) -> dict[date, CoverageRecord]:
        """Coverage of ``symbol`` by session date within ``[start, end]``."""
        c = tables.coverage.c
        cond = [c.symbol == symbol]
        if start is not None:
            cond.append(c.session_date >= start)
        if end is not None:
            cond.append(c.session_date <= end)
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(tables.coverage).where(and_(*cond))).fetchall()
            flagged = self._flagged(conn, [symbol], start, end)
        records = {r.session_date: _record(r) for r in rows}
        for (_, day), problem in flagged.items():
            rec = records.get(day)
            if rec is not None:
                records[day] = replace(rec, status=CoverageStatus.ERROR, reason=problem)
        return records

    @staticmethod
    def _flagged(
        conn: Connection, symbols: list[str] | None, start: date | None, end: date | None
    ) -> dict[tuple[str, date], str]:
        """(symbol, session) -> why, for bars files the integrity ledger knows damaged or
        missing (found by `stockdb verify` or by a reader): their sessions are not complete."""
        f = tables.partition_files.c
        cond = [f.kind == "bars", f.status != "ok"]
        if symbols is not None:
            cond.append(f.symbol.in_(symbols))
        if start is not None:
            cond.append(f.session_date >= start)
        if end is not None:
            cond.append(f.session_date <= end)
        rows = conn.execute(
            select(f.symbol, f.session_date, f.status).where(and_(*cond))
        ).fetchall()
        return {
            (r.symbol, r.session_date): f"{r.status} file; run `stockdb verify --repair`"
            for r in rows
        }

    def forget(self, symbol: str) -> None:
        """Drop every coverage row of ``symbol`` (used when its data is replaced)."""
        with self.store.engine.begin() as conn:
            conn.execute(delete(tables.coverage).where(tables.coverage.c.symbol == symbol))

    def forget_sessions(self, symbol: str, days: list[date]) -> None:
        """Drop the coverage rows of ``days`` so the gap scan sees them missing again."""
        if not days:
            return
        c = tables.coverage.c
        with self.store.engine.begin() as conn:
            conn.execute(
                delete(tables.coverage).where(and_(c.symbol == symbol, c.session_date.in_(days)))
            )

    def ensure_symbol(self, symbol: str, provider: str, feed: str) -> None:
        self.ensure_symbols([symbol], provider, feed)

    def ensure_symbols(self, symbols: Sequence[str], provider: str, feed: str) -> None:
        """Register ``symbols`` (untracked when new) or update their provider, in one
        transaction whatever their number."""
        if not symbols:
            return
        now = self.store.clock.now()
        s = tables.symbols
        with self.store.engine.begin() as conn:
            known = {r[0] for r in conn.execute(select(s.c.symbol).where(s.c.symbol.in_(symbols)))}
            fresh = [
                {
                    "symbol": sym,
                    "provider": provider,
                    "feed": feed,
                    "tracked": False,
                    "added_at": now,
                    "updated_at": now,
                }
                for sym in dict.fromkeys(symbols)
                if sym not in known
            ]
            if fresh:
                conn.execute(s.insert(), fresh)
            if known:
                conn.execute(
                    s.update()
                    .where(s.c.symbol.in_(sorted(known)))
                    .values(provider=provider, feed=feed, updated_at=now)
                )

    def get_symbol(self, symbol: str) -> SymbolRecord | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(
                select(tables.symbols).where(tables.symbols.c.symbol == symbol)
            ).first()
        if row is None:
            return None
        m = row._mapping
        return SymbolRecord(
            symbol=m["symbol"],
            provider=m["provider"],
            feed=m["feed"],
            tracked=m["tracked"],
            added_at=stored_utc(m["added_at"]),
            updated_at=stored_utc(m["updated_at"]),
        )

    def set_tracked(self, symbol: str, tracked: bool) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(
                tables.symbols.update()
                .where(tables.symbols.c.symbol == symbol)
                .values(tracked=tracked, updated_at=self.store.clock.now())
            )

    def tracked_symbols(self) -> list[str]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(tables.symbols.c.symbol)
                .where(tables.symbols.c.tracked.is_(True))
                .order_by(tables.symbols.c.symbol)
            ).fetchall()
        return [r[0] for r in rows]

    def summaries(self) -> list[SymbolSummary]:
        """Every known symbol with counts of its sessions by status."""
        c = tables.coverage.c
        s = tables.symbols.c

        def count(status: CoverageStatus) -> ColumnElement[Any]:
            return func.coalesce(func.sum((c.status == status).cast(Integer)), 0)

        stmt = (
            select(
                s.symbol,
                s.provider,
                s.feed,
                s.tracked,
                func.count(c.session_date).label("sessions"),
                count(CoverageStatus.COMPLETE).label("complete"),
                count(CoverageStatus.PARTIAL).label("partial"),
                count(CoverageStatus.IN_PROGRESS).label("in_progress"),
                count(CoverageStatus.EMPTY).label("empty"),
                count(CoverageStatus.ERROR).label("error"),
                func.coalesce(func.sum(c.rows), 0).label("rows"),
                func.min(c.session_date).label("first_session"),
                func.max(c.session_date).label("last_session"),
                func.max(c.fetched_at).label("last_fetched_at"),
            )
            .select_from(tables.symbols.outerjoin(tables.coverage, c.symbol == s.symbol))
            .group_by(s.symbol, s.provider, s.feed, s.tracked)
            .order_by(s.symbol)
        )
        # A flagged session counts as an error, not under the status it was recorded with:
        # one grouped query over every symbol, so the round trips do not grow with them.
        f = tables.partition_files.c
        damaged = (
            select(f.symbol, f.session_date)
            .where(and_(f.kind == "bars", f.status != "ok"))
            .distinct()
            .subquery()
        )
        moved_stmt = (
            select(c.symbol, c.status, func.count().label("n"))
            .select_from(
                tables.coverage.join(
                    damaged,
                    and_(damaged.c.symbol == c.symbol, damaged.c.session_date == c.session_date),
                )
            )
            .group_by(c.symbol, c.status)
        )
        with self.store.engine.connect() as conn:
            rows = conn.execute(stmt).fetchall()
            moved = {(r.symbol, r.status): int(r.n) for r in conn.execute(moved_stmt)}

        def count_of(r: Any, status: CoverageStatus) -> int:
            value = int(getattr(r, status.value))
            if status is CoverageStatus.ERROR:
                others = _COUNTED - {CoverageStatus.ERROR}
                return value + sum(moved.get((r.symbol, s.value), 0) for s in others)
            return value - moved.get((r.symbol, status.value), 0)

        return [
            SymbolSummary(
                symbol=r.symbol,
                provider=r.provider,
                feed=r.feed,
                tracked=bool(r.tracked),
                sessions=int(r.sessions),
                complete=count_of(r, CoverageStatus.COMPLETE),
                partial=count_of(r, CoverageStatus.PARTIAL),
                in_progress=count_of(r, CoverageStatus.IN_PROGRESS),
                empty=count_of(r, CoverageStatus.EMPTY),
                error=count_of(r, CoverageStatus.ERROR),
                rows=int(r.rows),
                first_session=r.first_session,
                last_session=r.last_session,
                last_fetched_at=as_utc(r.last_fetched_at),
            )
            for r in rows
        ]

    def monthly(self) -> list[MonthCoverage]:
        """Sessions per symbol, calendar month and status (a damaged bars file's session
        counts as error), in one grouped query whatever the number of symbols."""
        c = tables.coverage.c
        f = tables.partition_files.c
        damaged = (
            select(f.symbol, f.session_date)
            .where(and_(f.kind == "bars", f.status != "ok"))
            .distinct()
            .subquery()
        )
        status = case((damaged.c.symbol.is_not(None), "error"), else_=c.status)
        year = extract("year", c.session_date)
        month = extract("month", c.session_date)
        stmt = (
            select(c.symbol, year.label("y"), month.label("m"), status.label("s"), func.count())
            .select_from(
                tables.coverage.outerjoin(
                    damaged,
                    and_(damaged.c.symbol == c.symbol, damaged.c.session_date == c.session_date),
                )
            )
            .group_by(c.symbol, year, month, status)
        )
        with self.store.engine.connect() as conn:
            found = conn.execute(stmt).fetchall()
        cells: dict[tuple[str, str], dict[str, int]] = {}
        for symbol, y, m, st, n in found:
            cell = cells.setdefault((symbol, f"{int(y):04d}-{int(m):02d}"), {})
            cell[st] = cell.get(st, 0) + int(n)
        return [
            MonthCoverage(
                symbol=symbol,
                month=month_name,
                complete=counts.get("complete", 0),
                partial=counts.get("partial", 0),
                in_progress=counts.get("in_progress", 0),
                empty=counts.get("empty", 0),
                error=counts.get("error", 0),
            )
            for (symbol, month_name), counts in sorted(cells.items())
        ]
