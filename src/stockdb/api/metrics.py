"""Prometheus metrics of one API process, in its own CollectorRegistry (never the global one).

Request counts and latencies are measured by a pure-ASGI middleware, labelled by the route
template (``/bars/{symbol}``) so label cardinality stays bounded. Jobs by status, agent
heartbeat age, rows ingested and Alpaca requests/429s are read from the state store at scrape
time, so they cover every worker process, not just this one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stockdb.state import tables
from stockdb.state.store import StateStore, as_utc

__all__ = ["ApiMetrics", "MetricsMiddleware", "StateCollector", "StateSnapshot", "read_snapshot"]

log = logging.getLogger("stockdb.api")
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


@dataclass(slots=True)
class StateSnapshot:
    """Counts read from the state store for one scrape."""

    jobs_by_status: dict[str, int] = field(default_factory=dict)
    heartbeat_age_s: dict[tuple[str, str], float] = field(default_factory=dict)
    rows_ingested: int = 0
    lake_rows: int = 0
    alpaca_requests: int = 0
    alpaca_rate_limited: int = 0


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def read_snapshot(store: StateStore, now: datetime) -> StateSnapshot:
    """Jobs by status, heartbeat ages, and ingest totals summed over every job's result."""
    snap = StateSnapshot(jobs_by_status=dict.fromkeys(JOB_STATUSES, 0))
    j, h, c = tables.jobs.c, tables.heartbeats.c, tables.coverage.c
    with store.engine.connect() as conn:
        for status, count in conn.execute(select(j.status, func.count()).group_by(j.status)):
            snap.jobs_by_status[str(status)] = int(count)
        for agent, worker, updated in conn.execute(select(h.agent, h.worker, h.updated_at)):
            seen = as_utc(updated)
            if seen is not None:
                snap.heartbeat_age_s[(agent, worker)] = max(0.0, (now - seen).total_seconds())
        snap.lake_rows = int(conn.execute(select(func.coalesce(func.sum(c.rows), 0))).scalar() or 0)
        for (result,) in conn.execute(select(j.result).where(j.result.is_not(None))):
            if not isinstance(result, dict):
                continue
            snap.rows_ingested += _int(result.get("rows_written"))
            if result.get("provider") == "alpaca":
                snap.alpaca_requests += _int(result.get("requests"))
                snap.alpaca_rate_limited += _int(result.get("rate_limited"))
    return snap


class StateCollector(Collector):
    """Yields the state-store metrics on each scrape; a failing store yields only ``up 0``."""

    def __init__(self, snapshot: Callable[[], StateSnapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("stockdb_state_up", "1 when the state store answered the scrape")
        try:
            snap = self._snapshot()
        except Exception as exc:  # a scrape must not fail because the store is down
            log.warning("metrics: state store unavailable: %s", type(exc).__name__)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        jobs = GaugeMetricFamily(
            "stockdb_jobs", "Jobs in the state store by status", labels=["status"]
        )
        for status, count in sorted(snap.jobs_by_status.items()):
            jobs.add_metric([status], float(count))
        yield jobs
        age = GaugeMetricFamily(
            "stockdb_agent_heartbeat_age_seconds",
            "Seconds since each agent worker last reported a heartbeat",
            labels=["agent", "worker"],
        )
        for (agent, worker), seconds in sorted(snap.heartbeat_age_s.items()):
            age.add_metric([agent, worker], seconds)
        yield age
        yield CounterMetricFamily(
            "stockdb_rows_ingested",
            "Bars written by finished ingest jobs",
            value=snap.rows_ingested,
        )
        yield GaugeMetricFamily(
            "stockdb_lake_rows",
            "1-minute bars recorded in the coverage ledger",
            value=snap.lake_rows,
        )
        yield CounterMetricFamily(
            "stockdb_alpaca_requests",
            "Alpaca HTTP requests made by ingest jobs",
            value=snap.alpaca_requests,
        )
        yield CounterMetricFamily(
            "stockdb_alpaca_rate_limited",
            "Alpaca answers with status 429 seen by ingest jobs",
            value=snap.alpaca_rate_limited,
        )


class ApiMetrics:
    """The registry of one API app: HTTP counters/histograms plus the state collector."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter(
            "stockdb_http_requests",
            "HTTP requests served, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "stockdb_http_request_duration_seconds",
            "Time to the end of the response body, by method and route template",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self._state: StateCollector | None = None

    def attach_state(self, snapshot: Callable[[], StateSnapshot]) -> None:
        """Add the state-store collector (once; later calls replace the source)."""
        if self._state is not None:
            self.registry.unregister(self._state)
        self._state = StateCollector(snapshot)
        self.registry.register(self._state)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure-ASGI middleware timing each HTTP request into an :class:`ApiMetrics`."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(
                scope.get("method", "GET"), template, status, time.perf_counter() - started
            )
