"""Running one job: claim it, call its handler, record progress, and settle the outcome.

Outcomes: the handler returns -> succeeded; a TransientError -> re-queued with exponential
backoff and jitter until ``max_attempts``; any other error -> failed with a clear message.
A stop request (cancel, the job's agent stopped, the worker shutting down) is seen by the
handler through ``should_stop`` between chunks; what was done is kept (the coverage ledger
is the ingest checkpoint) and the job is cancelled or parked to resume later.

CPU-heavy kinds (the ``cpu`` lane) run in a child process (:mod:`.isolated`) that a stop
request terminates, since a model fit never gets to look at ``should_stop``.

The happy path costs few state-store round trips: one UPDATE ... RETURNING claims the job,
one UPDATE finishes it; the claim itself checks the job's agent switch.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stockdb.errors import StockDBError, TransientError
from stockdb.jobs.controls import AgentControls
from stockdb.jobs.handlers import AGENT_OF_KIND, HandlerRegistry, json_safe
from stockdb.jobs.isolated import picklable, run_in_child
from stockdb.jobs.queue import lane_of
from stockdb.jobs.records import JobRecord, JobRepo
from stockdb.obs.logging import log_context
from stockdb.providers.retry import RetryPolicy

if TYPE_CHECKING:
    from stockdb.app import App

__all__ = ["JOB_RETRY", "JobExecutor", "RunningJob"]

log = logging.getLogger("stockdb.jobs")


# Jobs retry on the same policy as upstream calls, with longer waits: a job that failed on a
# transient error goes back on the queue for later, it does not block a worker while waiting.
JOB_RETRY = RetryPolicy(max_attempts=5, base_delay_s=2.0, max_delay_s=300.0)


@dataclass(slots=True)
class RunningJob:
    """A job executing in this process: its latest progress and why it should stop."""

    job: JobRecord
    worker: str
    progress: tuple[int, int, str] | None = None
    written: tuple[int, int, str] | None = None
    last_write: float = 0.0
    lost: bool = False
    stop_reason: str | None = None
    checked_at: float = 0.0
    child_pid: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class JobExecutor:
    """Executes jobs by id for one worker process; safe to call from several threads."""

    def __init__(
        self,
        app: App,
        repo: JobRepo,
        registry: HandlerRegistry,
        controls: AgentControls,
        enqueue: Callable[[str, float, str], None],
        worker_id: str,
        retry: RetryPolicy | None = None,
        progress_every_s: float = 0.5,
        control_every_s: float = 1.0,
        isolate_cpu: bool = True,
    ) -> None:
        self.app = app
        self.repo = repo
        self.registry = registry
        self.controls = controls
        self.enqueue = enqueue
        self.worker_id = worker_id
        self.retry = retry or JOB_RETRY
        self._rng = random.Random()  # noqa: S311 - jitter, not security
        self.progress_every_s = progress_every_s
        self.control_every_s = control_every_s
        self.isolate_cpu = isolate_cpu
        self.stopping = threading.Event()
        self._running: dict[str, RunningJob] = {}
        self._binds: dict[Callable[..., Any], Callable[..., Any]] = {}
        self._lock = threading.Lock()

    # ---- what the runtime asks -------------------------------------------------------
    def running(self) -> list[RunningJob]:
        with self._lock:
            return list(self._running.values())

    def pulse(self) -> None:
        """Heart-beat every job running here (and flush its latest progress)."""
        now = self.app.clock.now()
        for run in self.running():
            with run.lock:
                progress = run.progress if run.progress != run.written else None
                owned = self.repo.touch(run.job.id, run.worker, now, progress)
                if owned:
                    run.written = run.progress
                    run.last_write = time.monotonic()
                else:
                    run.lost = True

    # ---- executing ---------------------------------------------------------------------
    def execute(self, job_id: str) -> None:
        """Run the queued job ``job_id`` unless another worker has it, it is not queued, or
        its agent is stopped (then it is parked until the agent starts again)."""
        worker = f"{self.worker_id}/{threading.current_thread().name}"
        claimed = self.repo.claim(job_id, worker, self.app.clock.now(), gated_by=AGENT_OF_KIND)
        if claimed is None:
            self._park_if_stopped(job_id)
            return
        agent = AGENT_OF_KIND.get(claimed.kind)
        # The claim just wrote the heartbeat and checked status and agent switch: the first
        # progress write and stop check wait their period instead of repeating it at once.
        claimed_at = time.monotonic()
        run = RunningJob(claimed, worker, last_write=claimed_at, checked_at=claimed_at)
        with self._lock:
            self._running[job_id] = run
        try:
            with log_context(job_id=job_id, agent=agent, stage=claimed.kind):
                self._run(run)
        finally:
            with self._lock:
                self._running.pop(job_id, None)

    def _park_if_stopped(self, job_id: str) -> None:
        try:
            job = self.repo.get(job_id)
        except StockDBError:
            log.warning("queue message for an unknown job", extra={"job_id": job_id})
            return
        agent = AGENT_OF_KIND.get(job.kind)
        if job.status == "queued" and agent is not None and not self.controls.enabled(agent):
            self.repo.park(job_id, f"waiting: agent {agent} is stopped")

    def _run(self, run: RunningJob) -> None:
        job = run.job
        log.info(
            "job started",
            extra={"kind": job.kind, "attempt": job.attempts, "key": job.key, "worker": run.worker},
        )
        began = time.monotonic()
        try:
            handler = self.registry.get(job.kind)
            progress, should_stop = self._progress_fn(run), self._stop_fn(run)
            if self.isolate_cpu and lane_of(job.kind) == "cpu" and picklable(handler):
                result = run_in_child(
                    self.app.settings,
                    handler,
                    job.params,
                    progress,
                    should_stop,
                    job_id=job.id,
                    on_start=lambda pid: self._child_started(run, pid),
                )
            else:
                result = self._bound(handler)(job.params, progress, should_stop)
        except TransientError as exc:
            self._transient(run, exc)
            return
        except StockDBError as exc:
            self._fail(run, f"{type(exc).__name__}: {exc}")
            return
        except Exception as exc:
            log.exception("job crashed", extra={"kind": job.kind})
            self._fail(run, f"internal error ({type(exc).__name__}): {exc}")
            return
        self._settle(run, dict(json_safe(result)), time.monotonic() - began)

    def _bound(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """``handler`` with its App parts injected; bound once per handler (reading its
        signature costs more than a job's claim), the parts are still looked up per call."""
        bound = self._binds.get(handler)
        if bound is None:
            bound = self._binds[handler] = self.app.bind(handler)
        return bound

    def _child_started(self, run: RunningJob, pid: int) -> None:
        run.child_pid = pid
        log.info("job runs in its own process", extra={"kind": run.job.kind, "pid": pid})

    def _progress_fn(self, run: RunningJob) -> Callable[[int, int, str], None]:
        def progress(done: int, total: int, message: str) -> None:
            with run.lock:
                run.progress = (int(done), int(total), str(message))
                due = time.monotonic() - run.last_write >= self.progress_every_s
                # A job that has shown progress shows its end at once; one shorter than a
                # progress period writes it with its finish (one statement fewer per job).
                shown_end = run.written is not None and total and done >= total
                if not (due or shown_end):
                    return
                if self.repo.touch(run.job.id, run.worker, self.app.clock.now(), run.progress):
                    run.written = run.progress
                    run.last_write = time.monotonic()
                else:
                    run.lost = True

        return progress

    def _stop_fn(self, run: RunningJob) -> Callable[[], bool]:
        agent = AGENT_OF_KIND.get(run.job.kind)

        def should_stop() -> bool:
            if run.stop_reason is not None:
                return True
            if self.stopping.is_set():
                run.stop_reason = "the worker is shutting down"
            elif run.lost:
                run.stop_reason = "lost"
            elif time.monotonic() - run.checked_at >= self.control_every_s:
                run.checked_at = time.monotonic()
                if self.repo.get(run.job.id).status == "cancelled":
                    run.stop_reason = "cancelled"
                elif agent is not None and not self.controls.enabled(agent):
                    run.stop_reason = f"agent {agent} was stopped"
            return run.stop_reason is not None

        return should_stop

    # ---- outcomes ----------------------------------------------------------------------
    def _progress_text(self, run: RunningJob) -> str:
        if run.progress is None:
            return "before any progress"
        return f"at {run.progress[0]}/{run.progress[1]}"

    def _settle(self, run: RunningJob, result: dict[str, Any], seconds: float) -> None:
        job, now = run.job, self.app.clock.now()
        reason = run.stop_reason
        if reason is None:
            total = run.progress[1] if run.progress else 1
            if self.repo.finish(
                job.id, run.worker, "succeeded", now, "done", result=result, done=(total, total)
            ):
                log.info("job succeeded", extra={"kind": job.kind, "seconds": round(seconds, 3)})
                return
            reason = "lost"  # cancelled or taken over while finishing
        if reason == "lost" and self.repo.get(job.id).status == "cancelled":
            reason = "cancelled"
        if reason == "cancelled":
            self.repo.confirm_cancel(
                job.id, run.worker, now, f"cancelled {self._progress_text(run)}", result
            )
            log.info("job cancelled", extra={"kind": job.kind})
        elif reason == "lost":
            log.warning("job was taken over by another worker; dropping this run")
        else:
            message = f"checkpointed {self._progress_text(run)}: {reason}; will resume"
            self.repo.requeue(job.id, None, message, worker=run.worker)
            log.info("job checkpointed", extra={"kind": job.kind, "reason": reason})

    def _transient(self, run: RunningJob, exc: TransientError) -> None:
        job, now = run.job, self.app.clock.now()
        error = f"{type(exc).__name__}: {exc}"
        if job.attempts >= self.retry.max_attempts:
            self._fail(run, f"gave up after {job.attempts} attempts: {error}")
            return
        delay = self.retry.delay_for(exc, job.attempts, now, self._rng)
        message = (
            f"retry {job.attempts + 1}/{self.retry.max_attempts} in {delay:.1f}s after: {error}"
        )
        if self.repo.requeue(job.id, now, message, error=error, worker=run.worker):
            self.enqueue(job.id, delay, job.kind)
        log.warning(
            "job will retry", extra={"kind": job.kind, "delay_s": round(delay, 2), "error": error}
        )

    def _fail(self, run: RunningJob, error: str) -> None:
        job = run.job
        if self.repo.get(job.id).status == "cancelled":
            self.repo.confirm_cancel(job.id, run.worker, self.app.clock.now(), "cancelled", {})
            return
        self.repo.finish(job.id, run.worker, "failed", self.app.clock.now(), error, error=error)
        log.error("job failed", extra={"kind": job.kind, "error": error})
