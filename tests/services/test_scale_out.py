"""Two `stockdb worker` processes on a real Redis queue and PostgreSQL state store, sharing
one lake folder: every session stored once, both workers work and heart-beat, and a worker
killed with SIGKILL mid-job has its job finished by the other."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import exchange_calendars as xcals
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from stockdb.app import App
from stockdb.config import Settings
from stockdb.jobs.records import JobRecord
from stockdb.jobs.service import JobService
from stockdb.obs.heartbeats import HeartbeatRepo

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]
SYMBOLS = [f"W{i:02d}" for i in range(20)]
START, END = date(2024, 1, 2), date(2024, 6, 28)
DEADLINE_S = 90.0


def expected_sessions() -> list[date]:
    """NYSE sessions in [START, END], straight from exchange_calendars."""
    cal = xcals.get_calendar("XNYS")
    return [ts.date() for ts in cal.sessions_in_range(START.isoformat(), END.isoformat())]


def worker_command() -> list[str]:
    """docker-compose's worker command, run from this venv, with short test intervals."""
    command = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["worker"][
        "command"
    ]
    assert command[0] == "stockdb"
    return [str(Path(sys.executable).parent / "stockdb"), *command[1:]] + [
        "--agents",
        "backfill",
        "--heartbeat",
        "1",
    ]


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)  # polling the state store: there is no event to wait on
    raise AssertionError(f"timed out waiting for {what}")


def pid_of(worker: str | None) -> int | None:
    """The pid inside a worker id ``host:pid:suffix[/thread]``."""
    if not worker:
        return None
    return int(worker.split("/", 1)[0].split(":")[-2])


@dataclass
class Cluster:
    """Worker subprocesses plus an App of the test process on the same queue and store."""

    root: Path
    env: dict[str, str]
    app: App
    jobs: JobService
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    beats: dict[int, set[datetime]] = field(default_factory=dict)

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = self.root / f"worker-{len(self.procs)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                worker_command(), cwd=self.root, env=self.env, stdout=out, stderr=out
            )
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-1500:] for p in sorted(self.root.glob("worker-*.log"))
        )

    def sample_heartbeats(self) -> None:
        """Remember each worker process's heartbeat instants (agent ``worker``)."""
        for view in HeartbeatRepo(self.app.state).views(self.app.clock.now()):
            hb = view.heartbeat
            if hb.agent == "worker" and (pid := pid_of(hb.worker)) is not None:
                self.beats.setdefault(pid, set()).add(hb.updated_at)

    def wait_heartbeating(self, procs: list[subprocess.Popen[bytes]]) -> None:
        def all_up() -> bool:
            for p in procs:
                if p.poll() is not None:
                    raise AssertionError(f"worker exited with {p.returncode}:\n{self.logs()}")
            self.sample_heartbeats()
            return all(p.pid in self.beats for p in procs)

        wait_for(all_up, "both workers to heart-beat", 60)

    def submit_all(self) -> list[str]:
        return [self.jobs.submit_ingest([s], START, END, "synthetic").id for s in SYMBOLS]

    def wait_done(self, ids: list[str], on_poll: Callable[[], None] | None = None) -> None:
        def done() -> bool:
            self.sample_heartbeats()
            if on_poll is not None:
                on_poll()
            states = [self.jobs.get(i).status for i in ids]
            if "failed" in states or "cancelled" in states:
                raise AssertionError(f"a job ended badly: {states}\n{self.logs()}")
            return all(s == "succeeded" for s in states)

        try:
            wait_for(done, "every job to succeed")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.logs()}") from None


@pytest.fixture
def cluster(
    tmp_path: Path, redis_url: str, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cluster]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "APCA_", "STOCKDB_"))
    }
    env.update(
        STOCKDB_DATA_DIR=str(tmp_path / "data"),
        STOCKDB_QUEUE_URL=redis_url,
        STOCKDB_STATE_URL=pg_database,
    )
    for name in [n for n in os.environ if n.startswith(("ALPACA_", "APCA_", "STOCKDB_"))]:
        monkeypatch.delenv(name)
    app = App(Settings(data_dir=tmp_path / "data", queue_url=redis_url, state_url=pg_database))
    cl = Cluster(tmp_path, env, app, JobService(app))
    try:
        yield cl
    finally:
        for proc in cl.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
        app.close()


