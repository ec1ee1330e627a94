"""GET /health (liveness plus state-store and lake checks) and GET /metrics (Prometheus)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from stockdb.api.context import Ctx
from stockdb.api.errors import json_response
from stockdb.api.schemas import ErrorResponse, HealthResponse
from stockdb.usecases.status import health

__all__ = ["router"]

router = APIRouter(tags=["system"])


@router.get(
    "/health",
    operation_id="get_health",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "A check failed"}},
    summary="Liveness plus state-store and lake checks",
)
def get_health(ctx: Ctx) -> Response:
    """200 with every check ok; 503 with the same body when any check fails."""
    report = health(ctx.app)
    return json_response(asdict(report), 200 if report.status == "ok" else 503)


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
