"""The ``jobs`` table: job records and the atomic state transitions workers rely on.

Every transition is one conditional UPDATE, so several workers (threads or machines) can race
on a job and exactly one wins: a claim succeeds only on a queued job, a progress write or a
finish only while the writer still owns the running job.

For a queued job, ``heartbeat_at`` records when a queue message was dispatched for it; NULL
means the job is parked (no message in the queue, e.g. its agent is stopped) and waits for a
supervisor to dispatch it again. For a running job it is the executor's last heartbeat.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError

from stockdb.errors import Conflict, InvalidInput, NotFound
from stockdb.jobs.statements import JobStatements
from stockdb.state import tables
from stockdb.state.store import StateStore, as_utc

__all__ = ["ACTIVE", "JOB_STATUSES", "JobRecord", "JobRepo", "JobStatus"]

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JOB_STATUSES: tuple[JobStatus, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE: tuple[JobStatus, ...] = ("queued", "running")
_MAX_LIST = 1000
_SET_ON_CREATE = (
    "id",
    "kind",
    "key",
    "params",
    "status",
    "progress_done",
    "progress_total",
    "message",
    "attempts",
    "created_at",
    "heartbeat_at",
)


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job as stored."""

    id: str
    kind: str
    key: str
    params: dict[str, Any]
    status: JobStatus
    progress_done: int
    progress_total: int
    message: str | None
    attempts: int
    error: str | None
    worker: str | None
    result: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None = None

    @property
    def fraction(self) -> float | None:
        """Progress as a fraction in [0, 1]; None before the total is known."""
        if self.progress_total <= 0:
            return None
        return min(1.0, self.progress_done / self.progress_total)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: instants as ISO-8601 strings."""
        data = asdict(self)
        for key in ("created_at", "started_at", "finished_at", "heartbeat_at"):
            data[key] = data[key].isoformat() if data[key] else None
        data["fraction"] = self.fraction
        return data


def _record(row: Any) -> JobRecord:
    m = row._mapping
    return JobRecord(
        id=m["id"],
        kind=m["kind"],
        key=m["key"],
        params=dict(m["params"] or {}),
        status=m["status"],
        progress_done=int(m["progress_done"] or 0),
        progress_total=int(m["progress_total"] or 0),
        message=m["message"],
        attempts=int(m["attempts"] or 0),
        error=m["error"],
        worker=m["worker"],
        result=m["result"],
        created_at=as_utc(m["created_at"]),  # type: ignore[arg-type]
        started_at=as_utc(m["started_at"]),
        finished_at=as_utc(m["finished_at"]),
        heartbeat_at=as_utc(m["heartbeat_at"]),
    )


class JobRepo:
    """Reads and transitions rows of ``jobs``."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.c = tables.jobs.c
        self.sql = JobStatements(ACTIVE)

    # ---- reading -----------------------------------------------------------------------
    def get(self, job_id: str) -> JobRecord:
        """The job ``job_id``; raises NotFound."""
        with self.store.engine.connect() as conn:
            row = conn.execute(self.sql.get, {"p_id": job_id}).first()
        if row is None:
            raise NotFound(f"no job {job_id!r}")
        return _record(row)

    def active_by_key(self, key: str) -> JobRecord | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(self.sql.active_by_key, {"p_key": key}).first()
        return None if row is None else _record(row)

    def list(
        self, status: str | None = None, limit: int = 100, kind: str | None = None
    ) -> builtins.list[JobRecord]:
        """Newest first; raises InvalidInput for an unknown status or a bad limit."""
        if status is not None and status not in JOB_STATUSES:
            raise InvalidInput(f"unknown status {status!r}: use one of {', '.join(JOB_STATUSES)}")
        if not 1 <= limit <= _MAX_LIST:
            raise InvalidInput(f"limit must be between 1 and {_MAX_LIST}")
        stmt = select(tables.jobs)
        if status is not None:
            stmt = stmt.where(self.c.status == status)
        if kind is not None:
            stmt = stmt.where(self.c.kind == kind)
        stmt = stmt.order_by(self.c.created_at.desc(), self.c.id).limit(limit)
        with self.store.engine.connect() as conn:
            return [_record(r) for r in conn.execute(stmt).fetchall()]

    def counts(self) -> dict[str, int]:
        """Number of jobs per status (every status present, zero when none)."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(self.c.status, func.count()).group_by(self.c.status)
            ).fetchall()
        found = {r[0]: int(r[1]) for r in rows}
        return {s: found.get(s, 0) for s in JOB_STATUSES}

    def stale_running(self, before: datetime) -> builtins.list[JobRecord]:
        """Running jobs whose executor has not heart-beaten since ``before``."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(tables.jobs).where(
                    and_(self.c.status == "running", self.c.heartbeat_at < before)
                )
            ).fetchall()
        return [_record(r) for r in rows]

    def parked(self, limit: int = 500) -> builtins.list[JobRecord]:
        """Queued jobs with no queue message (waiting to be dispatched), oldest first."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(tables.jobs)
                .where(and_(self.c.status == "queued", self.c.heartbeat_at.is_(None)))
                .order_by(self.c.created_at)
                .limit(limit)
            ).fetchall()
        return [_record(r) for r in rows]

    # ---- transitions -------------------------------------------------------------------
    def create(
        self,
        kind: str,
        key: str,
        params: Mapping[str, Any],
        now: datetime,
        dispatched: bool = False,
        message: str | None = None,
    ) -> tuple[JobRecord, bool]:
        """Insert a queued job, or return the queued or running job with the same key.

        Returns ``(job, created)``. ``dispatched`` records at once that a queue message will
        follow (else the job is parked). A partial unique index on active keys makes this
        safe when several processes submit the same key at once; the common case (a new
        key) costs one INSERT.
        """
        job = JobRecord(
            id=uuid.uuid4().hex,
            kind=kind,
            key=key,
            params=dict(params),
            status="queued",
            progress_done=0,
            progress_total=0,
            message=message,
            attempts=0,
            error=None,
            worker=None,
            result=None,
            created_at=now,
            started_at=None,
            finished_at=None,
            heartbeat_at=now if dispatched else None,
        )
        row = {f: getattr(job, f) for f in _SET_ON_CREATE}  # asdict would deep-copy params
        try:
            with self.store.engine.begin() as conn:
                conn.execute(self.sql.insert, row)
        except IntegrityError:
            existing = self.active_by_key(key)
            if existing is None:
                raise
            return existing, False
        return job, True

    def _update(self, where: Any, **values: Any) -> bool:
        with self.store.engine.begin() as conn:
            result = conn.execute(update(tables.jobs).where(where).values(**values))
        return bool(result.rowcount)

    def mark_dispatched(self, job_id: str, now: datetime, only_parked: bool = False) -> bool:
        """Record that a queue message exists for the queued job (True if it was updated)."""
        cond = and_(self.c.id == job_id, self.c.status == "queued")
        if only_parked:
            cond = and_(cond, self.c.heartbeat_at.is_(None))
        return self._update(cond, heartbeat_at=now)

    def park(self, job_id: str, message: str) -> bool:
        """Leave a queued job waiting without a queue message."""
        return self._update(
            and_(self.c.id == job_id, self.c.status == "queued"), heartbeat_at=None, message=message
        )

    def claim(
        self,
        job_id: str,
        worker: str,
        now: datetime,
        gated_by: Mapping[str, str] | None = None,
    ) -> JobRecord | None:
        """Atomically move a queued job to running for ``worker``, in one statement; None if
        it was not queued, or if ``gated_by`` (kind -> agent) names its kind and that agent
        is stopped in ``agent_controls``."""
        params = {"p_id": job_id, "p_worker": worker, "p_now": now}
        with self.store.engine.begin() as conn:
            row = conn.execute(self.sql.claim(gated_by), params).first()
        return None if row is None else _record(row)

    def _update_owned(self, job_id: str, worker: str, values: dict[str, Any]) -> bool:
        """SET ``values`` on the job if ``worker`` still runs it (one prepared statement)."""
        with self.store.engine.begin() as conn:
            result = conn.execute(self.sql.owned, {**values, "p_id": job_id, "p_worker": worker})
        return bool(result.rowcount)

    def touch(
        self,
        job_id: str,
        worker: str,
        now: datetime,
        progress: tuple[int, int, str] | None = None,
    ) -> bool:
        """Heart-beat (and record progress of) a running job; False when ``worker`` lost it."""
        values: dict[str, Any] = {"heartbeat_at": now}
        if progress is not None:
            values.update(
                progress_done=progress[0], progress_total=progress[1], message=progress[2][:2000]
            )
        return self._update_owned(job_id, worker, values)

    def finish(
        self,
        job_id: str,
        worker: str,
        status: JobStatus,
        now: datetime,
        message: str,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
        done: tuple[int, int] | None = None,
    ) -> bool:
        """End a running job owned by ``worker`` as succeeded or failed."""
        values: dict[str, Any] = {
            "status": status,
            "finished_at": now,
            "message": message[:2000],
            "error": error,
        }
        if done is not None:
            values.update(progress_done=done[0], progress_total=done[1])
        if result is not None:
            values["result"] = dict(result)
        return self._update_owned(job_id, worker, values)

    def requeue(
        self,
        job_id: str,
        now: datetime | None,
        message: str,
        error: str | None = None,
        worker: str | None = None,
        stale_before: datetime | None = None,
    ) -> bool:
        """Put a running job back in the queue; ``now`` None parks it (no queue message).

        With ``worker`` only that worker's job moves; with ``stale_before`` only a job whose
        heartbeat is older (so two supervisors never both re-queue one job).
        """
        cond = and_(self.c.id == job_id, self.c.status == "running")
        if worker is not None:
            cond = and_(cond, self.c.worker == worker)
        if stale_before is not None:
            cond = and_(cond, self.c.heartbeat_at < stale_before)
        values: dict[str, Any] = {
            "status": "queued",
            "heartbeat_at": now,
            "message": message[:2000],
            "worker": None,
        }
        if error is not None:
            values["error"] = error
        return self._update(cond, **values)

    def cancel(self, job_id: str, now: datetime) -> JobRecord:
        """Cancel a queued job at once, or ask a running one to stop at its next chunk.

        Raises NotFound for an unknown id and Conflict for a job that already ended.
        """
        job = self.get(job_id)
        if job.status == "queued":
            done = self._update(
                and_(self.c.id == job_id, self.c.status == "queued"),
                status="cancelled",
                finished_at=now,
                message="cancelled before it started",
            )
        elif job.status == "running":
            done = self._update(
                and_(self.c.id == job_id, self.c.status == "running"),
                status="cancelled",
                message="cancel requested: stopping at the next chunk",
            )
        else:
            raise Conflict(f"job {job_id} already {job.status}")
        if not done:  # it moved under us; report the state it moved to
            return self.cancel(job_id, now)
        return self.get(job_id)

    def confirm_cancel(
        self, job_id: str, worker: str, now: datetime, message: str, result: Mapping[str, Any]
    ) -> bool:
        """The executor of a cancelled job stopped: stamp its end."""
        return self._update(
            and_(self.c.id == job_id, self.c.worker == worker, self.c.status == "cancelled"),
            finished_at=now,
            message=message[:2000],
            result=dict(result),
        )

    def close_abandoned_cancels(self, before: datetime, now: datetime) -> int:
        """Cancelled jobs whose executor died before confirming: stamp their end."""
        with self.store.engine.begin() as conn:
            result = conn.execute(
                update(tables.jobs)
                .where(
                    and_(
                        self.c.status == "cancelled",
                        self.c.finished_at.is_(None),
                        self.c.heartbeat_at < before,
                    )
                )
                .values(finished_at=now, message="cancelled (its worker stopped)")
            )
        return int(result.rowcount or 0)
