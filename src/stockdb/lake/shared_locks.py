"""Per-symbol writer locks kept in the state store, so they hold across machines.

Two implementations of the :class:`~stockdb.lake.locks.SymbolLocks` protocol:

- :class:`AdvisorySymbolLocks` (PostgreSQL): a session-level ``pg_advisory_lock`` on a 64-bit
  hash of the symbol, held on a connection of its own for the whole hold. The server drops
  the lock the moment that connection ends, so a worker killed with ``kill -9`` (or a machine
  that vanishes, once TCP notices) never leaves a symbol locked.
- :class:`LeaseSymbolLocks` (any SQL store, used with SQLite): a row in ``lake_locks`` with an
  owner and an expiry, renewed by a background thread while held; an expired lease (its
  holder died) is taken over by the next writer.

:func:`make_symbol_locks` picks one for a state store; :func:`wants_shared_locks` says when a
deployment needs them (a Redis queue or a PostgreSQL state store: workers on several hosts).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta

from sqlalchemy import Connection, Engine, and_, create_engine, delete, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from stockdb.clock import Clock, SystemClock
from stockdb.config import Settings
from stockdb.errors import Conflict, StorageError
from stockdb.lake.locks import SymbolLocks, hold_each
from stockdb.state import tables
from stockdb.state.store import StateStore

__all__ = [
    "AdvisorySymbolLocks",
    "LeaseSymbolLocks",
    "advisory_key",
    "make_symbol_locks",
    "wants_shared_locks",
]

log = logging.getLogger("stockdb.lake.locks")
_KEY_NAMESPACE = "stockdb.lake.writer:"


def advisory_key(symbol: str) -> int:
    """The signed 64-bit advisory-lock key of ``symbol`` (stable across hosts and versions)."""
    digest = hashlib.blake2b((_KEY_NAMESPACE + symbol).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _busy(symbol: str) -> Conflict:
    return Conflict(f"{symbol} is being written by another job; try again later")


def _owner_token() -> str:
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


class AdvisorySymbolLocks:
    """PostgreSQL session advisory locks, one dedicated connection per hold.

    The connections come from an unpooled engine on the store's URL, so closing one always
    ends its server session and with it any lock it still holds.
    """

    def __init__(self, store: StateStore, clock: Clock | None = None, poll_s: float = 0.05):
        if store.dialect != "postgresql":
            raise StorageError("advisory locks need a PostgreSQL state store")
        self.clock: Clock = clock or SystemClock()
        self.poll_s = poll_s
        self._engine: Engine = create_engine(store.engine.url, poolclass=NullPool)

    def _try(self, conn: Connection, key: int) -> bool:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        conn.commit()  # never sit "idle in transaction" while holding the lock
        return bool(got)

    @contextmanager
    def hold(self, symbol: str, timeout_s: float = 600.0) -> Iterator[None]:
        """Block until ``symbol`` is ours across every host; Conflict after ``timeout_s``.

        Raises StorageError when the state store cannot be reached.
        """
        key = advisory_key(symbol)
        try:
            conn = self._engine.connect()
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot reach the state store for a writer lock: {exc}") from exc
        try:
            deadline = self.clock.monotonic() + timeout_s
            try:
                while not self._try(conn, key):
                    if self.clock.monotonic() >= deadline:
                        raise _busy(symbol)
                    self.clock.sleep(self.poll_s)  # polling a server lock: no event to wait on
            except SQLAlchemyError as exc:
                raise StorageError(f"cannot take the writer lock of {symbol}: {exc}") from exc
            try:
                yield
            finally:
                self._release(conn, key, symbol)
        finally:
            conn.close()

    @contextmanager
    def hold_many(self, symbols: Iterable[str], timeout_s: float = 600.0) -> Iterator[None]:
        """Hold every one of ``symbols`` on ONE connection (a round of many symbols costs
        one server session, not one each), taken in sorted order; Conflict after
        ``timeout_s`` with the locks taken so far released."""
        names = sorted(set(symbols))
        try:
            conn = self._engine.connect()
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot reach the state store for a writer lock: {exc}") from exc
        held: list[tuple[int, str]] = []
        try:
            deadline = self.clock.monotonic() + timeout_s
            try:
                for symbol in names:
                    key = advisory_key(symbol)
                    while not self._try(conn, key):
                        if self.clock.monotonic() >= deadline:
                            raise _busy(symbol)
                        self.clock.sleep(self.poll_s)  # polling a server lock
                    held.append((key, symbol))
            except SQLAlchemyError as exc:
                raise StorageError(f"cannot take the writer locks: {exc}") from exc
            yield
        finally:
            try:
                for key, symbol in reversed(held):
                    self._release(conn, key, symbol)
            finally:
                conn.close()  # ends the session: the server drops any lock still held

    def _release(self, conn: Connection, key: int, symbol: str) -> None:
        try:
            held = conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key}).scalar()
            conn.commit()
        except SQLAlchemyError:
            # The session is gone, and the server released the lock with it.
            log.warning("writer lock connection lost", extra={"symbol": symbol})
            conn.invalidate()
            return
        if not held:
            log.warning("writer lock was not held at release", extra={"symbol": symbol})

    def dispose(self) -> None:
        """Close the lock engine (connections are closed after each hold anyway)."""
        self._engine.dispose()


class LeaseSymbolLocks:
    """Leases in ``lake_locks``: owner plus expiry, renewed (every ``ttl_s / 3`` by default)
    while held.

    A holder that dies stops renewing; ``ttl_s`` later its lease counts as free. Times come
    from ``clock`` (UTC), so every host should keep its clock in sync (NTP).
    """

    def __init__(
        self,
        store: StateStore,
        clock: Clock | None = None,
        ttl_s: float = 30.0,
        poll_s: float = 0.05,
        renew_every_s: float | None = None,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.ttl_s = ttl_s
        self.poll_s = poll_s
        self.renew_every_s = renew_every_s or ttl_s / 3
        self._ready = False

    def _ensure_table(self) -> None:
        # Stores migrated before the table existed get it on first use.
        if not self._ready:
            tables.lake_locks.create(self.store.engine, checkfirst=True)
            self._ready = True

    def try_acquire(self, symbol: str) -> str | None:
        """Take ``symbol``'s lease if it is free or expired; returns the owner token or None."""
        self._ensure_table()
        now = self.clock.now()
        token = _owner_token()
        dialect = postgresql if self.store.dialect == "postgresql" else sqlite
        stmt = dialect.insert(tables.lake_locks).values(
            symbol=symbol,
            owner=token,
            acquired_at=now,
            expires_at=now + timedelta(seconds=self.ttl_s),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["symbol"],
            set_={
                "owner": stmt.excluded.owner,
                "acquired_at": stmt.excluded.acquired_at,
                "expires_at": stmt.excluded.expires_at,
            },
            where=tables.lake_locks.c.expires_at < now,
        ).returning(tables.lake_locks.c.owner)
        # RETURNING, not rowcount: drivers disagree on rowcount for INSERT .. ON CONFLICT.
        with self.store.engine.begin() as conn:
            owner = conn.execute(stmt).scalar()
        return token if owner == token else None

    def renew(self, symbol: str, token: str) -> bool:
        """Push the lease's expiry ``ttl_s`` ahead; False when ``token`` no longer owns it."""
        c = tables.lake_locks.c
        expires = self.clock.now() + timedelta(seconds=self.ttl_s)
        with self.store.engine.begin() as conn:
            result = conn.execute(
                update(tables.lake_locks)
                .where(and_(c.symbol == symbol, c.owner == token))
                .values(expires_at=expires)
            )
        return result.rowcount == 1

    def release(self, symbol: str, token: str) -> bool:
        """Drop the lease if ``token`` still owns it (True when it did)."""
        c = tables.lake_locks.c
        with self.store.engine.begin() as conn:
            result = conn.execute(
                delete(tables.lake_locks).where(and_(c.symbol == symbol, c.owner == token))
            )
        return result.rowcount == 1

    @contextmanager
    def hold(self, symbol: str, timeout_s: float = 600.0) -> Iterator[None]:
        """Block until ``symbol``'s lease is ours; Conflict after ``timeout_s``.

        Raises StorageError when the state store fails while taking the lease.
        """
        deadline = self.clock.monotonic() + timeout_s
        try:
            token = self.try_acquire(symbol)
            while token is None:
                if self.clock.monotonic() >= deadline:
                    raise _busy(symbol)
                self.clock.sleep(self.poll_s)  # polling a table: no event to wait on
                token = self.try_acquire(symbol)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot take the writer lease of {symbol}: {exc}") from exc
        done = threading.Event()
        renewer = threading.Thread(
            target=self._keep, args=(symbol, token, done), name=f"lease-{symbol}", daemon=True
        )
        renewer.start()
        try:
            yield
        finally:
            done.set()
            renewer.join()
            try:
                if not self.release(symbol, token):
                    log.warning("writer lease had expired at release", extra={"symbol": symbol})
            except SQLAlchemyError:
                log.warning("could not release a writer lease", extra={"symbol": symbol})

    def hold_many(
        self, symbols: Iterable[str], timeout_s: float = 600.0
    ) -> AbstractContextManager[None]:
        return hold_each(self, symbols, timeout_s)

    def _keep(self, symbol: str, token: str, done: threading.Event) -> None:
        while not done.wait(self.renew_every_s):
            try:
                if not self.renew(symbol, token):
                    log.warning("writer lease lost", extra={"symbol": symbol})
                    return
            except SQLAlchemyError:
                log.warning("could not renew a writer lease", extra={"symbol": symbol})


def wants_shared_locks(settings: Settings) -> bool:
    """True when writers may run on several hosts: a Redis queue or a PostgreSQL store."""
    return settings.writers_span_hosts


def make_symbol_locks(store: StateStore, clock: Clock | None = None) -> SymbolLocks:
    """Advisory locks on PostgreSQL, leases on any other store (no I/O until first hold)."""
    if store.dialect == "postgresql":
        return AdvisorySymbolLocks(store, clock)
    return LeaseSymbolLocks(store, clock)
