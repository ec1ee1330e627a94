"""Builds a symbol's wide feature partitions from its whole 1-min history, incrementally.

Incremental strategy (measured, see bench/bench_features.py): EMA, RSI, ATR and MACD are
recursive, so a value depends on every earlier bar and TA-Lib cannot be seeded with a
carried state. Recomputing from a later start only converges geometrically (EMA 26 needs
~360 bars to fall below 1e-12 relative, and values near zero such as the MACD histogram
never meet a relative bound). So a build always computes the whole history in memory
(~1.5M rows in a few tens of milliseconds with TA-Lib) and writes only the partitions from
the first new or changed session onwards: partitions before it cannot change, because
every feature is a backward window. The result is bit-for-bit a full recompute; the cost
of an incremental build is dominated by reading the history (~0.4 s for 10 years).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa

from stockdb.calendar import TradingCalendar
from stockdb.clock import Clock
from stockdb.errors import NotFound
from stockdb.features.definitions import FeatureSet
from stockdb.features.frame import BarFrame
from stockdb.features.layout import FEATURE_COMPRESSION, FeatureLayout
from stockdb.features.records import BuildRecord, PartitionLedger, PartitionRecord
from stockdb.features.sources import ADJUSTMENT_MARK, BarHistory, HistorySource
from stockdb.lake.atomic import TempWriter, commit_temps, sweep_temp_tree
from stockdb.lake.locks import SymbolLocks
from stockdb.state.ledger import FileEntry
from stockdb.state.ledger import PartitionLedger as FileLedger
from stockdb.symbols import normalize_symbol

__all__ = [
    "BASE_COLUMNS",
    "BuildPlan",
    "BuildResult",
    "FeatureBuilder",
    "StalePartition",
    "StaleReason",
    "feature_metadata",
    "wide_table",
]

BASE_COLUMNS = ("ts", "open", "high", "low", "close", "volume", "trade_count", "vwap")
StaleReason = Literal[
    "missing", "unrecorded", "set_hash", "bars_changed", "corporate_action", "orphan"
]
META_PREFIX = b"stockdb."


@dataclass(frozen=True, slots=True)
class StalePartition:
    """A feature partition that does not reflect the current bars under the current set."""

    day: date
    reason: StaleReason


@dataclass(frozen=True, slots=True)
class BuildPlan:
    """What a build of ``symbol`` would have to rewrite, worked out without reading bars."""

    symbol: str
    source_partitions: int
    stale: tuple[StalePartition, ...]

    @property
    def first_changed(self) -> date | None:
        """The earliest stale session; every partition from it onwards gets rewritten."""
        return min((s.day for s in self.stale), default=None)

    @property
    def up_to_date(self) -> bool:
        return not self.stale


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What one build of one symbol did."""

    symbol: str
    set_hash: str
    full: bool
    rows: int
    partitions: int
    partitions_written: int
    partitions_removed: int
    first_ts: datetime | None
    last_ts: datetime | None
    seconds: float
    timeframe: str = "1Min"

    @property
    def up_to_date(self) -> bool:
        """True when nothing needed rewriting."""
        return self.partitions_written == 0 and self.partitions_removed == 0


def feature_metadata(feature_set: FeatureSet, symbol: str, day: date) -> dict[bytes, bytes]:
    """Parquet key-value metadata of a partition: deterministic, no build timestamps."""
    versions = {d.name: d.version for d in feature_set.definitions}
    return {
        META_PREFIX + b"feature_set_hash": feature_set.set_hash.encode(),
        META_PREFIX + b"price_adjustment": feature_set.price_adjustment.encode(),
        META_PREFIX + b"feature_versions": json.dumps(versions, sort_keys=True).encode(),
        META_PREFIX + b"symbol": symbol.encode(),
        META_PREFIX + b"session": day.isoformat().encode(),
    }


