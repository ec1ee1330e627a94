"""Where the feature builder reads bars: the Parquet lake, or a DuckDB ``bars_1min`` table.

A source lists a symbol's partitions (session dates) with a cheap fingerprint each, so the
builder can tell what changed without reading bars, and reads a symbol's whole history at
once with the row range of every partition. :class:`AdjustedBarSource` wraps either one to
serve split-adjusted prices; its fingerprints end in ``|split=<factor>`` for the sessions a
split adjusts, so a new split makes exactly those partitions stale (reason
``corporate_action``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from stockdb.bars import BAR_SCHEMA
from stockdb.corporate.adjust import AdjustmentStep, adjust_table, day_price_factors
from stockdb.duck import ScratchDuckDB
from stockdb.errors import ConfigError, DataIntegrityError, NotFound
from stockdb.lake.integrity import first_unreadable
from stockdb.lake.parquet_lake import ParquetLake
from stockdb.symbols import normalize_symbol

__all__ = [
    "ADJUSTMENT_MARK",
    "AdjustedBarSource",
    "BarHistory",
    "HistorySource",
    "DuckDBBarSource",
    "LakeBarSource",
    "PartitionSlice",
]

ADJUSTMENT_MARK = "|split="
StepsFn = Callable[[str], Sequence[AdjustmentStep]]

_COLUMNS = [c for c in BAR_SCHEMA.names if c != "symbol"]


@dataclass(frozen=True, slots=True)
class PartitionSlice:
    """Rows ``[start, stop)`` of a :class:`BarHistory` belong to session ``day``."""

    day: date
    start: int
    stop: int
    fingerprint: str


@dataclass(frozen=True, slots=True)
class BarHistory:
    """A symbol's whole history (bar columns without ``symbol``, sorted by ``ts``).

    ``anchor_us``, when given, is the instant each bar starts as features should see it, where
    it differs from the ``ts`` label (a 1Day bar is labelled 00:00 but starts at the open).
    """

    table: pa.Table
    partitions: tuple[PartitionSlice, ...]
    anchor_us: npt.NDArray[np.int64] | None = None


class HistorySource(Protocol):
    """What the feature builder needs from a store of 1-min bars (a bar *history*, not to be
    confused with :class:`stockdb.providers.base.BarSource`, which fetches from a provider)."""

    def symbols(self) -> list[str]:
        """Every symbol with at least one partition, sorted."""
        ...

    def fingerprints(self, symbol: str) -> dict[date, str]:
        """Each stored session of ``symbol`` with a fingerprint that changes with its bars."""
        ...

    def read(self, symbol: str) -> BarHistory:
        """The whole history; raises NotFound when ``symbol`` has no bars."""
        ...

    def reading(self, symbol: str) -> AbstractContextManager[None]:
        """Held while fingerprinting and reading, so no writer changes bars in between."""
        ...


def _conform(table: pa.Table) -> pa.Table:
    columns = []
    for name in _COLUMNS:
        col = table.column(name)
        target = BAR_SCHEMA.field(name).type
        if col.type != target:
            col = col.cast(target)
        columns.append(col)
    return pa.Table.from_arrays(columns, names=_COLUMNS)


def _fingerprints(paths: list[tuple[date, Path]]) -> dict[date, str]:
    """Each partition's file size and mtime (a file removed meanwhile is left out)."""
    out: dict[date, str] = {}
    for day, path in paths:
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        out[day] = f"{st.st_size}:{st.st_mtime_ns}"
    return out


class LakeBarSource:
    """Reads the bars lake; a partition's fingerprint is its file's size and mtime."""

    def __init__(self, lake: ParquetLake, duck: ScratchDuckDB | None = None) -> None:
        self.lake = lake
        self._duck = duck or ScratchDuckDB(threads=2)

    def symbols(self) -> list[str]:
        return self.lake.symbols()

    def reading(self, symbol: str) -> AbstractContextManager[None]:
        return self.lake.writer(symbol)

    def fingerprints(self, symbol: str) -> dict[date, str]:
        return _fingerprints(self.lake.session_paths(normalize_symbol(symbol)))

    def read(self, symbol: str) -> BarHistory:
        symbol = normalize_symbol(symbol)
        paths = self.lake.session_paths(symbol)
        if not paths:
            raise NotFound(f"no bars stored for {symbol}")
        fps = _fingerprints(paths)
        files = [str(p) for _, p in paths]
        con = self._duck.cursor()  # one database per source: opening one costs 11 ms
        try:
            table = con.sql(
                f"SELECT file_index, {', '.join(_COLUMNS)} FROM read_parquet($files)",
                params={"files": files},
            ).to_arrow_table()
        except duckdb.Error as exc:
            culprit = first_unreadable([p for _, p in paths])
            if culprit is not None:  # name the damaged partition and the repair command
                raise self.lake.report_damaged(*culprit) from exc
            raise DataIntegrityError(f"cannot read the bars of {symbol}: {exc}") from exc
        finally:
            con.close()
        index = table.column("file_index").to_numpy().astype(np.int64)
        if index.size > 1 and not bool(np.all(index[1:] >= index[:-1])):
            raise DataIntegrityError(f"bars of {symbol} came back out of partition order")
        counts = np.bincount(index, minlength=len(paths))
        bounds = np.concatenate(([0], np.cumsum(counts)))
        parts = tuple(
            PartitionSlice(day, int(bounds[i]), int(bounds[i + 1]), fps.get(day, ""))
            for i, (day, _) in enumerate(paths)
            if counts[i] > 0
        )
        return BarHistory(_conform(table.drop_columns(["file_index"])), parts)


