"""GET /symbols (coverage summary) and GET /symbols/{symbol}/gaps (sessions vs the ledger)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, Response

from stockdb.api.context import Ctx, Symbol
from stockdb.api.errors import ERROR_RESPONSES, json_response
from stockdb.api.schemas import GapRowModel, SymbolSummaryModel
from stockdb.usecases.operations import gap_rows

__all__ = ["router"]

router = APIRouter(tags=["symbols"])


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
