"""GET /bars/{symbol} and GET /bars?symbols=: bars at any timeframe as JSON, CSV or a streamed
Parquet file; several symbols (or a universe) answer one long table with a ``symbol`` column."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field

from stockdb.api.context import Ctx, Symbol
from stockdb.api.errors import ERROR_RESPONSES
from stockdb.api.schemas import Bar
from stockdb.api.tables import TABLE_CONTENT, TableFormat, table_response
from stockdb.errors import InvalidInput
from stockdb.lake.reader import MAX_LIMIT, BarQuery

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "SymbolBar", "router"]

DEFAULT_LIMIT = 10_000  # JSON/CSV without start, end or limit: the latest 10,000 bars
router = APIRouter(tags=["bars"])


class SymbolBar(Bar):
    """One bar of one of several symbols."""

    symbol: str = Field(examples=["SPY"])


_BARS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Bars in ascending time", "content": TABLE_CONTENT},
    **ERROR_RESPONSES,
}


# Query parameters shared by the one-symbol and the several-symbol reads.
TimeframeQ = Annotated[str, Query(max_length=20, description="1Min 5Min 15Min 30Min 1Hour 1Day")]
StartQ = Annotated[
    str | None, Query(max_length=40, description="Session date YYYY-MM-DD or RFC-3339")
]
EndQ = Annotated[
    str | None, Query(max_length=40, description="Session date (inclusive) or RFC-3339")
]
SessionQ = Annotated[
    Literal["all", "regular", "extended"] | None,
    Query(description="all/extended hours, or regular hours only (1Day default)"),
]
FormatQ = Annotated[TableFormat, Query(description="json, csv or parquet")]
AdjustmentQ = Annotated[
    Literal["raw", "split", "dividend", "all"],
    Query(description="Corporate-action adjustment, backward from each ex-date"),
]


@router.get(
    "/bars/{symbol}",
    operation_id="get_bars",
    response_model=list[Bar],
    responses=_BARS_RESPONSES,
    summary="Bars of a symbol at any timeframe",
)
def get_bars(
    ctx: Ctx,
    symbol: Symbol,
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_LIMIT, description="Keep the latest N bars")
    ] = None,
    timeframe: TimeframeQ = "1Min",
    start: StartQ = None,
    end: EndQ = None,
    session: SessionQ = None,
    format: FormatQ = "json",  # noqa: A002
    adjustment: AdjustmentQ = "raw",
) -> Response:
    """Bars in ascending time; ``limit`` keeps the latest N. Without start, end or limit,
    JSON and CSV answer the latest 10,000 bars and Parquet the whole history. ``adjustment``
    split divides prices by the split ratio and multiplies volume by it before each ex-date;
    dividend multiplies prices by ``1 - cash / previous close``; all does both."""
    if limit is None and start is None and end is None and format != "parquet":
        limit = DEFAULT_LIMIT  # of each symbol
    query = BarQuery.parse(
        symbol,
        timeframe,
        start,
        end,
        limit,
        session,
        adjustment,
    )
    table = ctx.app.reader.bars(query)
    return table_response(table, format, f"{query.symbol}_{query.timeframe.name}")


@router.get(
    "/bars",
    operation_id="get_bars_many",
    response_model=list[SymbolBar],
    responses=_BARS_RESPONSES,
    summary="Bars of several symbols (or a universe) in one long table",
)
def get_bars_many(
    ctx: Ctx,
    symbols: Annotated[
        str | None,
        Query(max_length=20_000, description="Comma-separated tickers, e.g. AAPL,MSFT"),
    ] = None,
    universe: Annotated[
        str | None, Query(max_length=64, description="A universe's symbols (GET /universes)")
    ] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_LIMIT, description="Keep the latest N bars of each symbol")
    ] = None,
    timeframe: TimeframeQ = "1Min",
    start: StartQ = None,
    end: EndQ = None,
    session: SessionQ = None,
    format: FormatQ = "json",  # noqa: A002
    adjustment: AdjustmentQ = "raw",
) -> Response:
    """Bars of ``symbols`` and/or a ``universe``'s members, symbol by symbol in the order
    given, each ascending, with a ``symbol`` field. ``limit`` (and the JSON/CSV default of
    the latest 10,000 bars without start, end or limit) applies to each symbol. 422 names
    every invalid symbol, 404 every symbol with no bars stored."""
    from stockdb.usecases.bars import read_bars
    from stockdb.usecases.universe import UniverseService

    if symbols is None and universe is None:
        raise InvalidInput("give symbols=AAPL,MSFT or universe=NAME")
    if limit is None and start is None and end is None and format != "parquet":
        limit = DEFAULT_LIMIT
    if universe is None:
        names = [symbols or ""]
    else:
        names = UniverseService(ctx.app).resolve(symbols, universe)
    table = read_bars(ctx.app, names, timeframe, start, end, limit, session, adjustment)
    label = universe or "bars"
    return table_response(table, format, f"{label}_{timeframe}", keep_symbol=True)
