"""GET /health (liveness plus state-store and lake checks) and GET /metrics (Prometheus)."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

import stockdb
from stockdb.api.context import Ctx
from stockdb.api.errors import json_response
from stockdb.api.schemas import ErrorResponse, HealthCheck, HealthResponse
from stockdb.app import App

__all__ = ["check_lake", "check_state", "damaged_count", "router"]

router = APIRouter(tags=["system"])


def check_state(app: App) -> HealthCheck:
    """The state store answers ``SELECT 1`` (the error's class name only, never the URL)."""
    try:
        with app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # health must report, not raise
        return HealthCheck(ok=False, detail=f"state store unavailable ({type(exc).__name__})")
    return HealthCheck(ok=True, detail=app.state.dialect)


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def check_lake(app: App) -> HealthCheck:
    """The lake folder (or, before the first ingest, its nearest parent) is a writable folder."""
    root = app.settings.parquet_dir
    probe = _nearest_existing(root)
    if not probe.is_dir():
        return HealthCheck(ok=False, detail="the lake path is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        return HealthCheck(ok=False, detail="the lake folder is not writable")
    return HealthCheck(ok=True, detail="ready" if root.is_dir() else "empty (no ingest yet)")


def damaged_count(app: App) -> int | None:
    """Partitions the ledger knows damaged or missing (found by verify or by a reader)."""
    try:
        return app.ledger.damaged_count()
    except Exception:  # health must report, not raise
        return None


@router.get(
    "/health",
    operation_id="get_health",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "A check failed"}},
    summary="Liveness plus state-store and lake checks",
)
def get_health(ctx: Ctx) -> Response:
    """200 with every check ok; 503 with the same body when any check fails."""
    checks = {"state": check_state(ctx.app), "lake": check_lake(ctx.app)}
    ok = all(c.ok for c in checks.values())
    damaged = damaged_count(ctx.app) if checks["state"].ok else None
    if damaged:
        lake = checks["lake"]
        checks["lake"] = HealthCheck(
            ok=lake.ok,
            detail=f"{lake.detail}; {damaged} damaged or missing partitions "
            "(run `stockdb verify --repair`)",
        )
    provider = ctx.app.default_provider
    body = HealthResponse(
        status="ok" if ok else "degraded",
        version=stockdb.__version__,
        provider=provider,
        feed=ctx.app.settings.alpaca_feed if provider == "alpaca" else provider,
        checks=checks,
        damaged_partitions=damaged,
    )
    return json_response(body.model_dump(), 200 if ok else 503)


@router.get(
    "/metrics",
    operation_id="get_metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
        503: {"model": ErrorResponse},
    },
    summary="Prometheus metrics",
)
def get_metrics(ctx: Ctx) -> Response:
    """Requests, latencies, jobs by status, heartbeat ages, rows ingested, Alpaca calls and 429s."""
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)
