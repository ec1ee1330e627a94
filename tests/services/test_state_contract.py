"""One state-store suite over SQLite and a real PostgreSQL: migrations, upserts, coverage,
jobs, heartbeats, alerts, logs and agent switches behave the same on both."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from stockdb.jobs.controls import AgentControls
from stockdb.jobs.records import JobRepo
from stockdb.obs.heartbeats import Heartbeat, HeartbeatRepo
from stockdb.obs.logquery import query_logs
from stockdb.obs.sink import log_row, prune_logs
from stockdb.state import tables
from stockdb.state.coverage import CoverageRecord, CoverageRepo
from stockdb.state.store import MIGRATIONS, StateStore

T0 = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)
LATEST = max(version for version, _, _ in MIGRATIONS)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)],
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """A migrated state store on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    else:
        url = request.getfixturevalue("pg_database").replace(
            "postgresql://", "postgresql+psycopg://", 1
        )
    state = StateStore(url)
    state.migrate()
    try:
        yield state
    finally:
        state.dispose()


def _coverage(symbol: str, day: date, status: str, rows: int) -> CoverageRecord:
    first = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=9)
    return CoverageRecord(
        symbol=symbol,
        session_date=day,
        rows=rows,
        regular_rows=min(rows, 390),
        first_ts=first if rows else None,
        last_ts=first + timedelta(minutes=rows - 1) if rows else None,
        status=status,  # type: ignore[arg-type]
        source="synthetic",
        feed="synthetic",
        reason=None if status == "complete" else f"{status} session",
        attempts=1,
        fetched_at=T0,
    )


# ---- schema -----------------------------------------------------------------------------
def test_migrate_creates_every_table_and_is_idempotent(store: StateStore) -> None:
    names = set(inspect(store.engine).get_table_names())
    assert set(tables.metadata.tables) <= names
    assert store.migrate() == LATEST
    with store.engine.connect() as conn:
        versions = [r[0] for r in conn.execute(select(tables.schema_version.c.version))]
    assert sorted(versions) == sorted(v for v, _, _ in MIGRATIONS)


def test_upsert_updates_named_columns_and_can_ignore_conflicts(store: StateStore) -> None:
    row = {"agent": "live", "enabled": True, "updated_at": T0}
    with store.engine.begin() as conn:
        store.upsert(conn, tables.agent_controls, [row], ["agent"])
        store.upsert(
            conn, tables.agent_controls, [{**row, "enabled": False, "updated_at": T0}], ["agent"]
        )
        store.upsert(
            conn,
            tables.agent_controls,
            [{**row, "enabled": True, "updated_at": T0 + timedelta(hours=1)}],
            ["agent"],
            update=[],
        )
    with store.engine.connect() as conn:
        rows = conn.execute(select(tables.agent_controls)).fetchall()
    assert len(rows) == 1
    assert rows[0].enabled is False  # the do-nothing upsert kept the updated row


# ---- coverage and symbols -----------------------------------------------------------------
def test_symbols_insert_update_and_tracking(store: StateStore) -> None:
    repo = CoverageRepo(store)
    repo.ensure_symbol("SPY", "synthetic", "synthetic")
    repo.ensure_symbol("AAPL", "synthetic", "synthetic")
    repo.ensure_symbol("SPY", "alpaca", "iex")
    spy = repo.get_symbol("SPY")
    assert spy is not None and (spy.provider, spy.feed, spy.tracked) == ("alpaca", "iex", False)
    assert spy.added_at.tzinfo is not None
    assert repo.get_symbol("QQQ") is None
    repo.set_tracked("SPY", True)
    repo.set_tracked("AAPL", True)
    repo.set_tracked("AAPL", False)
    assert repo.tracked_symbols() == ["SPY"]


def test_coverage_round_trip_range_and_forget(store: StateStore) -> None:
    repo = CoverageRepo(store)
    repo.ensure_symbol("SPY", "synthetic", "synthetic")
    days = [date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)]
    repo.record([_coverage("SPY", d, "complete", 900) for d in days])
    repo.record([_coverage("SPY", days[1], "partial", 100)])  # re-fetch overwrites
    got = repo.sessions("SPY", days[1], days[2])
    assert sorted(got) == days[1:]
    assert got[days[1]].status == "partial" and got[days[1]].rows == 100
    assert got[days[2]].first_ts == datetime(2024, 3, 6, 9, tzinfo=UTC)
    assert got[days[2]].fetched_at == T0
    repo.forget("SPY")
    assert repo.sessions("SPY") == {}


