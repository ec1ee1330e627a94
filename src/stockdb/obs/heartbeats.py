"""Heartbeats of agents and workers, stall detection, and the alerts it raises."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, delete, select, update

from stockdb.state import tables
from stockdb.state.store import StateStore, as_utc

__all__ = [
    "STALL_FACTOR",
    "AgentState",
    "Alert",
    "Heartbeat",
    "HeartbeatRepo",
    "HeartbeatView",
    "make_worker_id",
]

AgentState = Literal["idle", "working", "paused", "stalled", "error"]
# A heartbeat older than this many of its own intervals means the agent is stalled.
STALL_FACTOR = 3.0


def make_worker_id() -> str:
    """``host:pid:suffix`` — unique per process even when a pid is reused."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """What one agent (or worker) says about itself every few seconds."""

    agent: str
    worker: str
    state: AgentState
    interval_s: float
    updated_at: datetime
    current_job: str | None = None
    progress_done: int | None = None
    progress_total: int | None = None
    last_success: datetime | None = None
    next_step: str | None = None
    lag_s: float | None = None
    host: str = ""
    pid: int = 0


@dataclass(frozen=True, slots=True)
class HeartbeatView:
    """A stored heartbeat as a reader sees it: its age and whether it counts as stalled."""

    heartbeat: Heartbeat
    age_s: float
    stalled: bool

    @property
    def state(self) -> AgentState:
        return "stalled" if self.stalled else self.heartbeat.state

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self.heartbeat)
        for key in ("updated_at", "last_success"):
            data[key] = data[key].isoformat() if data[key] else None
        data["reported_state"] = self.heartbeat.state
        data["state"] = self.state
        data["age_s"] = round(self.age_s, 3)
        data["stalled"] = self.stalled
        return data


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    ts: datetime
    agent: str | None
    kind: str
    message: str
    resolved_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ts"] = self.ts.isoformat()
        data["resolved_at"] = self.resolved_at.isoformat() if self.resolved_at else None
        return data


def _heartbeat(row: Any) -> Heartbeat:
    m = row._mapping
    return Heartbeat(
        agent=m["agent"],
        worker=m["worker"],
        state=m["state"],
        interval_s=float(m["interval_s"]),
        updated_at=as_utc(m["updated_at"]),  # type: ignore[arg-type]
        current_job=m["current_job"],
        progress_done=m["progress_done"],
        progress_total=m["progress_total"],
        last_success=as_utc(m["last_success"]),
        next_step=m["next_step"],
        lag_s=m["lag_s"],
        host=m["host"],
        pid=int(m["pid"]),
    )


def _alert_tag(hb: Heartbeat) -> str:
    """The part of a stall alert's message that names its agent and worker."""
    return f"agent {hb.agent} on {hb.worker} is stalled"


def _stall_message(view: HeartbeatView) -> str:
    hb = view.heartbeat
    return (
        f"{_alert_tag(hb)}: no heartbeat for {view.age_s:.0f}s (expected every {hb.interval_s:g}s)"
    )


class HeartbeatRepo:
    """Reads and writes ``heartbeats`` and the ``alerts`` stall detection raises."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def beat(self, heartbeat: Heartbeat) -> None:
        """Upsert the heartbeat of (agent, worker); fills host and pid from this process."""
        row = asdict(heartbeat)
        row["host"] = row["host"] or socket.gethostname()
        row["pid"] = row["pid"] or os.getpid()
        with self.store.engine.begin() as conn:
            self.store.upsert(conn, tables.heartbeats, [row], ["agent", "worker"])

    def remove(self, worker: str) -> None:
        """Forget every heartbeat of ``worker`` (a clean shutdown is not a stall)."""
        with self.store.engine.begin() as conn:
            conn.execute(delete(tables.heartbeats).where(tables.heartbeats.c.worker == worker))

    def views(self, now: datetime) -> list[HeartbeatView]:
        """Every heartbeat with its age; stalled when older than ``STALL_FACTOR`` intervals."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(tables.heartbeats).order_by(
                    tables.heartbeats.c.agent, tables.heartbeats.c.worker
                )
            ).fetchall()
        out = []
        for row in rows:
            hb = _heartbeat(row)
            age = max(0.0, (now - hb.updated_at).total_seconds())
            out.append(HeartbeatView(hb, age, age > STALL_FACTOR * hb.interval_s))
        return out

    def detect_stalls(self, now: datetime) -> list[HeartbeatView]:
        """Raise one open ``stalled`` alert per stalled (agent, worker); resolve the others.

        Returns the stalled heartbeats. Safe to call from several processes: an alert is only
        inserted when no open one exists for that agent and worker.
        """
        views = self.views(now)
        a = tables.alerts.c
        with self.store.engine.begin() as conn:
            open_alerts = conn.execute(
                select(a.id, a.agent, a.message).where(
                    and_(a.kind == "stalled", a.resolved_at.is_(None))
                )
            ).fetchall()
            stalled = {_alert_tag(v.heartbeat): v for v in views if v.stalled}
            already: set[str] = set()
            for alert in open_alerts:
                tag = next((t for t in stalled if t in alert.message), None)
                if tag is None:
                    conn.execute(
                        update(tables.alerts).where(a.id == alert.id).values(resolved_at=now)
                    )
                else:
                    already.add(tag)
            for tag, view in stalled.items():
                if tag not in already:
                    conn.execute(
                        tables.alerts.insert().values(
                            ts=now,
                            agent=view.heartbeat.agent,
                            kind="stalled",
                            message=_stall_message(view),
                        )
                    )
        return [v for v in views if v.stalled]

    def alerts(self, open_only: bool = True, limit: int = 50) -> list[Alert]:
        """Recent alerts, newest first (only unresolved ones by default)."""
        a = tables.alerts.c
        stmt = select(tables.alerts)
        if open_only:
            stmt = stmt.where(a.resolved_at.is_(None))
        with self.store.engine.connect() as conn:
            rows = conn.execute(stmt.order_by(a.id.desc()).limit(limit)).fetchall()
        return [
            Alert(
                id=int(r.id),
                ts=as_utc(r.ts),  # type: ignore[arg-type]
                agent=r.agent,
                kind=r.kind,
                message=r.message,
                resolved_at=as_utc(r.resolved_at),
            )
            for r in rows
        ]
