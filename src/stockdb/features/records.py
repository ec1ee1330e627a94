"""Feature metadata in the state store: registered sets, builds, and per-partition records."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from sqlalchemy import and_, delete, select
from sqlalchemy.exc import SQLAlchemyError

from stockdb.errors import StorageError
from stockdb.features.definitions import FeatureSet
from stockdb.state import tables
from stockdb.state.store import StateStore, as_utc, stored_utc

__all__ = ["BuildRecord", "FeatureRecords", "PartitionLedger", "PartitionRecord"]


@dataclass(frozen=True, slots=True)
class PartitionRecord:
    """The last write of one feature partition: set hash and the source bars' fingerprint."""

    session_date: date
    set_hash: str
    source_fingerprint: str
    rows: int


@dataclass(frozen=True, slots=True)
class BuildRecord:
    """One ``feature_builds`` row."""

    symbol: str
    set_hash: str
    first_ts: datetime | None
    last_ts: datetime | None
    rows: int
    partitions: int
    full: bool
    built_at: datetime


class PartitionLedger(Protocol):
    """Where a builder keeps its partition records (the state store, or a file per symbol)."""

    def partitions(self, symbol: str) -> dict[date, PartitionRecord]:
        """The partition records of ``symbol`` by session date."""
        ...

    def save_build(
        self,
        symbol: str,
        written: Iterable[PartitionRecord],
        removed: Iterable[date],
        build: BuildRecord,
    ) -> None:
        """Record one build: the written partitions, the removed ones and the build row."""
        ...


class FeatureRecords:
    """Reads and writes ``feature_sets``, ``feature_builds`` and ``feature_partitions``.

    Every method raises StorageError when the database refuses the statement.
    """

    def __init__(self, state: StateStore) -> None:
        self.state = state

    def register_set(self, feature_set: FeatureSet) -> None:
        """Upsert one ``feature_sets`` row per definition (name, version, params hash)."""
        now = self.state.clock.now()
        rows = [
            {
                "feature_name": d.name,
                "version": d.version,
                "params_hash": d.params_hash,
                "params": dict(d.params),
                "code_ref": d.code_ref,
                "set_hash": feature_set.set_hash,
                "created_at": now,
            }
            for d in feature_set.definitions
        ]
        try:
            with self.state.engine.begin() as conn:
                self.state.upsert(
                    conn,
                    tables.feature_sets,
                    rows,
                    keys=["feature_name", "version", "params_hash"],
                    update=["code_ref", "set_hash"],
                )
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot record the feature set: {exc}") from exc

    def partitions(self, symbol: str) -> dict[date, PartitionRecord]:
        """The partition records of ``symbol`` by session date."""
        t = tables.feature_partitions
        try:
            with self.state.engine.connect() as conn:
                rows = conn.execute(select(t).where(t.c.symbol == symbol)).mappings().all()
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read feature records: {exc}") from exc
        return {
            r["session_date"]: PartitionRecord(
                r["session_date"], r["set_hash"], r["source_fingerprint"], r["rows"]
            )
            for r in rows
        }

    def symbols(self) -> list[str]:
        """Every symbol with at least one partition record, sorted."""
        t = tables.feature_partitions
        try:
            with self.state.engine.connect() as conn:
                rows = conn.execute(select(t.c.symbol).distinct().order_by(t.c.symbol)).all()
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read feature records: {exc}") from exc
        return [str(r[0]) for r in rows]

    def save_build(
        self,
        symbol: str,
        written: Iterable[PartitionRecord],
        removed: Iterable[date],
        build: BuildRecord,
    ) -> None:
        """In one transaction: upsert the written partitions, drop the removed ones and
        append the ``feature_builds`` row."""
        t = tables.feature_partitions
        now = build.built_at
        rows = [
            {
                "symbol": symbol,
                "session_date": r.session_date,
                "set_hash": r.set_hash,
                "source_fingerprint": r.source_fingerprint,
                "rows": r.rows,
                "built_at": now,
            }
            for r in written
        ]
        gone = list(removed)
        try:
            with self.state.engine.begin() as conn:
                for start in range(0, len(rows), 500):
                    self.state.upsert(
                        conn, t, rows[start : start + 500], keys=["symbol", "session_date"]
                    )
                if gone:
                    conn.execute(
                        delete(t).where(and_(t.c.symbol == symbol, t.c.session_date.in_(gone)))
                    )
                conn.execute(
                    tables.feature_builds.insert().values(
                        symbol=symbol,
                        set_hash=build.set_hash,
                        first_ts=build.first_ts,
                        last_ts=build.last_ts,
                        rows=build.rows,
                        partitions=build.partitions,
                        full=build.full,
                        built_at=now,
                    )
                )
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot record the feature build: {exc}") from exc

    def builds(self, symbol: str | None = None, limit: int = 100) -> list[BuildRecord]:
        """The latest ``feature_builds`` rows, newest first."""
        t = tables.feature_builds
        query = select(t).order_by(t.c.id.desc()).limit(limit)
        if symbol is not None:
            query = query.where(t.c.symbol == symbol)
        try:
            with self.state.engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read feature builds: {exc}") from exc
        return [
            BuildRecord(
                r["symbol"],
                r["set_hash"],
                as_utc(r["first_ts"]),
                as_utc(r["last_ts"]),
                r["rows"],
                r["partitions"],
                bool(r["full"]),
                stored_utc(r["built_at"]),
            )
            for r in rows
        ]
