"""GET /symbols (coverage summary), GET /coverage/months (symbols x months),
GET /symbols/{symbol}/gaps (sessions vs the ledger) and POST /track (the live agent's list)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from stockdb.api.context import Ctx, RequireToken, Symbol
from stockdb.api.errors import ERROR_RESPONSES, MUTATING_ERROR_RESPONSES, json_response
from stockdb.api.schemas import GapRowModel, SymbolSummaryModel
from stockdb.usecases.operations import Operations, gap_rows

__all__ = ["router"]

router = APIRouter(tags=["symbols"])


class MonthCoverageModel(BaseModel):
    """Sessions of one symbol in one calendar month by coverage status."""

    model_config = ConfigDict(extra="forbid")

    symbol: str
    month: str
    sessions: int
    complete: int
    partial: int
    in_progress: int
    empty: int
    error: int


@router.get(
    "/coverage/months",
    operation_id="list_month_coverage",
    response_model=list[MonthCoverageModel],
    responses=ERROR_RESPONSES,
    summary="Sessions of every symbol by calendar month and coverage status",
)
def month_coverage(ctx: Ctx) -> list[dict[str, Any]]:
    """One row per symbol and month (``YYYY-MM``) with stored sessions: the symbols x months
    heatmap's cells, read in one query however many symbols there are."""
    return [{**asdict(m), "sessions": m.sessions} for m in ctx.app.coverage.monthly()]


@router.get(
    "/symbols",
    operation_id="list_symbols",
    response_model=list[SymbolSummaryModel],
    responses=ERROR_RESPONSES,
    summary="Known symbols with a coverage summary",
)
def list_symbols(ctx: Ctx) -> Response:
    """Every symbol in the state store with its session counts by status and row total."""
    return json_response([asdict(s) for s in ctx.app.coverage.summaries()])


@router.get(
    "/symbols/{symbol}/gaps",
    operation_id="get_gaps",
    response_model=list[GapRowModel],
    responses=ERROR_RESPONSES,
    summary="Expected sessions of a symbol with their coverage status",
)
def get_gaps(
    ctx: Ctx,
    symbol: Symbol,
    start: Annotated[str | None, Query(max_length=40, description="First session date")] = None,
    end: Annotated[str | None, Query(max_length=40, description="Last session date")] = None,
    only_gaps: Annotated[bool, Query(description="Hide complete sessions")] = False,
) -> Response:
    """One row per expected session in ``[start, end]`` (default: first fetched .. latest).

    404 when nothing was ever fetched for the symbol and no start is given.
    """
    return json_response([r.to_dict() for r in gap_rows(ctx.app, symbol, start, end, only_gaps)])


class TrackBody(BaseModel):
    """Symbols (and/or a universe's) to track, or with ``tracked: false`` to stop tracking."""

    model_config = ConfigDict(extra="forbid")

    symbols: list[Annotated[str, Field(max_length=12)]] | None = Field(default=None, max_length=500)
    universe: str | None = Field(default=None, max_length=64, description="GET /universes")
    tracked: bool = Field(default=True, description="false: stop tracking them")


class TrackedModel(BaseModel):
    """The symbols a track request changed, and every symbol tracked afterwards."""

    model_config = ConfigDict(extra="forbid")

    changed: list[str]
    tracked: list[str]


@router.post(
    "/track",
    operation_id="post_track",
    response_model=TrackedModel,
    responses=MUTATING_ERROR_RESPONSES,
    dependencies=[RequireToken],
    summary="Track symbols (or a universe) with the live agent, or stop tracking them",
)
def post_track(ctx: Ctx, body: TrackBody) -> Response:
    """As ``stockdb track``: an unknown symbol is registered under the default provider;
    422 when none is given, 404 for an unknown universe."""
    changed, tracked = Operations(ctx.app, ctx.jobs).track(
        body.symbols, body.tracked, body.universe
    )
    return json_response({"changed": changed, "tracked": tracked})
