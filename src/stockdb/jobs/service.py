"""The job service: submit, inspect and cancel jobs; recover abandoned ones; report status.

CLI commands, API routes, agents and the queue's task all go through this one class.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from stockdb.dates import parse_date
from stockdb.errors import InvalidInput
from stockdb.jobs.controls import AgentControls
from stockdb.jobs.executor import JobExecutor
from stockdb.jobs.handlers import AGENT_OF_KIND, HandlerRegistry, default_registry, json_safe
from stockdb.jobs.queue import JobQueue
from stockdb.jobs.records import JobRecord, JobRepo
from stockdb.obs.heartbeats import STALL_FACTOR, HeartbeatRepo, make_worker_id
from stockdb.providers.retry import RetryPolicy
from stockdb.symbols import normalize_symbols

if TYPE_CHECKING:
    from stockdb.app import App

__all__ = ["JobService", "ingest_key"]

log = logging.getLogger("stockdb.jobs")


def ingest_key(symbols: Sequence[str], start: date, end: date) -> str:
    """The dedupe key of an ingest request: kind, symbols (order-free) and the date range."""
    return f"ingest:{','.join(sorted(symbols))}:{start.isoformat()}:{end.isoformat()}"


class JobService:
    """Jobs over the ``jobs`` table and the Huey queue, for one process."""

    def __init__(
        self,
        app: App,
        registry: HandlerRegistry | None = None,
        worker_id: str | None = None,
        job_heartbeat_s: float = 5.0,
        retry: RetryPolicy | None = None,
        control_every_s: float = 1.0,
        isolate_cpu: bool = True,
    ) -> None:
        self.app = app
        self.isolate_cpu = isolate_cpu
        self.control_every_s = control_every_s
        self.registry = registry or default_registry()
        self.worker_id = worker_id or make_worker_id()
        self.job_heartbeat_s = job_heartbeat_s
        self.repo = JobRepo(app.state)
        self.controls = AgentControls(app.state)
        self.heartbeats = HeartbeatRepo(app.state)
        self._retry = retry

    @cached_property
    def queue(self) -> JobQueue:
        """The Huey queue (created on first use), whose task runs :meth:`execute`."""
        return JobQueue.open(self.app.settings, self.execute)

    @cached_property
    def executor(self) -> JobExecutor:
        return JobExecutor(
            self.app,
            self.repo,
            self.registry,
            self.controls,
            self.queue.enqueue,
            self.worker_id,
            retry=self._retry,
            control_every_s=self.control_every_s,
            isolate_cpu=self.isolate_cpu,
        )

    # ---- submitting ----------------------------------------------------------------------
    def submit(self, kind: str, key: str, params: Mapping[str, Any]) -> JobRecord:
        """Queue a job of ``kind``, or return the queued or running job with the same ``key``.

        Raises ConfigError for a kind without a handler, InvalidInput for an empty key.
        """
        self.registry.get(kind)
        if not key or len(key) > 200:
            raise InvalidInput("a job key must be 1-200 characters")
        queue = self.queue  # opened before the job exists: its age is the job's own wait
        agent = AGENT_OF_KIND.get(kind)
        parked = agent is not None and not self.controls.enabled(agent)
        job, created = self.repo.create(
            kind,
            key,
            json_safe(params),
            self.app.clock.now(),
            dispatched=not parked,
            message=f"waiting: agent {agent} is stopped" if parked else None,
        )
        if created and not parked:
            queue.enqueue(job.id, 0.0, kind)
        if created:
            log.info("job queued", extra={"job_id": job.id, "kind": kind, "key": key})
        return job

    def submit_ingest(
        self,
        symbols: Sequence[str],
        start: date | str,
        end: date | str,
        provider: str | None = None,
        replace: bool = False,
    ) -> JobRecord:
        """One ingest job for the whole request (month chunks run inside it); ``replace``
        rewrites exactly the sessions of the range (see BackfillService.run).

        Validates everything first: symbols, dates, a range with sessions, the provider
        (InvalidInput / ConfigError), so a bad request queues nothing.
        """
        names = normalize_symbols(symbols)
        first, last = parse_date(start, "start"), parse_date(end, "end")
        if first is None or last is None:
            raise InvalidInput("start and end dates are required")
        self.app.backfill.plan(names, first, last)
        source = self.app.provider(provider)
        try:
            provider_name = source.name
        finally:
            source.close()
        params: dict[str, object] = {
            "symbols": names,
            "start": first.isoformat(),
            "end": last.isoformat(),
            "provider": provider_name,
        }
        key = ingest_key(names, first, last)
        if replace:
            params["replace"] = True
            key += ":replace"
        return self.submit("ingest", key, params)

    def submit_feature_build(
        self, symbols: Sequence[str] | None = None, full: bool = False, timeframe: str | None = None
    ) -> JobRecord:
        """One feature-build job for ``symbols`` (all symbols with bars when None), at
        ``timeframe`` (None: 1Min and the timeframes already built)."""
        names = normalize_symbols(symbols) if symbols else []
        key = f"features:{','.join(sorted(names)) or '*'}:{'full' if full else 'incremental'}"
        params: dict[str, Any] = {"symbols": names, "full": full}
        if timeframe is not None:
            key += f":{timeframe}"
            params["timeframe"] = timeframe
        return self.submit("features", key, params)

    # ---- reading and cancelling ------------------------------------------------------------
    def get(self, job_id: str) -> JobRecord:
        """The job ``job_id``; raises NotFound."""
        return self.repo.get(job_id)

    def list(
        self, status: str | None = None, limit: int = 100, kind: str | None = None
    ) -> builtins.list[JobRecord]:
        """Jobs newest first, optionally of one status or kind."""
        return self.repo.list(status, limit, kind)

    def cancel(self, job_id: str) -> JobRecord:
        """Cancel a queued job now or a running one at its next chunk (NotFound, Conflict)."""
        job = self.repo.cancel(job_id, self.app.clock.now())
        log.info("job cancel requested", extra={"job_id": job_id, "status": job.status})
        return job

    # ---- executing and recovering ----------------------------------------------------------
    def execute(self, job_id: str) -> None:
        """Run one queued job in this process (the queue's task calls this)."""
        self.executor.execute(job_id)

    def recover(self) -> dict[str, int]:
        """Re-queue running jobs whose worker stopped heart-beating, close abandoned cancels,
        and dispatch parked jobs whose agent is running. Safe to run in several processes."""
        now = self.app.clock.now()
        stale_before = now - timedelta(seconds=STALL_FACTOR * self.job_heartbeat_s)
        requeued = 0
        for job in self.repo.stale_running(stale_before):
            message = f"re-queued: worker {job.worker} stopped heart-beating"
            if self.repo.requeue(job.id, now, message, stale_before=stale_before):
                self.queue.enqueue(job.id, 0.0, job.kind)
                requeued += 1
                log.warning(message, extra={"job_id": job.id, "kind": job.kind})
        closed = self.repo.close_abandoned_cancels(stale_before, now)
        dispatched = 0
        enabled = self.controls.all()
        for job in self.repo.parked():
            agent = AGENT_OF_KIND.get(job.kind)
            if agent is not None and not enabled.get(agent, True):
                continue
            if self.repo.mark_dispatched(job.id, now, only_parked=True):
                self.queue.enqueue(job.id, 0.0, job.kind)
                dispatched += 1
        return {"requeued": requeued, "dispatched": dispatched, "closed_cancels": closed}

    # ---- status ----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Agents (heartbeats, age, stalled), open alerts, queue depth and running jobs."""
        now = self.app.clock.now()
        self.heartbeats.detect_stalls(now)
        views = self.heartbeats.views(now)
        running = self.repo.list("running", limit=100)
        controls = self.controls.all()
        return {
            "now": now.isoformat(),
            "queue": {"backend": self.queue.kind, **self.queue.depth(), **self.repo.counts()},
            "controls": controls,
            "agents": [v.to_dict() for v in views],
            "stalled": [v.to_dict() for v in views if v.stalled],
            "alerts": [a.to_dict() for a in self.heartbeats.alerts(open_only=True)],
            "running": [
                {
                    "id": j.id,
                    "kind": j.kind,
                    "key": j.key,
                    "worker": j.worker,
                    "progress_done": j.progress_done,
                    "progress_total": j.progress_total,
                    "fraction": j.fraction,
                    "message": j.message,
                    "started_at": j.started_at.isoformat() if j.started_at else None,
                }
                for j in running
            ],
            "workers_running": len({v.heartbeat.worker for v in views if not v.stalled}),
        }