def assert_lake_exact(cl: Cluster) -> None:
    """Every expected session of every symbol is one file, unique sorted minutes, complete
    in the ledger, and the ledger's row counts match the files."""
    sessions = expected_sessions()
    parquet = cl.app.settings.parquet_dir
    for symbol in SYMBOLS:
        folders = sorted(p.name for p in (parquet / symbol).iterdir())
        assert folders == [f"dt={d.isoformat()}" for d in sessions], symbol
        ledger = cl.app.coverage.sessions(symbol, START, END)
        assert sorted(ledger) == sessions
        for day in sessions:
            files = list((parquet / symbol / f"dt={day.isoformat()}").iterdir())
            assert [f.name for f in files] == ["bars.parquet"], (symbol, day)
            table = pq.read_table(files[0])
            ts = table.column("ts").to_numpy()
            assert table.num_rows > 0 and bool(np.all(ts[1:] > ts[:-1])), (symbol, day)
            assert set(table.column("symbol").to_pylist()) == {symbol}
            record = ledger[day]
            assert record.status == "complete" and record.rows == table.num_rows


def test_two_workers_share_the_work_and_store_each_session_once(cluster: Cluster) -> None:
    procs = [cluster.start_worker(), cluster.start_worker()]
    cluster.wait_heartbeating(procs)
    ids = cluster.submit_all()
    cluster.wait_done(ids)
    jobs = [cluster.jobs.get(i) for i in ids]
    did_work = {pid_of(j.worker) for j in jobs}
    assert did_work == {p.pid for p in procs}, "both workers ran jobs"
    assert all(j.attempts == 1 for j in jobs)
    assert_lake_exact(cluster)
    for symbol in SYMBOLS:  # fetched and stored exactly once: no session was re-fetched
        assert {r.attempts for r in cluster.app.coverage.sessions(symbol).values()} == {1}
    for proc in procs:
        assert len(cluster.beats[proc.pid]) >= 2, "each worker heart-beat repeatedly"
    for proc in procs:  # SIGTERM: a clean stop that removes the worker's heartbeats
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    left = HeartbeatRepo(cluster.app.state).views(cluster.app.clock.now())
    assert [v for v in left if pid_of(v.heartbeat.worker) in {p.pid for p in procs}] == []


def test_killed_worker_jobs_are_finished_by_the_other(cluster: Cluster) -> None:
    victim, survivor = cluster.start_worker(), cluster.start_worker()
    cluster.wait_heartbeating([victim, survivor])
    ids = cluster.submit_all()
    taken: list[JobRecord] = []

    def victim_running() -> bool:
        running = [j for j in cluster.jobs.list("running") if pid_of(j.worker) == victim.pid]
        if running and running[0].progress_done > 0:
            taken.append(running[0])
        return bool(taken)

    wait_for(victim_running, "the victim to be mid-job", 60)
    os.kill(victim.pid, signal.SIGKILL)
    assert victim.wait(timeout=10) == -signal.SIGKILL
    killed_at = cluster.app.clock.now()
    cluster.wait_done(ids)
    orphan = cluster.jobs.get(taken[0].id)
    assert pid_of(orphan.worker) == survivor.pid
    assert orphan.attempts == 2
    assert survivor.poll() is None, "the survivor kept running"
    assert_lake_exact(cluster)
    assert len({t for t in cluster.beats[survivor.pid] if t > killed_at}) >= 3
    stale = HeartbeatRepo(cluster.app.state).views(cluster.app.clock.now())
    assert any(v.stalled for v in stale if pid_of(v.heartbeat.worker) == victim.pid)