def test_coverage_summaries_count_by_status(store: StateStore) -> None:
    repo = CoverageRepo(store)
    for name in ("SPY", "QQQ"):
        repo.ensure_symbol(name, "synthetic", "synthetic")
    repo.record(
        [
            _coverage("SPY", date(2024, 3, 4), "complete", 900),
            _coverage("SPY", date(2024, 3, 5), "complete", 800),
            _coverage("SPY", date(2024, 3, 6), "partial", 50),
            _coverage("SPY", date(2024, 3, 7), "empty", 0),
            _coverage("SPY", date(2024, 3, 8), "error", 0),
        ]
    )
    by_name = {s.symbol: s for s in repo.summaries()}
    assert list(by_name) == ["QQQ", "SPY"]
    spy, qqq = by_name["SPY"], by_name["QQQ"]
    assert (spy.sessions, spy.complete, spy.partial, spy.empty, spy.error) == (5, 2, 1, 1, 1)
    assert spy.rows == 1750
    assert (spy.first_session, spy.last_session) == (date(2024, 3, 4), date(2024, 3, 8))
    assert spy.last_fetched_at == T0
    assert (qqq.sessions, qqq.complete, qqq.rows, qqq.first_session) == (0, 0, 0, None)


# ---- jobs -----------------------------------------------------------------------------------
def test_job_create_dedupes_active_keys(store: StateStore) -> None:
    repo = JobRepo(store)
    first, created = repo.create("ingest", "ingest:SPY:a:b", {"symbols": ["SPY"]}, T0)
    again, created_again = repo.create("ingest", "ingest:SPY:a:b", {}, T0)
    assert created and not created_again and again.id == first.id
    assert first.params == {"symbols": ["SPY"]} and first.created_at == T0
    claimed = repo.claim(first.id, "w1", T0)
    assert claimed is not None
    assert repo.finish(first.id, "w1", "succeeded", T0, "done", result={"rows": 5})
    fresh, created_fresh = repo.create("ingest", "ingest:SPY:a:b", {}, T0)
    assert created_fresh and fresh.id != first.id  # a finished job no longer blocks its key
    assert repo.get(first.id).result == {"rows": 5}


def test_concurrent_creates_of_one_key_make_one_job(store: StateStore) -> None:
    repo = JobRepo(store)
    results: list[str] = []
    barrier = threading.Barrier(6)

    def submit() -> None:
        barrier.wait()
        job, _ = repo.create("noop", "noop:race", {}, T0)
        results.append(job.id)

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6 and len(set(results)) == 1
    assert repo.counts()["queued"] == 1


def test_only_one_worker_claims_a_job(store: StateStore) -> None:
    repo = JobRepo(store)
    job, _ = repo.create("noop", "noop:claim", {}, T0)
    winners: list[str] = []
    barrier = threading.Barrier(4)

    def claim(worker: str) -> None:
        barrier.wait()
        if repo.claim(job.id, worker, T0) is not None:
            winners.append(worker)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    got = repo.get(job.id)
    assert (got.status, got.worker, got.attempts) == ("running", winners[0], 1)
    loser = next(f"w{i}" for i in range(4) if f"w{i}" != winners[0])
    assert not repo.touch(job.id, loser, T0)
    assert repo.touch(job.id, winners[0], T0 + timedelta(seconds=1), (3, 10, "SPY 2024-03"))
    got = repo.get(job.id)
    assert (got.progress_done, got.progress_total, got.message) == (3, 10, "SPY 2024-03")
    assert got.fraction == pytest.approx(0.3)


def test_stale_running_jobs_are_requeued_once(store: StateStore) -> None:
    repo = JobRepo(store)
    job, _ = repo.create("noop", "noop:stale", {}, T0)
    repo.claim(job.id, "dead", T0)
    later = T0 + timedelta(seconds=30)
    cutoff = later - timedelta(seconds=15)
    assert [j.id for j in repo.stale_running(cutoff)] == [job.id]
    assert repo.requeue(job.id, later, "re-queued", stale_before=cutoff)
    assert not repo.requeue(job.id, later, "re-queued", stale_before=cutoff)
    got = repo.get(job.id)
    assert (got.status, got.worker, got.heartbeat_at) == ("queued", None, later)
    assert repo.claim(job.id, "alive", later) is not None
    assert repo.get(job.id).attempts == 2


def test_parked_jobs_list_and_dispatch(store: StateStore) -> None:
    repo = JobRepo(store)
    a, _ = repo.create("ingest", "ingest:A", {}, T0)
    b, _ = repo.create("ingest", "ingest:B", {}, T0 + timedelta(seconds=1))
    assert [j.id for j in repo.parked()] == [a.id, b.id]
    assert repo.mark_dispatched(a.id, T0, only_parked=True)
    assert not repo.mark_dispatched(a.id, T0, only_parked=True)
    assert [j.id for j in repo.parked()] == [b.id]
    assert repo.park(a.id, "agent stopped")
    assert {j.id for j in repo.parked()} == {a.id, b.id}