class DuckDBBarSource:
    """Reads ``bars_1min`` (a table or view) from a DuckDB database file, read-only.

    Partitions are New York dates of ``ts`` (the session date for every bar within a
    session's extended hours); a partition's fingerprint is its row count and an
    order-independent hash of its rows.
    """

    def __init__(self, path: Path, threads: int = 2) -> None:
        if not path.exists():
            raise ConfigError(f"SOURCE_DUCKDB_PATH {path} does not exist")
        self.path = path
        self.threads = threads

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        try:
            con = duckdb.connect(str(self.path), read_only=True)
        except duckdb.Error as exc:
            raise ConfigError(f"cannot open SOURCE_DUCKDB_PATH {self.path}: {exc}") from exc
        try:
            con.execute(f"SET threads = {int(self.threads)}")
            yield con
        except duckdb.CatalogException as exc:
            raise ConfigError(
                f"SOURCE_DUCKDB_PATH {self.path} has no usable bars_1min table: {exc}"
            ) from exc
        finally:
            con.close()

    def reading(self, symbol: str) -> AbstractContextManager[None]:
        return nullcontext()

    def symbols(self) -> list[str]:
        with self._connect() as con:
            rows = con.sql("SELECT DISTINCT symbol FROM bars_1min ORDER BY symbol").fetchall()
        return [str(r[0]) for r in rows]

    def fingerprints(self, symbol: str) -> dict[date, str]:
        symbol = normalize_symbol(symbol)
        sql = (
            "SELECT CAST(timezone('America/New_York', ts) AS DATE) AS session_day, count(*), "
            "bit_xor(hash(ts, open, high, low, close, volume, trade_count, vwap)) "
            "FROM bars_1min WHERE symbol = $symbol GROUP BY 1 ORDER BY 1"
        )
        with self._connect() as con:
            rows = con.sql(sql, params={"symbol": symbol}).fetchall()
        return {r[0]: f"{r[1]}:{r[2]}" for r in rows}

    def read(self, symbol: str) -> BarHistory:
        symbol = normalize_symbol(symbol)
        fps = self.fingerprints(symbol)
        if not fps:
            raise NotFound(f"no bars stored for {symbol}")
        sql = (
            "SELECT CAST(timezone('America/New_York', ts) AS DATE) AS session_day, "
            f"{', '.join(_COLUMNS)} FROM bars_1min WHERE symbol = $symbol ORDER BY ts"
        )
        with self._connect() as con:
            table = con.sql(sql, params={"symbol": symbol}).to_arrow_table()
        ts = table.column("ts").cast(pa.int64()).to_numpy()
        if ts.size > 1 and not bool(np.all(ts[1:] > ts[:-1])):
            raise DataIntegrityError(f"bars_1min holds duplicate timestamps for {symbol}")
        days = pc.cast(table.column("session_day"), pa.int32()).to_numpy()
        cuts = np.flatnonzero(np.diff(days)) + 1
        starts = np.concatenate(([0], cuts))
        stops = np.concatenate((cuts, [days.size]))
        parts = []
        for a, b in zip(starts, stops, strict=True):
            day = date(1970, 1, 1) + timedelta(days=int(days[a]))
            parts.append(PartitionSlice(day, int(a), int(b), fps.get(day, "")))
        return BarHistory(_conform(table.drop_columns(["session_day"])), tuple(parts))


class AdjustedBarSource:
    """``inner``'s bars with backward split adjustment (prices / ratio, volume x ratio before
    each ex-date; :mod:`stockdb.corporate.adjust`). ``steps(symbol)`` gives the effective
    splits; a session's fingerprint is ``inner``'s plus ``|split=<cumulative price factor>``
    when that factor is not 1."""

    def __init__(self, inner: HistorySource, steps: StepsFn) -> None:
        self.inner = inner
        self.steps = steps

    def symbols(self) -> list[str]:
        return self.inner.symbols()

    def reading(self, symbol: str) -> AbstractContextManager[None]:
        return self.inner.reading(symbol)

    def _marked(self, symbol: str, fps: dict[date, str]) -> dict[date, str]:
        steps = self.steps(normalize_symbol(symbol))
        if not steps:
            return fps
        factors = day_price_factors(fps, steps)
        return {
            day: fp if factors[day] == 1.0 else f"{fp}{ADJUSTMENT_MARK}{factors[day]!r}"
            for day, fp in fps.items()
        }

    def fingerprints(self, symbol: str) -> dict[date, str]:
        return self._marked(symbol, self.inner.fingerprints(symbol))

    def read(self, symbol: str) -> BarHistory:
        history = self.inner.read(symbol)
        steps = self.steps(normalize_symbol(symbol))
        if not steps:
            return history
        fps = self._marked(symbol, {p.day: p.fingerprint for p in history.partitions})
        parts = tuple(
            PartitionSlice(p.day, p.start, p.stop, fps[p.day]) for p in history.partitions
        )
        return BarHistory(adjust_table(history.table, steps), parts)
