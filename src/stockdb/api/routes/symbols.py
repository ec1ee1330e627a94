"""GET /symbols (coverage summary), GET /coverage/months (symbols x months) and
GET /symbols/{symbol}/gaps (sessions vs the ledger)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict

from stockdb.api.context import Ctx, Symbol
from stockdb.api.errors import ERROR_RESPONSES, json_response
from stockdb.api.schemas import GapRowModel, SymbolSummaryModel
from stockdb.usecases.operations import gap_rows

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
