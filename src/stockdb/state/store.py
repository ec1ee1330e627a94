"""The state store: engine setup (SQLite WAL by default), schema migrations, upserts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from stockdb.clock import Clock, SystemClock
from stockdb.errors import ConfigError, StorageError
from stockdb.state import tables

__all__ = ["MIGRATIONS", "StateStore", "as_utc", "stored_utc"]


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC, so make that explicit."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def stored_utc(value: datetime) -> datetime:
    """:func:`as_utc` of a NOT NULL timestamp column."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _create_all(conn: Connection) -> None:
    tables.metadata.create_all(conn)


def _create_feature_partitions(conn: Connection) -> None:
    tables.feature_partitions.create(conn, checkfirst=True)


def _create_corporate_actions(conn: Connection) -> None:
    tables.corporate_actions.create(conn, checkfirst=True)


def _create_partition_files(conn: Connection) -> None:
    tables.partition_files.create(conn, checkfirst=True)


def _add_previous_checksums(conn: Connection) -> None:
    present = {c["name"] for c in inspect(conn).get_columns("partition_files")}
    for name, kind in (("prev_size", "BIGINT"), ("prev_checksum", "VARCHAR(64)")):
        if name not in present:
            conn.execute(text(f"ALTER TABLE partition_files ADD COLUMN {name} {kind}"))


def _explicit_in_progress(conn: Connection) -> None:
    """Sessions recorded while open were ``partial`` with a reason; give them their status."""
    c = tables.coverage.c
    conn.execute(
        tables.coverage.update()
        .where(c.status == "partial", c.reason == "session in progress")
        .values(status="in_progress")
    )


# Ordered schema migrations; append, never edit. Version 1 creates the initial tables.
MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "initial schema", _create_all),
    (2, "feature partition records", _create_feature_partitions),
    (3, "corporate actions", _create_corporate_actions),
    (4, "partition file checksums", _create_partition_files),
    (5, "previous partition checksums", _add_previous_checksums),
    (6, "explicit in-progress coverage status", _explicit_in_progress),
]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class StateStore:
    """Owns the SQLAlchemy engine; every access module takes one of these."""

    def __init__(self, url: str, clock: Clock | None = None) -> None:
        self.url = url
        # the time every repository on this store stamps rows with (the App's clock)
        self.clock: Clock = clock or SystemClock()
        try:
            if url.startswith("sqlite:///"):
                path = Path(url.removeprefix("sqlite:///"))
                path.parent.mkdir(parents=True, exist_ok=True)
                self.engine: Engine = create_engine(
                    url, connect_args={"timeout": 30, "check_same_thread": False}
                )
                event.listen(self.engine, "connect", _sqlite_pragmas)
            else:
                self.engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise ConfigError(f"cannot use state store URL: {type(exc).__name__}") from exc
        except OSError as exc:
            raise StorageError(f"cannot create the state store: {exc.strerror}") from exc

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> int:
        """Apply pending migrations; returns the schema version now in force."""
        try:
            with self.engine.begin() as conn:
                tables.schema_version.create(conn, checkfirst=True)
                current = conn.execute(select(func.max(tables.schema_version.c.version))).scalar()
                current = int(current or 0)
                for version, description, step in MIGRATIONS:
                    if version > current:
                        step(conn)
                        conn.execute(
                            insert(tables.schema_version).values(
                                version=version,
                                description=description,
                                applied_at=self.clock.now(),
                            )
                        )
                        current = version
                return current
        except OperationalError as exc:
            raise StorageError(f"cannot open the state store: {exc.orig}") from exc

    def upsert(
        self,
        conn: Connection,
        table: Table,
        rows: Sequence[dict[str, Any]],
        keys: Sequence[str],
        update: Sequence[str] | None = None,
    ) -> None:
        """Insert ``rows``, updating ``update`` columns (default: all non-key) on key conflict."""
        if not rows:
            return
        cols = update if update is not None else [c for c in rows[0] if c not in keys]
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        stmt = dialect.insert(table).values(list(rows))
        if cols:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(keys), set_={c: stmt.excluded[c] for c in cols}
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
        conn.execute(stmt)

    def dispose(self) -> None:
        self.engine.dispose()
