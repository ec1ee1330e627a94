"""The integrity ledger: row count, size and checksum of every partition file at write time.

Writers (the bars lake, the feature builder) record each file they commit; ``stockdb verify``
compares the files on disk against it, marks what it finds damaged or missing, and a repair
forgets the entries of the files it moved to quarantine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal

from stockdb.errors import StorageError

if TYPE_CHECKING:
    from stockdb.state.store import StateStore

__all__ = ["FileEntry", "FileKind", "FileStatus", "PartitionLedger"]

FileKind = Literal["bars", "features"]
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


class PartitionLedger:
    """Reads and writes ``partition_files``; every method raises StorageError on a DB error.

    ``state`` may be a factory, so a process that only reads bars opens no state store until
    it has something to record (SQLAlchemy, too, is imported on first use: a bars read
    builds a lake, and so a ledger, but never touches it).
    """

    def __init__(self, state: StateStore | Callable[[], StateStore]) -> None:
        self._state = state

    @property
    def state(self) -> StateStore:
        if callable(self._state):
            self._state = self._state()
        return self._state

    def record(self, entries: Sequence[FileEntry]) -> None:
        """Upsert entries (a rewrite of a file replaces its entry and clears its status)."""
        from sqlalchemy.exc import SQLAlchemyError

        from stockdb.state import tables

        rows = [asdict(e) for e in entries]
        try:
            with self.state.engine.begin() as conn:
                for start in range(0, len(rows), 500):
                    self.state.upsert(
                        conn,
                        tables.partition_files,
                        rows[start : start + 500],
                        ["kind", "rel_path"],
                    )
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot record partition checksums: {exc}") from exc

    def entries(self, kind: FileKind, symbols: Iterable[str] | None = None) -> list[FileEntry]:
        """Entries of ``kind`` (for ``symbols`` when given), sorted by path."""
        from sqlalchemy import select
        from sqlalchemy.exc import SQLAlchemyError

        from stockdb.state import tables
        from stockdb.state.store import as_utc, utcnow

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
                written_at=as_utc(r["written_at"]) or utcnow(),
                status=r["status"],
                problem=r["problem"],
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
        if not rel_paths:
            return
        from sqlalchemy import and_, delete
        from sqlalchemy.exc import SQLAlchemyError

        from stockdb.state import tables

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
