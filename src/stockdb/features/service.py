"""The feature service: the one facade the CLI, API, jobs and notebooks call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import pandas as pd

from stockdb.calendar import TradingCalendar
from stockdb.clock import Clock, SystemClock
from stockdb.config import Settings
from stockdb.corporate.service import CorporateActionService
from stockdb.errors import NotFound
from stockdb.features.builder import BuildResult, FeatureBuilder, StalePartition
from stockdb.features.definitions import FeatureDef, FeatureSet, default_feature_set
from stockdb.features.layout import FeatureLayout
from stockdb.features.records import FeatureRecords
from stockdb.features.sources import (
    AdjustedBarSource,
    BarSource,
    DuckDBBarSource,
    LakeBarSource,
)
from stockdb.features.store import FeatureStore
from stockdb.features.views import create_features_view
from stockdb.lake.locks import FileSymbolLocks
from stockdb.lake.parquet_lake import ParquetLake
from stockdb.state.store import StateStore
from stockdb.symbols import normalize_symbols

__all__ = ["FeatureService", "ProgressFn", "SymbolStatus"]

ProgressFn = Callable[[int, int, str], None]
"""``(done, total, message)`` after each symbol, like the ingest progress callback."""


@dataclass(frozen=True, slots=True)
class SymbolStatus:
    """Freshness of one symbol's features against its bars and the current set."""

    symbol: str
    bar_partitions: int
    stale: tuple[StalePartition, ...]

    @property
    def up_to_date(self) -> bool:
        return not self.stale


class FeatureService:
    """Builds, checks and reads features; bars come from the lake unless
    ``SOURCE_DUCKDB_PATH`` names a DuckDB file with a ``bars_1min`` table, split-adjusted from
    the stored corporate actions when the set's ``price_adjustment`` is ``split`` (the
    default; ``clock`` decides which splits are effective)."""

    def __init__(
        self,
        settings: Settings,
        calendar: TradingCalendar,
        lake: ParquetLake,
        state: StateStore,
        feature_set: FeatureSet | None = None,
        source: BarSource | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.calendar = calendar
        self.feature_set = feature_set or default_feature_set()
        threads = settings.duckdb_threads
        if source is None:
            if settings.source_duckdb_path is not None:
                source = DuckDBBarSource(settings.source_duckdb_path, threads)
            else:
                source = LakeBarSource(lake, threads)
            if self.feature_set.price_adjustment == "split":
                actions = CorporateActionService(
                    state, lake, calendar, clock or SystemClock(), "split"
                )
                source = AdjustedBarSource(source, actions.split_steps)
        self.source = source
        self.layout = FeatureLayout(settings.features_dir)
        self.records = FeatureRecords(state)
        self.builder = FeatureBuilder(
            source,
            self.layout,
            self.records,
            calendar,
            self.feature_set,
            FileSymbolLocks(settings.data_dir / "locks" / "features"),
        )
        self.store = FeatureStore(self.layout, self.feature_set)

    @property
    def set_hash(self) -> str:
        return self.feature_set.set_hash

    def symbols(self) -> list[str]:
        """Every symbol the bar source holds."""
        return self.source.symbols()

    def build(
        self,
        symbols: Sequence[str] | None = None,
        full: bool = False,
        progress: ProgressFn | None = None,
    ) -> list[BuildResult]:
        """Bring the named symbols' features up to date (all source symbols when None).

        Every symbol is validated and checked to have bars before anything is written.
        Raises InvalidInput for a malformed symbol, NotFound for one without bars (or an
        empty source), StorageError when the destination is not writable.
        """
        names = self.source.symbols() if symbols is None else normalize_symbols(symbols)
        if not names:
            raise NotFound("no symbols with bars to build features for")
        missing = [s for s in names if not self.source.fingerprints(s)]
        if missing:
            raise NotFound(f"no bars stored for {', '.join(missing)}")
        self.layout.check_writable()
        self.records.register_set(self.feature_set)
        results: list[BuildResult] = []
        for i, symbol in enumerate(names):
            if progress is not None:
                progress(i, len(names), symbol)
            results.append(self.builder.build(symbol, full=full))
        if progress is not None:
            progress(len(names), len(names), "done")
        if self.settings.dest_duckdb_path is not None:
            create_features_view(self.settings.dest_duckdb_path, self.layout)
        return results

    def status(self, symbols: Sequence[str] | None = None) -> list[SymbolStatus]:
        """Per symbol, the feature partitions that are stale: missing, never recorded,
        built by an older set, built from bars that changed since, or orphaned."""
        if symbols is None:
            names = sorted(set(self.source.symbols()) | set(self.layout.symbols()))
        else:
            names = normalize_symbols(symbols)
        out: list[SymbolStatus] = []
        for symbol in names:
            fps = self.source.fingerprints(symbol)
            plan = self.builder.plan(symbol, fps)
            out.append(SymbolStatus(symbol, len(fps), plan.stale))
        return out

    def definitions(self) -> list[FeatureDef]:
        """The current set's definitions, in column order."""
        return self.store.list_definitions()

    def read(
        self,
        symbol: str,
        start: date | None = None,
        end: date | None = None,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Stored feature rows; see :meth:`FeatureStore.read` for guarantees and errors."""
        return self.store.read(symbol, start, end, columns, limit)
