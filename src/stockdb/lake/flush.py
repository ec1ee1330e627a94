"""One durable write round of the bars lake: many symbols' partitions and rollups together.

A round takes every minute partition a lake write changes (of one symbol or of many) and the
rollup files derived for them, and makes them durable in a fixed order that a crash at any
point leaves consistent:

1. as the caller merges each symbol and derives its rollups, each file is encoded and
   checksummed from its bytes (one thread per core), written to a temp file beside its
   destination and fsync'd (an I/O pool), with one barrier for the whole round;
2. the checksums go into the integrity ledger in one transaction (write-ahead: the entries
   keep the previous checksums, so old and new files both verify);
3. the rollup files being replaced are removed, durably (a reader then derives those years);
4. the minute files are renamed into place and their folders (new ``dt=`` folders, symbol
   folders and the lake root) fsync'd together;
5. the new rollup files are renamed into place and their folders fsync'd.

A failure before step 3 removes every temp file and created folder, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from stockdb.lake.atomic import TempWriter, fsync_dirs

if TYPE_CHECKING:  # the rollups (and the calendar) load on the first write, not on import
    from stockdb.lake.rollups import RollupBatch
    from stockdb.state.ledger import FileEntry, PartitionLedger

__all__ = ["FlushRound", "PartitionWrite"]


@dataclass(frozen=True, slots=True)
class PartitionWrite:
    """One minute partition to (re)write: its table already carries the lineage metadata."""

    symbol: str
    day: date
    dest: Path
    table: pa.Table


class FlushRound:
    """Collects a round's files; :meth:`commit` writes them and makes them visible.

    Use as a context manager around the whole write: leaving it by an exception before the
    commit's renames removes every temp file. The caller holds the writer lock of every symbol.
    """

    def __init__(
        self,
        ledger: PartitionLedger | None,
        rel_path: Callable[[Path], str],
        now: datetime,
    ) -> None:
        self._ledger = ledger
        self._rel_path = rel_path
        self._now = now
        self._files = TempWriter(streaming=True)  # encoding starts as files are added
        self._order: list[PartitionWrite | RollupBatch] = []

    def __enter__(self) -> FlushRound:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._files.__exit__(exc_type, exc, tb)

    def add(self, write: PartitionWrite) -> None:
        """Queue one minute partition's file."""
        self._files.submit(write.table, write.dest)
        self._order.append(write)

    def add_rollups(self, batch: RollupBatch) -> None:
        """Queue a symbol's derived rollup files."""
        for table, dest in batch.files():
            self._files.submit(table, dest)
        self._order.append(batch)

    def commit(self, folders: Iterable[Path] = ()) -> None:
        """Wait for every temp file, record the ledger, then rename (see the module doc).

        ``folders`` are extra folders whose entries change (symbol folders, the lake root),
        fsync'd with the new partitions' folders. Raises StorageError on a full or read-only
        disk, changing nothing.
        """
        if not self._order:
            return
        from stockdb.lake.rollups import RollupBatch, commit_rollups, invalidate_rollups
        from stockdb.state.ledger import FileEntry

        temps = iter(self._files.results())
        renames: list[tuple[Path, Path]] = []
        batches: list[RollupBatch] = []
        entries: list[FileEntry] = []
        for item in self._order:
            if isinstance(item, RollupBatch):
                item.written([next(temps) for _ in item.planned])
                entries += item.entries()
                batches.append(item)
                continue
            tmp = next(temps)
            renames.append((tmp.path, item.dest))
            rows = item.table.num_rows
            rel = self._rel_path(item.dest)
            entries.append(
                FileEntry(
                    "bars", rel, item.symbol, item.day, rows, tmp.size, tmp.checksum, self._now
                )
            )
        if self._ledger is not None and entries:
            self._ledger.record(entries)  # a failure here leaves __exit__ to remove the temps
        self._files.release()
        pool = self._files.pool  # the round's threads sync the folders too
        invalidate_rollups(batches, pool)
        for tmp_path, dest in renames:
            tmp_path.replace(dest)
        # New dt= folders (and new symbol folders) must be durable entries too.
        fsync_dirs([dest.parent for _, dest in renames] + list(folders), pool)
        commit_rollups(batches, pool)
