"""Reads the wide feature partitions back as pandas, pruning ``dt=`` folders like the lake."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from stockdb.duck import ScratchDuckDB
from stockdb.errors import DataIntegrityError, InvalidInput, NotFound
from stockdb.features.builder import BASE_COLUMNS, META_PREFIX
from stockdb.features.definitions import FeatureDef, FeatureSet
from stockdb.features.layout import FeatureLayout
from stockdb.lake.integrity import REPAIR_HINT, damaged, first_unreadable
from stockdb.symbols import normalize_symbol

__all__ = ["MAX_LIMIT", "FeatureStore"]

MAX_LIMIT = 10_000_000


def _scan(duck: ScratchDuckDB, files: list[str], columns: list[str]) -> pa.Table:
    """``columns`` of the partition ``files`` (DuckDB reads many small files ~4x faster than
    a pyarrow dataset); a column a partition lacks comes back null."""
    names = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
    con = duck.cursor()
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.sql(
            f"SELECT {names} FROM read_parquet($files, union_by_name = true)",
            params={"files": files},
        ).to_arrow_table()
    finally:
        con.close()


def _damaged(parts: list[tuple[date, Path]], exc: Exception) -> DataIntegrityError:
    """Name the damaged partition among ``parts`` (with the repair command)."""
    culprit = first_unreadable([p for _, p in parts])
    if culprit is None:
        return DataIntegrityError(f"cannot read the features: {exc}; {REPAIR_HINT}")
    return damaged(*culprit)


class FeatureStore:
    """The read API over ``{root}/{SYMBOL}/dt=.../features.parquet``."""

    def __init__(
        self, layout: FeatureLayout, feature_set: FeatureSet, duck: ScratchDuckDB | None = None
    ) -> None:
        self.layout = layout
        self.feature_set = feature_set
        self._duck = duck or ScratchDuckDB(threads=2)  # one database, a cursor per read

    def list_definitions(self) -> list[FeatureDef]:
        """The definitions of the current feature set, in column order."""
        return list(self.feature_set.definitions)

    def symbols(self) -> list[str]:
        """Every symbol with stored features."""
        return self.layout.symbols()

    def columns(self) -> tuple[str, ...]:
        """Every column a partition of the current set holds, ``ts`` first."""
        return (*BASE_COLUMNS, *self.feature_set.columns)

    def _check_columns(self, columns: Sequence[str] | None, stored: Sequence[str]) -> list[str]:
        if columns is None:
            return list(stored)
        known = set(stored)
        wanted: list[str] = []
        for name in columns:
            if name not in known:
                raise InvalidInput(
                    f"unknown feature column {name!r}; see `stockdb features list` for names"
                )
            if name != "ts" and name not in wanted:
                wanted.append(name)
        return ["ts", *wanted]

    def set_hash(self, symbol: str) -> str | None:
        """The set hash recorded in the newest partition of ``symbol`` (None when absent)."""
        parts = self.layout.partitions(normalize_symbol(symbol))
        if not parts:
            return None
        try:
            meta = pq.read_schema(parts[-1][1]).metadata or {}
        except (OSError, pa.ArrowException) as exc:
            raise _damaged(parts[-1:], exc) from exc
        value = meta.get(META_PREFIX + b"feature_set_hash")
        return value.decode() if value else None

    def read(
        self,
        symbol: str,
        start: date | None = None,
        end: date | None = None,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Feature rows of sessions ``start..end`` (inclusive), sorted by ``ts`` (a UTC column,
        first). ``limit`` keeps the latest rows.

        Raises InvalidInput for a malformed symbol, an unknown column, start after end or a
        bad limit; NotFound when ``symbol`` has no features (in that range).
        """
        symbol = normalize_symbol(symbol)
        if start is not None and end is not None and start > end:
            raise InvalidInput(f"start {start} is after end {end}")
        if limit is not None and not 0 < limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
        if not self.layout.partitions(symbol):
            raise NotFound(f"no features stored for {symbol}; run `stockdb features build`")
        parts = self.layout.partitions(symbol, start, end)
        if not parts:
            raise NotFound(f"no features stored for {symbol} between {start} and {end}")
        try:
            if limit is not None:
                parts = self._tail_partitions(parts, limit)
            stored = pq.read_schema(parts[-1][1]).names
            wanted = self._check_columns(columns, stored)
            table = _scan(self._duck, [str(p) for _, p in parts], wanted)
        except (OSError, pa.ArrowException, duckdb.Error) as exc:
            raise _damaged(parts, exc) from exc
        table = table.sort_by("ts")
        if limit is not None and table.num_rows > limit:
            table = table.slice(table.num_rows - limit)
        return table.to_pandas()

    @staticmethod
    def _tail_partitions(parts: list[tuple[date, Path]], limit: int) -> list[tuple[date, Path]]:
        """The newest partitions holding at least ``limit`` rows (from Parquet footers)."""
        rows = 0
        keep = 0
        for _, path in reversed(parts):
            rows += pq.ParquetFile(str(path)).metadata.num_rows
            keep += 1
            if rows >= limit:
                break
        return parts[len(parts) - keep :]
