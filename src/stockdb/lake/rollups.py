"""Maintained rollups: 1Day (regular and all sessions) and 1Hour bars stored as derived files.

Layout: ``{data}/rollups/tf={NAME}/{SYMBOL}/year={YYYY}/bars.parquet`` with NAME one of
``1Day`` (regular hours), ``1Day-all`` (extended hours included) and ``1Hour`` (all hours).
One file per symbol per year: a year of daily bars is 252 rows, of hourly bars about 4,000,
so a daily panel of a symbol over ten years is ten small files instead of 2,520 minute files.

The raw 1-minute partitions stay the source of truth. Each rollup file records, in its
Parquet metadata, the exact list of session dates it was derived from; a reader uses it only
when that list equals the year's stored minute partitions, otherwise (or when the file is
missing or unreadable) the year is derived on read. Every lake write calls
:meth:`RollupStore.plan` once per symbol with all the sessions it writes, so the files follow
ingest, live updates, ``--replace`` and repair; only the changed sessions are derived, the
other rows are kept, and the new files are written in the same thread-pool round as the
minute files. Files are written atomically and recorded in the integrity ledger
(kind ``rollups``, keyed by their path below the rollups root).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stockdb.bars import BAR_SCHEMA, conform
from stockdb.calendar import TradingCalendar
from stockdb.errors import StockDBError
from stockdb.lake.atomic import TempFile, discard_temp, fsync_dirs, write_temp_files
from stockdb.symbols import normalize_symbol
from stockdb.timeframes import Timeframe, aggregate, parse_timeframe

if TYPE_CHECKING:
    from stockdb.clock import Clock
    from stockdb.state.ledger import FileEntry, PartitionLedger

__all__ = [
    "ROLLUPS",
    "PartitionSource",
    "Rollup",
    "RollupBatch",
    "RollupStore",
    "commit_rollups",
    "derive_bars",
    "invalidate_rollups",
    "rollup_for",
]

_FILE = "bars.parquet"
_SESSIONS_KEY = b"stockdb.rollup_sessions"
_NEW_YORK = ZoneInfo("America/New_York")


class PartitionSource(Protocol):
    """What the rollups need of the lake (the lake itself implements it)."""

    def partition_names(
        self, symbol: str, start: date | None = None, end: date | None = None
    ) -> list[str]: ...

    def read_sessions(self, symbol: str, days: Iterable[date]) -> pa.Table: ...


@dataclass(frozen=True, slots=True)
class Rollup:
    """One maintained derived timeframe."""

    name: str  # folder name below ``tf=``
    timeframe: Timeframe
    regular_only: bool


ROLLUPS: tuple[Rollup, ...] = (
    Rollup("1Day", parse_timeframe("1Day"), True),
    Rollup("1Day-all", parse_timeframe("1Day"), False),
    Rollup("1Hour", parse_timeframe("1Hour"), False),
)


def rollup_for(timeframe: Timeframe, regular_only: bool) -> Rollup | None:
    """The maintained rollup answering ``timeframe`` with that session filter, if any."""
    for rollup in ROLLUPS:
        if rollup.timeframe == timeframe and rollup.regular_only == regular_only:
            return rollup
    return None


def derive_bars(
    minutes: pa.Table, timeframe: Timeframe, regular_only: bool, calendar: TradingCalendar
) -> pa.Table:
    """``timeframe`` bars of time-sorted 1-minute ``minutes`` (the one derivation used both on
    read and for rollups). Daily bars are labelled at 00:00 New York time of the session."""
    if minutes.num_rows == 0:
        return minutes
    if not (regular_only or timeframe.daily):
        return aggregate(minutes, timeframe)  # no session bounds needed
    ts = minutes.column("ts").cast(pa.int64()).to_numpy()
    positions = calendar.session_positions(ts)
    if regular_only:
        inside = positions >= 0
        safe = np.where(inside, positions, 0)
        regular = inside & (ts >= calendar.open_us[safe]) & (ts < calendar.close_us[safe])
        minutes = minutes.filter(pa.array(regular))
        positions = positions[regular]
    if timeframe.daily:
        labels = calendar.extended_open_us[positions] - 4 * 3_600_000_000
        return aggregate(minutes, timeframe, positions, labels)
    return aggregate(minutes, timeframe)


def _ny_midnight_us(day: date) -> int:
    """00:00 New York time of ``day`` in epoch microseconds (daily bars' label)."""
    return int(datetime.combine(day, time(0), _NEW_YORK).timestamp()) * 1_000_000


def _day_span_us(day: date) -> tuple[int, int]:
    """[00:00, next 00:00) New York time of ``day``: every rollup row of that session."""
    return _ny_midnight_us(day), _ny_midnight_us(day + timedelta(days=1))


def _day_bounds(names: Sequence[str]) -> list[date]:
    return [date.fromisoformat(n[3:]) for n in names]


class RollupStore:
    """Reads, maintains and rebuilds the rollup files of one lake."""

    def __init__(
        self,
        root: Path,
        source: PartitionSource,
        calendar: TradingCalendar,
        ledger: PartitionLedger | None,
        clock: Clock,
    ) -> None:
        self.root = root
        self.source = source
        self.calendar = calendar
        self.ledger = ledger
        self.clock = clock

    def path(self, rollup: Rollup, symbol: str, year: int) -> Path:
        return self.root / f"tf={rollup.name}" / normalize_symbol(symbol) / f"year={year}" / _FILE

    def rel_path(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    # ---- reading -------------------------------------------------------------------------
    def read_year(
        self, rollup: Rollup, symbol: str, year: int, names: Sequence[str]
    ) -> pa.Table | None:
        """The rollup rows of ``year`` when its file is current for the minute partitions
        ``names`` (that year's ``dt=`` folder names, all of them); None when it must be
        derived on read (no file, unreadable, or derived from other sessions)."""
        path = self.path(rollup, symbol, year)
        try:
            with pq.ParquetFile(path) as file:  # a third quicker than pq.read_table
                table = file.read()
        except FileNotFoundError:
            return None
        except (OSError, pa.ArrowException) as exc:
            self._mark_damaged(path, str(exc))
            return None
        meta = table.schema.metadata or {}
        if meta.get(_SESSIONS_KEY) != ",".join(n[3:] for n in names).encode():
            return None
        return conform(table)

    def read(
        self,
        rollup: Rollup,
        symbol: str,
        names: Sequence[str],
        lo_day: date | None,
        hi_day: date | None,
    ) -> tuple[pa.Table, list[str]]:
        """Rows of sessions ``lo_day..hi_day`` from the rollup files, and the ``dt=`` names of
        the years that must be derived on read instead. ``names`` are all of the symbol's
        minute partitions (sorted)."""
        pieces: list[pa.Table] = []
        fallback: list[str] = []
        lo_name = None if lo_day is None else f"dt={lo_day.isoformat()}"
        hi_name = None if hi_day is None else f"dt={hi_day.isoformat()}"
        for year, year_names in _by_year(names).items():
            wanted = [
                n
                for n in year_names
                if (lo_name is None or n >= lo_name) and (hi_name is None or n <= hi_name)
            ]
            if not wanted:
                continue
            table = self.read_year(rollup, symbol, year, year_names)
            if table is None:
                fallback += wanted
                continue
            if len(wanted) != len(year_names):
                table = self._between(table, wanted)
            pieces.append(table)
        if not pieces:
            return BAR_SCHEMA.empty_table(), fallback
        return pa.concat_tables(pieces), fallback

    def _between(self, table: pa.Table, wanted: list[str]) -> pa.Table:
        first, last = _day_bounds([wanted[0], wanted[-1]])
        ts = table.column("ts").cast(pa.int64()).to_numpy()
        a = int(np.searchsorted(ts, _day_span_us(first)[0], side="left"))
        b = int(np.searchsorted(ts, _day_span_us(last)[1], side="left"))
        return table.slice(a, max(0, b - a))

    def _mark_damaged(self, path: Path, reason: str) -> None:
        if self.ledger is not None:
            with contextlib.suppress(StockDBError, ValueError):
                self.ledger.mark("rollups", self.rel_path(path), "damaged", reason[:500])

    # ---- maintaining ---------------------------------------------------------------------
    def plan(self, symbol: str, changed: dict[date, pa.Table | None]) -> RollupBatch:
        """Derive ``symbol``'s rollups for after the sessions in ``changed`` are written (their
        new 1-minute bars) or removed (None); nothing is written yet.

        The caller holds the writer lock, writes the batch's :meth:`RollupBatch.files` to temp
        files (:meth:`RollupBatch.written`), records them in the ledger, then calls, in order,
        :func:`invalidate_rollups` (before renaming the minute files), the renames, and
        :func:`commit_rollups`. A crash in between leaves no stale rollup: readers derive
        those years until a rebuild.
        """
        symbol = normalize_symbol(symbol)
        batch = RollupBatch(self)
        by_year = _by_year(self.source.partition_names(symbol))
        for year in sorted({d.year for d in changed}):
            in_year = {d: t for d, t in changed.items() if d.year == year}
            self._prepare_year(batch, symbol, year, by_year.get(year, []), in_year)
        return batch

    def prepare(self, symbol: str, changed: dict[date, pa.Table | None]) -> RollupBatch:
        """:meth:`plan`, then its files written to durable temp files recorded in the ledger."""
        batch = self.plan(symbol, changed)
        try:
            batch.write()
            batch.record()
        except BaseException:
            batch.discard()
            raise
        return batch

    def rebuild(self, symbol: str) -> int:
        """Derive every rollup file of ``symbol`` from its minute partitions again (caller
        holds the writer lock); returns the number of files written."""
        symbol = normalize_symbol(symbol)
        batch = RollupBatch(self)
        try:
            by_year = _by_year(self.source.partition_names(symbol))
            for year, year_names in by_year.items():
                self._prepare_year(batch, symbol, year, year_names, {}, full=True)
            for rollup in ROLLUPS:  # years whose minute files are all gone
                folder = self.path(rollup, symbol, 2000).parent.parent
                for old in sorted(folder.glob("year=*/" + _FILE)) if folder.is_dir() else []:
                    if int(old.parent.name.removeprefix("year=")) not in by_year:
                        batch.gone.append(old)
            batch.write()
            batch.record()
        except BaseException:
            batch.discard()
            raise
        batch.invalidate()
        return batch.commit()

    def _prepare_year(
        self,
        batch: RollupBatch,
        symbol: str,
        year: int,
        year_names: list[str],
        changed: dict[date, pa.Table | None],
        full: bool = False,
    ) -> None:
        removed = {d for d, t in changed.items() if t is None}
        stored = {date.fromisoformat(n[3:]) for n in year_names} - removed
        unchanged = sorted(stored - set(changed))
        fresh = {d: t for d, t in changed.items() if t is not None and t.num_rows}
        days = sorted(set(unchanged) | set(fresh))
        minutes: pa.Table | None = None
        new_minutes = _concat([fresh[d] for d in sorted(fresh)]) if days else None
        for rollup in ROLLUPS:
            dest = self.path(rollup, symbol, year)
            if not days:
                batch.gone.append(dest)
                continue
            kept = None if full else self._kept_rows(rollup, symbol, year, unchanged, set(changed))
            if kept is None:  # the stored file cannot be trusted: derive the whole year
                if minutes is None:
                    try:
                        minutes = self.source.read_sessions(symbol, unchanged)
                    except StockDBError:  # a damaged minute file: readers derive this year
                        batch.gone += [self.path(r, symbol, year) for r in ROLLUPS]
                        return
                kept = derive_bars(minutes, rollup.timeframe, rollup.regular_only, self.calendar)
            assert new_minutes is not None  # set whenever days is not empty
            new = derive_bars(new_minutes, rollup.timeframe, rollup.regular_only, self.calendar)
            table = _sorted(pa.concat_tables([conform(kept), conform(new)]))
            batch.add(symbol, year, dest, table, days)

    def _kept_rows(
        self, rollup: Rollup, symbol: str, year: int, unchanged: list[date], changed: set[date]
    ) -> pa.Table | None:
        """The stored rows of the unchanged sessions, or None when the file is not exactly
        derived from them plus (some of) the changed ones."""
        path = self.path(rollup, symbol, year)
        if not path.exists():  # cheaper than letting the Parquet reader find out
            return BAR_SCHEMA.empty_table() if not unchanged else None
        try:
            with pq.ParquetFile(path) as file:
                table = file.read()
        except FileNotFoundError:
            return BAR_SCHEMA.empty_table() if not unchanged else None
        except (OSError, pa.ArrowException):
            return None
        raw = (table.schema.metadata or {}).get(_SESSIONS_KEY, b"").decode()
        had = {date.fromisoformat(s) for s in raw.split(",") if s}
        if had - changed != set(unchanged):
            return None
        if not had & changed:
            return conform(table)
        ts = table.column("ts").cast(pa.int64()).to_numpy()
        keep = np.ones(ts.shape, dtype=bool)
        for day in had & changed:
            lo, hi = _day_span_us(day)
            keep &= ~((ts >= lo) & (ts < hi))
        return conform(table.filter(pa.array(keep)))

    def entry(self, symbol: str, year: int, tmp: TempFile, dest: Path, rows: int) -> FileEntry:
        from stockdb.state.ledger import FileEntry

        rel = self.rel_path(dest)
        return FileEntry(
            "rollups", rel, symbol, date(year, 1, 1), rows, tmp.size, tmp.checksum, self.clock.now()
        )

    def current(self, path: Path, symbol: str, year: int) -> str | None:
        """Why the rollup file at ``path`` is not current for the minute partitions (None when
        it is): verify reports it."""
        names = _by_year(self.source.partition_names(symbol)).get(year, [])
        try:
            meta = pq.read_schema(path).metadata or {}
        except (OSError, pa.ArrowException) as exc:
            return f"unreadable: {exc}"[:300]
        if meta.get(_SESSIONS_KEY) != ",".join(n[3:] for n in names).encode():
            return "stale: derived from other sessions than the stored minute partitions"
        return None


class RollupBatch:
    """Rollup files derived for one lake write: tables, then temp files until committed."""

    def __init__(self, store: RollupStore) -> None:
        self.store = store
        self.planned: list[tuple[str, int, Path, pa.Table]] = []
        self.pending: list[tuple[Path, Path, FileEntry | None]] = []
        self.gone: list[Path] = []
        self.new_folders: set[Path] = set()

    def add(self, symbol: str, year: int, dest: Path, table: pa.Table, days: list[date]) -> None:
        meta = {_SESSIONS_KEY: ",".join(d.isoformat() for d in days).encode()}
        if not dest.parent.exists():
            self.new_folders.add(dest.parent)
        self.planned.append((symbol, year, dest, table.replace_schema_metadata(meta)))

    def files(self) -> list[tuple[pa.Table, Path]]:
        """The ``(table, destination)`` of every file this batch writes."""
        return [(table, dest) for _, _, dest, table in self.planned]

    def written(self, temps: Sequence[TempFile]) -> None:
        """Take the temp files :meth:`files` were written to (same order)."""
        for (symbol, year, dest, table), tmp in zip(self.planned, temps, strict=True):
            entry = None
            if self.store.ledger is not None:
                entry = self.store.entry(symbol, year, tmp, dest, table.num_rows)
            self.pending.append((tmp.path, dest, entry))
        self.planned.clear()

    def write(self) -> None:
        """Write :meth:`files` to durable temp files (one thread-pool round)."""
        self.written(write_temp_files(self.files()))

    def entries(self) -> list[FileEntry]:
        """Ledger entries of the written temp files."""
        return [e for *_, e in self.pending if e is not None]

    def record(self) -> None:
        """Write-ahead: the new files' checksums go into the ledger before any rename."""
        entries = self.entries()
        if self.store.ledger is not None and entries:
            self.store.ledger.record(entries)

    def discard(self) -> None:
        for tmp, *_ in self.pending:
            discard_temp(tmp)
        self.pending.clear()

    def invalidate(self) -> None:
        """Remove the rollup files this batch replaces (before the minute files change)."""
        invalidate_rollups([self])

    def commit(self) -> int:
        """Rename the new files into place; returns how many."""
        return commit_rollups([self])


def invalidate_rollups(batches: Sequence[RollupBatch], pool: Executor | None = None) -> None:
    """Remove the rollup files the batches replace, durably (before the minute files change);
    the folders are fsync'd in ``pool`` when given."""
    removed: set[Path] = set()
    for batch in batches:
        for path in [dest for _, dest, _ in batch.pending] + batch.gone:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.add(path.parent)
    fsync_dirs(sorted(removed), pool)


def commit_rollups(batches: Sequence[RollupBatch], pool: Executor | None = None) -> int:
    """Rename the batches' new files into place, make the renames (and new year, symbol and
    timeframe folders) durable together (in ``pool`` when given), and forget the ledger
    entries of removed files; returns how many files were committed."""
    folders: set[Path] = set()
    count = 0
    for batch in batches:
        for tmp, dest, _ in batch.pending:
            tmp.replace(dest)
            folders.add(dest.parent)
            if dest.parent in batch.new_folders:  # new year (symbol, tf) folders: durable too
                folders.update((dest.parent.parent, dest.parent.parent.parent))
        count += len(batch.pending)
    fsync_dirs(sorted(folders), pool)
    for batch in batches:
        if batch.gone and batch.store.ledger is not None:
            batch.store.ledger.forget("rollups", [batch.store.rel_path(p) for p in batch.gone])
    return count


def _by_year(names: Sequence[str]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for n in names:
        out.setdefault(int(n[3:7]), []).append(n)
    return out


def _concat(tables: list[pa.Table]) -> pa.Table:
    if not tables:
        return BAR_SCHEMA.empty_table()
    # one contiguous table: the derivation filters and converts each column once, not per chunk
    return pa.concat_tables([conform(t) for t in tables]).combine_chunks()


def _sorted(table: pa.Table) -> pa.Table:
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    if ts.size > 1 and not bool(np.all(ts[1:] > ts[:-1])):
        table = table.take(pa.array(np.argsort(ts, kind="stable")))
    return table
