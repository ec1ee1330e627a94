"""Consumers plus agents in one process: what ``stockdb worker``, ``stockdb up`` and the API run.

A runtime starts one Huey consumer per lane (``workers`` threads for ingest and other I/O
jobs, ``cpu_workers`` for train, simulate and feature builds, which run in child processes),
one runner per agent, and a supervisor
thread that heart-beats the worker and its running jobs, re-queues jobs abandoned by dead
workers, dispatches parked jobs and raises stall alerts. ``stop()`` checkpoints running
jobs (they resume on the next worker) and removes this worker's heartbeats.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stockdb.errors import InvalidInput
from stockdb.jobs.agents import BackfillAgent, FeaturesAgent
from stockdb.jobs.controls import AGENTS
from stockdb.jobs.live import LiveAgent
from stockdb.jobs.runner import Agent, AgentRunner
from stockdb.jobs.service import JobService
from stockdb.obs.heartbeats import Heartbeat, make_worker_id
from stockdb.providers.base import BarSource
from stockdb.providers.retry import RetryPolicy

if TYPE_CHECKING:
    from huey.consumer import Consumer

    from stockdb.app import App

__all__ = ["Runtime", "RuntimeOptions", "start_runtime"]

log = logging.getLogger("stockdb.worker")


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    """Knobs of one runtime; tests shorten the intervals."""

    heartbeat_s: float = 5.0
    job_heartbeat_s: float = 5.0
    poll_max_s: float = 0.2
    health_check_s: float = 10.0
    control_every_s: float = 1.0
    sip_realtime: bool = False
    live_provider: Callable[[], BarSource] | None = field(default=None)
    retry: RetryPolicy | None = None
    cpu_workers: int = 1
    isolate_cpu_jobs: bool = True


class Runtime:
    """A running consumer + agents; build it with :func:`start_runtime`."""

    def __init__(
        self,
        app: App,
        jobs: JobService,
        consumers: list[Consumer],
        runners: list[AgentRunner],
        options: RuntimeOptions,
        workers: int,
    ) -> None:
        self.app = app
        self.jobs = jobs
        self.consumers = consumers
        self.runners = runners
        self.options = options
        self.workers = workers
        self.worker_id = jobs.worker_id
        self._stop = threading.Event()
        self._supervisor = threading.Thread(
            target=self._supervise, name="stockdb-supervisor", daemon=True
        )
        self.stopped = False

    @property
    def consumer(self) -> Consumer:
        """The ``io`` lane's consumer."""
        return self.consumers[0]

    def start(self) -> None:
        for consumer in self.consumers:
            consumer.start()
        for runner in self.runners:
            runner.start()
        self._supervisor.start()
        log.info(
            "worker started",
            extra={
                "worker": self.worker_id,
                "workers": self.workers,
                "cpu_workers": self.options.cpu_workers,
                "agents": [r.name for r in self.runners],
                "queue": self.jobs.queue.kind,
            },
        )

    def tick(self) -> dict[str, Any]:
        """One supervisor pass (also callable directly): heartbeats, recovery, stall alerts."""
        self.jobs.executor.pulse()
        running = self.jobs.executor.running()
        first = running[0] if running else None
        progress = first.progress if first is not None else None
        self.jobs.heartbeats.beat(
            Heartbeat(
                agent="worker",
                worker=self.worker_id,
                state="working" if running else "idle",
                interval_s=self.options.heartbeat_s,
                updated_at=self.app.clock.now(),
                current_job=first.job.id if first is not None else None,
                progress_done=progress[0] if progress else None,
                progress_total=progress[1] if progress else None,
                next_step=f"{len(running)} job(s) running on {self.workers} worker thread(s)",
            )
        )
        recovered = self.jobs.recover()
        stalled = self.jobs.heartbeats.detect_stalls(self.app.clock.now())
        return {**recovered, "stalled": len(stalled), "running": len(running)}

    def _supervise(self) -> None:
        last_health = time.monotonic()
        interval = min(self.options.heartbeat_s, self.options.job_heartbeat_s)
        while not self._stop.is_set():
            try:
                self.tick()
                if time.monotonic() - last_health >= self.options.health_check_s:
                    last_health = time.monotonic()
                    for consumer in self.consumers:
                        consumer.check_worker_health()
            except Exception:
                log.exception("supervisor pass failed")
            self._stop.wait(interval)

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop taking work, checkpoint running jobs, join every thread, drop heartbeats."""
        if self.stopped:
            return
        self.stopped = True
        self.jobs.executor.stopping.set()
        for runner in self.runners:
            runner.stop(timeout_s)
        for consumer in self.consumers:
            consumer.shutdown_timeout = timeout_s
            consumer.stop(graceful=True)
        self.jobs.queue.close()
        self._stop.set()
        self._supervisor.join(timeout_s)
        self.jobs.heartbeats.remove(self.worker_id)
        log.info("worker stopped", extra={"worker": self.worker_id})

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _agent(name: str, app: App, jobs: JobService, options: RuntimeOptions) -> Agent:
    if name == "backfill":
        return BackfillAgent(jobs, interval_s=options.heartbeat_s)
    if name == "features":
        return FeaturesAgent(jobs, interval_s=max(options.heartbeat_s, 15.0))
    return LiveAgent(app, options.live_provider, sip_realtime=options.sip_realtime)


def start_runtime(
    app: App,
    workers: int = 1,
    agents: Sequence[str] = AGENTS,
    options: RuntimeOptions | None = None,
) -> Runtime:
    """Start the consumer with ``workers`` threads and the named agents; returns the Runtime.

    Raises InvalidInput for an unknown agent or a worker count outside 1..64 (``cpu_workers``
    0..64; 0 leaves CPU jobs to other workers).
    """
    opts = options or RuntimeOptions()
    unknown = [a for a in agents if a not in AGENTS]
    if unknown:
        raise InvalidInput(f"unknown agent(s) {', '.join(unknown)}: use {', '.join(AGENTS)}")
    if not 1 <= workers <= 64:
        raise InvalidInput("workers must be between 1 and 64")
    if not 0 <= opts.cpu_workers <= 64:
        raise InvalidInput("cpu_workers must be between 0 and 64")
    jobs = app.worker_jobs(
        worker_id=make_worker_id(),
        job_heartbeat_s=opts.job_heartbeat_s,
        retry=opts.retry,
        control_every_s=opts.control_every_s,
        isolate_cpu=opts.isolate_cpu_jobs,
    )
    consumers = jobs.queue.consumers(workers, opts.cpu_workers, poll_max_s=opts.poll_max_s)
    runners = [
        AgentRunner(
            _agent(name, app, jobs, opts),
            jobs.heartbeats,
            jobs.controls,
            app.clock,
            jobs.worker_id,
            interval_s=opts.heartbeat_s,
        )
        for name in dict.fromkeys(agents)
    ]
    runtime = Runtime(app, jobs, consumers, runners, opts, workers)
    runtime.start()
    return runtime
