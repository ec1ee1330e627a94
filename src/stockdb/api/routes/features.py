"""GET /features, GET /features/{symbol} and POST /features/rebuild: thin over FeatureService."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import pyarrow as pa
from fastapi import APIRouter, Query, Response

from stockdb.api.context import Ctx, RequireToken, Symbol
from stockdb.api.errors import ERROR_RESPONSES, MUTATING_ERROR_RESPONSES, json_response
from stockdb.api.routes.jobs import job_body
from stockdb.api.schemas import FeatureRebuildRequest, FeaturesOverview, JobModel
from stockdb.api.tables import TABLE_CONTENT, TableFormat, table_response
from stockdb.dates import parse_date
from stockdb.errors import NotFound
from stockdb.features.service import SymbolStatus, feature_timeframe
from stockdb.features.store import MAX_LIMIT
from stockdb.symbols import normalize_symbol, normalize_symbols

__all__ = ["DEFAULT_LIMIT", "router", "stale_summary"]

DEFAULT_LIMIT = 10_000  # JSON/CSV without start, end or limit: the latest 10,000 rows
router = APIRouter(tags=["features"])
_ROWS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Feature rows in ascending time", "content": TABLE_CONTENT},
    **ERROR_RESPONSES,
}


@router.get(
    "/features",
    operation_id="list_features",
    response_model=FeaturesOverview | list[dict[str, Any]],
    responses=_ROWS_RESPONSES,
    summary="Feature definitions, their versions, and the latest builds",
)
def list_features(
    ctx: Ctx,
    builds: Annotated[int, Query(ge=0, le=1000, description="Latest N builds")] = 100,
    symbols: Annotated[
        str | None,
        Query(
            max_length=20_000,
            description="Comma-separated tickers: answer their feature rows instead",
        ),
    ] = None,
    universe: Annotated[
        str | None, Query(max_length=64, description="A universe: answer its feature rows")
    ] = None,
    start: Annotated[str | None, Query(max_length=40, description="First session date")] = None,
    end: Annotated[str | None, Query(max_length=40, description="Last session date")] = None,
    columns: Annotated[
        str | None, Query(max_length=4000, description="Comma-separated feature columns")
    ] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_LIMIT, description="Latest N rows of each symbol")
    ] = None,
    format: Annotated[TableFormat, Query(description="json, csv or parquet")] = "json",  # noqa: A002
    timeframe: Annotated[
        str, Query(max_length=20, description="1Min, 5Min, 15Min, 1Hour or 1Day")
    ] = "1Min",
) -> Response:
    """The feature set in force (its hash, each definition's version, params and code
    reference), the latest ``builds`` build records, newest first, and every symbol with
    stale feature partitions (reasons such as ``corporate_action`` or ``bars_changed``).

    With ``symbols`` and/or ``universe``: their feature rows in one long table instead
    (``symbol`` first, symbol by symbol, each ascending), as ``GET /features/{symbol}``
    answers one symbol's; ``limit`` and the JSON/CSV default of 10,000 apply per symbol."""
    if symbols is not None or universe is not None:
        return _rows_of_many(ctx, symbols, universe, start, end, columns, limit, format, timeframe)
    service = ctx.features
    definitions = [
        {
            "name": d.name,
            "version": d.version,
            "params": dict(d.params),
            "params_hash": d.params_hash,
            "warmup": d.warmup,
            "warmups": d.warmups,
            "columns": list(d.outputs),
            "code_ref": d.code_ref,
        }
        for d in service.definitions()
    ]
    records = service.records.builds(limit=builds) if builds else []
    body = {
        "set_hash": service.set_hash,
        "definitions": definitions,
        "builds": [asdict(b) for b in records],
        "stale": stale_summary(service.status()),
    }
    return json_response(body)


