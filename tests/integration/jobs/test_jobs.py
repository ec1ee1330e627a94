"""Jobs through a real Huey consumer on SQLite: dedupe, locking, retries, cancel, stop/start."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Any

import pyarrow.compute as pc
import pytest

from stockdb.app import App
from stockdb.errors import BadRequest, Conflict, NotFound, UpstreamUnavailable
from stockdb.jobs.controls import AgentControls
from stockdb.jobs.handlers import register_handler
from stockdb.jobs.runtime import Runtime
from stockdb.jobs.service import JobService
from stockdb.providers.synthetic import SyntheticProvider, generate_session

from .conftest import wait_for

FIRST, LAST = date(2024, 1, 2), date(2024, 3, 28)


def ended(jobs: JobService, job_id: str) -> bool:
    return jobs.get(job_id).status in ("succeeded", "failed", "cancelled")


def assert_lake_matches_generator(app: App, symbols: list[str], first: date, last: date) -> None:
    for symbol in symbols:
        for session in app.calendar.sessions(first, last):
            stored = app.lake.read_session(symbol, session.date)
            assert stored.equals(generate_session(symbol, session)), (symbol, session.date)
            assert pc.count_distinct(stored.column("ts")).as_py() == stored.num_rows


def test_same_ingest_twice_is_one_job(app: App) -> None:
    jobs = app.jobs
    first = jobs.submit_ingest(["SPY", "QQQ"], "2024-01-02", "2024-01-31")
    again = jobs.submit_ingest(["qqq", "spy"], date(2024, 1, 2), date(2024, 1, 31))
    assert again.id == first.id and again.status == "queued"
    results: list[str] = []

    def submit() -> None:
        # a service per thread, as separate processes would each have
        results.append(JobService(app).submit_ingest(["SPY", "QQQ"], "2024-01-02", "2024-01-31").id)

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) == {first.id}
    assert [j.id for j in jobs.list()] == [first.id]
    assert jobs.queue.depth()["pending"] == 1
    other = jobs.submit_ingest(["SPY", "QQQ"], "2024-01-02", "2024-02-29")
    assert other.id != first.id


def test_bad_requests_queue_nothing(app: App) -> None:
    jobs = app.jobs
    for call in (
        lambda: jobs.submit_ingest(["../x"], "2024-01-02", "2024-01-31"),
        lambda: jobs.submit_ingest(["SPY"], "2024-02-01", "2024-01-02"),
        lambda: jobs.submit_ingest(["SPY"], "2024-13-01", "2024-01-02"),
        lambda: jobs.submit_ingest(["SPY"], "2024-01-02", "2024-01-31", provider="iex"),
        lambda: jobs.submit("no-such-kind", "k", {}),
    ):
        with pytest.raises(Exception) as info:
            call()
        assert type(info.value).__module__ == "stockdb.errors"
    assert jobs.list() == []
    with pytest.raises(NotFound):
        jobs.get("missing")


def test_two_workers_never_write_one_partition_at_once(
    app: App, runtimes: Callable[..., Runtime]
) -> None:
    active: set[str] = set()
    overlaps: list[str] = []
    guard = threading.Lock()
    original = app.lake.write_session

    def recording_write(symbol: str, *args: Any, **kwargs: Any) -> Any:
        with guard:
            if symbol in active:
                overlaps.append(symbol)
            active.add(symbol)
        try:
            return original(symbol, *args, **kwargs)
        finally:
            with guard:
                active.discard(symbol)

    app.lake.write_session = recording_write  # type: ignore[method-assign]
    jobs = app.jobs
    a = jobs.submit_ingest(["SPY", "QQQ"], FIRST, LAST)
    b = jobs.submit_ingest(["QQQ", "SPY"], date(2024, 2, 1), date(2024, 4, 30))
    runtime = runtimes(workers=2)
    wait_for(lambda: ended(jobs, a.id) and ended(jobs, b.id), 60, "both ingests")
    ja, jb = jobs.get(a.id), jobs.get(b.id)
    assert (ja.status, jb.status) == ("succeeded", "succeeded")
    assert ja.started_at and jb.started_at and ja.finished_at and jb.finished_at
    assert ja.started_at < jb.finished_at and jb.started_at < ja.finished_at  # they overlapped
    assert ja.worker != jb.worker
    assert overlaps == []
    assert (ja.progress_done, ja.progress_total) == (ja.result["sessions_planned"],) * 2  # type: ignore[index]
    assert "SPY:2024-01" in ja.result["chunks"]  # type: ignore[index]
    assert_lake_matches_generator(app, ["SPY", "QQQ"], FIRST, date(2024, 4, 30))
    assert runtime.jobs.status()["queue"]["succeeded"] == 2


def test_transient_errors_retry_then_succeed(app: App, runtimes: Callable[..., Runtime]) -> None:
    calls: list[int] = []

    def flaky(app: App, params: Mapping[str, Any], progress: Any, should_stop: Any) -> dict:
        calls.append(1)
        if len(calls) < 3:
            raise UpstreamUnavailable("upstream answered 503")
        return {"calls": len(calls)}

    register_handler("test_flaky", flaky)
    jobs = app.jobs
    job = jobs.submit("test_flaky", "flaky:1", {})
    runtimes()
    wait_for(lambda: ended(jobs, job.id), 30, "flaky job")
    done = jobs.get(job.id)
    assert (done.status, done.attempts, done.result) == ("succeeded", 3, {"calls": 3})


def test_transient_errors_give_up_and_permanent_errors_fail_at_once(
    app: App, runtimes: Callable[..., Runtime]
) -> None:
    def always_503(*_: Any) -> dict:
        raise UpstreamUnavailable("upstream answered 503")

    def bad_request(*_: Any) -> dict:
        raise BadRequest("the upstream refused timeframe=7Min")

    register_handler("test_503", always_503)
    register_handler("test_400", bad_request)
    jobs = app.jobs
    flaky = jobs.submit("test_503", "503:1", {})
    bad = jobs.submit("test_400", "400:1", {})
    runtimes()
    wait_for(lambda: ended(jobs, flaky.id) and ended(jobs, bad.id), 30, "failing jobs")
    gave_up, refused = jobs.get(flaky.id), jobs.get(bad.id)
    assert (gave_up.status, gave_up.attempts) == ("failed", 3)
    assert gave_up.error and gave_up.error.startswith(
        "gave up after 3 attempts: UpstreamUnavailable"
    )
    assert (refused.status, refused.attempts) == ("failed", 1)
    assert refused.error == "BadRequest: the upstream refused timeframe=7Min"


def test_cancel_queued_and_running(app: App, runtimes: Callable[..., Runtime]) -> None:
    entered, gate = threading.Event(), threading.Event()

    def chunks(app: App, params: Mapping[str, Any], progress: Any, should_stop: Any) -> dict:
        entered.set()
        gate.wait(20)
        for i in range(10_000):
            if should_stop():
                return {"stopped_at": i}
            progress(i, 10_000, f"chunk {i}")
            time.sleep(0.001)  # stands in for one chunk of work
        return {"stopped_at": None}

    register_handler("test_chunks", chunks)
    jobs = app.jobs
    queued = jobs.submit_ingest(["SPY"], FIRST, LAST)
    assert jobs.cancel(queued.id).status == "cancelled"
    with pytest.raises(Conflict):
        jobs.cancel(queued.id)
    running = jobs.submit("test_chunks", "chunks:1", {})
    runtimes()
    wait_for(entered.is_set, 30, "the chunked job to start")
    assert jobs.get(running.id).status == "running"
    assert jobs.cancel(running.id).status == "cancelled"
    gate.set()
    stopped = wait_for(lambda: (j := jobs.get(running.id)).finished_at and j, 30, "cancel")
    assert stopped.status == "cancelled" and stopped.result is not None
    assert stopped.result["stopped_at"] is not None and stopped.result["stopped_at"] < 10_000
    never = jobs.get(queued.id)
    assert (never.status, never.attempts) == ("cancelled", 0)
    assert app.lake.sessions("SPY") == []


def test_stopped_agent_takes_no_work_and_checkpoints(
    app: App, runtimes: Callable[..., Runtime]
) -> None:
    controls = AgentControls(app.state)
    controls.set("backfill", False)
    jobs = app.jobs
    job = jobs.submit_ingest(["SPY", "QQQ"], date(2023, 7, 3), LAST)
    probe = jobs.submit("noop", "noop:probe", {"echo": "alive"})
    runtimes()
    wait_for(lambda: jobs.get(probe.id).status == "succeeded", 30, "the consumer to run a noop")
    parked = jobs.get(job.id)
    assert (parked.status, parked.attempts) == ("queued", 0)
    assert parked.message == "waiting: agent backfill is stopped"
    assert app.lake.symbols() == []

    # Hold the ingest inside its second month until the agent is stopped, so the stop is
    # seen mid-run however fast the machine is (FAST checks the switch at every chunk).
    gate = threading.Event()
    real_provider = app.provider

    class Gated(SyntheticProvider):
        calls = 0

        def fetch_bars(self, symbols, start, end):  # type: ignore[no-untyped-def]
            Gated.calls += 1
            if Gated.calls == 2:
                assert gate.wait(30), "the test never opened the gate"
            yield from super().fetch_bars(symbols, start, end)

    def gated(name: str | None = None) -> Any:
        real_provider(name).close()
        return Gated(app.calendar, app.clock)

    app.provider = gated  # type: ignore[method-assign]
    controls.set("backfill", True)
    wait_for(lambda: jobs.get(job.id).progress_done > 0, 30, "the ingest to start")
    controls.set("backfill", False)
    gate.set()
    checkpoint = wait_for(
        lambda: (j := jobs.get(job.id)).status == "queued" and j, 30, "the checkpoint"
    )
    assert checkpoint.message and checkpoint.message.startswith("checkpointed at ")
    complete = sum(
        r.status == "complete" for s in ("SPY", "QQQ") for r in app.coverage.sessions(s).values()
    )
    assert 0 < complete < checkpoint.progress_total

    controls.set("backfill", True)
    wait_for(lambda: ended(jobs, job.id), 60, "the resumed ingest")
    done = jobs.get(job.id)
    assert (done.status, done.attempts) == ("succeeded", 2)
    assert (
        done.progress_done
        == done.progress_total
        == 2 * len(app.calendar.sessions(date(2023, 7, 3), LAST))
    )
    assert done.result is not None and done.result["sessions_skipped"] == complete
    assert_lake_matches_generator(app, ["SPY", "QQQ"], date(2023, 7, 3), LAST)


def test_abandoned_running_job_is_requeued(app: App, runtimes: Callable[..., Runtime]) -> None:
    jobs = JobService(app, job_heartbeat_s=0.2)
    job = jobs.submit("noop", "noop:abandoned", {})
    jobs.queue.flush()  # the message is gone with the dead worker
    long_ago = app.clock.now() - timedelta(minutes=5)
    assert jobs.repo.claim(job.id, "dead-host:1:abc/Worker-1", long_ago) is not None
    runtimes()
    wait_for(lambda: ended(jobs, job.id), 30, "the re-queued job")
    done = jobs.get(job.id)
    assert (done.status, done.attempts) == ("succeeded", 2)
    assert done.worker and not done.worker.startswith("dead-host")


def test_features_agent_builds_after_new_bars(app: App, runtimes: Callable[..., Runtime]) -> None:
    from stockdb.jobs.agents import FeaturesAgent

    app.backfill.run(["SPY"], date(2024, 1, 2), date(2024, 1, 5), app.provider("synthetic"))
    jobs = app.jobs
    agent = FeaturesAgent(jobs)
    first = agent.run_once(app.clock.now())
    (job,) = jobs.list(kind="features")
    assert "SPY" in first.message and job.params == {"symbols": ["SPY"], "full": False}
    agent.run_once(app.clock.now())
    assert len(jobs.list(kind="features")) == 1  # the same bars are not built twice
    runtimes(agents=())
    wait_for(lambda: ended(jobs, job.id), 60, "the feature build")
    assert jobs.get(job.id).status == "succeeded", jobs.get(job.id).error
    assert agent.run_once(app.clock.now()).message == "features up to date"
