"""Job kinds and their handlers: ``fn(app, params, progress, should_stop) -> dict``.

A registry maps a kind to its handler. Built in: ``ingest`` (a backfill), ``features`` (an
incremental or full feature build) and ``noop`` (health checks, benchmarks). Later parts add
kinds without editing the queue, in either of two ways: call :func:`register_handler` in the
process that runs workers, or ship a module ``stockdb.<package>.jobs`` exposing
a handler ``fn(app, params, progress, should_stop)`` and list it in ``_LAZY`` (``train`` and
``simulate`` are looked up this way, so the worker finds them without importing them first).
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from functools import cache
from threading import Lock
from typing import TYPE_CHECKING, Any

from stockdb.corporate.sync import sync_actions
from stockdb.dates import parse_date
from stockdb.errors import ConfigError, InvalidInput

if TYPE_CHECKING:
    from stockdb.app import App

__all__ = [
    "AGENT_OF_KIND",
    "Handler",
    "HandlerRegistry",
    "ProgressFn",
    "StopFn",
    "default_registry",
    "json_safe",
    "register_handler",
]

ProgressFn = Callable[[int, int, str], None]
StopFn = Callable[[], bool]
Handler = Callable[["App", Mapping[str, Any], ProgressFn, StopFn], Mapping[str, Any]]

log = logging.getLogger("stockdb.jobs")

# The agent whose start/stop governs each kind; kinds not listed always run.
AGENT_OF_KIND = {"ingest": "backfill", "features": "features"}
_LAZY = {
    "train": "stockdb.training.jobs:train",
    "simulate": "stockdb.training.jobs:simulate",
}


def json_safe(value: Any) -> Any:
    """Dataclasses, dates and containers turned into JSON-safe values."""
    if is_dataclass(value) and not isinstance(value, type):
        return json_safe(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, str | bool | int | float):
        return value
    return str(value)


class HandlerRegistry:
    """Kind -> handler; lazily imports the conventional ``jobs`` modules of later parts."""

    def __init__(self, lazy: Mapping[str, str] | None = None) -> None:
        self._handlers: dict[str, Handler] = {}
        self._lazy = dict(_LAZY if lazy is None else lazy)
        self._lock = Lock()

    def register(self, kind: str, handler: Handler) -> None:
        """Add or replace the handler of ``kind``."""
        if not kind or len(kind) > 32 or not kind.replace("_", "").isalnum():
            raise InvalidInput(f"invalid job kind {kind!r}")
        with self._lock:
            self._handlers[kind] = handler

    def kinds(self) -> list[str]:
        return sorted(set(self._handlers) | set(self._lazy))

    def get(self, kind: str) -> Handler:
        """The handler of ``kind``; raises ConfigError when none is registered or importable."""
        with self._lock:
            handler = self._handlers.get(kind)
        if handler is not None:
            return handler
        target = self._lazy.get(kind)
        if target is None:
            raise ConfigError(
                f"no handler for job kind {kind!r} (known: {', '.join(self.kinds())})"
            )
        module_name, _, attr = target.partition(":")
        try:
            found = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"job kind {kind!r} needs {target}, which is not available") from exc
        self.register(kind, found)
        return found  # type: ignore[no-any-return]


# ---- built-in handlers ---------------------------------------------------------------------
def _dates(params: Mapping[str, Any]) -> tuple[date, date]:
    start = parse_date(params.get("start"), "start")
    end = parse_date(params.get("end"), "end")
    if start is None or end is None:
        raise InvalidInput("an ingest job needs start and end dates")
    return start, end


def ingest_handler(
    app: App, params: Mapping[str, Any], progress: ProgressFn, should_stop: StopFn
) -> Mapping[str, Any]:
    """Backfill ``params['symbols']`` over ``start..end`` in month chunks, then fetch their
    corporate actions from ``start`` on (``result['corporate_actions']``).

    Progress counts every planned (symbol, session) of the request, including sessions an
    earlier attempt already completed, so a resumed job keeps one continuous progress bar.
    The result lists the (symbol, month) chunks done.
    """
    symbols = list(params["symbols"])
    start, end = _dates(params)
    planned = len(app.backfill.plan(symbols, start, end)) * len(symbols)
    offset: list[int] = []
    chunks: list[str] = []

    def report(done: int, total: int, message: str) -> None:
        if not offset:
            offset.append(max(0, planned - total))
        if done and message not in ("planned", ""):
            chunks.append(message.replace(" ", ":"))
        progress(offset[0] + done, planned, message)

    source = app.provider(params.get("provider"))
    try:
        summary = app.backfill.run(
            symbols,
            start,
            end,
            source,
            progress=report,
            replace=bool(params.get("replace", False)),
            should_stop=should_stop,
        )
    finally:
        source.close()
    result = dict(json_safe(summary.to_dict()))
    result["chunks"] = chunks
    began = time.monotonic()
    result["corporate_actions"] = sync_actions(app, symbols, start, params.get("provider"))
    result["corporate_actions_s"] = round(time.monotonic() - began, 4)
    return result


def features_handler(
    app: App, params: Mapping[str, Any], progress: ProgressFn, should_stop: StopFn
) -> Mapping[str, Any]:
    """Build features for ``params['symbols']`` (all stored symbols when absent)."""
    from stockdb.features.service import FeatureService

    service = FeatureService(app.settings, app.calendar, app.lake, app.state)
    symbols = params.get("symbols") or None
    results = service.build(
        symbols,
        full=bool(params.get("full", False)),
        progress=progress,
        timeframe=params.get("timeframe"),
    )
    return {"builds": json_safe(results)}


def verify_handler(
    app: App, params: Mapping[str, Any], progress: ProgressFn, should_stop: StopFn
) -> Mapping[str, Any]:
    """Check partitions against the ledger (``params['symbols']``, all when absent); with
    ``params['repair']``, quarantine the damaged ones and queue ingests that refetch them."""
    from stockdb.jobs.service import JobService

    report = app.verifier.check(app.clock.now(), params.get("symbols") or None)
    if params.get("repair") and report.findings:
        report = app.verifier.repair(report, app.clock.now())
    result: dict[str, Any] = dict(report.to_dict())
    jobs: list[str] = []
    if report.repaired:
        for symbol, days in report.sessions_to_refetch().items():
            known = app.coverage.get_symbol(symbol)
            provider = known.provider if known is not None else None
            jobs.append(JobService(app).submit_ingest([symbol], days[0], days[-1], provider).id)
    result["ingest_jobs"] = jobs
    progress(1, 1, "done")
    return result


def noop_handler(
    app: App, params: Mapping[str, Any], progress: ProgressFn, should_stop: StopFn
) -> Mapping[str, Any]:
    """Does nothing; measures the queue's own cost and checks workers are alive."""
    progress(1, 1, "done")
    return {"ok": True, "echo": json_safe(params.get("echo"))}


@cache
def default_registry() -> HandlerRegistry:
    """The process-wide registry with the built-in kinds (created on first use)."""
    registry = HandlerRegistry()
    registry.register("ingest", ingest_handler)
    registry.register("features", features_handler)
    registry.register("noop", noop_handler)
    registry.register("verify", verify_handler)
    return registry


def register_handler(kind: str, handler: Handler) -> None:
    """Register ``handler`` for job ``kind`` in the process-wide registry."""
    default_registry().register(kind, handler)
