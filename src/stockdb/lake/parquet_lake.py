"""The bars lake: one Parquet file per symbol per session, written atomically, merged idempotently.

Layout: ``{root}/{SYMBOL}/dt={YYYY-MM-DD}/bars.parquet`` where ``dt`` is the New York session
date. Every invariant of stored bars is enforced here and only here: schema and UTC
microseconds, sorted unique ``ts``, one provider per symbol, atomic replacement, one writer
per symbol at a time.
"""

from __future__ import annotations

import bisect
import contextlib
import os
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stockdb.bars import BAR_SCHEMA, SCHEMA_VERSION, conform
from stockdb.clock import Clock, SystemClock
from stockdb.errors import (
    Conflict,
    DamagedPartition,
    DataIntegrityError,
    StockDBError,
)
from stockdb.lake.atomic import remove_stale_temp_files
from stockdb.lake.flush import FlushRound, PartitionWrite
from stockdb.lake.integrity import damaged, quarantine_file
from stockdb.lake.locks import SymbolLocks
from stockdb.symbols import SYMBOL_PATTERN, normalize_symbol

if TYPE_CHECKING:
    from stockdb.calendar import TradingCalendar
    from stockdb.lake.rollups import RollupStore
    from stockdb.state.ledger import PartitionLedger

__all__ = ["Lineage", "ParquetLake", "SessionWrites", "WriteMode", "WriteResult"]

WriteMode = Literal["merge", "update", "replace"]
# What one symbol's write asks for: per session, the bars and how they combine with the file.
SessionWrites = Mapping[date, tuple[pa.Table, WriteMode]]
_FILE = "bars.parquet"
_META_PREFIX = b"stockdb."


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where a symbol's bars came from; stored in every file's Parquet metadata."""

    provider: str
    feed: str
    adjustment: str = "raw"

    def metadata(self) -> dict[bytes, bytes]:
        return {
            _META_PREFIX + b"provider": self.provider.encode(),
            _META_PREFIX + b"feed": self.feed.encode(),
            _META_PREFIX + b"adjustment": self.adjustment.encode(),
            _META_PREFIX + b"schema_version": SCHEMA_VERSION.encode(),
        }

    @classmethod
    def from_metadata(cls, meta: dict[bytes, bytes] | None) -> Lineage | None:
        if not meta or _META_PREFIX + b"provider" not in meta:
            return None
        return cls(
            provider=meta[_META_PREFIX + b"provider"].decode(),
            feed=meta.get(_META_PREFIX + b"feed", b"").decode(),
            adjustment=meta.get(_META_PREFIX + b"adjustment", b"raw").decode(),
        )

    def describe(self) -> str:
        return f"{self.provider}/{self.feed}"


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one session write did."""

    rows_added: int
    rows_replaced: int
    table: pa.Table

    @property
    def changed(self) -> bool:
        return self.rows_added > 0 or self.rows_replaced > 0


def _ts_us(table: pa.Table) -> np.ndarray:
    ts = table.column("ts")
    if ts.num_chunks == 1 and not ts.null_count:  # zero-copy view of the microseconds
        return ts.chunk(0).view(pa.int64()).to_numpy()
    return ts.cast(pa.int64()).to_numpy()


def _sorted_unique(table: pa.Table) -> pa.Table:
    """Sort by ts and keep the first row of each ts."""
    if table.num_rows == 0:
        return table
    ts = _ts_us(table)
    if ts.size > 1 and bool(np.all(ts[1:] > ts[:-1])):
        return table  # already strictly increasing: the common case, no copy
    table = table.take(pc.sort_indices(table, sort_keys=[("ts", "ascending")]))
    ts = _ts_us(table)
    if ts.size > 1 and (ts[1:] == ts[:-1]).any():
        keep = np.concatenate(([True], ts[1:] != ts[:-1]))
        table = table.filter(pa.array(keep))
    return table


