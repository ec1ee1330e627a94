"""GET /agents, POST /agents/{name}/start|stop and GET /logs: thin over jobs and obs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from stockdb.api.context import Ctx, RequireToken
from stockdb.api.errors import ERROR_RESPONSES, MUTATING_ERROR_RESPONSES, json_response
from stockdb.api.schemas import AgentControlResult, AgentsResponse, LogRecordModel
from stockdb.dates import parse_date_or_instant
from stockdb.jobs.controls import AGENTS, check_agent
from stockdb.obs.logquery import MAX_LOG_LIMIT, query_logs
from stockdb.obs.redact import Redactor

__all__ = ["agents_view", "router"]

router = APIRouter(tags=["agents"])
AgentName = Annotated[
    str, Path(max_length=32, description="backfill, live or features", examples=["live"])
]


def agents_view(status: dict[str, Any]) -> dict[str, Any]:
    """Reshape JobService.status() into one entry per agent with its workers' heartbeats."""
    controls: dict[str, bool] = status.get("controls", {})
    beats: list[dict[str, Any]] = status.get("agents", [])
    names = list(AGENTS) + sorted({b["agent"] for b in beats} - set(AGENTS))
    agents = []
    for name in names:
        workers = [b for b in beats if b["agent"] == name]
        enabled = controls.get(name, True)
        stalled = bool(workers) and all(b["stalled"] for b in workers)
        if not enabled:
            state = "stopped"
        elif not workers:
            state = "absent"
        elif stalled:
            state = "stalled"
        else:
            live = [b for b in workers if not b["stalled"]]
            state = "working" if any(b["state"] == "working" for b in live) else live[0]["state"]
        agents.append(
            {
                "name": name,
                "enabled": enabled,
                "state": state,
                "stalled": stalled,
                "workers": workers,
            }
        )
    return {
        "now": status["now"],
        "agents": agents,
        "alerts": status.get("alerts", []),
        "queue": status.get("queue", {}),
        "running": status.get("running", []),
    }


@router.get(
    "/agents",
    operation_id="list_agents",
    response_model=AgentsResponse,
    responses=ERROR_RESPONSES,
    summary="Agents: switches, heartbeats, stalled alerts, queue depth, running jobs",
)
def list_agents(ctx: Ctx) -> Response:
    """Every agent with its workers' latest heartbeats; a heartbeat older than three
    intervals counts as stalled and raises an alert."""
    return json_response(agents_view(ctx.jobs.status()))


def _switch(ctx: Ctx, name: str, enabled: bool) -> dict[str, Any]:
    agent = check_agent(name)
    ctx.jobs.controls.set(agent, enabled)
    dispatched = ctx.jobs.recover()["dispatched"] if enabled else 0
    return {"name": agent, "enabled": enabled, "dispatched": dispatched}


@router.post(
    "/agents/{name}/start",
    operation_id="start_agent",
    response_model=AgentControlResult,
    responses=MUTATING_ERROR_RESPONSES,
    dependencies=[RequireToken],
    summary="Let an agent take new work (persisted)",
)
def start_agent(ctx: Ctx, name: AgentName) -> Response:
    """Switch ``name`` (backfill, live, features) on and dispatch its parked jobs."""
    return json_response(_switch(ctx, name, True))


@router.post(
    "/agents/{name}/stop",
    operation_id="stop_agent",
    response_model=AgentControlResult,
    responses=MUTATING_ERROR_RESPONSES,
    dependencies=[RequireToken],
    summary="Stop an agent taking new work (persisted)",
)
def stop_agent(ctx: Ctx, name: AgentName) -> Response:
    """Switch ``name`` off: it takes no new work and checkpoints its current job."""
    return json_response(_switch(ctx, name, False))


def _since(raw: str | None) -> datetime | None:
    value = parse_date_or_instant(raw, "since")
    if isinstance(value, datetime) or value is None:
        return value
    assert isinstance(value, date)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


@router.get(
    "/logs",
    operation_id="list_logs",
    response_model=list[LogRecordModel],
    responses=ERROR_RESPONSES,
    summary="Recent log records from every part, oldest first",
)
def list_logs(
    ctx: Ctx,
    agent: Annotated[str | None, Query(max_length=32)] = None,
    symbol: Annotated[str | None, Query(max_length=20)] = None,
    level: Annotated[str | None, Query(max_length=10, description="Minimum level")] = None,
    since: Annotated[
        str | None, Query(max_length=40, description="Date (UTC midnight) or RFC-3339 instant")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_LIMIT)] = 100,
) -> Response:
    """The newest ``limit`` records matching the filters, oldest first."""
    rows = query_logs(
        ctx.app.state,
        agent,
        symbol,
        level,
        _since(since),
        limit,
        redactor=Redactor(ctx.app.settings.data_dir),
    )
    return json_response(rows)
