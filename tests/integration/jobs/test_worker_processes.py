"""`stockdb worker` processes: kill -9 mid-backfill loses nothing; SIGTERM stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

from stockdb.app import App
from stockdb.jobs.service import JobService
from stockdb.obs.heartbeats import HeartbeatRepo

from .conftest import wait_for
from .test_jobs import assert_lake_matches_generator

FIRST, LAST = date(2023, 1, 3), date(2023, 12, 29)
SYMBOLS = ["SPY", "QQQ", "IWM"]


@pytest.fixture
def workers(data_dir: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start ``stockdb worker`` processes on ``data_dir``; any still alive are killed after."""
    procs: list[subprocess.Popen[bytes]] = []
    env = {**os.environ, "STOCKDB_DATA_DIR": str(data_dir), "STOCKDB_LOG_LEVEL": "WARNING"}

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stockdb.cli.main",
                "worker",
                "--heartbeat",
                "0.3",
                "--agents",
                "backfill",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        procs.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
            if proc.stderr is not None:
                proc.stderr.close()


def test_kill_9_mid_backfill_is_finished_by_another_worker(
    app: App, workers: Callable[[], subprocess.Popen[bytes]]
) -> None:
    jobs = JobService(app)
    job = jobs.submit_ingest(SYMBOLS, FIRST, LAST)
    first = workers()
    started = wait_for(
        lambda: (j := jobs.get(job.id)).status == "running" and j.progress_done > 0 and j,
        60,
        "the first worker to make progress",
    )
    assert started.worker and started.worker.split(":")[1] == str(first.pid)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    assert jobs.get(job.id).status == "running"  # nobody said otherwise: it just went silent

    second = workers()
    done = wait_for(
        lambda: (j := jobs.get(job.id)).status in ("succeeded", "failed") and j,
        90,
        "the second worker to finish the job",
    )
    assert done.status == "succeeded", done.error
    assert done.attempts == 2
    assert done.worker and done.worker.split(":")[1] == str(second.pid)
    planned = len(SYMBOLS) * len(app.calendar.sessions(FIRST, LAST))
    assert done.progress_done == done.progress_total == planned
    assert done.result is not None and done.result["sessions_skipped"] > 0  # resumed, not redone
    assert_lake_matches_generator(app, SYMBOLS, FIRST, LAST)
    assert all(r.status == "complete" for s in SYMBOLS for r in app.coverage.sessions(s).values())


def test_sigterm_stops_the_worker_cleanly(
    app: App, workers: Callable[[], subprocess.Popen[bytes]]
) -> None:
    proc = workers()
    beats = HeartbeatRepo(app.state)
    wait_for(
        lambda: any(v.heartbeat.pid == proc.pid for v in beats.views(app.clock.now())),
        60,
        "the worker's heartbeat",
    )
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert not any(v.heartbeat.pid == proc.pid for v in beats.views(app.clock.now()))