def _changed_reason(recorded: str, current: str) -> StaleReason:
    """``corporate_action`` when only the split-adjustment part of the fingerprint moved
    (same bars, a new split), else ``bars_changed``."""
    if recorded.split(ADJUSTMENT_MARK)[0] == current.split(ADJUSTMENT_MARK)[0]:
        return "corporate_action"
    return "bars_changed"


def _utc(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


def wide_table(history: BarHistory, feature_set: FeatureSet, calendar: TradingCalendar) -> pa.Table:
    """The base columns then every feature of ``feature_set`` over the whole ``history``. Pure."""
    table = history.table
    if history.anchor_us is not None:
        # Features see each bar at its start (a 1Day bar at the open, not its 00:00 label).
        anchors = pa.array(history.anchor_us, pa.int64()).cast(table.schema.field("ts").type)
        table = table.set_column(table.column_names.index("ts"), "ts", anchors)
    values = feature_set.compute(BarFrame.from_table(table, calendar))
    arrays = [history.table.column(c) for c in BASE_COLUMNS]
    arrays += [pa.array(values[c], type=pa.float64()) for c in feature_set.columns]
    return pa.Table.from_arrays(arrays, names=[*BASE_COLUMNS, *feature_set.columns])


class FeatureBuilder:
    """Computes ``feature_set`` over each symbol's history and writes changed partitions.

    ``locks`` serialise builders of one symbol (across processes on one host).
    """

    def __init__(
        self,
        source: HistorySource,
        layout: FeatureLayout,
        records: PartitionLedger,
        calendar: TradingCalendar,
        feature_set: FeatureSet,
        locks: SymbolLocks,
        ledger: FileLedger,
        clock: Clock,
        ledger_root: Path | None = None,
    ) -> None:
        self.source = source
        self.layout = layout
        self.records = records
        self.calendar = calendar
        self.feature_set = feature_set
        self.locks = locks
        self.ledger = ledger
        self.clock = clock  # stamps built_at and the ledger's written_at
        # Ledger paths are relative to the features folder, so every timeframe's differ.
        self.ledger_root = layout.root if ledger_root is None else ledger_root

    def plan(self, symbol: str, fingerprints: dict[date, str] | None = None) -> BuildPlan:
        """Stale partitions of ``symbol``: missing, never recorded, built by another set,
        built from bars that changed since, or left over from sessions no longer stored."""
        symbol = normalize_symbol(symbol)
        fps = self.source.fingerprints(symbol) if fingerprints is None else fingerprints
        files = {day for day, _ in self.layout.partitions(symbol)}
        recs = self.records.partitions(symbol)
        current = self.feature_set.set_hash
        stale: list[StalePartition] = []
        for day in sorted(fps):
            rec = recs.get(day)
            if day not in files:
                stale.append(StalePartition(day, "missing"))
            elif rec is None:
                stale.append(StalePartition(day, "unrecorded"))
            elif rec.set_hash != current:
                stale.append(StalePartition(day, "set_hash"))
            elif rec.source_fingerprint != fps[day]:
                stale.append(StalePartition(day, _changed_reason(rec.source_fingerprint, fps[day])))
        for day in sorted((files | set(recs)) - set(fps)):
            stale.append(StalePartition(day, "orphan"))
        stale.sort(key=lambda s: s.day)
        return BuildPlan(symbol, len(fps), tuple(stale))

    def compute(self, history: BarHistory) -> pa.Table:
        """The wide table (base columns then features) for the whole history; pure."""
        return wide_table(history, self.feature_set, self.calendar)

    def build(
        self,
        symbol: str,
        full: bool = False,
    ) -> BuildResult:
        """Bring ``symbol``'s feature partitions up to date; ``full`` rewrites all of them.

        Raises InvalidInput for a malformed symbol, NotFound when it has no bars, and
        StorageError when the destination is not writable (checked before any write).
        """
        started = time.perf_counter()
        symbol = normalize_symbol(symbol)
        self.layout.check_writable()
        with self.locks.hold(symbol):
            sweep_temp_tree(self.layout.symbol_dir(symbol))  # a killed build's leftovers
            with self.source.reading(symbol):
                fps = self.source.fingerprints(symbol)
                if not fps:
                    raise NotFound(f"no bars stored for {symbol}")
                plan = self.plan(symbol, fps)
                if plan.up_to_date and not full:
                    return self._nothing(symbol, started)
                history = self.source.read(symbol)
            return self._write(symbol, plan, history, full, started)

    def _nothing(self, symbol: str, started: float) -> BuildResult:
        recs = self.records.partitions(symbol)
        return BuildResult(
            symbol,
            self.feature_set.set_hash,
            False,
            sum(r.rows for r in recs.values()),
            len(recs),
            0,
            0,
            None,
            None,
            time.perf_counter() - started,
            self.feature_set.timeframe,
        )

    def _write(
        self, symbol: str, plan: BuildPlan, history: BarHistory, full: bool, started: float
    ) -> BuildResult:
        wide = self.compute(history)
        first = plan.first_changed
        todo = [p for p in history.partitions if full or first is None or p.day >= first]
        orphans = [s.day for s in plan.stale if s.reason == "orphan"]
        self.layout.ensure_symbol_dir(symbol)
        now = self.clock.now()
        written: list[PartitionRecord] = []
        dests: list[Path] = []
        # One durable round: every partition encoded, checksummed from memory, written and
        # fsync'd together (TempWriter); a failure removes every temp file.
        with TempWriter(FEATURE_COMPRESSION) as files:
            for part in todo:
                table = wide.slice(part.start, part.stop - part.start)
                table = table.replace_schema_metadata(
                    feature_metadata(self.feature_set, symbol, part.day)
                )
                dest = self.layout.partition_path(symbol, part.day)
                files.submit(table, dest)
                dests.append(dest)
                written.append(
                    PartitionRecord(
                        part.day, self.feature_set.set_hash, part.fingerprint, table.num_rows
                    )
                )
            temps = files.results()
            # Write-ahead: the ledger learns the new checksums (keeping the old ones) before
            # the renames, so a crash anywhere leaves files that match one or the other.
            self.ledger.record(
                [
                    FileEntry(
                        "features",
                        dest.relative_to(self.ledger_root).as_posix(),
                        symbol,
                        record.session_date,
                        record.rows,
                        tmp.size,
                        tmp.checksum,
                        now,
                    )
                    for dest, record, tmp in zip(dests, written, temps, strict=True)
                ]
            )
            files.release()
        commit_temps([(tmp.path, dest) for tmp, dest in zip(temps, dests, strict=True)])
        for day in orphans:
            self.layout.remove_partition(symbol, day)
        ts = wide.column("ts").cast(pa.int64()).to_numpy()
        lo = todo[0].start if todo else 0
        hi = todo[-1].stop if todo else 0
        first_ts = _utc(int(ts[lo])) if hi > lo else None
        last_ts = _utc(int(ts[hi - 1])) if hi > lo else None
        rows = int(np.sum([r.rows for r in written])) if written else 0
        self.records.save_build(
            symbol,
            written,
            orphans,
            BuildRecord(
                symbol,
                self.feature_set.set_hash,
                first_ts,
                last_ts,
                rows,
                len(written),
                full,
                now,
            ),
        )
        gone = [
            self.layout.partition_path(symbol, d).relative_to(self.ledger_root) for d in orphans
        ]
        self.ledger.forget("features", [p.as_posix() for p in gone])
        return BuildResult(
            symbol,
            self.feature_set.set_hash,
            full,
            wide.num_rows,
            len(history.partitions),
            len(written),
            len(orphans),
            first_ts,
            last_ts,
            time.perf_counter() - started,
            self.feature_set.timeframe,
        )