def test_cancel_listing_and_counts(store: StateStore) -> None:
    repo = JobRepo(store)
    queued, _ = repo.create("noop", "noop:q", {}, T0)
    running, _ = repo.create("noop", "noop:r", {}, T0 + timedelta(seconds=1))
    repo.claim(running.id, "w", T0)
    assert repo.cancel(queued.id, T0).status == "cancelled"
    cancelled = repo.cancel(running.id, T0)
    assert cancelled.status == "cancelled" and cancelled.finished_at is None
    assert repo.close_abandoned_cancels(T0 + timedelta(seconds=1), T0) == 1
    assert repo.get(running.id).finished_at == T0
    assert [j.id for j in repo.list(limit=10)] == [running.id, queued.id]
    assert repo.list(status="running") == []
    assert repo.counts() == {
        "queued": 0,
        "running": 0,
        "succeeded": 0,
        "failed": 0,
        "cancelled": 2,
    }


# ---- heartbeats and alerts ------------------------------------------------------------------
def test_heartbeats_upsert_age_and_stall_alerts(store: StateStore) -> None:
    repo = HeartbeatRepo(store)
    beat = Heartbeat(
        agent="backfill",
        worker="h:1:a",
        state="working",
        interval_s=5.0,
        updated_at=T0,
        current_job="j1",
        progress_done=1,
        progress_total=4,
    )
    repo.beat(beat)
    repo.beat(
        Heartbeat(
            agent="backfill",
            worker="h:1:a",
            state="idle",
            interval_s=5.0,
            updated_at=T0 + timedelta(seconds=5),
        )
    )
    repo.beat(
        Heartbeat(
            agent="live",
            worker="h:2:b",
            state="idle",
            interval_s=5.0,
            updated_at=T0 + timedelta(seconds=5),
        )
    )
    views = repo.views(T0 + timedelta(seconds=10))
    assert [(v.heartbeat.agent, v.state, v.age_s) for v in views] == [
        ("backfill", "idle", 5.0),
        ("live", "idle", 5.0),
    ]
    late = T0 + timedelta(seconds=60)
    assert len(repo.detect_stalls(late)) == 2
    assert len(repo.detect_stalls(late)) == 2
    open_alerts = repo.alerts()
    assert len(open_alerts) == 2 and all(a.kind == "stalled" for a in open_alerts)
    repo.beat(
        Heartbeat(agent="live", worker="h:2:b", state="idle", interval_s=5.0, updated_at=late)
    )
    repo.detect_stalls(late)
    assert [a.agent for a in repo.alerts()] == ["backfill"]
    assert len(repo.alerts(open_only=False)) == 2
    repo.remove("h:1:a")
    assert [v.heartbeat.worker for v in repo.views(late)] == ["h:2:b"]


def test_agent_controls_persist(store: StateStore) -> None:
    controls = AgentControls(store)
    assert controls.enabled("live")
    controls.set("live", False)
    controls.set("features", False)
    controls.set("features", True)
    assert controls.all() == {"backfill": True, "live": False, "features": True}


# ---- logs -------------------------------------------------------------------------------------
def test_logs_insert_query_and_prune(store: StateStore) -> None:
    rows = [
        log_row(
            {
                "timestamp": (T0 + timedelta(seconds=i)).isoformat(),
                "level": "WARNING" if i % 2 else "INFO",
                "logger": "stockdb.test",
                "agent": "backfill" if i < 6 else "live",
                "symbol": "SPY",
                "message": f"line {i}",
                "rows": i,
            }
        )
        for i in range(10)
    ]
    with store.engine.begin() as conn:
        conn.execute(tables.logs.insert(), rows)
    warnings = query_logs(store, agent="backfill", level="warning")
    assert [r["message"] for r in warnings] == ["line 1", "line 3", "line 5"]
    assert warnings[0]["extra"] == {"rows": 1}
    assert warnings[0]["timestamp"] == (T0 + timedelta(seconds=1)).isoformat()
    newest = query_logs(store, limit=3)
    assert [r["message"] for r in newest] == ["line 7", "line 8", "line 9"]
    after = query_logs(store, after_id=newest[0]["id"])
    assert [r["message"] for r in after] == ["line 8", "line 9"]
    assert prune_logs(store, keep_rows=4, keep_days=365, now=T0) == 6
    assert [r["message"] for r in query_logs(store)] == [f"line {i}" for i in range(6, 10)]
