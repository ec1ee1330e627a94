"""``stockdb rollups rebuild`` over many symbols: one symbol per task, on every core.

Each symbol is rebuilt whole by one process under that symbol's writer lock (a file lock, so
it holds across processes) with :meth:`stockdb.lake.rollups.RollupStore.rebuild`: temp files,
their checksums recorded in the ledger (SQLite in WAL mode with a busy timeout, so several
processes may record at once), then the renames. A worker killed midway leaves temp files and
ledger rows for files that never appeared, exactly as a crashed serial rebuild would: readers
derive those years, ``stockdb verify`` reports them and the next rebuild replaces them.
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stockdb.errors import NotFound
from stockdb.parallel import ProgressFn, parallel_map, worker_count
from stockdb.symbols import normalize_symbols

if TYPE_CHECKING:
    from stockdb.config import Settings
    from stockdb.lake.parquet_lake import ParquetLake

__all__ = ["PARALLEL_MIN_SYMBOLS", "rebuild_rollups"]

PARALLEL_MIN_SYMBOLS = 8
"""Unless ``workers`` is given, fewer symbols than this are rebuilt in this process: starting
workers would cost more."""


@dataclass(frozen=True, slots=True)
class _Recipe:
    """What a worker needs to open the same lake: the pickled settings and calendar (its
    schedule computed: a worker skips computing it again), hashable."""

    settings: bytes
    calendar: bytes


@functools.cache
def _worker_lake(settings: bytes, calendar: bytes) -> ParquetLake:
    """The lake a worker process rebuilds in: the App's wiring of ``settings``, made once."""
    from stockdb.app import App

    return App(pickle.loads(settings), calendar=pickle.loads(calendar)).lake  # noqa: S301


def _rebuild_one(lake: ParquetLake, symbol: str) -> int:
    with lake.writer(symbol):
        return lake.rollups.rebuild(symbol)


def rebuild_in_worker(recipe: _Recipe, symbols: list[str]) -> list[int]:
    """Rebuild ``symbols`` in a worker process; the number of files written for each."""
    lake = _worker_lake(recipe.settings, recipe.calendar)
    return [_rebuild_one(lake, s) for s in symbols]


def rebuild_rollups(
    lake: ParquetLake,
    settings: Settings,
    symbols: Sequence[str] | None = None,
    *,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    in_workers: bool = True,
) -> int:
    """Derive the rollup files of ``symbols`` (every stored one when None) again from their
    minute partitions; returns the number of files written.

    They are rebuilt on ``workers`` processes, this one included: when None, on every core
    once there are :data:`PARALLEL_MIN_SYMBOLS` symbols; when given, from two symbols on.
    ``in_workers`` False keeps the work here (the lake is not the one ``settings`` wires,
    e.g. a test's clock). ``progress`` is called here after each symbol. Raises NotFound,
    before writing anything, naming every symbol without stored bars.
    """
    stored = lake.symbols()
    names = normalize_symbols(symbols) if symbols else stored
    unknown = [s for s in names if s not in set(stored)]
    if unknown:
        raise NotFound(f"no bars stored for {', '.join(unknown)}")
    least = PARALLEL_MIN_SYMBOLS if workers is None else 2
    n = worker_count(workers) if in_workers and len(names) >= least else 1
    recipe = _Recipe(pickle.dumps(settings), pickle.dumps(lake.rollups.calendar) if n > 1 else b"")
    files = parallel_map(
        rebuild_in_worker,
        recipe,
        names,
        n,
        progress,
        chunk_items=1,
        local=lambda chunk: [_rebuild_one(lake, s) for s in chunk],
    )
    return sum(files)
