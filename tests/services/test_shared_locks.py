"""Writer locks in the state store: leases on SQLite and PostgreSQL, advisory locks on
PostgreSQL, and the App picking them whenever workers may span hosts."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from stockdb.app import App
from stockdb.clock import ManualClock
from stockdb.config import Settings
from stockdb.errors import Conflict
from stockdb.lake.locks import FileSymbolLocks
from stockdb.lake.shared_locks import (
    AdvisorySymbolLocks,
    LeaseSymbolLocks,
    advisory_key,
    wants_shared_locks,
)
from stockdb.state import tables
from stockdb.state.store import StateStore, as_utc

T0 = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)


def _pg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    else:
        url = _pg(request.getfixturevalue("pg_database"))
    state = StateStore(url)
    state.migrate()
    try:
        yield state
    finally:
        state.dispose()


@pytest.fixture
def pg_store(pg_database: str) -> Iterator[StateStore]:
    state = StateStore(_pg(pg_database))
    state.migrate()
    try:
        yield state
    finally:
        state.dispose()


def _exclusive(locks_for: list[object], symbol: str, rounds: int) -> list[str]:
    """Threads, each with its own lock object, enter ``symbol``'s critical section; returns
    any overlap seen (empty when the lock excluded them)."""
    inside: list[int] = []
    overlaps: list[str] = []
    guard = threading.Lock()

    def run(locks: object, name: str) -> None:
        for _ in range(rounds):
            with locks.hold(symbol, timeout_s=30):  # type: ignore[attr-defined]
                with guard:
                    inside.append(1)
                    if len(inside) > 1:
                        overlaps.append(name)
                time.sleep(0.002)  # a write in progress: widens the window for a race
                with guard:
                    inside.pop()

    threads = [threading.Thread(target=run, args=(lk, f"t{i}")) for i, lk in enumerate(locks_for)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return overlaps


# ---- leases (both backends) -----------------------------------------------------------------
def test_lease_excludes_until_released_or_expired(store: StateStore) -> None:
    clock = ManualClock(T0)
    a = LeaseSymbolLocks(store, clock, ttl_s=10)
    b = LeaseSymbolLocks(store, clock, ttl_s=10)
    token = a.try_acquire("SPY")
    assert token is not None
    assert b.try_acquire("SPY") is None
    assert b.try_acquire("QQQ") is not None  # other symbols are independent
    assert not b.release("SPY", "someone-else")
    assert a.renew("SPY", token)
    clock.advance(9)
    assert b.try_acquire("SPY") is None  # renewed at T0: still valid at T0+9
    clock.advance(2)
    stolen = b.try_acquire("SPY")  # the holder stopped renewing (it died): taken over
    assert stolen is not None
    assert not a.renew("SPY", token) and not a.release("SPY", token)
    assert b.release("SPY", stolen)
    assert a.try_acquire("SPY") is not None


def test_lease_hold_times_out_with_conflict(store: StateStore) -> None:
    holder = LeaseSymbolLocks(store, ttl_s=30)
    waiter = LeaseSymbolLocks(store, ttl_s=30, poll_s=0.01)
    with holder.hold("SPY"):
        started = time.monotonic()
        with pytest.raises(Conflict, match="SPY is being written"):
            with waiter.hold("SPY", timeout_s=0.2):
                pass
        assert 0.2 <= time.monotonic() - started < 5
    with waiter.hold("SPY", timeout_s=1):
        pass


def test_lease_hold_renews_while_held(store: StateStore) -> None:
    clock = ManualClock(T0)
    holder = LeaseSymbolLocks(store, clock, ttl_s=10, renew_every_s=0.01)
    other = LeaseSymbolLocks(store, clock, ttl_s=10)
    c = tables.lake_locks.c

    def expires_at() -> datetime | None:
        with store.engine.connect() as conn:
            return as_utc(conn.execute(select(c.expires_at).where(c.symbol == "SPY")).scalar())

    with holder.hold("SPY"):
        assert expires_at() == T0 + timedelta(seconds=10)
        clock.advance(8)
        deadline = time.monotonic() + 10
        while expires_at() != T0 + timedelta(seconds=18) and time.monotonic() < deadline:
            time.sleep(0.01)  # waiting for the renewer thread's next pass
        assert expires_at() == T0 + timedelta(seconds=18)
        clock.advance(4)  # past the first expiry: only the renewal keeps the lease
        assert other.try_acquire("SPY") is None
    assert expires_at() is None  # released on exit
    assert other.try_acquire("SPY") is not None


def test_lease_threads_never_overlap(store: StateStore) -> None:
    locks = [LeaseSymbolLocks(store, ttl_s=30, poll_s=0.005) for _ in range(4)]
    assert _exclusive(locks, "SPY", rounds=5) == []


# ---- advisory locks (PostgreSQL) --------------------------------------------------------------
@pytest.mark.services
def test_advisory_lock_excludes_across_connections(pg_store: StateStore) -> None:
    a = AdvisorySymbolLocks(pg_store, poll_s=0.01)
    b = AdvisorySymbolLocks(pg_store, poll_s=0.01)
    with a.hold("SPY"):
        with pytest.raises(Conflict):
            with b.hold("SPY", timeout_s=0.2):
                pass
        with b.hold("QQQ", timeout_s=1):
            pass
    with b.hold("SPY", timeout_s=1):
        pass
    assert _exclusive([a, b, AdvisorySymbolLocks(pg_store, poll_s=0.005)], "SPY", 5) == []
    a.dispose()
    b.dispose()


def _advisory_holders(store: StateStore) -> dict[int, set[int]]:
    """Backend pid -> the advisory keys it holds, read from pg_locks."""
    from sqlalchemy import text

    held: dict[int, set[int]] = {}
    with store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT pid, (classid::bigint << 32) | objid::bigint FROM pg_locks "
                "WHERE locktype = 'advisory' AND granted AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        ).fetchall()
    for pid, key in rows:
        held.setdefault(int(pid), set()).add(int(key) - (1 << 64) if key >= 1 << 63 else key)
    return held


def test_advisory_hold_many_takes_every_lock_on_one_connection(pg_store: StateStore) -> None:
    names = [f"S{i:02d}" for i in range(40)]
    a = AdvisorySymbolLocks(pg_store, poll_s=0.01)
    b = AdvisorySymbolLocks(pg_store, poll_s=0.01)
    with a.hold_many(reversed(names)):
        holders = _advisory_holders(pg_store)
        assert len(holders) == 1  # one server session for the whole round
        assert holders.popitem()[1] == {advisory_key(n) for n in names}
        with pytest.raises(Conflict, match="S07"):
            with b.hold_many(["S07", "ZZZ"], timeout_s=0.2):
                pass
        with b.hold_many(["QQQ", "ZZZ"], timeout_s=1):
            pass
    assert _advisory_holders(pg_store) == {}  # all released, none left from the refusal
    with b.hold_many(["ZZZ", "AAA"], timeout_s=0.2):  # a refused round kept nothing
        with pytest.raises(Conflict, match="AAA"):
            with a.hold_many(names + ["AAA"], timeout_s=0.2):
                pass
        assert set().union(*_advisory_holders(pg_store).values()) == {
            advisory_key("ZZZ"),
            advisory_key("AAA"),
        }
    a.dispose()
    b.dispose()


_HOLDER = """
import sys, time
from stockdb.lake.shared_locks import AdvisorySymbolLocks
from stockdb.state import tables
from stockdb.state.store import StateStore, as_utc
locks = AdvisorySymbolLocks(StateStore(sys.argv[1]))
with locks.hold("SPY"):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.mark.services
def test_advisory_lock_dies_with_its_holder(pg_store: StateStore) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(pg_store.engine.url.render_as_string(False))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        locks = AdvisorySymbolLocks(pg_store, poll_s=0.01)
        with pytest.raises(Conflict):
            with locks.hold("SPY", timeout_s=0.2):
                pass
        proc.kill()  # kill -9: no cleanup code runs in the holder
        proc.wait(timeout=10)
        started = time.monotonic()
        with locks.hold("SPY", timeout_s=10):
            waited = time.monotonic() - started
        assert waited < 5  # the server dropped the lock with the dead session
        locks.dispose()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_advisory_keys_are_stable_and_distinct() -> None:
    assert advisory_key("SPY") == advisory_key("SPY")
    keys = {advisory_key(s) for s in ("SPY", "QQQ", "AAPL", "BRK.B", "SPY1")}
    assert len(keys) == 5
    assert all(-(2**63) <= k < 2**63 for k in keys)


