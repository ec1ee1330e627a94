"""Job kinds and their handlers: ``fn(params, progress, should_stop, *, parts) -> dict``.

A handler declares the parts of the App it needs as keyword-only parameters named after
them (``*, features: FeatureService``); :meth:`stockdb.app.App.bind` injects them, as
cosmicpython's ``bootstrap.py`` does. ``fn(app, params, progress, should_stop)`` (the App
itself first) is accepted too.

A registry maps a kind to its handler. Built in: ``ingest`` (a backfill), ``features`` (an
incremental or full feature build), ``rollups`` (a rebuild of the maintained rollups),
``verify`` and ``noop`` (health checks, benchmarks). Later parts add
kinds without editing the queue, in either of two ways: call :func:`register_handler` in the
process that runs workers, or ship a module ``stockdb.<package>.jobs`` exposing
a handler as above and list it in ``_LAZY`` (``train`` and
``simulate`` are looked up this way, so the worker finds them without importing them first).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from functools import cache
from threading import Lock
from typing import TYPE_CHECKING, Any

from stockdb.errors import ConfigError, InvalidInput
from stockdb.jsonsafe import json_safe

if TYPE_CHECKING:
    from stockdb.app import App
    from stockdb.clock import Clock
    from stockdb.features.service import FeatureService
    from stockdb.jobs.service import JobService
    from stockdb.lake.verify import Verifier
    from stockdb.state.coverage import CoverageRepo
    from stockdb.usecases.ingest import IngestService

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
Handler = Callable[..., Mapping[str, Any]]
"""``fn(params, progress, should_stop, *, parts)`` or ``fn(app, params, progress, stop)``."""

log = logging.getLogger("stockdb.jobs")

# The agent whose start/stop governs each kind; kinds not listed always run.
AGENT_OF_KIND = {"ingest": "backfill", "features": "features"}
_LAZY = {
    "train": "stockdb.training.jobs:train",
    "simulate": "stockdb.training.jobs:simulate",
}


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
def ingest_handler(
    params: Mapping[str, Any], progress: ProgressFn, should_stop: StopFn, *, ingest: IngestService
) -> Mapping[str, Any]:
    """Run the ingest of ``params`` (symbols, start, end, provider) through the use-case
    layer (:class:`stockdb.usecases.ingest.IngestService`): month chunks, then the corporate
    actions of the symbols from ``start`` on (``result['corporate_actions']``).

    Progress counts every planned (symbol, session) of the request, including sessions an
    earlier attempt already completed, so a resumed job keeps one continuous progress bar.
    The result lists the (symbol, month) chunks done.
    """
    request = ingest.request(
        params["symbols"],
        params.get("start"),
        params.get("end"),
        params.get("provider"),
        replace=bool(params.get("replace", False)),
    )
    planned = request.sessions * len(request.symbols)
    offset: list[int] = []
    chunks: list[str] = []

    def report(done: int, total: int, message: str) -> None:
        if not offset:
            offset.append(max(0, planned - total))
        if done and message not in ("planned", ""):
            chunks.append(message.replace(" ", ":"))
        progress(offset[0] + done, planned, message)

    result = ingest.run(request, report, should_stop).to_dict()
    result["chunks"] = chunks
    return result


def features_handler(
    params: Mapping[str, Any],
    progress: ProgressFn,
    should_stop: StopFn,
    *,
    features: FeatureService,
) -> Mapping[str, Any]:
    """Build features for ``params['symbols']`` (all stored symbols when absent)."""
    symbols = params.get("symbols") or None
    results = features.build(
        symbols,
        full=bool(params.get("full", False)),
        progress=progress,
        timeframe=params.get("timeframe"),
        workers=params.get("workers"),  # None: every core for a build big enough to repay it
    )
    return {"builds": json_safe(results)}


def rollups_handler(
    app: App, params: Mapping[str, Any], progress: ProgressFn, should_stop: StopFn
) -> Mapping[str, Any]:
    """Derive the rollup files of ``params['symbols']`` (every stored symbol when absent)
    again from their minute partitions, on every core for eight symbols or more."""
    from stockdb.usecases.operations import rebuild_rollups

    names, files = rebuild_rollups(
        app, params.get("symbols"), workers=params.get("workers"), progress=progress
    )
    return {"symbols": len(names), "files": files}


def verify_handler(
    params: Mapping[str, Any],
    progress: ProgressFn,
    should_stop: StopFn,
    *,
    verifier: Verifier,
    coverage: CoverageRepo,
    jobs: JobService,
    clock: Clock,
) -> Mapping[str, Any]:
    """Check partitions against the ledger (``params['symbols']``, all when absent); with
    ``params['repair']``, quarantine the damaged ones and queue ingests that refetch them."""
    report = verifier.check(clock.now(), params.get("symbols") or None)
    if params.get("repair") and report.findings:
        report = verifier.repair(report, clock.now())
    result: dict[str, Any] = dict(report.to_dict())
    queued: list[str] = []
    if report.repaired:
        for symbol, days in report.sessions_to_refetch().items():
            known = coverage.get_symbol(symbol)
            provider = known.provider if known is not None else None
            queued.append(jobs.submit_ingest([symbol], days[0], days[-1], provider).id)
    result["ingest_jobs"] = queued
    progress(1, 1, "done")
    return result


def noop_handler(
    params: Mapping[str, Any], progress: ProgressFn, should_stop: StopFn
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
    registry.register("rollups", rollups_handler)
    registry.register("verify", verify_handler)
    return registry


def register_handler(kind: str, handler: Handler) -> None:
    """Register ``handler`` for job ``kind`` in the process-wide registry."""
    default_registry().register(kind, handler)
