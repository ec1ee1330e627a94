"""The feature service: the one facade the CLI, API, jobs and notebooks call.

The same feature set is built at 1Min (the stored bars) and, on request, at 5Min, 15Min,
1Hour and 1Day (bars derived as :mod:`stockdb.features.multiframe` describes). A higher
timeframe lives under ``{features_dir}/tf={TIMEFRAME}/{SYMBOL}/dt=.../features.parquet`` with
its partition records in ``records.json`` beside them; once built for a symbol, it is kept
up to date by every later build of that symbol (``timeframe=None``), like the 1Min one.
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from stockdb.calendar import TradingCalendar
from stockdb.clock import Clock, SystemClock
from stockdb.config import Settings
from stockdb.duck import ScratchDuckDB
from stockdb.errors import InvalidInput, NotFound
from stockdb.features.builder import BuildResult, FeatureBuilder, StalePartition
from stockdb.features.definitions import (
    FEATURE_TIMEFRAMES,
    FeatureDef,
    FeatureSet,
    default_feature_set,
)
from stockdb.features.file_records import FileFeatureRecords
from stockdb.features.layout import FeatureLayout
from stockdb.features.multiframe import SharedHistorySource, TimeframeBarSource
from stockdb.features.records import FeatureRecords, PartitionLedger
from stockdb.features.sources import (
    AdjustedBarSource,
    DuckDBBarSource,
    HistorySource,
    LakeBarSource,
)
from stockdb.features.store import FeatureStore
from stockdb.features.views import create_features_view
from stockdb.lake.locks import SymbolLocks
from stockdb.lake.parquet_lake import ParquetLake
from stockdb.parallel import FEATURE_WORKERS, parallel_map, prestart, worker_count
from stockdb.state.ledger import PartitionLedger as FileLedger
from stockdb.state.store import StateStore
from stockdb.symbols import normalize_symbol, normalize_symbols
from stockdb.timeframes import parse_timeframe

if TYPE_CHECKING:
    from stockdb.corporate.service import CorporateActionService

__all__ = ["BASE_TIMEFRAME", "FeatureService", "ProgressFn", "SymbolStatus", "feature_timeframe"]

BASE_TIMEFRAME = "1Min"

ProgressFn = Callable[[int, int, str], None]
"""``(done, total, message)`` after each symbol, like the ingest progress callback."""

PARALLEL_MIN_SYMBOLS = 8
PARALLEL_MIN_PARTITIONS = 1000
"""Unless ``workers`` is given, fewer symbols or fewer bar partitions (sessions) over them all
than these are built in this process: starting workers (about two seconds of CPU for the fork
server's imports and each worker's first symbol) would cost more than they save."""


@dataclass(frozen=True, slots=True)
class _Recipe:
    """What a worker process needs to build features exactly as this service does."""

    settings: bytes  # the pickled Settings: hashable, so each worker process wires it once
    calendar: bytes  # the pickled calendar, its schedule computed (a worker skips a second)
    full: bool
    timeframe: str | None


@functools.cache
def _worker_service(settings: bytes, calendar: bytes) -> FeatureService:
    """The service a worker process builds with: the App's wiring of ``settings`` and the
    parent's calendar, made once per process."""
    from stockdb.app import App

    return App(pickle.loads(settings), calendar=pickle.loads(calendar)).features  # noqa: S301


def _build_in_worker(recipe: _Recipe, symbols: list[str]) -> list[list[BuildResult]]:
    """Build ``symbols`` in a worker process."""
    service = _worker_service(recipe.settings, recipe.calendar)
    return [service.build_one(s, recipe.full, recipe.timeframe) for s in symbols]


@dataclass(frozen=True, slots=True)
class SymbolStatus:
    """Freshness of one symbol's features against its bars and the current set."""

    symbol: str
    bar_partitions: int
    stale: tuple[StalePartition, ...]
    timeframe: str = BASE_TIMEFRAME

    @property
    def up_to_date(self) -> bool:
        return not self.stale


def feature_timeframe(raw: str | None) -> str:
    """The canonical name of a timeframe features can be built at (``1Min`` for None);
    InvalidInput naming the choices otherwise."""
    if raw is None:
        return BASE_TIMEFRAME
    name = parse_timeframe(raw).name
    if name not in FEATURE_TIMEFRAMES:
        raise InvalidInput(
            f"features are not built at {name}: use one of {', '.join(FEATURE_TIMEFRAMES)}"
        )
    return name


@dataclass(frozen=True, slots=True)
class TimeframeStore:
    """The builder and the reader of one timeframe's feature partitions."""

    feature_set: FeatureSet
    layout: FeatureLayout
    records: PartitionLedger
    builder: FeatureBuilder
    store: FeatureStore