# ---- the App's choice --------------------------------------------------------------------------
def test_app_uses_file_locks_locally_and_state_locks_when_scaled(tmp_path: Path) -> None:
    local = Settings(data_dir=tmp_path / "a")
    redis_queue = Settings(data_dir=tmp_path / "b", queue_url="redis://127.0.0.1:1/0")
    assert not wants_shared_locks(local) and wants_shared_locks(redis_queue)
    assert wants_shared_locks(Settings(data_dir=tmp_path, state_url="postgresql://u@h/db"))
    app_local, app_redis = App(local), App(redis_queue)
    try:
        assert isinstance(app_local.lake.locks, FileSymbolLocks)
        assert isinstance(app_redis.lake.locks, LeaseSymbolLocks)  # SQLite state store
    finally:
        app_local.close()
        app_redis.close()


@pytest.mark.services
def test_app_uses_advisory_locks_on_postgresql(tmp_path: Path, pg_database: str) -> None:
    app = App(Settings(data_dir=tmp_path, state_url=pg_database))
    try:
        assert isinstance(app.lake.locks, AdvisorySymbolLocks)
        with app.lake.writer("SPY"):
            other = AdvisorySymbolLocks(app.state, poll_s=0.01)
            with pytest.raises(Conflict):
                with other.hold("SPY", timeout_s=0.1):
                    pass
            other.dispose()
    finally:
        app.close()
