"""CPU-heavy jobs in their own lane and child process: ingest never waits behind a model fit,
and a cancel or a worker stop really ends the fit's process. Real Huey/SQLite consumers, a real
spawned child running the real ``train`` handler, the real CLI for the cancel."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date

import pytest

from stockdb.app import App
from stockdb.cli.main import main
from stockdb.jobs.executor import RunningJob
from stockdb.jobs.runtime import Runtime
from stockdb.jobs.service import JobService

from .conftest import wait_for

# Sized to run for tens of seconds (about 50 ms a tree here): it is always ended early.
SLOW_TRAIN = {
    "tickers": ["SPY"],
    "model": "random_forest_classifier",
    "params": {"n_estimators": 1000, "max_depth": None, "min_samples_leaf": 1},
}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def featured(app: App) -> App:
    source = app.provider("synthetic")
    try:
        app.backfill.run(["SPY"], date(2024, 3, 4), date(2024, 3, 15), source)
    finally:
        source.close()
    app.features.build(["SPY"])
    return app


def running_child(jobs: JobService, job_id: str) -> RunningJob | None:
    for run in jobs.executor.running():
        if run.job.id == job_id and run.child_pid is not None:
            return run
    return None


def test_ingest_runs_beside_a_train_and_cancel_ends_its_process(
    featured: App, runtimes: Callable[..., Runtime], capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = runtimes(workers=1, agents=()).jobs
    train = jobs.submit("train", "train:slow", SLOW_TRAIN)
    run = wait_for(lambda: running_child(jobs, train.id), 60, "the train job's process")
    pid = run.child_pid
    assert pid is not None and pid != os.getpid() and alive(pid)

    ingest = jobs.submit_ingest(["QQQ"], date(2024, 3, 4), date(2024, 3, 8))
    done = wait_for(lambda: (j := jobs.get(ingest.id)).finished_at and j, 60, "the ingest")
    assert done.status == "succeeded", done.error
    assert jobs.get(train.id).status == "running" and alive(pid)  # the fit is still going
    assert len(featured.lake.sessions("QQQ")) == 5

    assert main(["jobs", "cancel", train.id]) == 0
    capsys.readouterr()
    ended = wait_for(lambda: (j := jobs.get(train.id)).finished_at and j, 30, "the cancel")
    assert ended.status == "cancelled"
    assert not alive(pid)  # the process is gone, not just the job's state
    assert featured.training.list() == []  # no model registered
    models_dir = featured.settings.models_dir
    leftovers = list(models_dir.iterdir()) if models_dir.exists() else []
    assert leftovers == []  # and no artifact or temp file half-written


def test_worker_stop_ends_the_process_and_requeues_the_job(
    featured: App, runtimes: Callable[..., Runtime]
) -> None:
    runtime = runtimes(workers=1, agents=())
    jobs = runtime.jobs
    train = jobs.submit("train", "train:slow", SLOW_TRAIN)
    run = wait_for(lambda: running_child(jobs, train.id), 60, "the train job's process")
    assert run.child_pid is not None
    runtime.stop(timeout_s=30)
    assert not alive(run.child_pid)
    parked = jobs.get(train.id)
    assert parked.status == "queued" and parked.message is not None
    assert "the worker is shutting down; will resume" in parked.message
    assert featured.training.list() == []


def test_a_train_in_its_process_registers_the_model(
    featured: App, runtimes: Callable[..., Runtime]
) -> None:
    jobs = runtimes(workers=1, agents=()).jobs
    body = {"tickers": ["SPY"], "model": "logistic_regression", "horizon": 2}
    job = jobs.submit("train", "train:quick", body)
    done = wait_for(lambda: (j := jobs.get(job.id)).finished_at and j, 120, "the train job")
    assert done.status == "succeeded", done.error
    assert done.result is not None and done.progress_done == done.progress_total > 0
    record = featured.training.get(done.result["model_id"])
    assert record.kind == "logistic_regression" and record.horizon == 2


def test_a_failing_cpu_job_fails_with_its_own_message(
    featured: App, runtimes: Callable[..., Runtime]
) -> None:
    jobs = runtimes(workers=1, agents=()).jobs
    body = {"tickers": ["ZZZZ"], "model": "ridge", "target": "return"}
    job = jobs.submit("train", "train:missing", body)
    done = wait_for(lambda: (j := jobs.get(job.id)).finished_at and j, 120, "the train job")
    assert done.status == "failed" and done.attempts == 1
    assert done.error is not None and done.error.startswith("NotFound") and "ZZZZ" in done.error
