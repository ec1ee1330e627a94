"""The integrity ledger: row count, size and checksum of every partition file at write time.

Writers (the bars lake, the feature builder) record each file they commit; ``stockdb verify``
compares the files on disk against it, marks what it finds damaged or missing, and a repair
forgets the entries of the files it moved to quarantine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from stockdb.errors import StorageError

if TYPE_CHECKING:  # SQLAlchemy loads on first use: a bars read builds a ledger, never uses it
    from stockdb.state.store import StateStore

__all__ = ["FileEntry", "FileKind", "FileStatus", "PartitionLedger"]

FileKind = Literal["bars", "features", "rollups"]
FileStatus = Literal["ok", "damaged", "missing"]


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One partition file as written: ``rel_path`` is relative to its kind's root folder."""

    kind: FileKind
    rel_path: str
    symbol: str
    session_date: date
    rows: int
    size: int
    checksum: str
    written_at: datetime
    status: FileStatus = "ok"
    problem: str | None = None
    prev_size: int | None = None
    prev_checksum: str | None = None

    def matches(self, size: int, checksum: str) -> bool:
        """The file with ``size`` and ``checksum`` is this write or the one it replaced."""
        return (size, checksum) in (
            (self.size, self.checksum),
            (self.prev_size, self.prev_checksum),
        )


_ENTRY_FIELDS = tuple(f.name for f in fields(FileEntry))


class PartitionLedger:
    """Reads and writes ``partition_files``; every method raises StorageError on a DB error.

    ``state`` may be a factory, so a process that only reads bars opens no state store until
    it has something to record.
    """

    def __init__(self, state: StateStore | Callable[[], StateStore]) -> None:
        self._state = state
        self._upsert_stmt: Any = None

    @property
    def state(self) -> StateStore:
        if callable(self._state):
            self._state = self._state()
        return self._state

    def _upsert(self) -> Any:
        """The write-ahead upsert of :meth:`record`, built once per ledger (SQLAlchemy takes
        about a millisecond to build its ``excluded`` columns, on every write round)."""
        if self._upsert_stmt is not None:
            return self._upsert_stmt
        from sqlalchemy import case
        from sqlalchemy.dialects import postgresql, sqlite

        from stockdb.state import tables

        t = tables.partition_files
        dialect = postgresql if self.state.dialect == "postgresql" else sqlite
        stmt = dialect.insert(t)
        new = stmt.excluded
        fresh = t.c.status == "ok"  # a damaged file's old checksum is no alibi
        self._upsert_stmt = stmt.on_conflict_do_update(
            index_elements=["kind", "rel_path"],
            set_={
                "prev_size": case((fresh, t.c.size), else_=None),
                "prev_checksum": case((fresh, t.c.checksum), else_=None),
                **{
                    name: new[name]
                    for name in _ENTRY_FIELDS
                    if name not in ("kind", "rel_path", "prev_size", "prev_checksum")
                },
            },
        )
        return self._upsert_stmt

    def record(self, entries: Sequence[FileEntry]) -> None:
        """Upsert entries before their files are renamed into place (write-ahead): a rewrite
        keeps the entry's previous size and checksum, so the old file still verifies when a
        crash stops the rename; it clears a damaged or missing status."""
        from sqlalchemy.exc import SQLAlchemyError

        if not entries:
            return
        rows = [{n: getattr(e, n) for n in _ENTRY_FIELDS} for e in entries]  # no deep copy
        try:
            # One statement executed for every row (executemany): compiled once, one
            # transaction for a whole flush round however many files it wrote.
            with self.state.engine.begin() as conn:
                conn.execute(self._upsert(), rows)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot record partition checksums: {exc}") from exc

    def entries(self, kind: FileKind, symbols: Iterable[str] | None = None) -> list[FileEntry]:
        """Entries of ``kind`` (for ``symbols`` when given), sorted by path."""
        from sqlalchemy import select
        from sqlalchemy.exc import SQLAlchemyError

        from stockdb.state import tables
        from stockdb.state.store import stored_utc

        t = tables.partition_files
        query = select(t).where(t.c.kind == kind).order_by(t.c.rel_path)
        names = None if symbols is None else list(symbols)
        if names is not None:
            query = query.where(t.c.symbol.in_(names))
        try:
            with self.state.engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read partition checksums: {exc}") from exc
        return [
            FileEntry(
                kind=r["kind"],
                rel_path=r["rel_path"],
                symbol=r["symbol"],
                session_date=r["session_date"],
                rows=r["rows"],
                size=r["size"],
                checksum=r["checksum"],
                written_at=stored_utc(r["written_at"]),
                status=r["status"],
                problem=r["problem"],
                prev_size=r["prev_size"],
                prev_checksum=r["prev_checksum"],
            )
            for r in rows
        ]

    def mark(self, kind: FileKind, rel_path: str, status: FileStatus, problem: str | None) -> None:
        """Set the status of one entry (no-op when the file was never recorded)."""
        from sqlalchemy import and_, update
        from sqlalchemy.exc import SQLAlchemyError

        from stockdb.state import tables

        t = tables.partition_files
        try:
            with self.state.engine.begin() as conn:
                conn.execute(
                    update(t)
                    .where(and_(t.c.kind == kind, t.c.rel_path == rel_path))
                    .values(status=status, problem=problem)
                )
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot record a damaged partition: {exc}") from exc

    def forget(self, kind: FileKind, rel_paths: Sequence[str]) -> None:
        """Drop the entries of files that were moved away."""
        from sqlalchemy import and_, delete
        from sqlalchemy.exc import SQLAlchemyError

        from stockdb.state import tables

        if not rel_paths:
            return
        t = tables.partition_files
        try:
            with self.state.engine.begin() as conn:
                conn.execute(
                    delete(t).where(and_(t.c.kind == kind, t.c.rel_path.in_(list(rel_paths))))
                )
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot update partition checksums: {exc}") from exc

    def damaged_count(self) -> int:
        """How many recorded files are known damaged or missing (for /health)."""
        from sqlalchemy import func, select
        from sqlalchemy.exc import SQLAlchemyError

        from stockdb.state import tables

        t = tables.partition_files
        try:
            with self.state.engine.connect() as conn:
                value = conn.execute(
                    select(func.count()).select_from(t).where(t.c.status != "ok")
                ).scalar()
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read partition checksums: {exc}") from exc
        return int(value or 0)