class FeatureService:
    """Builds, checks and reads features; bars come from the lake unless
    ``SOURCE_DUCKDB_PATH`` names a DuckDB file with a ``bars_1min`` table, split-adjusted from
    the stored corporate actions when the set's ``price_adjustment`` is ``split`` (the
    default). The App wires it (:meth:`stockdb.app.App.feature_service`): ``clock`` stamps
    builds, ``locks`` guard each symbol's writes and ``actions`` (the App's corporate action
    service, whose clock decides which splits are effective) adjusts the bars."""

    def __init__(
        self,
        settings: Settings,
        calendar: TradingCalendar,
        lake: ParquetLake,
        state: StateStore,
        feature_set: FeatureSet | None = None,
        source: HistorySource | None = None,
        *,
        clock: Clock,
        locks: SymbolLocks,
        actions: CorporateActionService | None = None,
    ) -> None:
        self.settings = settings
        self.calendar = calendar
        self._clock = clock
        # Worker processes can rebuild this service from settings alone only when it is the
        # App's default wiring (nothing injected, the system clock); otherwise builds stay here.
        self._rebuildable = (
            feature_set is None and source is None and isinstance(clock, SystemClock)
        )
        self.feature_set = feature_set or default_feature_set()
        threads = settings.duckdb_threads
        # the scratch database every read of this service queries (bars and features)
        self._duck = ScratchDuckDB(threads=threads)
        if source is None:
            if settings.source_duckdb_path is not None:
                source = DuckDBBarSource(settings.source_duckdb_path, threads)
            else:
                source = LakeBarSource(lake, self._duck)
            if self.feature_set.price_adjustment == "split":
                if actions is None:
                    raise ValueError("split-adjusted features need the corporate action service")
                source = AdjustedBarSource(source, actions.split_steps)
        self.source = source
        # builders share one read of a symbol's history across timeframes
        self._shared = SharedHistorySource(source)
        self.layout = FeatureLayout(settings.features_dir)
        self.records = FeatureRecords(state)
        self._locks = locks
        self._ledger = FileLedger(state)
        self.builder = FeatureBuilder(
            self._shared,
            self.layout,
            self.records,
            calendar,
            self.feature_set,
            self._locks,
            self._ledger,
            clock,
        )
        self.store = FeatureStore(self.layout, self.feature_set, self._duck)
        self._timeframes: dict[str, TimeframeStore] = {
            BASE_TIMEFRAME: TimeframeStore(
                self.feature_set, self.layout, self.records, self.builder, self.store
            )
        }

    def close(self) -> None:
        """Close the scratch DuckDB database its reads share (a later read opens it again)."""
        self._duck.close()

    @property
    def set_hash(self) -> str:
        """The hash of the 1-minute feature set."""
        return self.feature_set.set_hash

    def timeframe_root(self, timeframe: str) -> Path:
        """Where the partitions of ``timeframe`` live."""
        name = feature_timeframe(timeframe)
        if name == BASE_TIMEFRAME:
            return self.settings.features_dir
        return self.settings.features_dir / f"tf={name}"

    def at(self, timeframe: str | None) -> TimeframeStore:
        """The builder and reader of ``timeframe`` (InvalidInput for one features are not
        built at)."""
        name = feature_timeframe(timeframe)
        if name not in self._timeframes:
            feature_set = self.feature_set.at(name)
            layout = FeatureLayout(self.timeframe_root(name))
            records = FileFeatureRecords(layout)
            source = TimeframeBarSource(self._shared, name, self.calendar)
            builder = FeatureBuilder(
                source,
                layout,
                records,
                self.calendar,
                feature_set,
                self._locks,
                self._ledger,
                self._clock,
                self.settings.features_dir,
            )
            self._timeframes[name] = TimeframeStore(
                feature_set, layout, records, builder, FeatureStore(layout, feature_set, self._duck)
            )
        return self._timeframes[name]

    def built_timeframes(self, symbol: str) -> list[str]:
        """The timeframes above 1Min with features stored for ``symbol``, in order."""
        name = normalize_symbol(symbol)
        return [
            tf
            for tf in FEATURE_TIMEFRAMES
            if tf != BASE_TIMEFRAME and self.at(tf).layout.partitions(name)
        ]

    def symbols(self) -> list[str]:
        """Every symbol the bar source holds."""
        return self.source.symbols()

    def build(
        self,
        symbols: Sequence[str] | None = None,
        full: bool = False,
        progress: ProgressFn | None = None,
        timeframe: str | None = None,
        workers: int | None = None,
    ) -> list[BuildResult]:
        """Bring the named symbols' features up to date (all source symbols when None).

        The symbols are built on ``workers`` processes, this one included: when None, on
        every core (one in a daemonic process) once there are :data:`PARALLEL_MIN_SYMBOLS`
        symbols and :data:`PARALLEL_MIN_PARTITIONS` bar partitions; when given, from two
        symbols on. Each symbol is built whole (every timeframe) by one process, and
        ``progress`` is called here after each symbol, whichever process built it.

        ``timeframe`` builds that timeframe only; None builds 1Min and every higher timeframe
        already built for the symbol (so a rebuild keeps them all current). Every symbol is
        validated and checked to have bars before anything is written. Raises InvalidInput
        for a malformed symbol or timeframe, NotFound for a symbol without bars (or an empty
        source), StorageError when the destination is not writable.
        """
        chosen = None if timeframe is None else feature_timeframe(timeframe)
        names = self.source.symbols() if symbols is None else normalize_symbols(symbols)
        if not names:
            raise NotFound("no symbols with bars to build features for")
        n = worker_count(workers) if self._rebuildable else 1
        if n > 1 and (len(names) >= PARALLEL_MIN_SYMBOLS or workers is not None):
            prestart(FEATURE_WORKERS)  # the workers' imports overlap with the checks below
        sizes = {s: len(self.source.fingerprints(s)) for s in names}
        if workers is None:  # automatic: only work that repays starting the workers
            big = len(names) >= PARALLEL_MIN_SYMBOLS
            parallel = n > 1 and big and sum(sizes.values()) >= PARALLEL_MIN_PARTITIONS
        else:
            parallel = n > 1 and len(names) > 1
        missing = [s for s, size in sizes.items() if not size]
        if missing:
            raise NotFound(f"no bars stored for {', '.join(missing)}")
        self.layout.check_writable()
        self.records.register_set(self.feature_set)
        results: list[BuildResult] = []
        if parallel:
            calendar = pickle.dumps(self.calendar)
            recipe = _Recipe(pickle.dumps(self.settings), calendar, full, chosen)
            # this process builds too: from the start (workers take a second to set up) and
            # whenever it would wait
            mine = self.build_one
            for built in parallel_map(
                _build_in_worker,
                recipe,
                names,
                n,
                progress,
                chunk_items=1,
                local=lambda chunk: [mine(s, full, chosen) for s in chunk],
                preload=FEATURE_WORKERS,
            ):
                results += built
        else:
            for i, symbol in enumerate(names):
                if progress is not None:
                    progress(i, len(names), symbol)
                results += self.build_one(symbol, full, chosen)
            if progress is not None:
                progress(len(names), len(names), "done")
        if self.settings.dest_duckdb_path is not None:
            create_features_view(self.settings.dest_duckdb_path, self.layout)
        return results

    def build_one(self, symbol: str, full: bool, timeframe: str | None) -> list[BuildResult]:
        """Build one (validated) symbol at ``timeframe`` (a canonical name), or at 1Min and
        every higher timeframe already built for it when None."""
        frames = (
            [BASE_TIMEFRAME, *self.built_timeframes(symbol)] if timeframe is None else [timeframe]
        )
        try:
            return [self.at(name).builder.build(symbol, full=full) for name in frames]
        finally:
            self._shared.forget()

    def status(
        self, symbols: Sequence[str] | None = None, timeframe: str | None = None
    ) -> list[SymbolStatus]:
        """Per symbol and timeframe, the feature partitions that are stale: missing, never
        recorded, built by an older set, built from bars that changed since, or orphaned.
        ``timeframe`` None covers 1Min and the higher timeframes built for the symbol."""
        chosen = None if timeframe is None else feature_timeframe(timeframe)
        if symbols is None:
            names = sorted(set(self.source.symbols()) | set(self.layout.symbols()))
        else:
            names = normalize_symbols(symbols)
        out: list[SymbolStatus] = []
        for symbol in names:
            fps = self.source.fingerprints(symbol)
            if chosen is None:
                frames = [BASE_TIMEFRAME, *self.built_timeframes(symbol)]
            else:
                frames = [chosen]
            for name in frames:
                plan = self.at(name).builder.plan(symbol, fps)
                out.append(SymbolStatus(symbol, len(fps), plan.stale, name))
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
        timeframe: str | None = None,
    ) -> pd.DataFrame:
        """Stored feature rows of ``timeframe`` (1Min by default); see
        :meth:`FeatureStore.read` for guarantees and errors."""
        store = self.at(timeframe).store
        if timeframe is not None and not store.layout.partitions(normalize_symbol(symbol)):
            name = feature_timeframe(timeframe)
            raise NotFound(
                f"no {name} features stored for {normalize_symbol(symbol)}; run "
                f"`stockdb features build {normalize_symbol(symbol)} --timeframe {name}`"
            )
        return store.read(symbol, start, end, columns, limit)
