"""What one job costs in statements: one per transition on the state store and no Huey
revocation bookkeeping on the queue file (the fixed cost every backfill job pays)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from sqlalchemy import event

from stockdb.app import App
from stockdb.jobs.executor import JobExecutor


def test_a_job_costs_one_statement_per_transition(app: App) -> None:
    jobs = app.jobs
    huey = jobs.queue.huey  # opened (and its tables created) before anything is counted
    state_sql: list[str] = []
    queue_sql: list[str] = []

    def on_state(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        state_sql.append(statement)

    event.listen(app.state.engine, "before_cursor_execute", on_state)
    huey.storage.conn.set_trace_callback(queue_sql.append)
    try:
        job = jobs.submit("noop", "noop:round-trips", {"echo": "x"})
        task = huey.dequeue()  # what a consumer thread does, here in the test's thread
        assert task is not None and huey.dequeue() is None
        huey.execute(task)
    finally:
        huey.storage.conn.set_trace_callback(None)
        event.remove(app.state.engine, "before_cursor_execute", on_state)

    done = jobs.get(job.id)
    assert (done.status, done.attempts, done.result) == ("succeeded", 1, {"ok": True, "echo": "x"})
    assert (done.progress_done, done.progress_total) == (1, 1)
    # create, claim (UPDATE ... RETURNING, no re-read), finish with the final progress: a job
    # shorter than a progress period writes no progress of its own
    verbs = [s.split()[0].upper() for s in state_sql]
    assert verbs == ["INSERT", "UPDATE", "UPDATE"], state_sql
    assert "RETURNING" in state_sql[1].upper()
    # the queue file: the message's INSERT and the dequeue's SELECT/DELETE; no revocation flags
    assert queue_sql and not [s for s in queue_sql if " kv " in f" {s.lower()} "], queue_sql


def test_huey_revocation_is_refused(app: App) -> None:
    with pytest.raises(NotImplementedError, match="cancelled in the jobs table"):
        app.jobs.queue.huey.revoke_by_id("anything")


def test_progress_is_written_by_period_heartbeat_and_end(app: App) -> None:
    """A job shorter than a progress period writes its progress with its finish; once the
    heartbeat has shown some progress, the job's end is shown at once."""
    jobs = app.jobs
    executor = JobExecutor(
        app,
        jobs.repo,
        jobs.registry,
        jobs.controls,
        jobs.queue.enqueue,
        "w-test",
        progress_every_s=3600.0,
    )
    seen: list[tuple[int, int]] = []
    ids: list[str] = []

    def shown() -> None:
        record = jobs.get(ids[0])
        seen.append((record.progress_done, record.progress_total))

    def steps(params: Mapping[str, Any], progress: Any, should_stop: Any) -> dict[str, Any]:
        progress(1, 3, "first")
        shown()
        executor.pulse()  # the supervisor's heartbeat flushes the latest progress
        shown()
        progress(3, 3, "last")
        shown()
        return {}

    jobs.registry.register("test_steps", steps)
    job = jobs.submit("test_steps", "steps:1", {})
    ids.append(job.id)
    executor.execute(job.id)  # what a consumer thread does, here in the test's thread
    assert seen == [(0, 0), (1, 3), (3, 3)]
    done = jobs.get(job.id)
    assert (done.status, done.progress_done, done.progress_total) == ("succeeded", 3, 3)
