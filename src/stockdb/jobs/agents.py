"""The backfill and features agents (the live agent has its own module).

The backfill agent reports on ingest jobs; the consumer executes them. The features agent
notices symbols whose bars changed after their last feature build and queues an incremental
build for each (executed by the consumer as a ``features`` job).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from stockdb.jobs.runner import StepResult
from stockdb.state import tables
from stockdb.state.store import as_utc

if TYPE_CHECKING:
    from stockdb.jobs.service import JobService

__all__ = ["BackfillAgent", "FeaturesAgent", "symbols_needing_features"]

log = logging.getLogger("stockdb.agents")


class BackfillAgent:
    """Reports the ingest jobs in flight; the queue's consumer is their executor."""

    name = "backfill"

    def __init__(self, jobs: JobService, interval_s: float = 5.0) -> None:
        self.jobs = jobs
        self.interval_s = interval_s

    def run_once(self, now: datetime) -> StepResult:
        running = self.jobs.list("running", limit=100, kind="ingest")
        queued = self.jobs.list("queued", limit=1000, kind="ingest")
        message = f"{len(running)} ingest job(s) running, {len(queued)} queued"
        if not running:
            return StepResult("idle", message, next_in_s=self.interval_s)
        first = running[0]
        return StepResult(
            "working",
            f"{message}; {first.id[:8]}: {first.message or ''}",
            next_in_s=self.interval_s,
            current_job=first.id,
            progress_done=first.progress_done,
            progress_total=first.progress_total,
        )


def symbols_needing_features(jobs: JobService) -> dict[str, datetime]:
    """Symbols whose bars were fetched after their last feature build -> last fetch time."""
    cov = tables.coverage.c
    fb = tables.feature_builds.c
    with jobs.app.state.engine.connect() as conn:
        fetched = dict(
            conn.execute(select(cov.symbol, func.max(cov.fetched_at)).group_by(cov.symbol)).all()
        )
        built = dict(
            conn.execute(select(fb.symbol, func.max(fb.built_at)).group_by(fb.symbol)).all()
        )
    out: dict[str, datetime] = {}
    for symbol, when in fetched.items():
        last_fetch = as_utc(when)
        last_build = as_utc(built.get(symbol))
        if last_fetch is not None and (last_build is None or last_fetch > last_build):
            out[symbol] = last_fetch
    return out


class FeaturesAgent:
    """Queues an incremental feature build for each symbol whose bars changed."""

    name = "features"

    def __init__(self, jobs: JobService, interval_s: float = 15.0) -> None:
        self.jobs = jobs
        self.interval_s = interval_s
        self._submitted: dict[str, datetime] = {}

    def run_once(self, now: datetime) -> StepResult:
        due = {
            s: t
            for s, t in symbols_needing_features(self.jobs).items()
            if self._submitted.get(s) is None or t > self._submitted[s]
        }
        for symbol, fetched_at in sorted(due.items()):
            job = self.jobs.submit_feature_build([symbol], full=False)
            self._submitted[symbol] = fetched_at
            log.info(
                "queued incremental feature build",
                extra={"symbol": symbol, "job_id": job.id, "stage": "features"},
            )
        running = self.jobs.list("running", limit=100, kind="features")
        if running:
            job = running[0]
            return StepResult(
                "working",
                f"{len(running)} feature build(s) running",
                next_in_s=self.interval_s,
                current_job=job.id,
                progress_done=job.progress_done,
                progress_total=job.progress_total,
            )
        note = f"queued builds for {', '.join(sorted(due))}" if due else "features up to date"
        return StepResult("working" if due else "idle", note, next_in_s=self.interval_s)
