"""GET /symbols (coverage summary) and GET /symbols/{symbol}/gaps (sessions vs the ledger)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query

from stockdb.api.context import Ctx, Symbol
from stockdb.api.errors import ERROR_RESPONSES
from stockdb.api.schemas import GapRowModel, SymbolSummaryModel
from stockdb.dates import parse_date
from stockdb.errors import InvalidInput
from stockdb.ingest.gaps import gap_report
from stockdb.symbols import normalize_symbol

__all__ = ["router"]

router = APIRouter(tags=["symbols"])


@router.get(
    "/symbols",
    operation_id="list_symbols",
    response_model=list[SymbolSummaryModel],
    responses=ERROR_RESPONSES,
    summary="Known symbols with a coverage summary",
)
def list_symbols(ctx: Ctx) -> list[dict[str, Any]]:
    """Every symbol in the state store with its session counts by status and row total."""
    return [asdict(s) for s in ctx.app.coverage.summaries()]


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
) -> list[dict[str, Any]]:
    """One row per expected session in ``[start, end]`` (default: first fetched .. latest).

    404 when nothing was ever fetched for the symbol and no start is given.
    """
    name = normalize_symbol(symbol)
    first, last = parse_date(start, "start"), parse_date(end, "end")
    if first is not None and last is not None and first > last:
        raise InvalidInput(f"start {first} is after end {last}")
    app = ctx.app
    rows = gap_report(app.calendar, app.coverage, name, first, last, app.clock.now())
    return [r.to_dict() for r in rows if not only_gaps or r.status != "complete"]
