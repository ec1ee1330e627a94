"""The backfill service: plan, fetch, validate, gap-scan, persist and record coverage.

Used by the CLI in the foreground and by the backfill agent's jobs. Everything before the
first write is validation, so bad input changes nothing; every session is persisted
atomically and recorded in the coverage ledger, which is the checkpoint a re-run resumes
from (complete sessions are skipped).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime

import pyarrow as pa

from stockdb.bars import Rejection
from stockdb.calendar import Session, TradingCalendar
from stockdb.clock import Clock
from stockdb.errors import Conflict, InvalidInput, UnknownSymbol
from stockdb.ingest.fetching import coverage_record, fetch_by_symbol
from stockdb.ingest.gapscan import judge_session, sessions_needing_refetch
from stockdb.ingest.planning import month_chunks, split_by_session
from stockdb.lake.parquet_lake import Lineage, ParquetLake, WriteMode
from stockdb.providers.base import BarSource
from stockdb.state.coverage import CoverageRecord, CoverageRepo, CoverageStatus
from stockdb.symbols import normalize_symbols

__all__ = [
    "ROUND_SYMBOLS",
    "BackfillService",
    "IngestSummary",
    "ProgressFn",
    "describe_replaced",
    "plan_sessions",
]

ProgressFn = Callable[[int, int, str], None]
log = logging.getLogger("stockdb.ingest")
# Symbols persisted in one durable write round (their writer locks held together): a month
# of 32 symbols is ~700 files, enough to batch the fsyncs and the ledger transaction (rounds
# of 16 measured ~10% slower); few enough to bound what a round holds (each PostgreSQL
# advisory lock is one connection).
ROUND_SYMBOLS = 32

_STATUS: dict[str, CoverageStatus] = {
    "ok": CoverageStatus.COMPLETE,
    "in_progress": CoverageStatus.IN_PROGRESS,
    "cut_short": CoverageStatus.PARTIAL,
    "empty": CoverageStatus.EMPTY,
}


@dataclass(slots=True)
class IngestSummary:
    """What an ingest did; printed by the CLI, returned by the API, stored with the job."""

    provider: str
    feed: str
    symbols: list[str]
    sessions_planned: int = 0
    sessions_fetched: int = 0
    sessions_skipped: int = 0
    sessions_complete: int = 0
    sessions_partial: int = 0
    sessions_empty: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    gap_refetches: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    rate_limit_wait_s: float = 0.0
    elapsed_s: float = 0.0
    stopped: bool = False
    rejections: dict[str, int] = field(default_factory=dict)
    no_data: list[str] = field(default_factory=list)
    # --replace: the stored sessions rewritten, by symbol (ISO dates), and how many were kept
    # because the provider served nothing for them.
    replaced: dict[str, list[str]] = field(default_factory=dict)
    replace_kept: int = 0

    @property
    def sessions_replaced(self) -> int:
        return sum(len(v) for v in self.replaced.values())

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "sessions_replaced": self.sessions_replaced}


def describe_replaced(summary: IngestSummary) -> str:
    """One line saying what a --replace rewrote (per symbol: count and date span)."""
    parts = [
        f"{symbol} {len(days)} ({days[0]}..{days[-1]})" if len(days) > 1 else f"{symbol} {days[0]}"
        for symbol, days in sorted(summary.replaced.items())
        if days
    ]
    line = "replaced sessions: " + (", ".join(parts) if parts else "none")
    if summary.replace_kept:
        line += f"; kept {summary.replace_kept} stored sessions the provider served nothing for"
    return line + "; other sessions untouched"


def plan_sessions(
    calendar: TradingCalendar, now: datetime, start: date, end: date
) -> list[Session]:
    """The sessions ``start..end`` (inclusive) that have begun by ``now``; touches no storage.

    Raises InvalidInput for start after end, dates off the calendar, or a range with no session.
    """
    sessions = [s for s in calendar.sessions(start, end) if s.extended_open <= now]
    if not sessions:
        raise InvalidInput(f"no trading sessions between {start} and {end}")
    return sessions


class BackfillService:
    """Fills the lake with 1-minute bars for symbols and session-date ranges."""

    def __init__(
        self,
        lake: ParquetLake,
        coverage: CoverageRepo,
        calendar: TradingCalendar,
        clock: Clock,
        max_gap_retries: int = 2,
    ) -> None:
        self.lake = lake
        self.coverage = coverage
        self.calendar = calendar
        self.clock = clock
        self.max_gap_retries = max_gap_retries

    def plan(self, symbols: Sequence[str], start: date, end: date) -> list[Session]:
        """Validate the request and return the sessions it covers (see :func:`plan_sessions`)."""
        normalize_symbols(symbols)
        return plan_sessions(self.calendar, self.clock.now(), start, end)

    def run(
        self,
        symbols: Sequence[str],
        start: date,
        end: date,
        provider: BarSource,
        progress: ProgressFn | None = None,
        replace: bool = False,
        should_stop: Callable[[], bool] | None = None,
    ) -> IngestSummary:
        """Ingest ``symbols`` for sessions ``start..end`` (inclusive) from ``provider``.

        Skips sessions recorded complete (unless their file is gone); re-requests gaps up to
        ``max_gap_retries`` times. ``replace`` re-fetches every session of the range and makes
        each stored one exactly what the provider serves now; sessions outside the range are
        never touched (``summary.replaced`` names the rewritten ones). Raises Conflict when a
        symbol holds another provider's bars, unless ``replace`` is set and the range covers
        every stored session of it (a provider switch rewrites the whole symbol or nothing).
        When ``should_stop`` turns true, stops between chunks (everything done so far is kept
        and recorded) and marks the summary stopped.
        """
        began = time.monotonic()
        names = normalize_symbols(symbols)
        sessions = self.plan(names, start, end)
        lineage = Lineage(provider.name, provider.feed)
        switching = self._check_lineage(names, lineage, start, end, replace)
        summary = IngestSummary(provider.name, provider.feed, names)
        stats_before = provider.stats.snapshot()
        todo: dict[str, list[Session]] = {}
        flagged: dict[str, set[date]] = {}
        for symbol in names:
            flagged[symbol] = self.lake.flagged_sessions(symbol)
            complete = set() if replace else self._complete_sessions(symbol, start, end)
            todo[symbol] = [s for s in sessions if s.date not in complete - flagged[symbol]]
            summary.sessions_planned += len(sessions)
            summary.sessions_skipped += len(sessions) - len(todo[symbol])
        total = sum(len(v) for v in todo.values())
        done = 0
        if progress:
            progress(0, total, "planned")
        months = sorted({c.key for v in todo.values() for c in month_chunks(v)})
        for month in months:
            if should_stop is not None and should_stop():
                summary.stopped = True
                break
            wanted = {
                sym: [s for s in todo[sym] if s.date.strftime("%Y-%m") == month] for sym in names
            }
            wanted = {sym: ss for sym, ss in wanted.items() if ss}
            fetched = self._fetch(provider, wanted, summary)
            ordered = list(wanted)
            for first in range(0, len(ordered), ROUND_SYMBOLS):
                chunk = {sym: wanted[sym] for sym in ordered[first : first + ROUND_SYMBOLS]}
                self._persist(
                    chunk,
                    fetched,
                    lineage,
                    summary,
                    replace,
                    switching=switching,
                    damaged=flagged,
                )
                for symbol, needed in chunk.items():
                    done += len(needed)
                    if progress:
                        progress(done, total, f"{symbol} {month}")
        after = provider.stats.since(stats_before)
        summary.requests = after.requests
        summary.retries = after.retries
        summary.rate_limited = after.rate_limited
        summary.rate_limit_wait_s = round(after.wait_s, 3)
        summary.elapsed_s = round(time.monotonic() - began, 3)
        if summary.no_data and set(summary.no_data) == set(names) and not summary.stopped:
            raise UnknownSymbol(
                f"the {provider.name} provider has no bars for {', '.join(summary.no_data)} "
                f"between {start} and {end}: unknown symbol, or not trading then"
            )
        log.info(
            "ingest finished",
            extra={"stage": "ingest", "summary": summary.to_dict()},
        )
        return summary

    def _check_lineage(
        self, names: list[str], lineage: Lineage, start: date, end: date, replace: bool
    ) -> set[str]:
        """The symbols whose stored bars come from another provider and will be switched.

        Raises Conflict without ``replace``, or when the range leaves some stored sessions of
        such a symbol outside (they would mix two providers in one symbol).
        """
        switching: set[str] = set()
        for symbol in names:
            existing = self.lake.lineage(symbol)
            if existing is None or existing == lineage:
                continue
            if not replace:
                self.lake.check_lineage(symbol, lineage)
            stored = self.lake.partition_names(symbol)
            outside = [n for n in stored if not start <= date.fromisoformat(n[3:]) <= end]
            if outside:
                raise Conflict(
                    f"{symbol} holds {existing.describe()} bars on {len(outside)} sessions "
                    f"outside {start}..{end}; --replace rewrites only the asked sessions, so "
                    f"ask for every stored one ({stored[0][3:]}..{stored[-1][3:]}) to switch "
                    f"it to {lineage.describe()}"
                )
            switching.add(symbol)
        return switching

    def _complete_sessions(self, symbol: str, start: date, end: date) -> set[date]:
        """Sessions recorded complete whose file (when they hold bars) is still there."""
        known = self.coverage.sessions(symbol, start, end)
        names = self.lake.partition_names(symbol, start, end)
        stored = {d for d, _ in self.lake.existing(symbol, names)}
        return {
            d
            for d, rec in known.items()
            if rec.status is CoverageStatus.COMPLETE and (rec.rows == 0 or d in stored)
        }

    # ---- fetching ----------------------------------------------------------------------
    def _fetch_range(
        self,
        provider: BarSource,
        symbols: list[str],
        lo: datetime,
        hi: datetime,
        summary: IngestSummary,
    ) -> dict[str, pa.Table]:
        def count(rejection: Rejection) -> None:
            summary.rejections[rejection.reason] = (
                summary.rejections.get(rejection.reason, 0) + rejection.rows
            )
            summary.rows_rejected += rejection.rows

        return fetch_by_symbol(provider, symbols, lo, hi, count)

    def _split(self, symbol: str, bars: pa.Table, summary: IngestSummary) -> dict[date, pa.Table]:
        split = split_by_session(bars, self.calendar)
        if split.outside:
            reason = "ts outside the extended session"
            summary.rejections[reason] = summary.rejections.get(reason, 0) + split.outside
            summary.rows_rejected += split.outside
            log.warning(
                "rejected bars",
                extra={
                    "stage": "validate",
                    "symbol": symbol,
                    "reason": reason,
                    "rows": split.outside,
                },
            )
        return split.by_session

    def _fetch(
        self, provider: BarSource, wanted: dict[str, list[Session]], summary: IngestSummary
    ) -> dict[str, dict[date, pa.Table]]:
        """Fetch every wanted session, then re-request the gaps a bounded number of times."""
        if not wanted:
            return {}
        lo = min(s.extended_open for ss in wanted.values() for s in ss)
        hi = max(s.extended_close for ss in wanted.values() for s in ss)
        raw = self._fetch_range(provider, list(wanted), lo, hi, summary)
        result: dict[str, dict[date, pa.Table]] = {}
        for symbol, needed in wanted.items():
            dates = {s.date for s in needed}
            by_session = {
                d: t for d, t in self._split(symbol, raw[symbol], summary).items() if d in dates
            }
            for _attempt in range(self.max_gap_retries):
                gaps = sessions_needing_refetch(needed, by_session, self.clock.now())
                if not gaps:
                    break
                for verdict in gaps:
                    s = verdict.session
                    summary.gap_refetches += 1
                    log.info(
                        "re-requesting gap",
                        extra={
                            "stage": "gap-scan",
                            "symbol": symbol,
                            "session": s.date.isoformat(),
                            "reason": verdict.reason,
                        },
                    )
                    again = self._fetch_range(
                        provider, [symbol], s.extended_open, s.extended_close, summary
                    )[symbol]
                    fresh = self._split(symbol, again, summary).get(s.date)
                    if fresh is not None and fresh.num_rows:
                        old = by_session.get(s.date)
                        by_session[s.date] = (
                            fresh if old is None else pa.concat_tables([old, fresh])
                        )
            result[symbol] = by_session
        return result

    # ---- persisting --------------------------------------------------------------------
    def _persist(
        self,
        wanted: dict[str, list[Session]],
        fetched: dict[str, dict[date, pa.Table]],
        lineage: Lineage,
        summary: IngestSummary,
        replace: bool = False,
        switching: set[str] | None = None,
        damaged: dict[str, set[date]] | None = None,
    ) -> None:
        """Write a chunk's sessions of several symbols in one all-or-nothing round, then record
        them in the coverage ledger (one transaction).

        With ``replace`` each served session is written exactly as served; a stored session the
        provider served nothing for is kept (or, when the symbol is ``switching`` providers,
        moved to the quarantine folder so two providers never mix), never deleted. Sessions in
        ``damaged`` (known damaged or missing files) are rewritten as served, the damaged file
        set aside.
        """
        switching = switching or set()
        damaged = damaged or {}
        now = self.clock.now()
        trades: dict[str, bool] = {}
        absent: set[str] = set()
        for symbol in wanted:
            trades[symbol] = any(t.num_rows for t in fetched.get(symbol, {}).values())
            if not trades[symbol] and not self.lake.partition_names(symbol):
                # Nothing ever stored and nothing served: an unknown or not-yet-listed symbol.
                # Record nothing, so a typo leaves no trace; the summary names it.
                absent.add(symbol)
                if symbol not in summary.no_data:
                    summary.no_data.append(symbol)
        wanted = {s: ss for s, ss in wanted.items() if s not in absent}
        if not wanted:
            return
        previous = {
            s: self.coverage.sessions(s, ss[0].date, ss[-1].date) for s, ss in wanted.items()
        }
        records: list[CoverageRecord] = []
        with self.lake.writers(wanted):
            stored_before = {
                s: set(self.lake.partition_names(s, ss[0].date, ss[-1].date))
                for s, ss in wanted.items()
            }
            items: dict[str, dict[date, tuple[pa.Table, WriteMode]]] = {}
            for symbol, needed in wanted.items():
                by_session = fetched.get(symbol, {})
                items[symbol] = {
                    s.date: (
                        bars,
                        "replace"
                        if replace or s.date in damaged.get(symbol, set())
                        else self._mode(s, previous[symbol].get(s.date), now, bars),
                    )
                    for s in needed
                    if (bars := by_session.get(s.date)) is not None and bars.num_rows
                }
            written = self.lake.write_sessions_many(items, lineage, unchecked=switching)
            for symbol, needed in wanted.items():
                if replace:
                    self._note_replaced(
                        symbol,
                        needed,
                        items[symbol],
                        stored_before[symbol],
                        symbol in switching,
                        summary,
                    )
                for session in needed:
                    result = written[symbol].get(session.date)
                    if result is not None:
                        stored = result.table
                        summary.rows_written += result.rows_added + result.rows_replaced
                    else:
                        stored = self.lake.read_session(symbol, session.date)
                    records.append(
                        self._coverage_record(
                            symbol,
                            session,
                            stored,
                            lineage,
                            now,
                            trades[symbol],
                            previous[symbol].get(session.date),
                            summary,
                        )
                    )
            self.coverage.ensure_symbols(list(wanted), lineage.provider, lineage.feed)
            self.coverage.record(records)
        per_symbol: dict[str, list[int]] = {symbol: [] for symbol in wanted}
        for record in records:
            per_symbol[record.symbol].append(record.rows)
        for symbol, rows in per_symbol.items():  # one line each: logs are filtered by symbol
            log.info(
                "persisted sessions",
                extra={
                    "stage": "persist",
                    "symbol": symbol,
                    "sessions": len(rows),
                    "rows": sum(rows),
                },
            )

    def _note_replaced(
        self,
        symbol: str,
        needed: list[Session],
        items: dict[date, tuple[pa.Table, WriteMode]],
        stored_before: set[str],
        switching: bool,
        summary: IngestSummary,
    ) -> None:
        """Record which stored sessions --replace rewrote; set aside the unserved ones of a
        provider switch (caller holds the writer lock)."""
        for session in needed:
            name = f"dt={session.date.isoformat()}"
            if name not in stored_before:
                continue
            if session.date in items:
                summary.replaced.setdefault(symbol, []).append(session.date.isoformat())
            elif switching:
                moved = self.lake.quarantine(symbol, session.date, "replaced", self.clock.now())
                log.warning(
                    "moved a session the new provider did not serve to quarantine",
                    extra={"stage": "persist", "symbol": symbol, "path": str(moved)},
                )
            else:
                summary.replace_kept += 1

    @staticmethod
    def _coverage_record(
        symbol: str,
        session: Session,
        stored: pa.Table,
        lineage: Lineage,
        now: datetime,
        symbol_trades: bool,
        prior: CoverageRecord | None,
        summary: IngestSummary,
    ) -> CoverageRecord:
        verdict = judge_session(session, stored, now, symbol_trades)
        status = _STATUS.get(verdict.verdict, CoverageStatus.ERROR)
        summary.sessions_fetched += 1
        if status is CoverageStatus.COMPLETE:
            summary.sessions_complete += 1
        elif status in (CoverageStatus.PARTIAL, CoverageStatus.IN_PROGRESS):
            summary.sessions_partial += 1
        else:
            summary.sessions_empty += 1
        return coverage_record(
            symbol,
            session,
            stored,
            lineage,
            status,
            verdict.reason,
            1 if prior is None else prior.attempts + 1,
            now,
        )

    @staticmethod
    def _mode(
        session: Session, prior: CoverageRecord | None, now: datetime, bars: pa.Table
    ) -> WriteMode:
        """Merge by default; a live session takes revised bars; a finished session that was
        recorded in progress is reconciled (replaced) once with the full fetch."""
        if now < session.extended_close:
            return "update"
        if prior is not None and prior.status is CoverageStatus.IN_PROGRESS and bars.num_rows:
            return "replace"
        return "merge"