def _rows_of_many(
    ctx: Ctx,
    symbols: str | None,
    universe: str | None,
    start: str | None,
    end: str | None,
    columns: str | None,
    limit: int | None,
    fmt: TableFormat,
    timeframe: str,
) -> Response:
    from stockdb.usecases.bars import read_features
    from stockdb.usecases.universe import UniverseService

    if universe is None:
        names = [symbols or ""]
    else:
        names = UniverseService(ctx.app).resolve(symbols, universe)
    wanted = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    if limit is None and start is None and end is None and fmt != "parquet":
        limit = DEFAULT_LIMIT
    chosen = None if timeframe == "1Min" else timeframe
    frame = read_features(ctx.app, names, start, end, wanted, limit, chosen)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    label = universe or "features"
    return table_response(table, fmt, f"{label}_features_{timeframe}", keep_symbol=True)


def stale_summary(statuses: list[SymbolStatus]) -> list[dict[str, Any]]:
    """Symbols with stale partitions: counts per reason and the first stale session."""
    out = []
    for s in statuses:
        if s.up_to_date:
            continue
        reasons: dict[str, int] = {}
        for p in s.stale:
            reasons[p.reason] = reasons.get(p.reason, 0) + 1
        out.append(
            {
                "symbol": s.symbol,
                "timeframe": s.timeframe,
                "bar_partitions": s.bar_partitions,
                "stale_partitions": len(s.stale),
                "reasons": reasons,
                "first_stale": s.stale[0].day.isoformat(),
            }
        )
    return out


@router.get(
    "/features/{symbol}",
    operation_id="get_features",
    response_model=list[dict[str, Any]],
    responses=_ROWS_RESPONSES,
    summary="Stored feature rows of a symbol",
)
def get_features(
    ctx: Ctx,
    symbol: Symbol,
    start: Annotated[str | None, Query(max_length=40, description="First session date")] = None,
    end: Annotated[str | None, Query(max_length=40, description="Last session date")] = None,
    columns: Annotated[
        str | None, Query(max_length=4000, description="Comma-separated feature columns")
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT, description="Latest N rows")] = None,
    format: Annotated[TableFormat, Query(description="json, csv or parquet")] = "json",  # noqa: A002
    timeframe: Annotated[
        str, Query(max_length=20, description="1Min, 5Min, 15Min, 1Hour or 1Day")
    ] = "1Min",
) -> Response:
    """Feature rows of sessions ``start..end`` at ``timeframe`` sorted by ``ts``. Without
    start, end or limit, JSON and CSV answer the latest 10,000 rows and Parquet everything."""
    name = normalize_symbol(symbol)
    first, last = parse_date(start, "start"), parse_date(end, "end")
    wanted = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    if limit is None and first is None and last is None and format != "parquet":
        limit = DEFAULT_LIMIT
    frame = ctx.features.read(name, first, last, wanted, limit, timeframe)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    suffix = "" if frame.empty or timeframe == "1Min" else f"_{timeframe}"
    return table_response(table, format, f"{name}_features{suffix}")


@router.post(
    "/features/rebuild",
    operation_id="rebuild_features",
    status_code=202,
    response_model=JobModel,
    responses=MUTATING_ERROR_RESPONSES,
    dependencies=[RequireToken],
    summary="Queue a feature build",
)
def rebuild_features(ctx: Ctx, request: FeatureRebuildRequest | None = None) -> Response:
    """Queue one feature-build job for ``symbols`` (every symbol with bars when empty),
    incremental unless ``full``, at ``timeframe`` (default: 1Min and every timeframe already
    built). 404 when a named symbol has no bars, 400 for a timeframe features are not built at."""
    body = request or FeatureRebuildRequest()
    names = normalize_symbols(body.symbols) if body.symbols else []
    timeframe = None if body.timeframe is None else feature_timeframe(body.timeframe)
    missing = [s for s in names if not ctx.app.lake.session_paths(s)]
    if missing:
        raise NotFound(f"no bars stored for {', '.join(missing)}")
    job = ctx.jobs.submit_feature_build(names or None, full=body.full, timeframe=timeframe)
    return json_response(job_body(job), 202, {"Location": f"/jobs/{job.id}"})
