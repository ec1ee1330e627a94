"""The FastAPI app factory: routers, error handlers, metrics, and a lifespan that builds the App.

Nothing heavy happens in :func:`create_app`; the stockdb :class:`~stockdb.app.App` (state
store, calendar, DuckDB) is built when the server starts. With the embedded SQLite queue the
process also runs the job consumer and the agents, so ``uvicorn app.api.main:app`` followed by
``curl -X POST localhost:8000/ingest/SPY`` ingests with nothing else running; when
``STOCKDB_QUEUE_URL`` points at Redis, workers run apart and the API only enqueues.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

import stockdb
from stockdb.api.context import ApiContext
from stockdb.api.docs import install_offline_docs
from stockdb.api.errors import install_error_handlers
from stockdb.api.metrics import ApiMetrics, MetricsMiddleware, read_snapshot
from stockdb.api.routes import (
    actions,
    agents,
    bars,
    features,
    jobs,
    models,
    rollups,
    symbols,
    system,
    universes,
    verify,
)
from stockdb.api.security import SecurityMiddleware, declare_bearer
from stockdb.app import App
from stockdb.config import Settings

__all__ = ["create_app", "wants_runtime"]

log = logging.getLogger("stockdb.api")

_DESCRIPTION = (
    "A local warehouse of US-stock minute bars. Every endpoint but /health needs "
    "`Authorization: Bearer <STOCKDB_API_TOKEN>` when that variable is set. Requests whose "
    "`Host` is not a local name (or one in STOCKDB_ALLOWED_HOSTS) and mutating requests from "
    "another origin are refused."
)


def wants_runtime(settings: Settings, run_runtime: bool | None) -> bool:
    """Run the in-process consumer and agents unless told otherwise or the queue is Redis."""
    if run_runtime is not None:
        return run_runtime
    return not settings.queue_is_redis


def _start(core: App, run_runtime: bool | None) -> Any:
    """Open the state store and calendar up front, then start the runtime when wanted."""
    core.state  # noqa: B018  (migrates the schema before the first request)
    core.calendar  # noqa: B018
    if not wants_runtime(core.settings, run_runtime):
        return None
    from stockdb.jobs.runtime import start_runtime

    return start_runtime(core)


def _setup_logging(core: App) -> Any:
    """JSON logs on stderr and into the state store (so GET /logs shows this process too)."""
    from stockdb.obs.logging import setup_logging

    return setup_logging(core.settings, agent="api", state=core.state)


def _stop(runtime: Any) -> None:
    if runtime is not None:
        runtime.stop()


def create_app(
    settings: Settings | None = None, app: App | None = None, run_runtime: bool | None = None
) -> FastAPI:
    """The REST API. ``app`` (tests) is used as is and left open; otherwise an App is built from
    ``settings`` (default: the environment) at start-up and closed at shutdown.
    ``run_runtime`` forces the in-process job consumer and agents on or off (default: on
    unless STOCKDB_QUEUE_URL is Redis)."""
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        own = app is None
        core = app if app is not None else App(settings or Settings())
        logs = _setup_logging(core) if own else None
        try:
            runtime = await run_in_threadpool(_start, core, run_runtime)
            metrics.attach_state(lambda: read_snapshot(core.state, core.clock.now()))
            api.state.stockdb = ApiContext(core, metrics, runtime)
            log.info("stockdb API ready", extra={"runtime": runtime is not None})
            try:
                yield
            finally:
                api.state.stockdb = None
                await run_in_threadpool(_stop, runtime)
        finally:
            if own:
                core.close()
            if logs is not None:
                logs.close()

    api = FastAPI(
        title="stockdb",
        version=stockdb.__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_offline_docs(api)
    # Starlette runs the last added middleware first: metrics also count refused requests.
    api.add_middleware(SecurityMiddleware, settings=settings or (app.settings if app else None))
    api.add_middleware(MetricsMiddleware, metrics=metrics)
    install_error_handlers(api)
    for module in (bars, symbols, jobs, agents, features, models, actions, system, verify, rollups):
        api.include_router(module.router)
    api.include_router(universes.router)
    declare_bearer(api)
    return api