class ParquetLake:
    """Reads and writes the per-session Parquet partitions under ``root``."""

    def __init__(
        self,
        root: Path,
        locks: SymbolLocks,
        ledger: PartitionLedger | None = None,
        clock: Clock | None = None,
        quarantine_root: Path | None = None,
        rollups_root: Path | None = None,
        calendar: TradingCalendar | None = None,
    ) -> None:
        self.root = root
        self.locks = locks
        self.ledger = ledger
        self.clock: Clock = clock or SystemClock()
        self.quarantine_root = quarantine_root or root.parent / "quarantine"
        self._rollups_root = rollups_root or root.parent / "rollups"
        self._calendar = calendar

    @cached_property
    def rollups(self) -> RollupStore:
        """The maintained 1Day/1Hour rollups every write of this lake keeps up to date."""
        from stockdb.calendar import TradingCalendar
        from stockdb.lake.rollups import RollupStore

        calendar = self._calendar or TradingCalendar()
        return RollupStore(self._rollups_root, self, calendar, self.ledger, self.clock)

    def rel_path(self, path: Path) -> str:
        """``path`` relative to the lake root, as the integrity ledger keys it."""
        return path.relative_to(self.root).as_posix()

    # ---- paths and listing -------------------------------------------------------------
    def symbol_dir(self, symbol: str) -> Path:
        return self.root / normalize_symbol(symbol)

    def partition_path(self, symbol: str, day: date) -> Path:
        return self.symbol_dir(symbol) / f"dt={day.isoformat()}" / _FILE

    def symbols(self) -> list[str]:
        """Every symbol with at least one stored session, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if SYMBOL_PATTERN.fullmatch(p.name) and p.is_dir() and self.session_paths(p.name)
        )

    def _partition_names(self, folder: Path) -> list[str]:
        """Sorted ``dt=`` folder names (no per-folder stat: callers check the ones they use)."""
        try:
            names = [e.name for e in os.scandir(folder) if e.name.startswith("dt=")]
        except (FileNotFoundError, NotADirectoryError):
            return []
        names.sort()
        return names

    def sessions(self, symbol: str) -> list[date]:
        """Stored session dates of ``symbol``, oldest first."""
        return [d for d, _ in self.session_paths(symbol)]

    def partition_names(
        self, symbol: str, start: date | None = None, end: date | None = None
    ) -> list[str]:
        """Sorted ``dt=`` folder names with ``start <= dt <= end``, unchecked (cheap).

        Pair with :meth:`existing` on the few a caller actually reads.
        """
        names = self._partition_names(self.symbol_dir(symbol))
        lo = 0 if start is None else bisect.bisect_left(names, f"dt={start.isoformat()}")
        hi = len(names) if end is None else bisect.bisect_right(names, f"dt={end.isoformat()}")
        return names[lo:hi]

    def unchecked_files(self, symbol: str, names: list[str]) -> list[str]:
        """The file paths of the named partitions, with no ``stat`` per file: a reader of them
        must handle a missing one (a crashed first write) itself."""
        folder = str(self.symbol_dir(symbol))
        return [f"{folder}/{n}/{_FILE}" for n in names]

    def existing(self, symbol: str, names: list[str]) -> list[tuple[date, Path]]:
        """(session date, file) for the named partitions whose file exists.

        A folder without its file is a crashed first write of that session: not stored.
        """
        folder = self.symbol_dir(symbol)
        picked = [(date.fromisoformat(n[3:]), folder / n / _FILE) for n in names]
        return [(d, p) for d, p in picked if p.exists()]

    def session_paths(
        self, symbol: str, start: date | None = None, end: date | None = None
    ) -> list[tuple[date, Path]]:
        """Partitions with ``start <= dt <= end`` (inclusive), pruned from the sorted listing."""
        return self.existing(symbol, self.partition_names(symbol, start, end))

    # ---- reading -----------------------------------------------------------------------
    def read_session(self, symbol: str, day: date) -> pa.Table:
        """The stored bars of one session (empty table when none)."""
        path = self.partition_path(symbol, day)
        if not path.exists():
            return BAR_SCHEMA.empty_table()
        try:
            return conform(pq.read_table(path))
        except (OSError, pa.ArrowException) as exc:
            raise self.report_damaged(path, str(exc)) from exc

    def read_sessions(self, symbol: str, days: Iterable[date]) -> pa.Table:
        """The stored bars of the sessions ``days`` (in date order), one table."""
        tables = [self.read_session(symbol, d) for d in sorted(days)]
        tables = [t for t in tables if t.num_rows]
        return pa.concat_tables(tables) if tables else BAR_SCHEMA.empty_table()

    def report_damaged(self, path: Path, reason: str) -> DamagedPartition:
        """Mark ``path`` damaged in the ledger (best effort) and return the error to raise."""
        if self.ledger is not None:
            with contextlib.suppress(StockDBError, ValueError):
                self.ledger.mark("bars", self.rel_path(path), "damaged", reason[:500])
        return damaged(path, reason)

    def flagged_sessions(self, symbol: str) -> set[date]:
        """Sessions of ``symbol`` whose file the ledger knows damaged or missing."""
        if self.ledger is None:
            return set()
        entries = self.ledger.entries("bars", [normalize_symbol(symbol)])
        return {e.session_date for e in entries if e.status != "ok"}

    def lineage(self, symbol: str) -> Lineage | None:
        """The provider lineage of ``symbol``'s stored bars (from its newest readable file)."""
        paths = self.session_paths(symbol)
        for _, path in reversed(paths[-5:]):
            try:
                return Lineage.from_metadata(pq.read_schema(path).metadata)
            except (OSError, pa.ArrowException):
                continue  # a damaged newest file: verify names it; lineage is in every file
        if paths:
            raise self.report_damaged(paths[-1][1], "unreadable Parquet footer")
        return None

    # ---- writing -----------------------------------------------------------------------
    @contextmanager
    def writer(self, symbol: str, timeout_s: float = 600.0) -> Iterator[None]:
        """Hold ``symbol``'s writer lock; clears temp files a crashed writer left behind."""
        with self.locks.hold(normalize_symbol(symbol), timeout_s):
            yield

    @contextmanager
    def writers(self, symbols: Iterable[str], timeout_s: float = 600.0) -> Iterator[None]:
        """Hold the writer locks of all ``symbols`` (taken in sorted order, so two writers of
        overlapping sets never deadlock), for :meth:`write_sessions_many`."""
        with self.locks.hold_many({normalize_symbol(s) for s in symbols}, timeout_s):
            yield

    def check_lineage(self, symbol: str, lineage: Lineage) -> None:
        """Raise Conflict if ``symbol`` already holds bars from another provider or feed."""
        existing = self.lineage(symbol)
        if existing is not None and existing != lineage:
            raise Conflict(
                f"{symbol} holds {existing.describe()} bars; refusing to mix in "
                f"{lineage.describe()} (re-run with --replace to discard the old data)"
            )

    def write_session(
        self,
        symbol: str,
        day: date,
        bars: pa.Table,
        lineage: Lineage,
        mode: WriteMode = "merge",
    ) -> WriteResult:
        """Persist ``bars`` of one session; the caller must hold :meth:`writer` for ``symbol``.

        ``merge`` keeps existing rows for timestamps already stored (idempotent);
        ``update`` lets new rows win for those timestamps (revised bars of a live session);
        ``replace`` makes the session exactly ``bars`` (reconciliation after the close).
        Writes nothing when nothing changes, so a re-run leaves files byte-identical.
        """
        return self.write_sessions(symbol, {day: (bars, mode)}, lineage)[day]

    def write_sessions(
        self,
        symbol: str,
        items: SessionWrites,
        lineage: Lineage,
        check: bool = True,
    ) -> dict[date, WriteResult]:
        """Persist several sessions of ``symbol`` all-or-nothing (caller holds the lock).

        Every changed partition is first written to a durable temp file; only when all of them
        succeeded are they renamed into place. A full disk therefore changes nothing. Each
        committed file's row count, size and checksum go into the integrity ledger.
        ``check=False`` skips the one-provider check (a --replace switching providers).
        """
        symbol = normalize_symbol(symbol)
        unchecked = () if check else (symbol,)
        return self.write_sessions_many({symbol: items}, lineage, unchecked)[symbol]

    def write_sessions_many(
        self,
        items: Mapping[str, SessionWrites],
        lineage: Lineage,
        unchecked: Collection[str] = (),
    ) -> dict[str, dict[date, WriteResult]]:
        """Persist sessions of several symbols in one durable round, all-or-nothing.

        The caller holds :meth:`writers` of every symbol in ``items``. Each session combines
        with its stored file as :meth:`write_session` says; every changed partition and the
        rollups of every changed symbol are written to durable temp files together and
        recorded in the ledger in one transaction before any rename (:func:`flush_round`).
        Symbols in ``unchecked`` skip the one-provider check (a --replace switching
        providers); any other symbol holding another provider's bars raises Conflict before
        anything is written. Returns each symbol's results by session.
        """
        results: dict[str, dict[date, WriteResult]] = {}
        folders: list[Path] = []
        skip = {normalize_symbol(s) for s in unchecked}
        symbols = {normalize_symbol(s): sessions for s, sessions in items.items()}
        for symbol in sorted(symbols):
            if symbol not in skip:
                self.check_lineage(symbol, lineage)
        with FlushRound(self.ledger, self.rel_path, self.clock.now()) as round_:
            for symbol, sessions in sorted(symbols.items()):
                symbol_existed = self.symbol_dir(symbol).exists()
                per: dict[date, WriteResult] = {}
                changed: dict[date, pa.Table | None] = {}
                for day, (bars, mode) in sorted(sessions.items()):
                    result = self._merged(symbol, day, bars, mode)
                    per[day] = result
                    if result.changed and result.table.num_rows:
                        changed[day] = result.table
                        table = result.table.replace_schema_metadata(lineage.metadata())
                        dest = self.partition_path(symbol, day)
                        round_.add(PartitionWrite(symbol, day, dest, table))
                results[symbol] = per
                if changed:
                    # The rollups follow every committed session: one derivation per symbol.
                    round_.add_rollups(self.rollups.plan(symbol, changed))
                    folders.append(self.symbol_dir(symbol))
                    if not symbol_existed:
                        folders.append(self.root)
            round_.commit(folders)
        return results

    def quarantine(self, symbol: str, day: date, reason: str, now: datetime) -> Path | None:
        """Move one session's file to the quarantine folder and forget its ledger entry
        (caller holds the writer lock); returns where it went, None when there was no file."""
        path = self.partition_path(symbol, day)
        if not path.exists():
            return None
        rollups = self.rollups.prepare(symbol, {day: None})
        rollups.invalidate()
        moved = quarantine_file(path, self.root.parent, self.quarantine_root, reason, now)
        if self.ledger is not None:
            self.ledger.forget("bars", [self.rel_path(path)])
        rollups.commit()
        return moved

    def _merged(self, symbol: str, day: date, bars: pa.Table, mode: WriteMode) -> WriteResult:
        """What the partition should hold after writing ``bars`` with ``mode`` (pure read)."""
        incoming = _sorted_unique(conform(bars))
        if incoming.num_rows and pc.any(pc.not_equal(incoming.column("symbol"), symbol)).as_py():
            raise DataIntegrityError(f"bars for another symbol were routed to {symbol}")
        path = self.partition_path(symbol, day)
        if not path.parent.is_dir():  # nothing stored, no temp file: every mode writes it all
            return WriteResult(incoming.num_rows, 0, incoming)
        remove_stale_temp_files(path.parent)
        try:
            existing = self.read_session(symbol, day)
        except DamagedPartition:
            if mode != "replace":
                raise
            # Replacing a damaged file: set it aside first (never deleted), then write anew.
            self.quarantine(symbol, day, "damaged", self.clock.now())
            existing = BAR_SCHEMA.empty_table()
        old_ts = _ts_us(existing)
        new_ts = _ts_us(incoming)
        overlap = np.isin(new_ts, old_ts)
        if mode == "replace":
            if existing.num_rows == incoming.num_rows and existing.equals(incoming):
                return WriteResult(0, 0, existing)
            merged = incoming
            added = int((~overlap).sum())
            replaced = existing.num_rows
        elif mode == "update":
            fresh = incoming.filter(pa.array(~overlap))
            revised = incoming.filter(pa.array(overlap))
            changed_rows = 0
            if revised.num_rows:
                stale_mask = np.isin(old_ts, new_ts)
                old_same = existing.filter(pa.array(stale_mask))
                changed_rows = 0 if old_same.equals(revised) else revised.num_rows
            if fresh.num_rows == 0 and changed_rows == 0:
                return WriteResult(0, 0, existing)
            kept = existing.filter(pa.array(~np.isin(old_ts, new_ts)))
            merged = _sorted_unique(pa.concat_tables([kept, incoming]))
            added, replaced = fresh.num_rows, changed_rows
        elif existing.num_rows == 0:
            merged, added, replaced = incoming, incoming.num_rows, 0
        else:
            fresh = incoming.filter(pa.array(~overlap))
            if fresh.num_rows == 0:
                return WriteResult(0, 0, existing)
            merged = _sorted_unique(pa.concat_tables([existing, fresh]))
            added, replaced = fresh.num_rows, 0
        return WriteResult(added, replaced, merged)
