"""One durable write round of the bars lake: many symbols' partitions and rollups together.

A round takes every minute partition a lake write changes (of one symbol or of many) and the
rollup files derived for them, and makes them durable in a fixed order that a crash at any
point leaves consistent:

1. every file is encoded, checksummed from its bytes, written to a temp file beside its
   destination and fsync'd, all in one thread pool (one barrier for the whole round);
2. the checksums go into the integrity ledger in one transaction (write-ahead: the entries
   keep the previous checksums, so old and new files both verify);
3. the rollup files being replaced are removed, durably (a reader then derives those years);
4. the minute files are renamed into place and their folders (new ``dt=`` folders, symbol
   folders and the lake root) fsync'd together;
5. the new rollup files are renamed into place and their folders fsync'd.

A failure before step 3 removes every temp file and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from stockdb.lake.atomic import TempFile, discard_temp, fsync_dirs, write_temp_files

if TYPE_CHECKING:  # the rollups (and the calendar) load on the first write, not on import
    from stockdb.lake.rollups import RollupBatch
    from stockdb.state.ledger import FileEntry, PartitionLedger

__all__ = ["PartitionWrite", "flush_round"]


@dataclass(frozen=True, slots=True)
class PartitionWrite:
    """One minute partition to (re)write: its table already carries the lineage metadata."""

    symbol: str
    day: date
    dest: Path
    table: pa.Table


def _bars_entries(
    writes: Sequence[PartitionWrite],
    temps: Sequence[TempFile],
    rel_path: Callable[[Path], str],
    now: datetime,
) -> list[FileEntry]:
    from stockdb.state.ledger import FileEntry

    return [
        FileEntry(
            "bars", rel_path(w.dest), w.symbol, w.day, w.table.num_rows, t.size, t.checksum, now
        )
        for w, t in zip(writes, temps, strict=True)
    ]


def flush_round(
    writes: Sequence[PartitionWrite],
    rollups: Sequence[RollupBatch],
    ledger: PartitionLedger | None,
    rel_path: Callable[[Path], str],
    now: datetime,
    folders: Iterable[Path] = (),
) -> None:
    """Make ``writes`` and the ``rollups`` batches durable in one round (see the module doc).

    ``folders`` are extra folders whose entries change (symbol folders, the lake root) and
    are fsync'd with the new partitions' folders. The caller holds the writer lock of every
    symbol involved. Raises StorageError on a full or read-only disk, changing nothing.
    """
    if not writes and not rollups:
        return
    from stockdb.lake.rollups import commit_rollups, invalidate_rollups

    files = [(w.table, w.dest) for w in writes]
    for batch in rollups:
        files += batch.files()
    temps = write_temp_files(files)
    bars_temps = temps[: len(writes)]
    try:
        offset = len(writes)
        for batch in rollups:
            count = len(batch.planned)
            batch.written(temps[offset : offset + count])
            offset += count
        if ledger is not None:
            entries = _bars_entries(writes, bars_temps, rel_path, now)
            for batch in rollups:
                entries += batch.entries()
            ledger.record(entries)
    except BaseException:
        for tmp in temps:
            discard_temp(tmp.path)
        for batch in rollups:
            batch.pending.clear()
        raise
    invalidate_rollups(rollups)
    for w, tmp in zip(writes, bars_temps, strict=True):
        tmp.path.replace(w.dest)
    # New dt= folders (and new symbol folders) must be durable entries too.
    fsync_dirs([w.dest.parent for w in writes] + list(folders))
    commit_rollups(rollups)
